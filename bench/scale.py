"""Scale of data: the real bot process on a database the size of a national roll-out.

Run by hand:  /work/venv/bin/python bench/scale.py [--residents 100000] [--concerns 200000]
                  [--rate 30] [--duration 60] [--mixed 30] [--startup-runs 3] [--rebuild]

The database (bench/scale_data.py): every England and Wales ward (7,665) imported by the
product, 100,000 residents, 200,000 concerns with their history, "me too"s and ratings,
staff roles, priorities, meetings, "we did" entries, votes, 90 days of outbox and two
years of audit log, skewed so a few wards are big (Ladywood, Birmingham: about 4,900
residents and 10,000 concerns; Birmingham: about 34,000 concerns). It is built (about a
minute) once per day and per inputs (ward file, counts, seed, schema, generator) and
cached in $TMPDIR/wardvoice-scale/ (one database, about 570 MB); each run works on a
copy. Before the bot starts, the copy is brought up to now as a running bot would have
left it: the scheduled jobs run once in this process (`schedules.run_due`) and what they
queued is marked sent.

Then, against a fake Bot API on 127.0.0.1 (in this process; the bot in its own):

1. digest preparation: `schedules.digest.prepare` for the largest ward, and the whole
   weekly run (`digest.run`) over every ward, timed in this process (not the bot's) on a
   second copy whose watermarks are put back to before this week's slot;
2. start-up to first answer: `wardvoice run` spawned with a /start already waiting, from
   spawn to the reply; median of `--startup-runs`;
3. resident replies: residents who exist in the database (a share from the largest ward,
   the residents with most concerns for /myconcerns) send /start, /ward, /priorities,
   /meetings, /myconcerns (page 2, one concern opened), /updates, the whole /concern flow
   (category, text, a shared location, no photo, send) and location shares, in sessions
   started at random (Poisson) so that about `--rate` updates a second arrive, each step
   a second or two after the answer to the one before. Latency is from pushing the update
   to the bot's last call for it (its complete answer), and to its first;
4. staff: the chair of the largest ward runs /stats and /export (a year) for it and opens
   its review queue; an admin runs /stats and /export for the largest borough: push to
   the chart or the second CSV document; three times each;
5. mixed: residents as in 3 for `--mixed` seconds while the admin runs the borough's
   /export and /stats back to back;
6. peak RSS of the bot process (VmHWM in /proc/PID/status) just before it is stopped.

WARDVOICE_MAX_SEND_RATE is 10,000 so the bot's own pacing of sends (bot/pacing.py, 28 a
second in production) does not count as handler time. Goals (issue 8): resident replies
p95 50 ms, peak RSS 250 MB, start-up to first answer 3 s. Human lines, then one JSON
line; exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("PTB_TIMEDELTA", "true")

import scale_data  # noqa: E402
from harness import percentile  # noqa: E402

from bot.clock import to_iso  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import open_services  # noqa: E402
from bot.standin.bot_api import ApiCall, FakeBotAPI  # noqa: E402
from bot.standin.users import SimUser  # noqa: E402
from schedules import digest, run_due  # noqa: E402
from schedules.digest import latest_slot  # noqa: E402

WARDS_FILE = REPO.parent / "shared" / "data" / "england_wales_wards_2022_bsc.geojson"
SEND_RATE = 10_000
REPLY_WITHIN = 60.0
GOALS = {"resident_p95_ms": 50.0, "peak_rss_mb": 250.0, "startup_s": 3.0}
CONCERN_TEXT = "Cars parked on the pavement every evening; prams and wheelchairs cannot get by."


# --- the fake Bot API, with waiters per chat ------------------------------------------


class WatchedAPI(FakeBotAPI):
    """FakeBotAPI that wakes the waiter of a chat when a call to it is answered, instead
    of every waiter rescanning every call (thousands of waiters, hundreds of thousands of
    calls). A button press's answerCallbackQuery counts for the chat that pressed it."""

    def __init__(self) -> None:
        super().__init__()
        self._scanned = 0
        self._open: list[ApiCall] = []
        self.by_chat: dict[int, list[ApiCall]] = {}
        self.callback_chat: dict[str, int] = {}
        self._waiters: dict[int, list[tuple[float, str | None, int, asyncio.Future[ApiCall]]]] = {}

    def chat_of(self, call: ApiCall) -> int | None:
        if call.method == "answerCallbackQuery":
            return self.callback_chat.get(str(call.params.get("callback_query_id")))
        return call.chat_id

    def _pulse_calls(self) -> None:
        super()._pulse_calls()
        fresh = self.calls[self._scanned :]
        self._scanned = len(self.calls)
        pending = self._open + fresh
        self._open = [c for c in pending if c.status is None]
        for call in pending:
            if call.status is None:
                continue
            chat = self.chat_of(call)
            if chat is None:
                continue
            self.by_chat.setdefault(chat, []).append(call)
            waiting = self._waiters.get(chat)
            if not waiting:
                continue
            keep = []
            for since, method, need, future in waiting:
                if future.done():
                    continue
                seen = [
                    c
                    for c in self.by_chat[chat]
                    if c.at >= since and (method is None or c.method == method)
                ]
                if len(seen) >= need:
                    future.set_result(seen[need - 1])
                else:
                    keep.append((since, method, need, future))
            self._waiters[chat] = keep

    async def wait_chat(
        self, chat: int, since: float, *, method: str | None = None, count: int = 1
    ) -> ApiCall:
        """The `count`-th answered call (of `method`) to `chat` made at or after `since`."""
        seen = [
            c
            for c in self.by_chat.get(chat, [])
            if c.at >= since and (method is None or c.method == method)
        ]
        if len(seen) >= count:
            return seen[count - 1]
        future: asyncio.Future[ApiCall] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(chat, []).append((since, method, count, future))
        return await asyncio.wait_for(future, REPLY_WITHIN)

    def calls_between(self, chat: int, start: float, end: float) -> list[ApiCall]:
        return [c for c in self.by_chat.get(chat, []) if start <= c.at < end]

    def push(self, sim: SimUser, update: dict) -> float:
        """Push an update; returns the monotonic moment it became available."""
        query = update.get("callback_query")
        if query is not None:
            self.callback_chat[str(query["id"])] = sim.chat_id
        at = time.monotonic()
        self.push_update(update)
        return at

    def button_message(self, chat: int, prefix: str, suffix: str = "") -> tuple[dict, str] | None:
        """The newest message in the chat with an inline button whose data starts (and
        ends) so."""
        for message in reversed(self.messages(chat)):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    data = button.get("callback_data") or ""
                    if data.startswith(prefix) and data.endswith(suffix):
                        return message, data
        return None


