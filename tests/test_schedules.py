"""Scheduled work, told as stories: the weekly digest, meeting reminders, "did it make a
difference?" follow-ups, nudges to the panel and retention.

Nothing here sleeps for the schedule: the tests move `world.clock` and call
`world.tick()`, which runs the jobs as the APScheduler wake-up does and waits for the
outbox to deliver. Each story starts with a tick, the wake-up every start does; the
jobs are idempotent, so a real wake-up running alongside changes nothing.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import schedules
from bot.domain.roles import Role
from handlers import callback_data as cb
from schedules import digest
from storage import concerns as concern_store
from storage import ratings
from tests.conftest import START, Person, World, WorldFactory
from tests.fakes.bot_api import parse_html
from tests.staffing import join_as

KINGSMEAD, OLD_TOWN = "E05900002", "E05900011"
LONDON = ZoneInfo("Europe/London")
REF = re.compile(r"WV-[2-9A-HJKMNP-Z]{5}")
DIGEST_TITLE = "Kingsmead: you said, we did"
QUESTION = "Did it make a difference?"
REMINDER = "Reminder: the Kingsmead ward panel meets soon"
NUDGE = "priorities were last reviewed"


# --- helpers ----------------------------------------------------------------------------


async def _eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait for something the real JobQueue does in real time (only the start-up wake)."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - the fake API has no event to wait on
            await asyncio.sleep(0.02)


async def _move_to(world: World, when: datetime) -> dict[str, int]:
    """Move the clock forward to `when` and run what is due there."""
    assert when >= world.clock.now(), "the clock only moves forward"
    world.clock.advance(seconds=(when - world.clock.now()).total_seconds())
    return await world.tick()


def _london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def _mark(world: World) -> int:
    """A position in the Bot API log, to look only at what came after it."""
    return len(world.api.calls)


def _got(world: World, person: Person, since: int = 0) -> list[str]:
    """The messages the bot sent to `person` since `since`, as they read them."""
    return [
        parse_html(c.text)[0] if c.params.get("parse_mode") == "HTML" else c.text
        for c in world.api.calls[since:]
        if c.method == "sendMessage" and c.chat_id == person.sim.chat_id and c.ok and c.text
    ]


def _got_any(world: World, person: Person, needle: str, since: int = 0) -> list[str]:
    return [text for text in _got(world, person, since) if needle in text]


async def _resident(world: World, ward: str = KINGSMEAD, updates: str | None = None) -> Person:
    """A resident of `ward`; `updates` is the button they tap when asked ("Weekly digest",
    "At once"), or None to ignore the question."""
    person = world.person()
    await person.says(f"/start {ward}")
    if updates is not None:
        chose = await person.taps(updates)
        assert chose.answers, "the choice was acknowledged"
    return person


async def _chair_with_priority(world: World, ward: str = KINGSMEAD) -> tuple[Person, int]:
    chair = await join_as(world, ward, Role.PANEL_CHAIR)
    added = await chair.says("/addpriority roads Speeding on Mill Lane | evenings")
    match = re.search(r"Added priority #(\d+)", added.text)
    assert match, added.text
    return chair, int(match.group(1))


async def _we_did(chair: Person, priority_id: int, text: str) -> None:
    posted = await chair.says(f"/wedid #{priority_id} {text}")
    assert "Posted." in posted.text, posted.text
    await chair.world.delivered()  # the news to "at once" subscribers has gone out


async def _raise(
    world: World, text: str = "Cars racing down Mill Lane at night."
) -> tuple[Person, str]:
    resident = await _resident(world)
    await resident.says("/concern")
    await resident.taps("Road safety")
    await resident.says(text)
    await resident.taps("Skip")
    await resident.taps("Skip")
    sent = await resident.taps("Send")
    match = REF.search(sent.text)
    assert match, sent.text
    return resident, match.group(0)


async def _resident_exists(world: World, person: Person) -> bool:
    row = await world.db.fetchval("SELECT 1 FROM residents WHERE user_id = ?", (person.user_id,))
    return row is not None


# --- the wake-up ------------------------------------------------------------------------


async def test_the_scheduled_jobs_are_woken_by_one_repeating_job_queue_job(world: World) -> None:
    jobs = world.application.job_queue.get_jobs_by_name("schedules")  # type: ignore[union-attr]
    assert len(jobs) == 1
    assert jobs[0].job.trigger.interval == timedelta(
        seconds=world.services.settings.schedule_interval
    )
    report = await world.tick()
    assert set(report) == {"votes", "digest", "reminders", "followups", "nudges", "retention"}
    assert not any(report.values()), "nothing is due in an empty ward set"


# --- the weekly digest ------------------------------------------------------------------


async def test_weekly_subscriber_gets_a_digest_of_what_was_done_once_monday_evening_passes(
    world: World,
) -> None:
    await world.tick()  # the wake at start-up
    reader = await _resident(world, updates="Weekly digest")
    neighbour = await _resident(world)  # lives there, never asked for updates
    chair, priority = await _chair_with_priority(world)
    await world.tick()  # the bot wakes every minute: once before anything was done
    await _we_did(chair, priority, "Speed checks on three evenings; 14 drivers stopped.")
    since = _mark(world)

    # Monday 23 November, 17:59 in London (GMT): the digest is not due yet.
    assert (await _move_to(world, _london("2026-11-23T17:59")))["digest"] == 0
    assert _got(world, reader, since) == []

    # 18:00 has passed: one digest, with the entry.
    assert (await _move_to(world, _london("2026-11-23T18:00:30")))["digest"] == 1
    [sent] = _got(world, reader, since)
    assert DIGEST_TITLE in sent
    assert "One thing done since your last digest" in sent
    assert "You said: Speeding on Mill Lane" in sent and "14 drivers stopped" in sent
    assert _got(world, neighbour, since) == []

    # The bot wakes again a minute later, and an hour later: nothing twice.
    assert (await _move_to(world, _london("2026-11-23T18:01")))["digest"] == 0
    assert (await _move_to(world, _london("2026-11-23T19:00")))["digest"] == 0
    assert len(_got(world, reader, since)) == 1

    # The next Monday with nothing new: no empty digest.
    since = _mark(world)
    assert (await _move_to(world, _london("2026-11-30T18:05")))["digest"] == 0
    assert _got(world, reader, since) == []

    # Something new during the week: the next digest has only that.
    world.clock.advance(days=1)
    await _we_did(chair, priority, "Two new speed bumps on Mill Lane.")
    since = _mark(world)
    assert (await _move_to(world, _london("2026-12-07T18:00")))["digest"] == 1
    [sent] = _got(world, reader, since)
    assert "Two new speed bumps" in sent and "14 drivers stopped" not in sent


async def test_at_once_subscriber_hears_immediately_and_a_late_weekly_one_gets_only_newer_entries(
    world: World,
) -> None:
    await world.tick()  # the wake at start-up
    instant = await _resident(world, updates="At once")
    early = await _resident(world, updates="Weekly digest")
    chair, priority = await _chair_with_priority(world)
    await world.tick()
    since = _mark(world)
    await _we_did(chair, priority, "Speed checks on three evenings.")
    [news] = _got(world, instant, since)
    assert "You said, we did" in news and "Speed checks on three evenings." in news
    assert _got(world, early, since) == [], "a weekly subscriber waits for the digest"

    late = await _resident(world, updates="Weekly digest")
    world.clock.advance(hours=1)
    await _we_did(chair, priority, "A camera van on Tuesday evenings.")
    since_digest = _mark(world)
    await _move_to(world, _london("2026-11-23T18:00"))

    assert _got(world, instant, since_digest) == [], "at once means not again in a digest"
    [for_early] = _got(world, early, since_digest)
    assert "2 things done since your last digest" in for_early
    assert "Speed checks" in for_early and "camera van" in for_early
    [for_late] = _got(world, late, since_digest)
    assert "One thing done" in for_late
    assert "camera van" in for_late and "Speed checks" not in for_late


async def test_a_digest_shows_ten_entries_and_counts_the_rest(world: World) -> None:
    await world.tick()  # the wake at start-up
    reader = await _resident(world, updates="Weekly digest")
    chair, priority = await _chair_with_priority(world)
    await world.tick()
    for n in range(1, 13):
        await _we_did(chair, priority, f"Action number {n:02d} done.")
    since = _mark(world)
    await _move_to(world, _london("2026-11-23T18:00"))
    [sent] = _got(world, reader, since)
    assert "12 things done since your last digest" in sent
    assert "Action number 01" in sent and "Action number 10" in sent
    assert "Action number 11" not in sent and "and 2 more: see /priorities" in sent


async def test_switching_from_at_once_to_weekly_does_not_repeat_what_was_already_sent(
    world: World,
) -> None:
    await world.tick()  # the wake at start-up
    switcher = await _resident(world, updates="At once")
    chair, priority = await _chair_with_priority(world)
    await world.tick()
    since = _mark(world)
    await _we_did(chair, priority, "Speed checks on three evenings.")
    assert len(_got_any(world, switcher, "Speed checks", since)) == 1
    await switcher.says("/updates")
    await switcher.taps("Weekly digest")
    world.clock.advance(hours=1)
    await _we_did(chair, priority, "A camera van on Tuesday evenings.")
    assert _got_any(world, switcher, "camera van", since) == [], "weekly now"
    since = _mark(world)
    await _move_to(world, _london("2026-11-23T18:00"))
    [sent] = _got(world, switcher, since)
    assert "camera van" in sent and "Speed checks" not in sent


async def test_first_weekly_subscriber_of_a_ward_gets_no_digest_before_monday_evening(
    world: World,
) -> None:
    await world.tick()  # the wake at start-up
    reader = await _resident(world, updates="Weekly digest")
    chair, priority = await _chair_with_priority(world)
    # No wake-up between the subscription and the entry (both within a minute, or the
    # bot restarted in between).
    await _we_did(chair, priority, "Speed checks on three evenings.")
    since = _mark(world)
    await _move_to(world, _london("2026-11-23T17:59"))
    assert _got(world, reader, since) == [], "the digest is due at 18:00, not before"


# --- restarts -----------------------------------------------------------------------------


async def _restart(make_world: WorldFactory, world: World, at: datetime) -> World:
    """Stop `world` and start the bot again on its database with the clock at `at`."""
    await world.stop()
    again: World = await make_world(world.services.settings.db_path)
    # No await since start_bot returned: no wake-up has run yet, the first one sees `at`.
    again.clock.advance(seconds=(at - again.clock.now()).total_seconds())
    return again


async def _down_over_the_slot(
    make_world: WorldFactory, synthetic_db: Path
) -> tuple[World, Person, int]:
    """A weekly subscriber and an entry on Monday; the bot stops at noon and starts
    again on Tuesday morning, after the 18:00 slot."""
    first = await make_world(synthetic_db)
    await first.tick()  # the wake at start-up
    reader = await _resident(first, updates="Weekly digest")
    chair, priority = await _chair_with_priority(first)
    await first.tick()
    await _we_did(chair, priority, "Speed checks on three evenings.")
    first.clock.advance(hours=2)
    since = _mark(first)
    second = await _restart(make_world, first, _london("2026-11-24T08:00"))
    return second, reader, since


async def test_a_digest_slot_missed_while_the_bot_was_down_is_caught_up_once_after_it(
    make_world: WorldFactory, synthetic_db: Path
) -> None:
    second, reader, since = await _down_over_the_slot(make_world, synthetic_db)
    await second.tick()
    [sent] = _got(second, reader, since)
    assert DIGEST_TITLE in sent and "Speed checks" in sent
    assert (await second.tick())["digest"] == 0

    # Another restart the same morning sends nothing again.
    third = await _restart(make_world, second, _london("2026-11-24T09:00"))
    assert (await third.tick())["digest"] == 0
    assert (await _move_to(third, _london("2026-11-30T17:00")))["digest"] == 0
    assert len(_got(third, reader, since)) == 1


async def test_a_digest_slot_missed_while_the_bot_was_down_is_sent_at_start_up(
    make_world: WorldFactory, synthetic_db: Path
) -> None:
    second, reader, since = await _down_over_the_slot(make_world, synthetic_db)
    job_queue = second.application.job_queue
    assert job_queue is not None
    soon = datetime.now(UTC) + timedelta(seconds=2)
    wakes = [j for j in job_queue.jobs() if j.callback is schedules._wake]
    assert any(j.next_t is not None and j.next_t <= soon for j in wakes), (
        f"the first wake-up is due at {[j.next_t for j in wakes]}, not at start-up"
    )
    # Without a tick from the test: the start-up wake alone sends it.
    await _eventually(lambda: bool(_got_any(second, reader, DIGEST_TITLE, since)))
    await second.delivered()
    assert (await second.tick())["digest"] == 0
    assert len(_got_any(second, reader, DIGEST_TITLE, since)) == 1


async def test_a_digest_sent_before_a_restart_is_not_sent_again_after_it(
    make_world: WorldFactory, synthetic_db: Path
) -> None:
    first = await make_world(synthetic_db)
    await first.tick()  # the wake at start-up
    reader = await _resident(first, updates="Weekly digest")
    chair, priority = await _chair_with_priority(first)
    await first.tick()
    await _we_did(chair, priority, "Speed checks on three evenings.")
    since = _mark(first)
    assert (await _move_to(first, _london("2026-11-23T18:00")))["digest"] == 1

    second = await _restart(make_world, first, _london("2026-11-23T18:30"))
    assert (await second.tick())["digest"] == 0
    assert (await _move_to(second, _london("2026-11-24T18:00")))["digest"] == 0
    assert len(_got_any(second, reader, DIGEST_TITLE, since)) == 1


async def test_once_every_ward_has_this_weeks_digest_the_job_looks_at_no_ward_until_the_next(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A country has thousands of wards with weekly subscribers and the job wakes every
    minute: after a slot is done everywhere, one mark says so (bench/scale.py)."""
    await world.tick()  # the wake at start-up
    await _resident(world, updates="Weekly digest")
    chair, priority = await _chair_with_priority(world)
    await world.tick()
    await _we_did(chair, priority, "Speed checks on three evenings.")
    assert (await _move_to(world, _london("2026-11-23T18:00:30")))["digest"] == 1
    assert (
        await world.db.fetchval(
            "SELECT done_until FROM schedule_marks WHERE job = 'digest' AND scope = ''"
        )
        == "2026-11-23T18:00:00+00:00"
    )

    prepared: list[str] = []

    async def prepare(services: object, ward_code: str, slot: str, now: object) -> int:
        prepared.append(ward_code)
        return 0

    monkeypatch.setattr(digest, "prepare", prepare)
    await _move_to(world, _london("2026-11-23T18:05"))
    await _move_to(world, _london("2026-11-27T12:00"))
    assert prepared == []
    await _move_to(world, _london("2026-11-30T18:00:30"))
    assert prepared == [KINGSMEAD]


