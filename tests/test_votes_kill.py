"""`wardvoice run` killed with SIGKILL while young people vote, and again while the results
go out: no confirmed pick is lost, no ballot counts twice, the vote closes once.

Sixty members of Kingsmead's youth panel get the ballot of an agenda vote (two picks
each) from the real bot process, long polling the fake Bot API on 127.0.0.1, and press
their two numbers, each press once the one before was answered. Once 40 presses have been
answered "Saved" the process is killed outright, then started again on the same
database, and everyone carries on as a person would: a press that got no answer a few
seconds after the restarted bot is up is pressed again ("Already saved." if the dead bot
had stored it but died before answering).

Then the vote's closing time passes while the bot is stopped (SIGTERM); the restarted bot
closes it at start-up and sends the results, and is killed again once a quarter of them
are out; a last start finishes them.

What must hold:
- every pick a voter was told was saved before the kill is in the database after it; at
  the end each voter's ballot holds exactly their two picks, one ballot row each, and the
  database passes `PRAGMA integrity_check`;
- the vote closed once (its closing moment and frozen counts stay as the first close made
  them, and equal the ballots), its results were queued once (one outbox item for the
  voters, one for the panel);
- each voter got the results once; a second copy only for a row that was in flight when
  the bot died (`sending` then: the documented at-least-once edge, README "Delivery").
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from bot.clock import SystemClock, to_iso
from bot.domain import meetings as meeting_domain
from bot.domain import votes as vote_domain
from bot.domain.directory import WardDirectory
from handlers import callback_data as cb
from storage.db import Database
from tests.conftest import import_into
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.users import SimUser
from tests.processes import spawn_wardvoice
from tests.synthetic import synthetic_wards_geojson

WARD = "E05900002"  # Kingsmead, Northbank
LONDON = "Europe/London"
ADMIN = 1
VOTERS = 60
FIRST_VOTER = 90_001
PROBE_USER = 89_999
KILL_AFTER_SAVED = 40
KILL_AFTER_RESULTS = VOTERS // 4
ITEMS = ["Bike racks at the school", "More street lights", "Youth club on Fridays", "Skate park"]
STARTUP_WITHIN = 30.0  # generous bounds for a shared machine, not goals
ANSWER_WITHIN = 30.0
RESEND_AFTER = 2.0  # after the restart, a press still unanswered is pressed again
CONFIRMED = ("Saved", "Already saved.")


# --- set-up --------------------------------------------------------------------------------------


async def prepare(folder: Path) -> tuple[Path, int]:
    """Wards, sixty youth panel members, a meeting in ten days and an open vote whose
    ballots wait in the outbox; returns the database and the vote's id."""
    db_path = folder / "wardvoice.db"
    await import_into(db_path, synthetic_wards_geojson(folder / "wards.geojson"), None)
    clock = SystemClock()
    now = clock.now()
    earlier = to_iso(now - timedelta(days=7))
    with sqlite3.connect(db_path) as conn:  # set-up only: many people at once
        conn.executemany(
            "INSERT INTO residents (user_id, language, ward_code, placed_by, finding_ward,"
            " created_at, updated_at, ward_since, last_seen_at)"
            " VALUES (?, 'en', ?, 'name', 0, ?, ?, ?, ?)",
            [(FIRST_VOTER + n, WARD, earlier, earlier, earlier, earlier) for n in range(VOTERS)],
        )
        conn.executemany(
            "INSERT INTO roles (user_id, scope, role, granted_by, granted_at)"
            " VALUES (?, ?, 'youth', 'test', ?)",
            [(FIRST_VOTER + n, WARD, earlier) for n in range(VOTERS)],
        )
    db = await Database.open(db_path)
    try:
        wards = await WardDirectory.load(db)
        admins = frozenset({ADMIN})
        tz = ZoneInfo(LONDON)
        day = (now + timedelta(days=10)).astimezone(tz).strftime("%Y-%m-%d")
        await meeting_domain.schedule(
            db, clock, wards, admins, user_id=ADMIN, ward_code=WARD, tz=tz,
            line=f"{day} 19:00 | St Mark's Church Hall, Mill Lane | open",
        )  # fmt: skip
        draft = await vote_domain.new_draft(
            db, clock, wards, admins, user_id=ADMIN, ward_code=WARD, text="\n".join(ITEMS)
        )
        opened = await vote_domain.open_vote(
            db, clock, wards, admins, user_id=ADMIN, vote_id=draft.vote.id, tz=tz
        )
        assert opened.told == VOTERS
    finally:
        await db.close()
    return db_path, draft.vote.id