# --- the database -----------------------------------------------------------------------


async def ensure_database(args: argparse.Namespace, now: datetime) -> tuple[Path, float | None]:
    plan = scale_data.Plan(args.residents, args.concerns, args.seed)
    folder = Path(args.cache) if args.cache else Path(tempfile.gettempdir()) / "wardvoice-scale"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"scale-{scale_data.cache_key(WARDS_FILE, plan, now)}.db"
    if path.exists() and not args.rebuild:
        return path, None
    for old in folder.glob("scale-*.db*"):  # one cached database at a time (they are large)
        old.unlink()
    partial = folder / "building.db"
    remove_database(partial)
    started = time.perf_counter()
    await scale_data.build(partial, WARDS_FILE, plan, now)
    elapsed = time.perf_counter() - started
    os.replace(partial, path)
    return path, elapsed


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def settings_for(db: Path, api: FakeBotAPI | None = None) -> Settings:
    return Settings(
        token=FakeBotAPI.TOKEN,
        api_base_url=api.base_url if api else None,
        db_path=db,
        geocoder="none",
        max_send_rate=SEND_RATE,
    )


async def catch_up(db: Path) -> dict[str, Any]:
    """Run the scheduled jobs once, as the bot that 'ran until now' would have, and mark
    what they queued as sent: the bot then starts in a steady state."""
    services = await open_services(settings_for(db))
    try:
        started = time.perf_counter()
        report = await run_due(services)
        elapsed = time.perf_counter() - started
    finally:
        await services.close()
    now = to_iso(datetime.now(UTC))
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        sent = conn.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ? WHERE state IN ('pending', 'sending')",
            (now,),
        ).rowcount
        conn.execute(
            "UPDATE outbox_items SET state = 'done', finished_at = ? WHERE state = 'sending'",
            (now,),
        )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"seconds": elapsed, "jobs": report, "rows_marked_sent": sent}