# --- time zones ----------------------------------------------------------------------------


def test_the_digest_slot_is_london_wall_time_in_winter_and_in_summer() -> None:
    monday_1800 = (0, 18, 0)
    # Winter (GMT): 18:00 in London is 18:00 UTC.
    winter = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    assert digest.latest_slot(winter, LONDON, *monday_1800) == winter
    assert digest.latest_slot(winter - timedelta(seconds=1), LONDON, *monday_1800) == winter - (
        timedelta(days=7)
    )
    # Summer (BST): 18:00 in London is 17:00 UTC.
    summer = datetime(2027, 6, 14, 17, 0, tzinfo=UTC)
    assert digest.latest_slot(summer, LONDON, *monday_1800) == summer
    assert digest.latest_slot(summer - timedelta(minutes=1), LONDON, *monday_1800) == datetime(
        2027, 6, 7, 17, 0, tzinfo=UTC
    )
    # Later in the week the slot is the Monday before; across the March change the week
    # before is still 18:00 local (GMT then).
    assert digest.latest_slot(
        datetime(2027, 4, 1, 9, 0, tzinfo=UTC), LONDON, *monday_1800
    ) == datetime(2027, 3, 29, 17, 0, tzinfo=UTC)
    assert digest.latest_slot(
        datetime(2027, 3, 29, 16, 59, tzinfo=UTC), LONDON, *monday_1800
    ) == datetime(2027, 3, 22, 18, 0, tzinfo=UTC)


