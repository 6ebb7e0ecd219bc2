"""Many young people voting in one agenda vote at once, in process, against the fake Bot API.

Run by hand:  /work/venv/bin/python bench/votes.py [--voters 2000] [--outsiders 100]

Builds the bot as the tests do (Settings, open_services, build_application, start_bot) on a
temporary database with the synthetic wards, polling a FakeBotAPI on 127.0.0.1, with a fake
clock (Monday 23 November 2026, 10:00 UTC). `--voters` people hold the youth role of
Kingsmead (E05900002); `--outsiders` people do not (residents of Kingsmead without a role,
youth of another ward, youth of the borough). An admin schedules a meeting on Thursday
3 December, 19:00, drafts a vote of five items (`--picks` each, two by default) and opens
it; the outbox delivers one ballot notice to each voter.

Then everyone at once, each step pushed only once the bot has handled the one before:

- every voter presses one number on the notice they got;
- a share of them (`--change`, 40 %) change their mind: move (drop it, pick another), add
  a second, withdraw (drop it: no ballot left), overreach (pick two more: the last one is
  refused, too many), or drop and pick the same one again;
- a share (`--double-tap`, 10 %) press their last button twice at once, and a share of
  those (`--redeliver`, half) also have the first of the two presses delivered twice with
  the same update_id (as Telegram does when an update was fetched but not confirmed);
- every outsider presses one or two forged number buttons: each must be refused.

The buttons say what they do (pick or drop), not "toggle", so each voter's final picks
follow from their script; the bench works them out and checks the database, the answers
to every press, and the ballot screen, against them. Then the clock moves past the close,
the scheduled jobs run, and the frozen counts, the turnout and the results messages are
checked against the same expectation.

Reports presses pushed and handled, wall time of the voting phase, presses per second,
p50/p95/p99 of the time from pushing a press to the bot having handled it (its answer
and the redrawn ballot are sent by then), mismatches, errors seen by the error handler,
and the close and results figures. Human lines, then one JSON line; exit status 1 if
any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
# python-telegram-bot 22 warns about RetryAfter.retry_after unless this opts in (as the bot does).
os.environ.setdefault("PTB_TIMEDELTA", "true")

from harness import Handled, StepFailed, percentile  # noqa: E402

from bot.app import build_application  # noqa: E402
from bot.clock import from_iso, to_iso  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.domain import meetings as meeting_domain  # noqa: E402
from bot.domain import votes as vote_domain  # noqa: E402
from bot.runtime import start_bot, stop_bot  # noqa: E402
from bot.services import open_services  # noqa: E402
from bot.updates import PerUserUpdateProcessor  # noqa: E402
from handlers import callback_data as cb  # noqa: E402
from schedules import run_due  # noqa: E402
from schedules.dispatcher import Dispatcher  # noqa: E402
from storage import votes as vote_store  # noqa: E402
from tests.conftest import import_into  # noqa: E402
from tests.fakes.bot_api import FakeBotAPI  # noqa: E402
from tests.fakes.users import SimUser  # noqa: E402
from tests.synthetic import synthetic_wards_geojson  # noqa: E402

WARD = "E05900002"  # Kingsmead, Northbank
OTHER_WARD = "E05900011"  # Old Town
BOROUGH = "E09900001"  # Northbank: Kingsmead's borough
ADMIN = 1
FIRST_VOTER = 200_001
FIRST_OUTSIDER = 300_001
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MEETING = "2026-12-03 19:00 | St Mark's Church Hall, Mill Lane | open"
ITEMS = [
    "Bike racks at the school gate | so fewer bikes get stolen",
    "More street lights on Mill Lane",
    "Youth club open on Fridays | it shuts at 6 now",
    "A skate park by the river",
    "Free wifi in the library",
]
DELIVERED_WITHIN = 300.0
CHANGES = ("move", "add", "withdraw", "overreach", "again")

# How the bot answers a number button, by the status of the ballot (handlers/votes.py).
ANSWERS = {
    "Saved": "saved",
    "Already saved.": "unchanged",
    "You can pick up to": "too_many",
    "This vote isn't open to you.": "not_eligible",
    "Voting has ended.": "closed",
}


class FakeClock:
    """The clock the bot reads (as tests/conftest.py's); the bench moves it to the close."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current


# --- the ballot's rules, as the buttons state them ----------------------------------------


def apply(
    picks: frozenset[int], position: int, chosen: bool, allowed: int
) -> tuple[str, frozenset[int]]:
    """What one press does to a ballot (storage.votes.cast's rules, restated): a press asks
    for a state, so the same press twice changes nothing the second time."""
    if chosen:
        after = frozenset({position}) if allowed == 1 else picks | {position}
    else:
        after = picks - {position}
    if after == picks:
        return "unchanged", picks
    if len(after) > allowed:
        return "too_many", picks
    return "saved", after


@dataclass
class Press:
    position: int
    chosen: bool
    expect: str = ""  # the status the model predicts for it

    def data(self, vote_id: int) -> str:
        return cb.VOTE_PICK.build(
            id=str(vote_id), position=str(self.position), chosen="1" if self.chosen else "0"
        )


@dataclass
class Voter:
    user_id: int
    presses: list[Press]
    change: str | None  # which change of mind, if any
    double_tap: bool  # the last press twice at once
    redeliver: bool  # ... and its first update delivered twice with one update_id
    expected: frozenset[int] = frozenset()
    double_expect: tuple[str, str] = ("", "")  # the two presses of a double tap, in order
    answers: list[str] = field(default_factory=list)  # status per press, from the answers
    double_answers: list[str] = field(default_factory=list)
    copy_lost: bool = False  # the update's second copy was confirmed away unseen (see below)
    screen_wrong: int = 0  # the button to press did not say what the ballot holds
    failure: str | None = None


@dataclass
class Outsider:
    user_id: int
    kind: str  # resident | other_ward_youth | borough_youth
    positions: list[int]
    answers: list[str] = field(default_factory=list)
    failure: str | None = None


def script(user_id: int, rng: random.Random, items: int, allowed: int, args: Any) -> Voter:
    """One voter's presses, and what their ballot must hold after them."""
    positions = list(range(1, items + 1))
    first = rng.choice(positions)
    presses = [Press(first, True)]
    change = rng.choice(CHANGES) if rng.random() < args.change else None
    others = [p for p in positions if p != first]
    rng.shuffle(others)
    if change == "move":
        presses += [Press(first, False), Press(others[0], True)]
    elif change == "add":
        presses += [Press(others[0], True)]
    elif change == "withdraw":
        presses += [Press(first, False)]
    elif change == "overreach":
        presses += [Press(p, True) for p in others[:allowed]]  # one more than allowed
    elif change == "again":
        presses += [Press(first, False), Press(first, True)]
    double_tap = rng.random() < args.double_tap
    redeliver = double_tap and rng.random() < args.redeliver
    voter = Voter(user_id, presses, change, double_tap, redeliver)
    picks: frozenset[int] = frozenset()
    for press in presses:
        press.expect, picks = apply(picks, press.position, press.chosen, allowed)
    if double_tap:
        last = presses[-1]
        # The second of the two asks for the state the first already made.
        voter.double_expect = (last.expect, apply(picks, last.position, last.chosen, allowed)[0])
    voter.expected = picks
    return voter


def status_of(answer: dict[str, Any] | None) -> str:
    text = str((answer or {}).get("text") or "")
    for start, status in ANSWERS.items():
        if text.startswith(start):
            return status
    return f"other: {text[:40]!r}" if answer else "unanswered"


def ballot_of(api: FakeBotAPI, chat_id: int, vote_id: int) -> dict | None:
    """The newest message in the chat carrying this vote's number buttons."""
    for message in reversed(api.messages(chat_id)):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                parsed = cb.VOTE_PICK.parse(button.get("callback_data"))
                if parsed and int(parsed["id"]) == vote_id:
                    return message
    return None


def ticked(message: dict | None) -> frozenset[int]:
    rows = (message or {}).get("reply_markup", {}).get("inline_keyboard", [])
    return frozenset(
        int(b["text"].removeprefix("✅ "))
        for row in rows
        for b in row
        if b["text"].startswith("✅")
    )


class Bench:
    def __init__(self, api: FakeBotAPI, handled: Handled, vote_id: int) -> None:
        self.api = api
        self.handled = handled
        self.vote_id = vote_id
        self.latencies: list[float] = []
        self.pushed = 0
        self.update_ids: list[int] = []

    def push(self, update: dict) -> int:
        update_id = self.api.push_update(update)
        self.pushed += 1
        self.update_ids.append(update_id)
        return update_id

    async def deliver(self, update: dict) -> None:
        """Push one update and wait until the bot has handled it; records the latency."""
        started = time.perf_counter()
        update_id = self.push(update)
        await self.handled.wait(update_id)
        self.latencies.append(self.handled.at[update_id] - started)

    def answer_to(self, update: dict) -> str:
        return status_of(self.api.answered_callbacks.get(update["callback_query"]["id"]))

    async def vote(self, voter: Voter) -> None:
        sim = SimUser(voter.user_id, first_name=f"Youth{voter.user_id}")
        for n, press in enumerate(voter.presses):
            data = press.data(self.vote_id)
            message = ballot_of(self.api, sim.chat_id, self.vote_id)
            if message is None:
                raise StepFailed(f"no ballot in chat {sim.chat_id}")
            shown = [b.get("callback_data") for row in message["reply_markup"]["inline_keyboard"]
                     for b in row]  # fmt: skip
            if data not in shown:
                voter.screen_wrong += 1
            if n < len(voter.presses) - 1 or not voter.double_tap:
                update = sim.callback(data, message=message)
                await self.deliver(update)
                voter.answers.append(self.answer_to(update))
                continue
            first = sim.callback(data, message=message)
            second = sim.callback(data, message=message)
            started = time.perf_counter()
            first_id = self.push(first)
            if voter.redeliver:
                self.api.push_update({**first, "update_id": first_id})  # delivered twice
                self.pushed += 1
            second_id = self.push(second)
            await self.handled.wait(first_id)
            await self.handled.wait(second_id)
            if voter.redeliver:
                await self.second_copy(voter, first_id)
            self.latencies.append(self.handled.at[first_id] - started)
            voter.double_answers = [self.answer_to(first), self.answer_to(second)]

    async def second_copy(self, voter: Voter, update_id: int) -> None:
        """Wait for the second handling of an update delivered twice.

        The bot takes updates 100 to a getUpdates call and confirms each batch by asking
        for the next from the id after its last. When a batch ends between the two copies,
        that request confirms the second copy away unseen, as Telegram's own getUpdates
        would: the copy is "lost". Updates of one person are handled in the order fetched,
        so once the tap after the copies is handled, the copy was handled or lost.
        """
        if self.handled.counts[update_id] >= 2:
            return
        pending = any(u["update_id"] == update_id for u in self.api.pending_updates())
        if self.api.confirmed_offset > update_id and not pending:
            try:  # a handling still finishing (it should not be: see above)
                await asyncio.wait_for(self.handled.wait(update_id, times=2), 1)
            except TimeoutError:
                voter.copy_lost = True
            return
        await self.handled.wait(update_id, times=2)

    async def forge(self, outsider: Outsider) -> None:
        sim = SimUser(outsider.user_id, first_name=f"Outsider{outsider.user_id}")
        # A message in their own chat that never carried a ballot: the button is forged.
        message = {"message_id": 1, "date": int(time.time()), "chat": sim.chat, "text": "Hi"}
        for position in outsider.positions:
            data = cb.VOTE_PICK.build(id=str(self.vote_id), position=str(position), chosen="1")
            update = sim.callback(data, message=message)
            await self.deliver(update)
            outsider.answers.append(self.answer_to(update))

    async def voter(self, voter: Voter) -> None:
        try:
            await self.vote(voter)
        except (StepFailed, TimeoutError) as err:
            voter.failure = f"{type(err).__name__}: {err}"

    async def outsider(self, outsider: Outsider) -> None:
        try:
            await self.forge(outsider)
        except (StepFailed, TimeoutError) as err:
            outsider.failure = f"{type(err).__name__}: {err}"


def expected_winners(totals: dict[int, int], places: int) -> set[int]:
    """bot.domain.votes.winners, restated: the top `places`, ties with the last included,
    never an item nobody picked."""
    ranked = sorted((p for p, n in totals.items() if n > 0), key=lambda p: (-totals[p], p))
    if not ranked:
        return set()
    cut = totals[ranked[min(places, len(ranked)) - 1]]
    return {p for p in ranked if totals[p] >= cut}


async def seed_people(services: Any, voters: list[Voter], outsiders: list[Outsider]) -> None:
    """Roles and residents straight into the database (set-up, not what is measured)."""
    now = to_iso(START - timedelta(days=7))
    residents = [(v.user_id, WARD) for v in voters]
    roles = [(v.user_id, WARD) for v in voters]
    for o in outsiders:
        residents.append((o.user_id, OTHER_WARD if o.kind == "other_ward_youth" else WARD))
        if o.kind == "other_ward_youth":
            roles.append((o.user_id, OTHER_WARD))
        elif o.kind == "borough_youth":
            roles.append((o.user_id, BOROUGH))
    async with services.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO residents (user_id, language, ward_code, placed_by, finding_ward,"
            " created_at, updated_at, ward_since, last_seen_at)"
            " VALUES (?, 'en', ?, 'name', 0, ?, ?, ?, ?)",
            [(user, ward, now, now, now, to_iso(START)) for user, ward in residents],
        )
        await conn.executemany(
            "INSERT INTO roles (user_id, scope, role, granted_by, granted_at)"
            " VALUES (?, ?, 'youth', 'bench', ?)",
            [(user, scope, now) for user, scope in roles],
        )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voters", type=int, default=2000)
    parser.add_argument("--outsiders", type=int, default=100)
    parser.add_argument("--picks", type=int, default=2, help="items each voter may pick (1-5)")
    parser.add_argument("--change", type=float, default=0.4, help="share who change their mind")
    parser.add_argument("--double-tap", type=float, default=0.1, help="share of voters")
    parser.add_argument(
        "--redeliver",
        type=float,
        default=0.5,
        help="share of the double tappers whose first press is also delivered twice",
    )
    parser.add_argument("--late", type=int, default=50, help="voters pressing after the close")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="show the bot's own log")
    args = parser.parse_args()
    if not 1 <= args.picks <= len(ITEMS):
        parser.error(f"--picks must be 1 to {len(ITEMS)}")
    # Errors are counted through an error handler and summarised below; the bot's log
    # (a traceback per error) only with --verbose.
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL)
    rng = random.Random(args.seed)
    run_started = time.perf_counter()

    voters = [
        script(FIRST_VOTER + n, rng, len(ITEMS), args.picks, args) for n in range(args.voters)
    ]
    kinds = ("resident", "other_ward_youth", "borough_youth")
    outsiders = [
        Outsider(
            FIRST_OUTSIDER + n,
            kinds[n % len(kinds)],
            rng.sample(range(1, len(ITEMS) + 1), rng.choice((1, 2))),
        )
        for n in range(args.outsiders)
    ]

    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "bench.db"
        await import_into(db_path, synthetic_wards_geojson(Path(folder) / "wards.geojson"), None)
        api = FakeBotAPI()
        await api.start()
        settings = Settings(
            token=FakeBotAPI.TOKEN,
            api_base_url=api.base_url,
            api_file_url=api.base_file_url,
            db_path=db_path,
            admin_ids=frozenset({ADMIN}),
            geocoder="none",
            max_send_rate=100_000,
            send_concurrency=64,
        )
        clock = FakeClock()
        services = await open_services(settings, clock)
        application = build_application(services)
        errors: list[BaseException] = []

        async def record(update: object, context: Any) -> None:
            errors.append(context.error)  # type: ignore[arg-type]

        application.add_error_handler(record)
        handled = Handled()
        processor = application.update_processor
        assert isinstance(processor, PerUserUpdateProcessor)
        processor.listeners.append(handled.listener)
        await start_bot(application, poll_timeout=1)
        dispatcher: Dispatcher = application.bot_data["dispatcher"]

        try:
            # --- set-up: people, a meeting, a vote; its notices delivered ---------------------
            db, wards, admins, tz = services.db, services.wards, settings.admin_ids, settings.tz
            await seed_people(services, voters, outsiders)
            await meeting_domain.schedule(
                db, clock, wards, admins, user_id=ADMIN, ward_code=WARD, line=MEETING, tz=tz
            )
            draft = await vote_domain.new_draft(
                db, clock, wards, admins, user_id=ADMIN, ward_code=WARD, text="\n".join(ITEMS)
            )
            vote_id = draft.vote.id
            for setting, value in (("picks", args.picks), ("places", 2)):
                await vote_domain.change(
                    db, clock, wards, admins, user_id=ADMIN, vote_id=vote_id, setting=setting,
                    value=str(value),
                )  # fmt: skip
            notices_started = time.perf_counter()
            opened = await vote_domain.open_vote(
                db, clock, wards, admins, user_id=ADMIN, vote_id=vote_id, tz=tz
            )
            services.outbox_bell.ring()
            await dispatcher.drained(within=DELIVERED_WITHIN)
            notices_s = time.perf_counter() - notices_started
            notices = Counter(
                user
                for user in [v.user_id for v in voters] + [o.user_id for o in outsiders]
                for m in api.messages(user)
                if "Vote: what should" in (m.get("text") or "")
            )
            print(
                f"vote #{vote_id} open to {args.voters} youth of Kingsmead (picks {args.picks}, "
                f"{len(ITEMS)} items); {opened.told} notices queued, delivered in {notices_s:.2f} s"
            )

            # --- the voting: everyone at once ------------------------------------------------
            bench = Bench(api, handled, vote_id)
            changes = Counter(v.change for v in voters if v.change)
            tappers = [v for v in voters if v.double_tap]
            print(
                f"{args.voters} voters at once ({sum(changes.values())} changing their mind: "
                + ", ".join(f"{n} {k}" for k, n in sorted(changes.items()))
                + f"; {len(tappers)} double-tapping, {sum(v.redeliver for v in tappers)} of them "
                f"with an update delivered twice) and {args.outsiders} outsiders forging buttons"
            )
            started, cpu_started = time.perf_counter(), time.process_time()
            await asyncio.gather(
                *(bench.voter(v) for v in voters), *(bench.outsider(o) for o in outsiders)
            )
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu_started  # this process, all its threads
            voting_errors = len(errors)
            voting_pushed = bench.pushed
            copies_lost = sum(v.copy_lost for v in voters)
            voting_ids = set(bench.update_ids)
            unhandled = sum(1 for u in voting_ids if handled.counts[u] == 0)
            handled_total = sum(handled.counts[u] for u in voting_ids)

            # --- what the database holds now ---------------------------------------------------
            stored = {v.user_id: await vote_store.picks_of(db, vote_id, v.user_id) for v in voters}
            outsider_picks = 0
            for o in outsiders:
                outsider_picks += len(await vote_store.picks_of(db, vote_id, o.user_id))
            ballots = await vote_store.ballot_count(db, vote_id)
            ballot_users = set(await vote_store.voters_of(db, vote_id))
            tally = await vote_store.tally(db, vote_id)
            choices = int(
                await db.fetchval(
                    "SELECT count(*) FROM ballot_choices WHERE vote_id = ?", (vote_id,)
                )
            )
            doubled = int(
                await db.fetchval(
                    "SELECT count(*) FROM (SELECT 1 FROM ballots WHERE vote_id = ?"
                    " GROUP BY vote_id, user_id HAVING count(*) > 1)",
                    (vote_id,),
                )
            )
            orphans = int(
                await db.fetchval(
                    "SELECT count(*) FROM ballot_choices c WHERE c.vote_id = ? AND NOT EXISTS"
                    " (SELECT 1 FROM ballots b"
                    " WHERE b.vote_id = c.vote_id AND b.user_id = c.user_id)",
                    (vote_id,),
                )
            )
            refusals_audited = int(
                await db.fetchval(
                    "SELECT count(*) FROM audit_log WHERE target = ? AND action = 'vote'"
                    " AND outcome = 'refused'",
                    (f"vote:{vote_id}",),
                )
            )

            expected_totals = {p: 0 for p in range(1, len(ITEMS) + 1)}
            for v in voters:
                for p in v.expected:
                    expected_totals[p] += 1
            expected_ballots = sum(1 for v in voters if v.expected)
            mismatched = [v for v in voters if stored[v.user_id] != v.expected]
            answers_wrong = [
                v
                for v in voters
                if v.answers != [p.expect for p in v.presses[: len(v.answers)]]
                or (v.double_tap and Counter(v.double_answers) != Counter(v.double_expect))
            ]
            screens = {v.user_id: ticked(ballot_of(api, v.user_id, vote_id)) for v in voters}
            screens_wrong = [
                v for v in voters if screens[v.user_id] != v.expected or v.screen_wrong
            ]
            refused = sum(a == "not_eligible" for o in outsiders for a in o.answers)
            forged = sum(len(o.positions) for o in outsiders)
            failures = [*(v for v in voters if v.failure), *(o for o in outsiders if o.failure)]

            # --- the close: the clock past closes_at, the scheduled jobs, the results --------
            vote = await vote_store.get(db, vote_id)
            assert vote is not None and vote.closes_at is not None
            clock.current = from_iso(vote.closes_at) + timedelta(minutes=1)
            close_started = time.perf_counter()
            try:
                report: dict[str, int] | None = await run_due(services)
            except Exception as error:  # the jobs' first failure, after all of them ran
                errors.append(error)
                report = None
            await dispatcher.drained(within=DELIVERED_WITHIN)
            close_s = time.perf_counter() - close_started
            closed = await vote_store.get(db, vote_id)
            assert closed is not None
            frozen = {i.position: i.votes for i in closed.items}
            won = {i.position for i in closed.items if i.won}
            tally_after = await vote_store.tally(db, vote_id)
            agenda = int(
                await db.fetchval("SELECT count(*) FROM agenda_items WHERE vote_id = ?", (vote_id,))
            )

            def results(user_id: int) -> int:
                return sum(
                    1 for m in api.messages(user_id) if "Vote results" in (m.get("text") or "")
                )

            results_to_voters = sum(results(u) for u in ballot_users)
            voters_without_one = sum(1 for u in ballot_users if results(u) != 1)
            results_to_others = sum(
                results(v.user_id) for v in voters if v.user_id not in ballot_users
            ) + sum(results(o.user_id) for o in outsiders)
            results_to_admin = results(ADMIN)

            # After the close a press changes nothing.
            late = rng.sample(voters, min(args.late, len(voters)))
            late_answers: list[str] = []
            for v in late:
                sim = SimUser(v.user_id, first_name=f"Youth{v.user_id}")
                message = api.messages(v.user_id)[0]  # the notice (its buttons are gone now)
                # A press that would change the ballot if the vote were open.
                unpicked = [p for p in range(1, len(ITEMS) + 1) if p not in v.expected]
                press = Press(unpicked[0], True) if unpicked else Press(min(v.expected), False)
                update = sim.callback(press.data(vote_id), message=message)
                await bench.deliver(update)
                late_answers.append(bench.answer_to(update))
            late_changed = 0
            for v in late:
                late_changed += await vote_store.picks_of(db, vote_id, v.user_id) != v.expected

        finally:
            await stop_bot(application)
            await services.close()
            await api.stop()

        with sqlite3.connect(db_path) as conn:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]

    lat_ms = [x * 1000 for x in bench.latencies]
    result = {
        "bench": "votes",
        "voters": args.voters,
        "outsiders": args.outsiders,
        "picks": args.picks,
        "items": len(ITEMS),
        "seed": args.seed,
        "notices_told": opened.told,
        "notices_delivered": sum(notices.values()),
        "notices_s": round(notices_s, 3),
        "changed_mind": sum(changes.values()),
        "double_tappers": len(tappers),
        "redelivered": sum(v.redeliver for v in voters),
        "redelivered_copies_lost": copies_lost,
        "presses_pushed": voting_pushed,
        "updates_handled": handled_total,
        "updates_unhandled": unhandled,
        "wall_s": round(wall, 3),
        "presses_per_s": round(voting_pushed / wall, 1) if wall else None,
        "cpu_s": round(cpu, 3),
        "latency_ms_p50": round(percentile(lat_ms, 50), 1),
        "latency_ms_p95": round(percentile(lat_ms, 95), 1),
        "latency_ms_p99": round(percentile(lat_ms, 99), 1),
        "latency_ms_max": round(max(lat_ms), 1) if lat_ms else None,
        "latency_ms_mean": round(statistics.fmean(lat_ms), 1) if lat_ms else None,
        "mismatches": len(mismatched),
        "answers_wrong": len(answers_wrong),
        "screens_wrong": len(screens_wrong),
        "failed": len(failures),
        "expected_ballots": expected_ballots,
        "ballots": ballots,
        "duplicate_ballot_rows": doubled,
        "orphan_choices": orphans,
        "expected_totals": expected_totals,
        "tally": tally,
        "choices": choices,
        "forged_presses": forged,
        "forged_refused": refused,
        "outsider_picks": outsider_picks,
        "refusals_audited": refusals_audited,
        "errors_voting": voting_errors,
        "errors": len(errors),
        "closed_state": closed.state,
        "close_report": report,
        "close_s": round(close_s, 3),
        "frozen_votes": frozen,
        "frozen_voters": closed.voters,
        "frozen_eligible": closed.eligible,
        "won": sorted(won),
        "expected_won": sorted(expected_winners(expected_totals, closed.places)),
        "agenda_items": agenda,
        "results_to_voters": results_to_voters,
        "voters_without_exactly_one_result": voters_without_one,
        "results_to_non_voters": results_to_others,
        "results_to_admin": results_to_admin,
        "late_presses": len(late),
        "late_refused": sum(a == "closed" for a in late_answers),
        "late_changed": late_changed,
        "integrity": integrity,
        "run_s": round(time.perf_counter() - run_started, 1),
    }
    checks = {
        "notices: one per voter, none to outsiders": opened.told == args.voters
        and all(notices[v.user_id] == 1 for v in voters)
        and not any(notices[o.user_id] for o in outsiders),
        "every press handled, none failed": not unhandled
        and handled_total == voting_pushed - copies_lost
        and not failures,
        "picks in the database = expected (mismatches 0)": not mismatched,
        "every answer as expected": not answers_wrong,
        "ballot screens show the picks": not screens_wrong,
        "ballot_count = voters with picks": ballots == expected_ballots
        and len(ballot_users) == expected_ballots
        and doubled == 0
        and orphans == 0,
        "tally = expected totals, sum(tally) = choices": tally == expected_totals
        and sum(tally.values()) == choices,
        "forged presses refused and audited, 0 ballots": refused == forged == refusals_audited
        and outsider_picks == 0
        and not (ballot_users & {o.user_id for o in outsiders}),
        "errors 0": not errors,
        "closed; frozen counts = tally, voters = ballots": closed.state == "closed"
        and closed.published_at is not None
        and frozen == tally == tally_after
        and closed.voters == ballots
        and closed.eligible == args.voters,
        "winners on the agenda": won == expected_winners(expected_totals, closed.places)
        and agenda == len(won),
        "results: one per voter with a ballot, none to others": results_to_voters == ballots
        and voters_without_one == 0
        and results_to_others == 0,
        "presses after the close refused": late_changed == 0
        and all(a == "closed" for a in late_answers),
        "database integrity": integrity == "ok",
    }
    result["checks_failed"] = [name for name, ok in checks.items() if not ok]

    print(
        f"{voting_pushed} presses ({forged} forged) in {wall:.2f} s: {result['presses_per_s']} "
        f"presses/s; {handled_total} updates handled, {unhandled} not, {copies_lost} second "
        "copies confirmed away at a getUpdates batch boundary; push → handled "
        f"p50 {result['latency_ms_p50']} ms, p95 {result['latency_ms_p95']} ms, "
        f"p99 {result['latency_ms_p99']} ms, max {result['latency_ms_max']} ms; "
        f"{cpu:.1f} s of CPU in that time (bot, fake Telegram and bench share one process)"
    )
    print(
        f"ballots {ballots} (expected {expected_ballots}), mismatched picks {len(mismatched)}, "
        f"wrong answers {len(answers_wrong)}, wrong screens {len(screens_wrong)}, "
        f"duplicate ballot rows {doubled}, orphan choices {orphans}"
    )
    print(
        f"tally {tally} (expected {expected_totals}); sum {sum(tally.values())}, "
        f"choices rows {choices}"
    )
    print(
        f"forged presses: {refused} of {forged} refused, {outsider_picks} picks stored, "
        f"{refusals_audited} refusals audited"
    )
    print(f"errors seen by the error handler: {len(errors)} ({voting_errors} while voting)")
    for kind, n in Counter(f"{type(e).__name__}: {e}" for e in errors).most_common(5):
        print(f"  {n} × {kind}")
    print(f"voters or outsiders who could not finish: {len(failures)}")
    for f in failures[:5]:
        print(f"  {f.user_id}: {f.failure}")
    for v in mismatched[:5]:
        print(f"  mismatch {v.user_id}: stored {sorted(stored[v.user_id])}, expected "
              f"{sorted(v.expected)} ({v.change}, double tap {v.double_tap})")  # fmt: skip
    for v in answers_wrong[:5]:
        print(f"  answers {v.user_id}: {v.answers} {v.double_answers}, expected "
              f"{[p.expect for p in v.presses]} {v.double_expect}")  # fmt: skip
    print(
        f"close: {closed.state} in {close_s:.2f} s (jobs {report}); frozen {frozen}, voters "
        f"{closed.voters} of {closed.eligible} eligible; won {sorted(won)}, {agenda} on the agenda"
    )
    print(
        f"results: {results_to_voters} to {ballots} voters with a ballot "
        f"({voters_without_one} without exactly one), {results_to_others} to others, "
        f"{results_to_admin} to the admin who opened it"
    )
    print(
        f"after the close: {result['late_refused']} of {len(late)} presses refused, "
        f"{late_changed} ballots changed; database integrity {integrity}"
    )
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    print(json.dumps(result))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