def rewind_digests(db: Path, slot: datetime, ward: str | None) -> int:
    """Put weekly subscribers' watermarks (of one ward, or all) back to the previous slot
    and drop the digest marks: this week's digest is due again."""
    previous = to_iso(slot - timedelta(days=7))
    only = "AND ward_code = ?" if ward else ""
    params: tuple[Any, ...] = (previous, ward) if ward else (previous,)
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        changed = conn.execute(
            "UPDATE residents SET digest_after = min(digest_after, COALESCE((SELECT max(o.id)"
            " FROM outcomes o WHERE o.ward_code = residents.ward_code AND o.created_at <= ?), 0))"
            f" WHERE updates = 'weekly' {only}",
            params,
        ).rowcount
        conn.execute(
            f"DELETE FROM schedule_marks WHERE job = 'digest' {only.replace('ward_code', 'scope')}",
            (ward,) if ward else (),
        )
    return changed


async def digest_probe(db: Path, work: Path, ward: str) -> dict[str, Any]:
    copy = work / "digest.db"
    shutil.copyfile(db, copy)
    settings = settings_for(copy)
    now = datetime.now(UTC)
    weekday, hour, minute = settings.digest_slot
    slot = latest_slot(now, settings.tz, weekday, hour, minute)
    rewind_digests(copy, slot, None)
    services = await open_services(settings)
    try:
        started = time.perf_counter()
        ward_rows = await digest.prepare(services, ward, to_iso(slot), now)
        ward_s = time.perf_counter() - started
        started = time.perf_counter()
        all_rows = await digest.run(services)
        all_s = time.perf_counter() - started
        wards = await services.db.fetchval(
            "SELECT count(*) FROM outbox_items WHERE kind = 'digest' AND key LIKE ?",
            (f"%:{to_iso(slot)}",),
        )
    finally:
        await services.close()
        remove_database(copy)
    return {
        "largest_ward_s": ward_s,
        "largest_ward_rows": ward_rows,
        "all_wards_s": ward_s + all_s,
        "all_wards_rows": all_rows + ward_rows,
        "all_wards_items": wards,
    }


@dataclass
class People:
    general: list[tuple[int, str, float | None, float | None]]
    largest: list[tuple[int, str, float | None, float | None]]
    heavy: list[tuple[int, str, float | None, float | None]]
    startup: list[int]


def choose_people(db: Path, ward: str, rng: random.Random) -> People:
    """Residents with a ward who are not staff, not blocked, not writing a concern; the
    concern flow's points are their own (or a concern's in their ward)."""
    day_ago = to_iso(datetime.now(UTC) - timedelta(days=1))
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT r.user_id, r.ward_code, r.lat, r.lon FROM residents r WHERE"
            " r.ward_code IS NOT NULL AND r.blocked_at IS NULL"
            " AND r.user_id NOT IN (SELECT user_id FROM roles)"
            " AND r.user_id NOT IN (SELECT user_id FROM admins)"
            " AND r.user_id NOT IN (SELECT user_id FROM concern_drafts)"
            " AND r.user_id NOT IN (SELECT user_id FROM forget_requests)"
            " AND r.user_id NOT IN (SELECT raised_by FROM concerns WHERE created_at > ?"
            "   AND raised_by IS NOT NULL)",
            (day_ago,),
        ).fetchall()
        heavy_ids = [
            r[0]
            for r in conn.execute(
                "SELECT raised_by FROM concerns WHERE raised_by IS NOT NULL GROUP BY raised_by"
                " ORDER BY count(*) DESC LIMIT 400"
            )
        ]
        points = {
            w: (lat, lon)
            for w, lat, lon in conn.execute(
                "SELECT ward_code, lat, lon FROM concerns WHERE lat IS NOT NULL GROUP BY ward_code"
            )
        }
    usable = []
    for user_id, ward_code, lat, lon in rows:
        if lat is None and ward_code in points:
            lat, lon = points[ward_code]
        usable.append((user_id, ward_code, lat, lon))
    rng.shuffle(usable)
    by_id = {u[0]: u for u in usable}
    largest = [u for u in usable if u[1] == ward]
    heavy = [by_id[i] for i in heavy_ids if i in by_id][:200]
    taken = {u[0] for u in largest[:3000]} | {u[0] for u in heavy}
    general = [u for u in usable if u[0] not in taken][:20_000]
    startup = [u[0] for u in general[-10:]]
    return People(general[:-10], largest[:3000], heavy, startup)