async def test_a_non_default_time_zone_and_digest_day_move_the_slot(
    make_world: WorldFactory, synthetic_db: Path
) -> None:
    world = await make_world(synthetic_db, timezone="America/New_York", digest_at="TUE 08:30")
    await world.tick()  # the wake at start-up
    reader = await _resident(world, updates="Weekly digest")
    chair, priority = await _chair_with_priority(world)
    await world.tick()
    await _we_did(chair, priority, "Speed checks on three evenings.")
    since = _mark(world)
    # Tuesday 08:30 in New York (EST, UTC-5) is 13:30 UTC.
    assert (await _move_to(world, datetime(2026, 11, 24, 13, 29, tzinfo=UTC)))["digest"] == 0
    assert (await _move_to(world, datetime(2026, 11, 24, 13, 30, tzinfo=UTC)))["digest"] == 1
    assert len(_got_any(world, reader, DIGEST_TITLE, since)) == 1


async def test_default_digest_in_new_york_is_monday_18_00_eastern(
    make_world: WorldFactory, synthetic_db: Path
) -> None:
    world = await make_world(synthetic_db, timezone="America/New_York")
    await world.tick()  # the wake at start-up
    reader = await _resident(world, updates="Weekly digest")
    chair, priority = await _chair_with_priority(world)
    await world.tick()
    await _we_did(chair, priority, "Speed checks on three evenings.")
    since = _mark(world)
    # 18:00 London has passed, 18:00 New York (23:00 UTC) has not.
    assert (await _move_to(world, datetime(2026, 11, 23, 22, 59, tzinfo=UTC)))["digest"] == 0
    assert (await _move_to(world, datetime(2026, 11, 23, 23, 0, tzinfo=UTC)))["digest"] == 1
    assert len(_got_any(world, reader, DIGEST_TITLE, since)) == 1