def picks_of(voter: int) -> tuple[int, int]:
    """Each voter's two picks, spread over the items."""
    first = voter % len(ITEMS) + 1
    others = [p for p in range(1, len(ITEMS) + 1) if p != first]
    return first, others[(voter // len(ITEMS)) % len(others)]


# --- the bot process -----------------------------------------------------------------------------


async def spawn(api: FakeBotAPI, db: Path, log: IO[bytes], rate: int) -> asyncio.subprocess.Process:
    return await spawn_wardvoice(
        api, db, log, WARDVOICE_TIMEZONE=LONDON, WARDVOICE_MAX_SEND_RATE=str(rate)
    )


async def ready(api: FakeBotAPI, probe: SimUser) -> None:
    """Wait until the (re)started bot answers."""
    since = len(api.calls)
    api.push_update(probe.message("/help"))
    await api.wait_for_call(probe.chat_id, method="sendMessage", since=since, within=STARTUP_WITHIN)


async def until(condition, what: str, within: float = ANSWER_WITHIN) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"waited {within} s for {what}")
        await asyncio.sleep(0.02)


async def stop(bot: asyncio.subprocess.Process, how: signal.Signals) -> None:
    bot.send_signal(how)
    await asyncio.wait_for(bot.wait(), STARTUP_WITHIN)


# --- the voters ----------------------------------------------------------------------------------


@dataclass
class Run:
    api: FakeBotAPI
    vote_id: int
    enough: asyncio.Event = field(default_factory=asyncio.Event)
    saved: int = 0
    ready_at: float | None = None  # loop time the restarted bot answered

    def answer(self, query_id: str) -> str | None:
        found = self.api.answered_callbacks.get(query_id)
        return None if found is None else str(found.get("text") or "")


class Voter:
    def __init__(self, run: Run, user_id: int) -> None:
        self.run = run
        self.sim = SimUser(user_id, first_name=f"Youth{user_id}")
        self.user_id = user_id
        self.picks = picks_of(user_id)
        self.confirmed: list[int] = []  # picks the bot said were saved
        self.resent = 0

    def ballot(self) -> dict | None:
        for message in reversed(self.run.api.messages(self.user_id)):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    parsed = cb.VOTE_PICK.parse(button.get("callback_data"))
                    if parsed and int(parsed["id"]) == self.run.vote_id:
                        return message
        return None

    async def vote(self) -> None:
        await until(lambda: self.ballot() is not None, f"the ballot of {self.user_id}")
        for position in self.picks:
            await self.press(position)

    async def press(self, position: int) -> None:
        data = cb.VOTE_PICK.build(id=str(self.run.vote_id), position=str(position), chosen="1")
        loop = asyncio.get_running_loop()
        queries: list[str] = []
        pushed_at = 0.0
        while True:
            ready = self.run.ready_at
            # Pressed to the dead bot and still unanswered a while after the restart: again.
            unanswered = ready is not None and pushed_at < ready < loop.time() - RESEND_AFTER
            if not queries or unanswered:
                message = self.ballot()
                assert message is not None
                update = self.sim.callback(data, message=message)
                queries.append(update["callback_query"]["id"])
                self.run.api.push_update(update)
                pushed_at = loop.time()
                self.resent += len(queries) > 1
            answers = [a for a in map(self.run.answer, queries) if a is not None]
            if answers:
                assert all(a.startswith(CONFIRMED) for a in answers), (self.user_id, answers)
                self.confirmed.append(position)
                self.run.saved += 1
                if self.run.saved >= KILL_AFTER_SAVED:
                    self.run.enough.set()
                return
            if ready is not None and loop.time() - max(ready, pushed_at) > ANSWER_WITHIN:
                raise AssertionError(f"{self.user_id}: no answer to pick {position}")
            await asyncio.sleep(0.02)


def stored(db: Path, vote_id: int) -> dict[int, set[int]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT user_id, position FROM ballot_choices WHERE vote_id = ?", (vote_id,)
        ).fetchall()
    picks: dict[int, set[int]] = {}
    for user, position in rows:
        picks.setdefault(int(user), set()).add(int(position))
    return picks


def results_to(api: FakeBotAPI, user_id: int) -> int:
    return sum(1 for m in api.messages(user_id) if "Vote results" in (m.get("text") or ""))


def outbox_rows(db: Path, key: str) -> dict[str, list[int]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT o.state, o.chat_id FROM outbox o JOIN outbox_items i ON i.id = o.item_id"
            " WHERE i.key = ?",
            (key,),
        ).fetchall()
    states: dict[str, list[int]] = {}
    for state, chat in rows:
        states.setdefault(str(state), []).append(int(chat))
    return states


# --- the test ------------------------------------------------------------------------------------


async def test_killing_the_bot_mid_vote_and_mid_results_loses_no_pick_and_counts_each_once(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    api = fake_api
    db, vote_id = await prepare(tmp_path)
    run = Run(api, vote_id)
    voters = [Voter(run, FIRST_VOTER + n) for n in range(VOTERS)]
    probe = SimUser(PROBE_USER)
    log_path = tmp_path / "bot.log"
    key = f"results:{vote_id}:voters"
    tasks: list[asyncio.Task[None]] = []
    with log_path.open("wb") as log:
        bot = await spawn(api, db, log, rate=2000)
        try:
            # --- voting, killed mid-way -----------------------------------------------------------
            await ready(api, probe)
            tasks = [asyncio.create_task(v.vote()) for v in voters]
            await asyncio.wait_for(run.enough.wait(), ANSWER_WITHIN)
            bot.kill()
            await bot.wait()
            confirmed_at_kill = {v.user_id: set(v.confirmed) for v in voters}
            in_db = stored(db, vote_id)
            for user, picks in confirmed_at_kill.items():
                assert picks <= in_db.get(user, set()), f"{user}: a confirmed pick was lost"

            bot = await spawn(api, db, log, rate=2000)
            await ready(api, probe)
            run.ready_at = asyncio.get_running_loop().time()
            await asyncio.wait_for(asyncio.gather(*tasks), ANSWER_WITHIN * 2)
            await stop(bot, signal.SIGTERM)

            # --- the close falls due while the bot is down; killed mid-results -------------------
            with sqlite3.connect(db) as conn:
                conn.execute(
                    "UPDATE votes SET closes_at = ? WHERE id = ?",
                    (to_iso(SystemClock().now() - timedelta(seconds=1)), vote_id),
                )
            bot = await spawn(api, db, log, rate=40)  # slow enough to be killed mid-way
            await until(
                lambda: sum(results_to(api, v.user_id) for v in voters) >= KILL_AFTER_RESULTS,
                "the first results",
            )
            bot.kill()
            await bot.wait()
            in_flight = outbox_rows(db, key).get("sending", [])
            with sqlite3.connect(db) as conn:
                first_close = conn.execute(
                    "SELECT state, closed_at, closed_by, voters FROM votes WHERE id = ?",
                    (vote_id,),
                ).fetchone()
            assert first_close[0] == "closed" and first_close[2] == "schedule", first_close
            delivered_at_kill = sum(results_to(api, v.user_id) for v in voters)
            assert delivered_at_kill < VOTERS, "killed while the results were going out"

            bot = await spawn(api, db, log, rate=2000)
            await until(lambda: set(outbox_rows(db, key)) == {"sent"}, "the rest of the results")
            await stop(bot, signal.SIGTERM)
        finally:
            for task in tasks:
                task.cancel()
            if bot.returncode is None:
                bot.kill()
                await bot.wait()
    log_text = log_path.read_text()
    assert "Traceback" not in log_text and " ERROR " not in log_text, log_text

    # Every voter's ballot holds exactly their two picks, once.
    final = stored(db, vote_id)
    assert final == {v.user_id: set(v.picks) for v in voters}
    assert sum(v.resent for v in voters) > 0, "some presses were lost with the first process"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ballots = conn.execute(
            "SELECT count(*), count(DISTINCT user_id) FROM ballots WHERE vote_id = ?", (vote_id,)
        ).fetchone()
        closed = conn.execute(
            "SELECT state, closed_at, closed_by, voters, published_at FROM votes WHERE id = ?",
            (vote_id,),
        ).fetchone()
        frozen = dict(
            conn.execute(
                "SELECT position, votes FROM vote_items WHERE vote_id = ?", (vote_id,)
            ).fetchall()
        )
        items = conn.execute(
            "SELECT key FROM outbox_items WHERE key LIKE ? ORDER BY key", (f"results:{vote_id}:%",)
        ).fetchall()
    assert ballots == (VOTERS, VOTERS), "one ballot row per voter"
    # Closed once: the second start found it closed and left its moment and counts alone.
    assert closed[:4] == first_close and closed[4] is not None, closed
    tally = {p: sum(p in v.picks for v in voters) for p in range(1, len(ITEMS) + 1)}
    assert frozen == tally and closed[3] == VOTERS
    assert [k for (k,) in items] == [f"results:{vote_id}:panel", key], "results queued once"

    # Each voter got the results once; twice only from a row in flight at the kill.
    for voter in voters:
        copies = results_to(api, voter.user_id)
        assert copies == 1 or (copies == 2 and voter.user_id in in_flight), (voter.user_id, copies)
    twice = [v.user_id for v in voters if results_to(api, v.user_id) == 2]
    assert len(twice) <= len(in_flight)