# --- the bot process --------------------------------------------------------------------


def bot_env(api: FakeBotAPI, db: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": FakeBotAPI.TOKEN,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_API_FILE_URL": api.base_file_url,
        "WARDVOICE_DB": str(db),
        "WARDVOICE_GEOCODER": "none",
        "WARDVOICE_MAX_SEND_RATE": str(SEND_RATE),
    }


async def spawn(api: WatchedAPI, db: Path, log: Path | None) -> asyncio.subprocess.Process:
    out = log.open("ab") if log else asyncio.subprocess.DEVNULL
    try:
        return await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("wardvoice")),
            "run",
            env=bot_env(api, db),
            stdout=out,
            stderr=out,
        )
    finally:
        if log:
            out.close()  # type: ignore[union-attr]


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def first_answer(api: WatchedAPI, db: Path, user_id: int, log: Path | None):  # type: ignore[no-untyped-def]
    """Spawn the bot with a /start waiting; seconds from spawn to its reply."""
    sim = SimUser(user_id)
    api.push(sim, sim.message("/start"))
    started = time.monotonic()
    process = await spawn(api, db, log)
    reply = await api.wait_chat(user_id, started)
    return reply.at - started, process


def memory(pid: int) -> dict[str, float]:
    found = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                found[key] = int(value.split()[0]) / 1024  # kB -> MiB
    return found


# --- residents ----------------------------------------------------------------------------


@dataclass
class Step:
    kind: str
    chat: int
    pushed: float
    first: float | None = None
    last: float | None = None
    until: float | None = None  # the user's next push (or the session's end)