# --- meeting reminders ---------------------------------------------------------------------


async def _panel(world: World) -> tuple[Person, Person, Person]:
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    member = await join_as(world, KINGSMEAD, Role.PANEL_MEMBER)
    team = await join_as(world, KINGSMEAD, Role.TEAM_MEMBER)
    return chair, member, team


async def _meeting(chair: Person, line: str) -> int:
    reply = await chair.says(f"/meeting {line}")
    match = re.search(r"Meeting #(\d+) scheduled", reply.text)
    assert match, reply.text
    return int(match.group(1))


async def test_an_open_meeting_is_reminded_to_subscribers_and_staff_once_a_day_before(
    world: World,
) -> None:
    await world.tick()  # the wake at start-up
    chair, member, team = await _panel(world)
    await member.taps("At once")  # staff who also subscribe are reminded once
    weekly = await _resident(world, updates="Weekly digest")
    instant = await _resident(world, updates="At once")
    quiet = await _resident(world)
    elsewhere = await _resident(world, OLD_TOWN, updates="At once")
    await _meeting(chair, "2026-11-24 19:00 | Kingsmead Library | open")
    since = _mark(world)

    assert (await _move_to(world, _london("2026-11-23T18:59")))["reminders"] == 0
    assert (await _move_to(world, _london("2026-11-23T19:00")))["reminders"] == 5
    for person in (chair, member, team, weekly, instant):
        [reminder] = _got(world, person, since)
        assert REMINDER in reminder
        assert "Tuesday, 24 November 2026, 19:00" in reminder and "Kingsmead Library" in reminder
    assert _got(world, quiet, since) == [] and _got(world, elsewhere, since) == []

    assert (await world.tick())["reminders"] == 0
    assert (await _move_to(world, _london("2026-11-24T12:00")))["reminders"] == 0
    assert len(_got_any(world, weekly, REMINDER, since)) == 1


