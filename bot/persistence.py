"""python-telegram-bot persistence backed by WardVoice's own tables.

Only conversations are persisted, and their source of truth is the draft each handler
writes to SQLite in the same step (storage/drafts.py): at start-up every resident is put
back on the step their draft is at. python-telegram-bot's periodic `update_conversation`
calls are therefore no-ops, and nothing lives in `user_data`, `chat_data` or `bot_data`.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import ConversationDict, ConversationKey

from storage import drafts as draft_store
from storage.db import Database

CONCERN_CONVERSATION = "concern"


class DraftPersistence(BasePersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    def __init__(self, db: Database) -> None:
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=False, user_data=False, callback_data=False
            ),
            update_interval=60,
        )
        self._db = db

    async def get_conversations(self, name: str) -> ConversationDict:
        if name != CONCERN_CONVERSATION:
            return {}
        # Private chats: the conversation key is (chat id, user id), and they are equal.
        return {
            (user_id, user_id): step
            for user_id, step in (await draft_store.steps(self._db)).items()
        }

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        return None

    async def get_user_data(self) -> dict[int, dict[Any, Any]]:
        return {}

    async def get_chat_data(self) -> dict[int, dict[Any, Any]]:
        return {}

    async def get_bot_data(self) -> dict[Any, Any]:
        return {}

    async def get_callback_data(self) -> None:
        return None

    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        return None

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        return None

    async def update_bot_data(self, data: dict[Any, Any]) -> None:
        return None

    async def update_callback_data(self, data: Any) -> None:
        return None

    async def drop_chat_data(self, chat_id: int) -> None:
        return None

    async def drop_user_data(self, user_id: int) -> None:
        return None

    async def refresh_user_data(self, user_id: int, user_data: dict[Any, Any]) -> None:
        return None

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[Any, Any]) -> None:
        return None

    async def refresh_bot_data(self, bot_data: dict[Any, Any]) -> None:
        return None

    async def flush(self) -> None:
        return None