@dataclass
class Load:
    api: WatchedAPI
    people: People
    rng: random.Random
    steps: list[Step] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 1.0)
    busy: set[int] = field(default_factory=set)

    async def step(self, sim: SimUser, kind: str, update: dict) -> Step:
        pushed = self.api.push(sim, update)
        step = Step(kind, sim.chat_id, pushed)
        self.steps.append(step)
        reply = await self.api.wait_chat(sim.chat_id, pushed)
        step.first = reply.at
        await asyncio.sleep(self.rng.uniform(1.0, 2.5))  # reading, thinking, typing
        return step

    async def press(self, sim: SimUser, kind: str, prefix: str, suffix: str = "") -> bool:
        found = self.api.button_message(sim.chat_id, prefix, suffix)
        if found is None:
            return False
        message, data = found
        await self.step(sim, kind, sim.callback(data, message=message))
        return True

    def pick(self, pool: list[tuple[int, str, float | None, float | None]]):  # type: ignore[no-untyped-def]
        for _ in range(50):
            person = self.rng.choice(pool)
            if person[0] not in self.busy:
                return person
        return None

    async def session(self) -> None:
        roll = self.rng.random()
        kind = (
            "browse"
            if roll < 0.40
            else "mine"
            if roll < 0.65
            else "concern"
            if roll < 0.85
            else "place"
            if roll < 0.95
            else "updates"
        )
        if kind == "mine" and self.rng.random() < 0.4:
            pool = self.people.heavy
        elif self.rng.random() < 0.3:
            pool = self.people.largest
        else:
            pool = self.people.general
        person = self.pick(pool)
        if person is None:
            return
        user_id, _, lat, lon = person
        self.busy.add(user_id)
        sim = SimUser(user_id, first_name="Resident")
        try:
            await self.script(sim, kind, lat, lon)
        except (TimeoutError, LookupError) as err:
            self.failed.append(f"{kind} {user_id}: {type(err).__name__} {err}")
        finally:
            self.busy.discard(user_id)

    async def script(self, sim: SimUser, kind: str, lat: float | None, lon: float | None) -> None:
        if kind == "browse":
            for command in ("/start", "/ward", "/priorities", "/meetings"):
                await self.step(sim, command, sim.message(command))
        elif kind == "mine":
            await self.step(sim, "/myconcerns", sim.message("/myconcerns"))
            await self.press(sim, "mine: page", "mine:page:")
            await self.press(sim, "mine: open", "mine:open:")
        elif kind == "updates":
            await self.step(sim, "/updates", sim.message("/updates"))
        elif kind == "place":
            if lat is None or lon is None:
                await self.step(sim, "/ward", sim.message("/ward"))
            else:
                await self.step(sim, "location", sim.location(lat, lon))
        else:
            await self.step(sim, "/concern", sim.message("/concern"))
            if not await self.press(sim, "concern: category", "concern:cat:"):
                raise LookupError("no category buttons")
            await self.step(sim, "concern: text", sim.message(CONCERN_TEXT))
            if lat is not None and lon is not None:
                await self.step(sim, "concern: location", sim.location(lat, lon))
            elif not await self.press(sim, "concern: skip place", "concern:skip:", ":place"):
                raise LookupError("no skip button for the place")
            if not await self.press(sim, "concern: skip photo", "concern:skip:", ":photo"):
                raise LookupError("no skip button for the photo")
            if not await self.press(sim, "concern: send", "concern:send:"):
                raise LookupError("no send button")

    async def run(self, seconds: float, rate: float) -> float:
        """Sessions at random (Poisson) moments for `seconds`, about `rate` updates a second;
        returns the wall time until the last session ended."""
        mean_steps = 0.40 * 4 + 0.25 * 3 + 0.20 * 6 + 0.10 + 0.05
        started = time.monotonic()
        tasks = []
        while time.monotonic() - started < seconds:
            tasks.append(asyncio.create_task(self.session()))
            await asyncio.sleep(self.rng.expovariate(rate / mean_steps))
        self.window = (started, time.monotonic())
        await asyncio.gather(*tasks)
        return time.monotonic() - started

    def arrival_rate(self) -> float:
        """Updates pushed a second while sessions were being started (ramp-up included)."""
        start, end = self.window
        return sum(1 for s in self.steps if start <= s.pushed < end) / (end - start)

    def finish(self, since: int = 0) -> list[Step]:
        """Each step's last call: the last one to its chat before that user's next push."""
        steps = self.steps[since:]
        by_chat: dict[int, list[Step]] = {}
        for step in self.steps:
            by_chat.setdefault(step.chat, []).append(step)
        for chat_steps in by_chat.values():
            chat_steps.sort(key=lambda s: s.pushed)
            for step, after in zip(chat_steps, [*chat_steps[1:], None], strict=True):
                end = after.pushed if after else float("inf")
                calls = self.api.calls_between(step.chat, step.pushed, end)
                if calls:
                    step.last = max(c.at for c in calls)
        return [s for s in steps if s.first is not None and s.last is not None]


def summary(values: list[float]) -> dict[str, float | None]:
    ms = [v * 1000 for v in values]
    if not ms:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 50), 1),
        "p95": round(percentile(ms, 95), 1),
        "p99": round(percentile(ms, 99), 1),
        "max": round(max(ms), 1),
    }


def latency_report(steps: list[Step]) -> dict[str, Any]:
    by_kind: dict[str, list[float]] = {}
    for s in steps:
        assert s.last is not None
        by_kind.setdefault(s.kind, []).append(s.last - s.pushed)
    return {
        "complete": summary([s.last - s.pushed for s in steps if s.last is not None]),
        "first": summary([s.first - s.pushed for s in steps if s.first is not None]),
        "by_kind_p95_ms": {k: summary(v)["p95"] for k, v in sorted(by_kind.items())},
    }


# --- staff --------------------------------------------------------------------------------


async def staff_action(api: WatchedAPI, sim: SimUser, text: str, method: str, count: int) -> float:
    pushed = api.push(sim, sim.message(text))
    reply = await api.wait_chat(sim.chat_id, pushed, method=method, count=count)
    await asyncio.sleep(0.3)
    return reply.at - pushed


async def staff_press(api: WatchedAPI, sim: SimUser, prefix: str) -> float:
    found = api.button_message(sim.chat_id, prefix)
    if found is None:
        raise LookupError(f"no {prefix} button for {sim.chat_id}")
    message, data = found
    pushed = api.push(sim, sim.callback(data, message=message))
    # The queue and a category's list come as new messages (after the press is answered).
    reply = await api.wait_chat(sim.chat_id, pushed, method="sendMessage")
    await asyncio.sleep(0.3)
    return reply.at - pushed