async def test_a_closed_meeting_is_reminded_to_staff_only_and_a_cancelled_one_to_nobody(
    world: World,
) -> None:
    await world.tick()  # the wake at start-up
    chair, member, team = await _panel(world)
    subscriber = await _resident(world, updates="At once")
    await _meeting(chair, "2026-11-24 19:00 | Kingsmead Library | closed")
    cancelled = await _meeting(chair, "2026-11-24 20:00 | Mill Lane School | open")
    assert "cancelled" in (await chair.says(f"/cancelmeeting {cancelled}")).text.lower()
    since = _mark(world)

    assert (await _move_to(world, _london("2026-11-23T20:30")))["reminders"] == 3
    for person in (chair, member, team):
        [reminder] = _got(world, person, since)
        assert "Kingsmead Library" in reminder and "Mill Lane School" not in reminder
    assert _got(world, subscriber, since) == []


async def test_reminder_hours_is_configurable(make_world: WorldFactory, synthetic_db: Path) -> None:
    world = await make_world(synthetic_db, reminder_hours=2)
    await world.tick()  # the wake at start-up
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    subscriber = await _resident(world, updates="Weekly digest")
    await _meeting(chair, "2026-11-24 19:00 | Kingsmead Library | open")
    since = _mark(world)
    assert (await _move_to(world, _london("2026-11-23T19:00")))["reminders"] == 0
    assert (await _move_to(world, _london("2026-11-24T16:59")))["reminders"] == 0
    assert (await _move_to(world, _london("2026-11-24T17:00")))["reminders"] == 2
    assert len(_got_any(world, subscriber, REMINDER, since)) == 1


