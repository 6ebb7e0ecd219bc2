"""The outbox dispatcher: sends due rows within Telegram's limits and records how each ended.

One long-running task claims due rows (a few more than it has sends in flight, so the
window of rows a crash can leave half-sent stays small), sends each through the bot with
`rate_limit_args=BULK` so the shared pacer (bot/pacing.py) keeps the whole bot under
Telegram's ~30 a second and lets residents' replies go first, and hands every result to
one writer task that commits them in batches (one commit per batch, not per message: the
dispatcher can then do well over 1,000 sends a second when the limits are off).

How a send ends:
- accepted: `sent`;
- 429: the pacer holds every send for `retry_after`; the row is due again at once and
  goes out when the hold ends (no attempt counted: it was Telegram's pacing, not a fault);
- 403 (blocked the bot, deactivated): `blocked`; the person's updates are turned off and
  their other waiting rows dropped;
- 400: `failed` at once (the same request would fail again);
- timeout, network error, 5xx: due again after a backoff (2, 4, 8... s), `failed` after
  `send_attempts` tries, with the last error kept.

A send that gets no answer may be the message's fault or Telegram's: the dispatcher asks
Telegram (getMe). If Telegram answers, the row takes its try as above. If not, Telegram is
down, which is no message's fault: the row goes back without a try counted, nothing more
is claimed, and getMe is asked again after pauses growing from 0.5 s to 30 s; the outbox
carries on once it answers. So an outage of any length fails nothing and costs one
request per pause. When the database cannot be written (disk full, read-only), claiming
and recording fail: the dispatcher waits in the same growing steps, or until a write
works again, and keeps the results of sends already made until they can be recorded.

A graceful stop (SIGTERM) stops claiming, lets the sends in flight finish and commits
their results; a kill leaves rows `sending`, which `outbox.recover()` re-queues at the
next start (at-least-once; README "Delivery").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.clock import to_iso
from bot.domain.broadcasts import progress_text
from bot.pacing import BULK
from bot.services import Services
from storage import outbox
from storage.db import unavailable_cause
from storage.outbox import Item, Result, Row

log = logging.getLogger(__name__)

PER_CHAT_GAP = 1.0  # seconds between two bulk messages to one chat (Telegram: ~1 a second)
PROGRESS_EVERY = 3.0  # seconds between edits of a broadcast's progress message
IDLE_LOOK = 1.0  # seconds between looks at the outbox when nothing rang the bell
PROBE_FRESH = 1.0  # seconds a getMe answer stands for sends that failed together
FIRST_PAUSE = 0.5  # seconds: the first wait when Telegram or the database fails...
LONGEST_PAUSE = 30.0  # ... doubling each time up to this


@dataclass
class DispatchStats:
    sent: int = 0
    retry_after: int = 0
    blocked: int = 0
    failed: int = 0
    retried: int = 0
    recovered: int = 0
    held: int = 0  # rows put back without a try counted, Telegram being down
    probes: int = 0  # getMe calls asking whether Telegram is up
    storage_pauses: int = 0  # waits because the database could not be written


def _markup(item: Item) -> InlineKeyboardMarkup | None:
    if not item.markup:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(**button) for button in row] for row in item.markup]
    )


def backoff(attempts: int) -> timedelta:
    """2, 4, 8, 16... seconds, at most 10 minutes."""
    return timedelta(seconds=min(600, 2**attempts))


def pause(failures: int) -> float:
    """0.5, 1, 2, 4... seconds, at most LONGEST_PAUSE, after `failures` failures in a row."""
    return min(LONGEST_PAUSE, FIRST_PAUSE * 2 ** max(0, failures - 1))


class Dispatcher:
    def __init__(self, services: Services, bot: Bot) -> None:
        self.services = services
        self.bot = bot
        self.concurrency = max(1, services.settings.send_concurrency)
        self.max_attempts = max(1, services.settings.send_attempts)
        self.stats = DispatchStats()
        self._items: dict[int, Item] = {}
        self._chat_next: dict[int, float] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._slot_free = asyncio.Event()
        self._results: list[Result] = []
        self._results_ready = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._last_progress: dict[int, float] = {}
        self._progress_locks: dict[int, asyncio.Lock] = {}
        self._looks = 0  # how many times the loop has looked at the outbox
        self._idle_look = -1  # the look that last found nothing to do
        self._idle = asyncio.Event()
        self._recording = False
        self._stop_event = asyncio.Event()
        # Telegram down: set at the first send that failed for want of an answer, cleared
        # by any answer; meanwhile one probe at a time.
        self._telegram_down = False
        self._down_probes = 0  # getMe calls that failed since Telegram went down
        self._probe: asyncio.Task[bool] | None = None
        self._probe_started = 0.0
        self._heard = asyncio.Event()  # an update came in: Telegram may be back
        self._storage_failures = 0  # claims or records refused in a row by the database
        self._unrecovered = False  # rows a dead process left `sending` still to re-queue

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await self._recover()
        self._loop_task = asyncio.create_task(self._run(), name="outbox-dispatcher")
        self._writer_task = asyncio.create_task(self._write(), name="outbox-writer")

    async def _recover(self) -> None:
        """Re-queue rows a dead process left `sending` (at start, or later if the database
        could not be written at start)."""
        try:
            recovered = await outbox.recover(self.services.db)
        except Exception as error:
            if unavailable_cause(error) is None:
                raise
            self._unrecovered = True
            return
        self._unrecovered = False
        if recovered:
            log.warning(
                "%d outbox message(s) were being sent when the bot last stopped; sending "
                "them again (at-least-once: some may already have arrived)",
                recovered,
            )
        self.stats.recovered += recovered

    async def stop(self, within: float = 10.0) -> None:
        """Stop claiming, let sends in flight finish, commit their results."""
        self._stopping = True
        self._stop_event.set()
        self.services.outbox_bell.ring()
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=within)
            for task in pending:
                task.cancel()
        if self._probe is not None and not self._probe.done():
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        self._results_ready.set()
        if self._writer_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer_task

    async def drained(self, within: float = 60.0) -> None:
        """Wait until nothing is due now and nothing is in flight (for tests and benches)."""
        try:
            await self._drain(within)
        except TimeoutError as error:
            loop_task = self._loop_task
            raise TimeoutError(
                f"outbox not drained within {within} s: {len(self._inflight)} in flight, "
                f"{len(self._results)} results waiting, recording={self._recording}, "
                f"looks={self._looks}, idle_look={self._idle_look}, "
                f"loop done={loop_task is not None and loop_task.done()}, "
                f"writer done={self._writer_task is not None and self._writer_task.done()}"
            ) from error

    async def _drain(self, within: float) -> None:
        # Only a look that began after this call counts: an earlier one may have read the
        # outbox before the rows the caller is waiting for were queued. (Read once: read
        # again each round, it would always name the look in progress, which the ring
        # below keeps restarting: a livelock.)
        after = self._looks
        async with asyncio.timeout(within):
            while True:
                self._idle.clear()
                self.services.outbox_bell.ring()
                await self._idle.wait()
                idle = not self._inflight and not self._results and not self._recording
                if idle and self._idle_look > after:
                    return

    # --- claiming -----------------------------------------------------------------------

    def heard_from_telegram(self, update: object = None) -> None:
        """An update came in through getUpdates: if Telegram was down, ask it now rather
        than at the end of the pause (bot/runtime.py calls this for every update)."""
        if self._telegram_down:
            self._heard.set()

    async def _wait(
        self, seconds: float, *, until_writable: bool = False, until_heard: bool = False
    ) -> None:
        """Sleep `seconds`; a stop ends it at once, and so, with `until_writable`, does the
        first write that works again, and with `until_heard`, an update from Telegram."""
        waits = [asyncio.create_task(self._stop_event.wait())]
        if until_writable:
            waits.append(asyncio.create_task(self.services.db.health.wait_recovered(seconds)))
        if until_heard:
            waits.append(asyncio.create_task(self._heard.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()

    async def _storage_pause(self) -> None:
        """The database refused a write (storage.db has said why, once): wait, then again."""
        self._storage_failures += 1
        self.stats.storage_pauses += 1
        await self._wait(pause(self._storage_failures), until_writable=True)

    async def _run(self) -> None:
        bell = self.services.outbox_bell
        db = self.services.db
        while not self._stopping:
            free = self.concurrency * 2 - len(self._inflight)
            if self._telegram_down:
                # Claim nothing while Telegram is down; ask it again after a longer pause.
                self._down_probes += 1
                self._heard.clear()
                await self._wait(pause(self._down_probes), until_heard=True)
                if not self._stopping and await self._reachable(fresh=True):
                    self._telegram_answers()
                continue
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            bell.clear()
            self._looks += 1
            look = self._looks
            try:
                if self._unrecovered:
                    await self._recover()
                rows = await outbox.claim(db, to_iso(self.services.clock.now()), free)
            except Exception as error:
                if unavailable_cause(error) is not None:
                    await self._storage_pause()
                    continue
                log.exception("could not read the outbox; trying again shortly")
                rows = []
            else:
                self._storage_failures = 0
            if not rows:
                if not self._inflight and not self._results and not self._recording:
                    self._idle_look = look
                    self._idle.set()
                await bell.wait(IDLE_LOOK)
                continue
            await self._load_items({row.item_id for row in rows})
            for row in rows:
                task = asyncio.create_task(self._send(row), name=f"outbox-send-{row.id}")
                self._inflight.add(task)
                task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slot_free.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("outbox send crashed", exc_info=task.exception())

    async def _load_items(self, item_ids: set[int]) -> None:
        missing = [i for i in item_ids if i not in self._items]
        if missing:
            self._items.update(await outbox.items(self.services.db, missing))

    # --- sending ------------------------------------------------------------------------

    async def _wait_for_chat(self, chat_id: int) -> None:
        """At most one bulk message a second to one chat (Telegram's per-chat limit)."""
        now = time.monotonic()
        slot = max(now, self._chat_next.get(chat_id, 0.0))
        self._chat_next[chat_id] = slot + PER_CHAT_GAP
        if len(self._chat_next) > 50_000:
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        if slot > now:
            await asyncio.sleep(slot - now)

    async def _send(self, row: Row) -> None:
        item = self._items[row.item_id]
        text = row.text or item.text_for(row.language)
        result: Result
        try:
            await self._wait_for_chat(row.chat_id)
            await self.bot.send_message(
                row.chat_id, text, reply_markup=_markup(item), rate_limit_args=BULK
            )
            result = Result(row.id, row.chat_id, row.item_id, "sent")
            self.stats.sent += 1
            self._telegram_answers()
        except RetryAfter:
            # The pacer now holds every send for retry_after; this row goes out after it.
            self.stats.retry_after += 1
            result = Result(row.id, row.chat_id, row.item_id, "later")
            self._telegram_answers()
        except Forbidden as error:
            self.stats.blocked += 1
            result = Result(row.id, row.chat_id, row.item_id, "blocked", error=str(error))
            self._telegram_answers()
        except BadRequest as error:
            self.stats.failed += 1
            log.warning("outbox row %d to %d refused: %s", row.id, row.chat_id, error)
            result = Result(row.id, row.chat_id, row.item_id, "failed", error=str(error))
            self._telegram_answers()
        except (NetworkError, TelegramError) as error:
            # NetworkError covers timeouts and 5xx. A timed-out send may have arrived: the
            # retry is the documented at-least-once edge, bounded by send_attempts.
            result = await self._no_answer(row, error)
        self._results.append(result)
        self._results_ready.set()

    def _telegram_answers(self) -> None:
        if self._telegram_down:
            log.info(
                "Telegram answers again; the outbox carries on (%d messages held back so far)",
                self.stats.held,
            )
        self._telegram_down = False
        self._down_probes = 0

    async def _no_answer(self, row: Row, error: TelegramError) -> Result:
        """A send Telegram did not answer (timeout, 5xx, network): the message's try, or
        Telegram's outage?"""
        if not self._telegram_down and await self._reachable():
            return self._retry_or_fail(row, error)
        if not self._telegram_down:
            self._telegram_down = True
            self._down_probes = 0
            log.warning(
                "Telegram is not answering (%s: %s); the outbox waits, asking again after "
                "pauses of up to %.0f s",
                type(error).__name__,
                error,
                LONGEST_PAUSE,
            )
        self.stats.held += 1
        return Result(row.id, row.chat_id, row.item_id, "later", error=str(error))

    async def _reachable(self, *, fresh: bool = False) -> bool:
        """Whether Telegram answers getMe. Sends that failed together share one question."""
        probe = self._probe
        stale = time.monotonic() - self._probe_started > PROBE_FRESH
        if probe is None or (probe.done() and (fresh or stale)):
            self._probe_started = time.monotonic()
            probe = self._probe = asyncio.create_task(self._get_me(), name="outbox-probe")
        return await asyncio.shield(probe)

    async def _get_me(self) -> bool:
        self.stats.probes += 1
        try:
            await self.bot.get_me()
        except TelegramError:
            return False
        return True

    def _retry_or_fail(self, row: Row, error: TelegramError) -> Result:
        attempts = row.attempts + 1
        if attempts >= self.max_attempts:
            self.stats.failed += 1
            log.warning(
                "outbox row %d to %d failed after %d tries: %s",
                row.id,
                row.chat_id,
                attempts,
                error,
            )
            return Result(row.id, row.chat_id, row.item_id, "failed", error=str(error))
        self.stats.retried += 1
        due = self.services.clock.now() + backoff(attempts)
        return Result(
            row.id, row.chat_id, row.item_id, "retry", error=str(error), due_at=to_iso(due)
        )

    # --- recording ----------------------------------------------------------------------

    async def _write(self) -> None:
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            batch, self._results = self._results, []
            if batch:
                self._recording = True
                try:
                    await self._record(batch)
                finally:
                    self._recording = False
            elif self._stopping and not self._inflight:
                return
            if self._stopping and not self._inflight and not self._results:
                return
            if not self._inflight and not self._results:
                self.services.outbox_bell.ring()

    async def _record(self, batch: list[Result]) -> None:
        db = self.services.db
        tries = 0
        while True:
            tries += 1
            try:
                finished = await outbox.record(db, batch, to_iso(self.services.clock.now()))
                break
            except Exception as error:
                if unavailable_cause(error) is not None and not self._stopping:
                    # The database cannot be written now (storage.db has said why): keep
                    # the results and try again when it can, however long that takes.
                    await self._storage_pause()
                    continue
                if unavailable_cause(error) is None:
                    log.exception("could not record %d outbox results (try %d)", len(batch), tries)
                if tries >= 5 or self._stopping:
                    # The rows stay `sending`: the next start re-queues them (at-least-once).
                    log.warning(
                        "%d outbox results not recorded; those messages will be sent again "
                        "at the next start (at-least-once)",
                        len(batch),
                    )
                    return
                await asyncio.sleep(0.5 * tries)
        self._storage_failures = 0
        touched = {r.item_id for r in batch} | set(finished)
        await self._load_items(touched)
        for item_id in sorted(touched):
            await self._progress(item_id, final=item_id in finished)
        for item_id in finished:
            self._items.pop(item_id, None)
            self._last_progress.pop(item_id, None)
            self._progress_locks.pop(item_id, None)
        if any(r.outcome in ("later", "retry") for r in batch):
            self.services.outbox_bell.ring()

    async def show_progress(self, item_ids: Iterable[int]) -> None:
        """Show items' counts now (the Send button; a block notice that finished one)."""
        wanted = set(item_ids)
        await self._load_items(wanted)
        for item_id in sorted(wanted):
            await self._progress(item_id, final=True)

    async def _progress(self, item_id: int, *, final: bool) -> None:
        """Edit a broadcast's progress message now and then, and once at the end.

        Each edit shows the counts read under a per-item lock, and edits go out in the
        order they were read: whoever edits last shows the latest state, so a slow
        handler's "0 of N" can never land on top of the final count.
        """
        item = self._items.get(item_id) or await outbox.item(self.services.db, item_id)
        if item is None or item.progress_chat is None or item.progress_message is None:
            return
        now = time.monotonic()
        if not final and now - self._last_progress.get(item_id, 0.0) < PROGRESS_EVERY:
            return
        self._last_progress[item_id] = now
        lock = self._progress_locks.setdefault(item_id, asyncio.Lock())
        async with lock:
            await self._edit_progress(item)

    async def _edit_progress(self, item: Item) -> None:
        assert item.progress_chat is not None and item.progress_message is not None
        item_id = item.id
        counts = await outbox.counts(self.services.db, item_id)
        text = progress_text(item.progress_language or "en", counts, final=counts.finished)
        try:
            await self.bot.edit_message_text(
                text, chat_id=item.progress_chat, message_id=item.progress_message
            )
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                log.info("could not update broadcast %d progress: %s", item_id, error)
        except TelegramError as error:
            log.info("could not update broadcast %d progress: %s", item_id, error)
