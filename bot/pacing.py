"""One send budget for the whole bot, with replies to people ahead of bulk sends.

Why our own rate limiter (python-telegram-bot's `BaseRateLimiter` interface, not its
`AIORateLimiter`): Telegram's ~30 messages a second is one budget per bot, shared by a
resident's reply and a 10,000-recipient broadcast. `AIORateLimiter` serves requests first
come, first served, so a reply waits behind every queued broadcast message (FIELD-NOTES);
and on a 429 it retries inside the call, where the outbox dispatcher must instead put the
row back and move on. Here:

- `Pacer` is a token bucket at `rate` a second (a burst of 5 % of a second's budget, at
  least one), with two queues: replies first, bulk when no reply is waiting.
- `PacedRateLimiter` runs every message-sending request through the pacer. A 429 holds
  the whole bucket for its `retry_after` (it applies to the limit that was hit, and
  Telegram lengthens it for clients that ignore it); a reply is then retried up to
  `max_retries` times, a bulk send (`rate_limit_args=BULK`) hands the 429 back to the
  dispatcher, which has already honoured the wait by the time its next send gets a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

BULK = "bulk"  # rate_limit_args for outbox sends


def retry_after_seconds(error: RetryAfter) -> float:
    value: Any = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Pacer:
    """A token bucket with a reply queue that always goes before the bulk queue."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate * 0.05)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()
        self._held_until = 0.0
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._bulk: deque[asyncio.Future[None]] = deque()
        self._releaser: asyncio.Task[None] | None = None
        self.holds = 0

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._bulk)

    def held_for(self) -> float:
        return max(0.0, self._held_until - self._clock())

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` (a 429's retry_after); later holds extend, never cut."""
        now = self._clock()
        if now + seconds > self._held_until:
            self._held_until = now + seconds
            self.holds += 1
        self._tokens = 0.0
        self._stamp = max(self._stamp, now)

    async def acquire(self, *, bulk: bool = False) -> None:
        now = self._clock()
        queue_free = not self._urgent and (not bulk or not self._bulk)
        if queue_free and now >= self._held_until:
            self._refill(now)
            if self._tokens >= 1:
                self._tokens -= 1
                return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._bulk if bulk else self._urgent).append(future)
        if self._releaser is None or self._releaser.done():
            self._releaser = asyncio.get_running_loop().create_task(
                self._release(), name="pacer-release"
            )
        await future

    def _next_waiter(self) -> asyncio.Future[None] | None:
        for queue in (self._urgent, self._bulk):
            while queue:
                future = queue.popleft()
                if not future.done():
                    return future
        return None

    async def _release(self) -> None:
        while self._urgent or self._bulk:
            now = self._clock()
            if now < self._held_until:
                await asyncio.sleep(self._held_until - now)
                continue
            self._refill(now)
            while self._tokens >= 1:
                future = self._next_waiter()
                if future is None:
                    break
                self._tokens -= 1
                future.set_result(None)
            if self._urgent or self._bulk:
                await asyncio.sleep(max((1 - self._tokens) / self.rate, 0.0005))


# Requests that put a message in a chat count against Telegram's limits; answering a
# button, polling for updates or setting the menu do not.
_UNPACED = frozenset(
    {
        "getUpdates",
        "getMe",
        "answerCallbackQuery",
        "setMyCommands",
        "deleteMyCommands",
        "getMyCommands",
        "setChatMenuButton",
        "getFile",
        "deleteWebhook",
        "getWebhookInfo",
        "sendChatAction",
    }
)


class PacedRateLimiter(BaseRateLimiter[str]):
    """python-telegram-bot's rate-limiter hook, backed by one shared `Pacer`."""

    def __init__(self, rate: float, *, max_retries: int = 3) -> None:
        self.pacer = Pacer(rate)
        self.max_retries = max_retries
        self.retry_afters = 0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        task = self.pacer._releaser
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: str | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        bulk = rate_limit_args == BULK
        paced = endpoint not in _UNPACED
        tries = 0
        while True:
            if paced:
                await self.pacer.acquire(bulk=bulk)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                self.retry_afters += 1
                wait = retry_after_seconds(error)
                self.pacer.hold(wait + 0.05)
                log.info("Telegram asked us to wait %.1f s (%s)", wait, endpoint)
                if bulk or not paced or tries >= self.max_retries:
                    raise
                tries += 1