async def test_a_meeting_set_inside_the_lead_time_is_reminded_at_the_next_wake(
    world: World,
) -> None:
    await world.tick()  # the wake at start-up
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    subscriber = await _resident(world, updates="At once")
    await _meeting(chair, "2026-11-23 19:00 | Kingsmead Library | open")
    since = _mark(world)
    assert (await world.tick())["reminders"] == 2
    assert "Monday, 23 November 2026, 19:00" in _got_any(world, subscriber, REMINDER, since)[0]
    # Once it has started, nothing more.
    assert (await _move_to(world, _london("2026-11-23T19:30")))["reminders"] == 0


# --- "did it make a difference?" --------------------------------------------------------------


async def test_a_resident_is_asked_weeks_after_an_answer_and_their_rating_is_kept(
    world: World,
) -> None:
    await world.tick()  # the wake at start-up
    raiser, ref = await _raise(world)
    team = await join_as(world, KINGSMEAD, Role.TEAM_MEMBER)
    answered = await team.says(f"/respond {ref} We have asked for speed cameras.")
    assert "Answer on its way" in answered.text
    concern = await concern_store.by_ref(world.db, ref)
    assert concern is not None
    since = _mark(world)

    # 27 days on: too early.
    assert (await _move_to(world, START + timedelta(days=27)))["followups"] == 0
    assert _got_any(world, raiser, QUESTION, since) == []

    # followup_days (28) after the answer: the question, with 1..5.
    assert (await _move_to(world, START + timedelta(days=28, minutes=1)))["followups"] == 1
    [question] = _got_any(world, raiser, QUESTION, since)
    assert ref in question and "Road safety" in question
    [call] = [
        c
        for c in world.api.calls[since:]
        if c.chat_id == raiser.sim.chat_id and c.text and QUESTION in c.text
    ]
    assert [b["text"] for row in call.buttons for b in row] == ["1", "2", "3", "4", "5"]
    assert [b["callback_data"] for row in call.buttons for b in row] == [
        cb.RATE.build(id=str(concern.id), score=str(s)) for s in range(1, 6)
    ]
    assert _got_any(world, team, QUESTION, since) == []

    rated = await raiser.taps("4")
    assert [a.params.get("text") for a in rated.answers] == ["Thank you."]
    shown = world.api.messages(raiser.sim.chat_id)[-1]
    assert "you rated it 4 out of 5" in shown["text"]
    assert await _ratings(world) == [(concern.id, raiser.user_id, 4)]
    assert await ratings.satisfaction(world.db, [KINGSMEAD], "2026-01-01", "2028-01-01") == (
        4.0,
        1,
    )
    assert "Satisfaction: 4.0 out of 5, from 1 ratings." in (await team.says("/stats")).text

    # Tapping another number changes it; still one rating.
    await raiser.presses(cb.RATE.build(id=str(concern.id), score="5"), shown)
    assert await _ratings(world) == [(concern.id, raiser.user_id, 5)]

    # Asked once only.
    assert (await world.tick())["followups"] == 0
    assert (await _move_to(world, START + timedelta(days=35)))["followups"] == 0
    assert len(_got_any(world, raiser, QUESTION, since)) == 1


async def _ratings(world: World) -> list[tuple[int, int, int]]:
    rows = await world.db.fetchall(
        "SELECT concern_id, user_id, score FROM ratings ORDER BY concern_id, user_id"
    )
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


