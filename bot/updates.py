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
from telegram.request import BaseRequest, RequestData

from bot.flood import FloodGate, Verdict
from bot.http import AiohttpRequest

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


# Polling under load: below this many updates in hand, poll at once; above it, wait
# POLL_PAUSE_PER_UPDATE for each update in hand (at most POLL_PAUSE_MAX) before the next getUpdates.
POLL_BUSY_FROM = 8
POLL_PAUSE_PER_UPDATE = 0.0005
POLL_PAUSE_MAX = 0.025


class PacedPolling(AiohttpRequest):
    """The getUpdates connection: asks for updates at once when the bot is idle, a moment
    later when it is busy.

    python-telegram-bot asks for more updates as soon as the last answer is in, and
    Telegram answers at once with whatever has arrived. When residents write all at once
    that is one getUpdates round trip (and its parsing) for every one or two updates: 29 %
    of the main thread's busy time in the profile (bench/overhead.py --profile). While
    many updates are still being handled, a few milliseconds' wait costs them nothing
    (they wait for the event loop anyway) and lets each getUpdates bring a batch. An idle
    bot never waits, so one resident's reply is as quick as before (`poll_interval` would
    delay every poll).
    """

    __slots__ = ("_in_hand",)

    def __init__(self, in_hand: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._in_hand = in_hand

    def pause(self) -> float:
        """Seconds to wait before the next getUpdates."""
        in_hand = self._in_hand()
        if in_hand < POLL_BUSY_FROM:
            return 0.0
        return min(POLL_PAUSE_MAX, in_hand * POLL_PAUSE_PER_UPDATE)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        pause = self.pause()
        if pause:
            await asyncio.sleep(pause)
        return await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