async def staff_round(api: WatchedAPI, facts: dict[str, Any], rounds: int) -> dict[str, Any]:
    chair = SimUser(facts["chair"], first_name="Chair")
    admin = SimUser(facts["admin"], first_name="Admin")
    ward, borough = facts["largest_ward"], facts["largest_borough"]
    today = datetime.now(UTC).date()
    span = f"{today - timedelta(days=365)} {today}"
    timings: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        timings.setdefault(name, []).append(seconds)

    for _ in range(rounds):
        add("ward_stats", await staff_action(api, chair, f"/stats {ward}", "sendPhoto", 1))
        add(
            "ward_export",
            await staff_action(api, chair, f"/export {ward} {span}", "sendDocument", 2),
        )
        await staff_action(api, chair, f"/panel {ward}", "sendMessage", 1)
        add("ward_review_queue", await staff_press(api, chair, "staff:concerns:"))
        add("ward_review_category", await staff_press(api, chair, "staff:cat:"))
        add("borough_stats", await staff_action(api, admin, f"/stats {borough}", "sendPhoto", 1))
        add(
            "borough_export",
            await staff_action(api, admin, f"/export {borough} {span}", "sendDocument", 2),
        )
    return {
        name: {"median_s": round(statistics.median(v), 3), "max_s": round(max(v), 3)}
        for name, v in timings.items()
    }


async def staff_loop(api: WatchedAPI, facts: dict[str, Any], stop_at: float) -> int:
    admin = SimUser(facts["admin"], first_name="Admin")
    borough = facts["largest_borough"]
    today = datetime.now(UTC).date()
    span = f"{today - timedelta(days=365)} {today}"
    done = 0
    while time.monotonic() < stop_at:
        # A second apart at least: the bot's flood control drops a user's 21st update in
        # 10 seconds.
        await staff_action(api, admin, f"/export {borough} {span}", "sendDocument", 2)
        await asyncio.sleep(1)
        await staff_action(api, admin, f"/stats {borough}", "sendPhoto", 1)
        await asyncio.sleep(1)
        done += 2
    return done


# --- main ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--concerns", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=scale_data.Plan.seed)
    parser.add_argument("--rate", type=float, default=30.0, help="resident updates a second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of resident load")
    parser.add_argument("--mixed", type=float, default=30.0, help="seconds of residents + staff")
    parser.add_argument("--staff-rounds", type=int, default=3)
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--cache", help="folder of the cached database")
    parser.add_argument("--rebuild", action="store_true", help="build the database again")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    return parser.parse_args()