async def test_everyone_who_said_me_too_is_asked_and_a_forged_rating_is_refused(
    world: World,
) -> None:
    await world.tick()  # the wake at start-up
    raiser, ref = await _raise(world)
    supporter = await _resident(world)
    await supporter.says("/concern")
    await supporter.taps("Road safety")
    await supporter.says("Racing cars again on Mill Lane last night.")
    await supporter.taps("Skip")
    await supporter.taps("Skip")
    await supporter.taps(f"Me too: {ref}")
    stranger = await _resident(world)
    team = await join_as(world, KINGSMEAD, Role.TEAM_MEMBER)
    await team.says(f"/respond {ref} We have asked for speed cameras.")
    concern = await concern_store.by_ref(world.db, ref)
    assert concern is not None

    # A forged button before anyone was asked: refused.
    forged = cb.RATE.build(id=str(concern.id), score="5")
    early = await raiser.presses(forged)
    assert any("not asked of you" in (a.params.get("text") or "") for a in early.answers)

    since = _mark(world)
    assert (await _move_to(world, START + timedelta(days=29)))["followups"] == 2
    for person in (raiser, supporter):
        assert len(_got_any(world, person, QUESTION, since)) == 1
    assert _got(world, stranger, since) == []

    refused = await stranger.presses(forged)
    assert any("not asked of you" in (a.params.get("text") or "") for a in refused.answers)
    assert await _ratings(world) == []

    await supporter.taps("2")
    assert await _ratings(world) == [(concern.id, supporter.user_id, 2)]


async def test_an_answer_older_than_the_follow_up_window_is_not_surveyed(world: World) -> None:
    await world.tick()  # the wake at start-up
    raiser, ref = await _raise(world)
    team = await join_as(world, KINGSMEAD, Role.TEAM_MEMBER)
    await team.says(f"/respond {ref} We have asked for speed cameras.")
    since = _mark(world)
    # The bot was off for two months: an answer given 60 days ago is not asked about.
    assert (await _move_to(world, START + timedelta(days=60)))["followups"] == 0
    assert _got_any(world, raiser, QUESTION, since) == []


# --- nudges to the panel -------------------------------------------------------------------------


async def test_the_panel_is_nudged_once_per_overdue_cycle_until_it_reviews_its_priorities(
    world: World,
) -> None:
    await world.tick()  # the wake at start-up
    chair, priority = await _chair_with_priority(world)
    member = await join_as(world, KINGSMEAD, Role.PANEL_MEMBER)
    team = await join_as(world, KINGSMEAD, Role.TEAM_MEMBER)
    since = _mark(world)

    # meeting_cycle_days (42) without a review: not yet...
    assert (await _move_to(world, START + timedelta(days=42)))["nudges"] == 0
    # ...and just after it, the chair and members, not the team.
    assert (await _move_to(world, START + timedelta(days=42, hours=1)))["nudges"] == 2
    for person in (chair, member):
        [nudge] = _got_any(world, person, NUDGE, since)
        assert "Kingsmead ward's priorities were last reviewed 42 days ago" in nudge
    assert _got_any(world, team, NUDGE, since) == []
    assert (await world.tick())["nudges"] == 0
    assert (await _move_to(world, START + timedelta(days=60)))["nudges"] == 0

    # A reword is a review: the count starts again.
    reworded = await chair.says(f"/reword {priority} Speeding on Mill Lane and Lea Road")
    assert "Reworded" in reworded.text
    reviewed = world.clock.now()
    assert (await _move_to(world, reviewed + timedelta(days=42)))["nudges"] == 0
    assert (await _move_to(world, reviewed + timedelta(days=42, hours=1)))["nudges"] == 2
    assert (await _move_to(world, reviewed + timedelta(days=83)))["nudges"] == 0
    # Another full cycle of silence: one more nudge.
    assert (await _move_to(world, reviewed + timedelta(days=84, hours=1)))["nudges"] == 2
    assert (await world.tick())["nudges"] == 0
    assert len(_got_any(world, chair, NUDGE, since)) == 3
    assert len(_got_any(world, member, NUDGE, since)) == 3


async def test_a_panel_meeting_fortnightly_is_nudged_after_a_fortnight(world: World) -> None:
    await world.tick()  # the wake at start-up
    chair, _priority = await _chair_with_priority(world)
    await _meeting(chair, "2026-11-30 19:00 | Kingsmead Library | open")
    await _meeting(chair, "2026-12-14 19:00 | Kingsmead Library | open")
    since = _mark(world)
    # After the second meeting the cycle is 14 days; the priority is 21 days old.
    assert (await _move_to(world, _london("2026-12-14T18:00")))["nudges"] == 0
    assert (await _move_to(world, _london("2026-12-14T19:01")))["nudges"] == 1
    assert len(_got_any(world, chair, NUDGE, since)) == 1


