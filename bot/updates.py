"""Update processing: one user's updates in order, different users at once.

python-telegram-bot's ConversationHandler needs each conversation's updates handled in
sequence, but handling every update in sequence lets one slow geocoder call stall every
resident. So updates are ordered per user (a lock per user id) and run concurrently
across users. Flood control sits here, before an update waits for its user's lock, so a
flood never queues.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.flood import FloodGate, Verdict

log = logging.getLogger(__name__)

FloodNotice = Callable[[Update], Awaitable[None]]


class PerUserUpdateProcessor(BaseUpdateProcessor):
    def __init__(
        self,
        flood: FloodGate,
        on_flood: FloodNotice,
        max_concurrent_updates: int = 512,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self.flood = flood
        self.on_flood = on_flood
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        # Called with each update once it is fully handled (or dropped); tests wait on it.
        self.listeners: list[Callable[[object], None]] = []

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            user = update.effective_user if isinstance(update, Update) else None
            if user is None:
                await coroutine
                return
            verdict = self.flood.check(user.id)
            if verdict is not Verdict.ALLOW:
                _discard(coroutine)
                if verdict is Verdict.NOTIFY:
                    await self._notify(update)
                return
            await self._in_order(user.id, coroutine)
        finally:
            for listener in self.listeners:
                listener(update)

    async def _in_order(self, user_id: int, coroutine: Awaitable[Any]) -> None:
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        self._waiting[user_id] = self._waiting.get(user_id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[user_id] -= 1
            if not self._waiting[user_id]:
                del self._waiting[user_id]
                del self._locks[user_id]

    async def _notify(self, update: Update) -> None:
        try:
            await self.on_flood(update)
        except Exception:
            log.exception("could not send the flood notice")

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def _discard(coroutine: Awaitable[Any]) -> None:
    close = getattr(coroutine, "close", None)
    if close is not None:
        close()