async def main() -> int:
    args = parse_args()
    if not WARDS_FILE.exists():
        sys.exit(f"needs {WARDS_FILE}")
    rng = random.Random(args.seed)
    result: dict[str, Any] = {"bench": "scale", "send_rate": SEND_RATE, "goals": GOALS}
    cached, built = await ensure_database(args, datetime.now(UTC))
    facts = scale_data.facts(cached)
    print(
        f"database {cached} ({facts['size_mb']} MB): "
        + (f"built in {built:.0f} s" if built else "cached")
    )
    print("  rows: " + ", ".join(f"{k} {v:,}" for k, v in facts["rows"].items()))
    print(
        f"  largest ward {facts['largest_ward']}: {facts['largest_ward_residents']:,} residents,"
        f" {facts['largest_ward_concerns']:,} concerns; largest borough"
        f" {facts['largest_borough']}: {facts['largest_borough_concerns']:,} concerns; one"
        f" resident holds {facts['most_concerns_by_one_resident']} concerns"
    )
    result["database"] = {**facts, "built_s": round(built, 1) if built else None}
    work = Path(tempfile.mkdtemp(prefix="wardvoice-scale-"))
    db = work / "bot.db"
    log = work / "bot.log"
    try:
        shutil.copyfile(cached, db)
        caught = await catch_up(db)
        print(
            f"caught up the schedules in {caught['seconds']:.2f} s ({caught['jobs']}),"
            f" {caught['rows_marked_sent']} rows marked sent"
        )
        result["catch_up"] = {**caught, "seconds": round(caught["seconds"], 3)}

        probe = await digest_probe(db, work, facts["largest_ward"])
        print(
            f"digest: largest ward {probe['largest_ward_s'] * 1000:.0f} ms"
            f" ({probe['largest_ward_rows']} subscribers); every ward"
            f" {probe['all_wards_s']:.2f} s ({probe['all_wards_items']} wards,"
            f" {probe['all_wards_rows']:,} subscribers)"
        )
        result["digest"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in probe.items()}

        people = choose_people(db, facts["largest_ward"], rng)
        api = WatchedAPI()
        await api.start()
        try:
            starts = []
            for run in range(args.startup_runs):
                elapsed, process = await first_answer(api, db, people.startup[run], log)
                await stop(process)
                starts.append(elapsed)
                print(f"start-up run {run + 1}: first answer {elapsed:.2f} s after spawn")
            result["startup_s"] = {
                "median": round(statistics.median(starts), 3) if starts else None,
                "max": round(max(starts), 3) if starts else None,
                "runs": [round(s, 3) for s in starts],
            }

            elapsed, process = await first_answer(api, db, people.startup[-1], log)
            print(f"bot running (pid {process.pid}), first answer {elapsed:.2f} s after spawn")
            await asyncio.sleep(5)  # the start-up round of scheduled jobs
            try:
                load = Load(api, people, rng)
                wall = await load.run(args.duration, args.rate)
                steps = load.finish()
                residents = latency_report(steps)
                rate = load.arrival_rate()
                print(
                    f"residents: {len(steps)} updates in {wall:.1f} s ({rate:.1f}/s while"
                    f" sessions started); push to"
                    f" complete answer p50 {residents['complete']['p50']} ms, p95"
                    f" {residents['complete']['p95']} ms, p99 {residents['complete']['p99']} ms,"
                    f" max {residents['complete']['max']} ms; first answer p95"
                    f" {residents['first']['p95']} ms"
                )
                print(f"  p95 by step (ms): {residents['by_kind_p95_ms']}")
                if load.failed:
                    print(f"  {len(load.failed)} sessions failed, e.g. {load.failed[:3]}")
                result["residents"] = {
                    **residents,
                    "updates_per_s": round(rate, 1),
                    "failed_sessions": len(load.failed),
                }

                staff = await staff_round(api, facts, args.staff_rounds)
                for name, figures in staff.items():
                    print(
                        f"staff {name}: median {figures['median_s']:.3f} s,"
                        f" max {figures['max_s']:.3f} s"
                    )
                result["staff"] = staff

                if args.mixed > 0:
                    before = len(load.steps)
                    stop_at = time.monotonic() + args.mixed
                    staff_task = asyncio.create_task(staff_loop(api, facts, stop_at))
                    await load.run(args.mixed, args.rate)
                    actions = await staff_task
                    mixed = latency_report(load.finish(before))
                    print(
                        f"mixed ({actions} borough exports and stats meanwhile): residents"
                        f" p50 {mixed['complete']['p50']} ms, p95 {mixed['complete']['p95']} ms,"
                        f" p99 {mixed['complete']['p99']} ms"
                    )
                    result["mixed"] = {**mixed, "staff_actions": actions}

                mem = memory(process.pid)
                print(f"bot peak RSS (VmHWM) {mem['VmHWM']:.0f} MiB, now {mem['VmRSS']:.0f} MiB")
                result["peak_rss_mb"] = round(mem["VmHWM"], 1)
            finally:
                await stop(process)
        finally:
            await api.stop()
        text = log.read_text(errors="replace") if log.exists() else ""
        errors = text.count("Traceback")
        apologies = sum(
            1
            for chat in api.by_chat.values()
            for c in chat
            if (c.text or "").startswith("Sorry, something went wrong")
        )
        print(f"bot log: {errors} tracebacks; {apologies} 'something went wrong' answers")
        result["errors"] = {"tracebacks": errors, "apologies": apologies}
    finally:
        if args.keep:
            print(f"working folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    met = {
        "resident_p95": (result.get("residents", {}).get("complete", {}).get("p95") or 1e9)
        <= GOALS["resident_p95_ms"],
        "peak_rss": result.get("peak_rss_mb", 1e9) <= GOALS["peak_rss_mb"],
        "startup": (result.get("startup_s", {}).get("median") or 1e9) <= GOALS["startup_s"],
    }
    result["goals_met"] = met
    print("goals: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in met.items()))
    print(json.dumps(result))
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