# --- retention -----------------------------------------------------------------------------------


async def test_inactive_residents_are_removed_their_concerns_kept_and_staff_and_active_people_kept(
    make_world: WorldFactory, synthetic_db: Path
) -> None:
    world = await make_world(synthetic_db, retention_days=30)
    await world.tick()  # the wake at start-up
    gone, ref = await _raise(world)  # last seen Monday 23 November, 10:00
    staff = await join_as(world, KINGSMEAD, Role.TEAM_MEMBER)
    active = await _resident(world, updates="Weekly digest")
    world.clock.advance(hours=10)
    evening = await _resident(world)  # first and last seen 23 November, 20:00

    world.clock.advance(days=25)
    assert "Kingsmead" in (await active.says("/ward")).text  # seen 18 December

    # 23 December 15:00: thirty days after the first resident's last visit.
    report = await _move_to(world, datetime(2026, 12, 23, 15, 0, tzinfo=UTC))
    assert report["retention"] >= 1
    assert not await _resident_exists(world, gone)
    for kept in (staff, active, evening):
        assert await _resident_exists(world, kept)
    concern = await concern_store.by_ref(world.db, ref)
    assert concern is not None, "the concern stays"
    raised_by = await world.db.fetchval("SELECT raised_by FROM concerns WHERE ref = ?", (ref,))
    assert raised_by is None, "...as an anonymous item"

    # Later the same day the evening resident is past thirty days too: but once a day.
    assert (await _move_to(world, datetime(2026, 12, 23, 22, 0, tzinfo=UTC)))["retention"] == 0
    assert await _resident_exists(world, evening)
    assert (await _move_to(world, datetime(2026, 12, 24, 0, 30, tzinfo=UTC)))["retention"] >= 1
    assert not await _resident_exists(world, evening)
    assert await _resident_exists(world, staff) and await _resident_exists(world, active)


async def test_a_removed_resident_who_comes_back_starts_afresh(
    make_world: WorldFactory, synthetic_db: Path
) -> None:
    world = await make_world(synthetic_db, retention_days=30)
    await world.tick()  # the wake at start-up
    gone, ref = await _raise(world)
    await _move_to(world, START + timedelta(days=31))
    assert not await _resident_exists(world, gone)
    mine = await gone.says("/myconcerns")
    assert ref not in mine.text, "their old concern is no longer linked to them"
    assert await _resident_exists(world, gone)


async def test_retention_strips_old_photos_and_drops_old_audit_lines_and_delivered_items(
    make_world: WorldFactory, synthetic_db: Path
) -> None:
    world = await make_world(synthetic_db, retention_days=30, outbox_retention_days=10)
    await world.tick()  # the wake at start-up
    resident, old_ref = await _raise(world)
    _, new_ref = await _raise(world, "Broken street light outside number 12.")
    await resident.says("/updates")
    await resident.taps("At once")
    chair, priority = await _chair_with_priority(world)  # audited, 23 November
    await _we_did(chair, priority, "Speed checks on three evenings.")  # one delivered item
    for ref, closed_at in ((old_ref, START), (new_ref, START + timedelta(days=20))):
        await world.db.execute(
            "UPDATE concerns SET photo_file_id = 'photo', status = 'closed', updated_at = ? "
            "WHERE ref = ?",
            (closed_at.isoformat(), ref),
        )
    assert await world.db.fetchval("SELECT COUNT(*) FROM audit_log") > 0
    assert await world.db.fetchval("SELECT COUNT(*) FROM outbox_items WHERE state = 'done'") > 0

    world.clock.advance(days=25)
    await resident.says("/myconcerns")  # still active
    assert (await _move_to(world, START + timedelta(days=31)))["retention"] > 0
    photos = dict(await world.db.fetchall("SELECT ref, photo_file_id FROM concerns"))
    assert photos == {old_ref: None, new_ref: "photo"}
    old_audit = await world.db.fetchval(
        "SELECT COUNT(*) FROM audit_log WHERE at < ?", ((START + timedelta(days=1)).isoformat(),)
    )
    assert old_audit == 0
    assert await world.db.fetchval("SELECT COUNT(*) FROM outbox_items WHERE state = 'done'") == 0
    assert await _resident_exists(world, resident) and await _resident_exists(world, chair)
