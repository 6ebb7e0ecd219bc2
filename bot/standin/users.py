"""Simulated Telegram users: builders of the raw update dicts Telegram would send.

The dicts are what the Bot API puts on the wire, so feeding them through
`FakeBotAPI.push_update` exercises PTB's own parsing and our handlers' filters exactly as
production does. Update ids are left out: the fake server assigns them.
"""

from __future__ import annotations

import copy
import itertools
import re
import time
from collections.abc import Callable
from typing import Any

from bot.standin.bot_api import FakeBotAPI, default_bot_user, utf16_len

JsonDict = dict[str, Any]

# Shared by every SimUser so callback query ids and file ids never repeat within a run.
_callback_ids = itertools.count(1)
_file_ids = itertools.count(1)


class SimUser:
    """One resident in a private chat with the bot."""

    def __init__(
        self,
        user_id: int,
        *,
        first_name: str = "Sam",
        language_code: str | None = "en",
        username: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.user_id = user_id
        self.chat_id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self.username = username
        self.clock = clock
        self._next_message_id = 10_000  # high, so it never clashes with the bot's own ids
        self.last_message_id: int | None = None

    # --- the pieces every update shares ---------------------------------------------

    @property
    def user(self) -> JsonDict:
        """The `from` User dict."""
        user: JsonDict = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.username is not None:
            user["username"] = self.username
        if self.language_code is not None:
            user["language_code"] = self.language_code
        return user

    @property
    def chat(self) -> JsonDict:
        """The private Chat dict."""
        chat: JsonDict = {"id": self.chat_id, "type": "private", "first_name": self.first_name}
        if self.username is not None:
            chat["username"] = self.username
        return chat

    def _now(self) -> int:
        return int(self.clock())

    def _message(self, payload: JsonDict) -> JsonDict:
        message_id = self._next_message_id
        self._next_message_id += 1
        self.last_message_id = message_id
        return {
            "message_id": message_id,
            "date": self._now(),
            "chat": self.chat,
            "from": self.user,
            **payload,
        }

    @staticmethod
    def _file(kind: str) -> tuple[str, str]:
        n = next(_file_ids)
        return f"user-{kind}-{n}", f"uu-{kind}-{n}"

    # --- updates --------------------------------------------------------------------

    def message(self, text: str) -> dict:
        """A text message; a leading /command gets its bot_command entity like Telegram's."""
        payload: JsonDict = {"text": text}
        if text.startswith("/"):
            command = re.split(r"\s", text, maxsplit=1)[0]
            payload["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            ]
        return {"message": self._message(payload)}

    def location(self, lat: float, lon: float) -> dict:
        """A shared location (the paperclip → Location, or a request_location button)."""
        return {"message": self._message({"location": {"latitude": lat, "longitude": lon}})}

    def sticker(self) -> dict:
        file_id, unique_id = self._file("sticker")
        sticker = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        return {"message": self._message({"sticker": sticker})}

    def photo(self, caption: str | None = None) -> dict:
        file_id, unique_id = self._file("photo")
        sizes = [
            {"file_id": f"{file_id}-s", "file_unique_id": f"{unique_id}-s", "width": 90,
             "height": 67, "file_size": 1_200},
            {"file_id": file_id, "file_unique_id": unique_id, "width": 1280, "height": 960,
             "file_size": 98_000},
        ]  # fmt: skip
        payload: JsonDict = {"photo": sizes}
        if caption is not None:
            payload["caption"] = caption
        return {"message": self._message(payload)}

    def document(self, file_name: str = "notes.pdf") -> dict:
        file_id, unique_id = self._file("document")
        document = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_name": file_name,
            "mime_type": "application/pdf" if file_name.endswith(".pdf") else "text/plain",
            "file_size": 24_000,
        }
        return {"message": self._message({"document": document})}

    def voice(self) -> dict:
        file_id, unique_id = self._file("voice")
        voice = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "duration": 4,
            "mime_type": "audio/ogg",
            "file_size": 9_000,
        }
        return {"message": self._message({"voice": voice})}

    def contact(self) -> dict:
        """The user shares their own phone number (a request_contact button)."""
        contact = {
            "phone_number": "+447700900123",  # an Ofcom drama number, never a real one
            "first_name": self.first_name,
            "user_id": self.user_id,
        }
        return {"message": self._message({"contact": contact})}

    def edited_message(self, text: str, *, message_id: int | None = None) -> dict:
        """The user edits an earlier text message (by default their latest one)."""
        target = message_id if message_id is not None else self.last_message_id
        if target is None:
            message = self._message({"text": text})
        else:
            message = {
                "message_id": target,
                "date": self._now(),
                "chat": self.chat,
                "from": self.user,
                "text": text,
            }
        message["edit_date"] = self._now()
        return {"edited_message": message}

    def callback(self, data: str, *, message: dict) -> dict:
        """A press of the inline button carrying `data` on a message the bot sent."""
        query = {
            "id": str(4_000_000_000_000 + next(_callback_ids)),
            "from": self.user,
            "message": copy.deepcopy(message),
            "chat_instance": str(-(self.chat_id * 7 + 1)),
            "data": data,
        }
        return {"callback_query": query}

    def poll_answer(
        self,
        poll_id: str,
        option_ids: list[int],
        *,
        option_persistent_ids: list[str] | None = None,
    ) -> dict:
        """A vote in a non-anonymous poll (empty option_ids retracts the vote).

        Bot API 9.6 made persistent option ids mandatory; FakeBotAPI's polls use the option's
        index as a string, which is the default here.
        """
        persistent = option_persistent_ids
        if persistent is None:
            persistent = [str(i) for i in option_ids]
        answer = {
            "poll_id": poll_id,
            "user": self.user,
            "option_ids": list(option_ids),
            "option_persistent_ids": persistent,
        }
        return {"poll_answer": answer}

    def my_chat_member(self, *, blocked: bool, bot_user: dict | None = None) -> dict:
        """What Telegram sends when this user blocks (kicked) or unblocks (member) the bot."""
        bot = bot_user or default_bot_user(FakeBotAPI.TOKEN, "WardVoiceTestBot")
        member = {"user": bot, "status": "member"}
        kicked = {"user": bot, "status": "kicked", "until_date": 0}
        old, new = (member, kicked) if blocked else (kicked, member)
        return {
            "my_chat_member": {
                "chat": self.chat,
                "from": self.user,
                "date": self._now(),
                "old_chat_member": copy.deepcopy(old),
                "new_chat_member": copy.deepcopy(new),
            }
        }
