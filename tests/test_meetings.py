"""Panel meetings: scheduled by staff in one line, seen by residents, cancelled; every
refusal audited and harmless."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain import meetings as meeting_domain
from bot.domain.errors import RuleError
from bot.domain.roles import Role
from handlers import meetings as meeting_handlers
from tests.conftest import START, Person, World
from tests.staffing import audit_actions, join_as, refusals

KINGSMEAD, OLD_TOWN = "E05900002", "E05900011"
LONDON = ZoneInfo("Europe/London")
MEETING = "/meeting 2026-12-03 19:00 | St Mark's Church Hall, Mill Lane | open"


async def _resident(world: World, ward_code: str) -> Person:
    person = world.person()
    await person.says(f"/start {ward_code}")
    return person


async def _meeting_rows(world: World) -> list[tuple]:
    rows = await world.db.fetchall(
        "SELECT id, ward_code, starts_at, venue, open_to_public, online_link, cancelled_at"
        " FROM meetings ORDER BY id"
    )
    return [tuple(r) for r in rows]


async def _schedule(world: World, ward_code: str, line: str) -> int:
    """A meeting put in place by an admin, as the CLI would."""
    svc = world.services
    await svc.db.execute(
        "INSERT INTO admins (user_id, granted_by, granted_at) VALUES (1, 'test', 'now')"
        " ON CONFLICT DO NOTHING"
    )
    meeting = await meeting_domain.schedule(
        svc.db,
        svc.clock,
        svc.wards,
        svc.settings.admin_ids,
        user_id=1,
        ward_code=ward_code,
        line=line,
        tz=svc.settings.tz,
    )
    return meeting.id


async def test_chair_schedules_a_meeting_and_residents_see_it_in_london_time(world: World) -> None:
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    await chair.says("/panel")
    scheduled = await chair.says(f"{MEETING} | https://meet.example/abc")
    assert "Meeting #1 scheduled for Kingsmead" in scheduled.text
    summer = await chair.says("/meeting 2027-06-10 18.30 | Kingsmead Library | closed")
    assert "Meeting #2 scheduled" in summer.text

    rows = await _meeting_rows(world)
    assert [r[2] for r in rows] == ["2026-12-03T19:00:00+00:00", "2027-06-10T17:30:00+00:00"]
    resident = await _resident(world, KINGSMEAD)
    shown = (await resident.says("/meetings")).text
    assert "Next meetings of the Kingsmead ward panel" in shown
    assert "Thursday, 3 December 2026, 19:00" in shown
    assert "Where: St Mark's Church Hall, Mill Lane" in shown
    assert "Open to the public: all welcome." in shown
    assert "Online: https://meet.example/abc" in shown
    assert "Thursday, 10 June 2027, 18:30" in shown, "summer time is shown as local time"
    assert "Closed meeting: for panel members only." in shown
    assert shown.index("3 December") < shown.index("10 June")
    assert (await audit_actions(world, "done")).count("schedule_meeting") == 2


async def test_residents_see_only_meetings_still_to_come_on_any_day_and_hour(world: World) -> None:
    ids = [
        await _schedule(world, KINGSMEAD, "2026-11-24 07:30 | Café on the Green | open"),
        await _schedule(world, KINGSMEAD, "2027-01-09 11:00 | Mill Lane School | open"),
        await _schedule(world, KINGSMEAD, "2026-12-16 20:15 | St Mark's Church Hall | open"),
    ]
    resident = await _resident(world, KINGSMEAD)
    shown = (await resident.says("/meetings")).text
    assert shown.index("Tuesday, 24 November") < shown.index("Wednesday, 16 December")
    assert shown.index("Wednesday, 16 December") < shown.index("Saturday, 9 January 2027")
    world.clock.advance(days=1)  # the Tuesday breakfast meeting has taken place
    later = (await resident.says("/meetings")).text
    assert "Café on the Green" not in later and "Mill Lane School" in later
    assert len(ids) == 3


async def test_resident_of_a_ward_without_meetings_gets_a_friendly_line(world: World) -> None:
    await _schedule(world, KINGSMEAD, "2026-12-03 19:00 | St Mark's Church Hall | open")
    resident = await _resident(world, OLD_TOWN)
    shown = (await resident.says("/meetings")).text
    assert "No meetings of the Old Town ward panel are scheduled at the moment." in shown
    assert "St Mark's" not in shown


async def test_resident_without_a_ward_is_asked_where_they_live(world: World) -> None:
    newcomer = world.person()
    reply = await newcomer.says("/meetings")
    assert "postcode" in reply.text.lower()


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("/meeting tomorrow | Hall | open", "Usage: /meeting YYYY-MM-DD HH:MM"),
        ("/meeting 2026-12-03 19:00 | St Mark's", "Usage: /meeting"),
        ("/meeting 2026-12-03 19:00 | | open", "Usage: /meeting"),
        ("/meeting 2026-12-03 19:00 | Hall | open | link | extra", "Usage: /meeting"),
        ("/meeting 2026-11-20 19:00 | Hall | open", "already passed"),
        ("/meeting 2026-11-23 09:59 | Hall | open", "already passed"),
        ("/meeting 2026-02-30 19:00 | Hall | open", "There is no date and time 2026-02-30"),
        ("/meeting 2026-12-03 25:00 | Hall | open", "There is no date and time"),
        ("/meeting 2027-03-28 01:30 | Hall | open", "the clocks change that night"),
        ("/meeting 2028-01-01 19:00 | Hall | open", "at most a year ahead"),
        ("/meeting 2026-12-03 19:00 | Hi | open", "venue must be 3 to 200 characters"),
        ("/meeting 2026-12-03 19:00 | Hall | maybe", "open or closed"),
        ("/meeting 2026-12-03 19:00 | Hall | open | javascript:alert(1)", "https://"),
        ("/meeting 2026-12-03 19:00 | Hall | open | https://", "https://"),
    ],
)
async def test_malformed_or_past_meeting_lines_are_refused_clearly(
    world: World, line: str, answer: str
) -> None:
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    reply = await chair.says(line)
    assert answer in reply.text
    assert await _meeting_rows(world) == []


async def test_the_same_meeting_sent_twice_is_scheduled_once(world: World) -> None:
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    await chair.says(MEETING)
    again = await chair.says(MEETING)
    assert "already has a meeting at that time" in again.text
    assert len(await _meeting_rows(world)) == 1


async def test_venue_with_markup_is_shown_as_text(world: World) -> None:
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    reply = await chair.says("/meeting 2026-12-03 19:00 | <b>Hall</b> & Sons | open")
    assert "&lt;b&gt;Hall&lt;/b&gt; &amp; Sons" in reply.html
    assert "Where: <b>Hall</b> & Sons" in reply.text


async def test_chair_cancels_by_command_and_by_button_and_residents_stop_seeing_them(
    world: World,
) -> None:
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    await chair.says(MEETING)
    await chair.says("/meeting 2026-12-10 18:00 | Kingsmead Library | open")
    listing = await chair.presses(meeting_handlers.STAFF_MEETINGS.build(code=KINGSMEAD))
    assert "#1 Thursday, 3 December 2026, 19:00 · St Mark's" in listing.text
    assert [b["text"] for b in listing.buttons] == ["Cancel #1", "Cancel #2"]

    cancelled = await chair.says("/cancelmeeting 1")
    assert "Cancelled meeting #1 (Thursday, 3 December 2026, 19:00)" in cancelled.text
    tapped = await chair.taps("Cancel #2")
    assert tapped.answers[0].params["text"] == "Cancelled."
    again = await chair.says("/cancelmeeting #2")
    assert "Meeting #2 is already cancelled." in again.text
    missing = await chair.says("/cancelmeeting 99")
    assert "There is no meeting #99." in missing.text
    garbled = await chair.says("/cancelmeeting next")
    assert "Usage: /cancelmeeting ID" in garbled.text

    resident = await _resident(world, KINGSMEAD)
    assert "No meetings" in (await resident.says("/meetings")).text
    assert (await audit_actions(world, "done")).count("cancel_meeting") == 2


async def test_a_meeting_that_has_taken_place_cannot_be_cancelled(world: World) -> None:
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    await chair.says("/meeting 2026-11-23 18:00 | Kingsmead Library | open")
    world.clock.advance(hours=9)
    reply = await chair.says("/cancelmeeting 1")
    assert "Meeting #1 has already taken place." in reply.text
    assert (await _meeting_rows(world))[0][6] is None


async def test_resident_typing_meeting_commands_or_forging_buttons_is_refused(
    world: World,
) -> None:
    meeting_id = await _schedule(world, KINGSMEAD, "2026-12-03 19:00 | St Mark's | open")
    resident = await _resident(world, KINGSMEAD)
    before, refused = await _meeting_rows(world), await refusals(world)

    scheduled = await resident.says(MEETING)
    bare = await resident.says("/meeting")
    cancelled = await resident.says(f"/cancelmeeting {meeting_id}")
    listing = await resident.presses(meeting_handlers.STAFF_MEETINGS.build(code=KINGSMEAD))
    tapped = await resident.presses(meeting_handlers.MEETING_CANCEL.build(id=str(meeting_id)))

    for reply in (scheduled, bare, cancelled):
        assert reply.text == "Sorry, you can't do that for this ward."
    for reply in (listing, tapped):
        assert reply.answers[0].params["text"] == "Sorry, you can't do that for this ward."
        assert [c.method for c in reply.calls] == ["answerCallbackQuery"]
    assert await _meeting_rows(world) == before
    assert await refusals(world) == refused + 5
    assert set((await audit_actions(world, "refused"))[:5]) == {"schedule_meeting"}


async def test_panel_member_of_another_ward_cannot_touch_this_wards_meetings(
    world: World,
) -> None:
    meeting_id = await _schedule(world, KINGSMEAD, "2026-12-03 19:00 | St Mark's | open")
    member = await join_as(world, OLD_TOWN, Role.PANEL_MEMBER)
    before, refused = await _meeting_rows(world), await refusals(world)

    cancelled = await member.says(f"/cancelmeeting {meeting_id}")
    tapped = await member.presses(meeting_handlers.MEETING_CANCEL.build(id=str(meeting_id)))
    listing = await member.presses(meeting_handlers.STAFF_MEETINGS.build(code=KINGSMEAD))
    assert "Sorry, you can't do that for this ward." in cancelled.text
    for reply in (tapped, listing):
        assert reply.answers[0].params["text"] == "Sorry, you can't do that for this ward."
    assert await _meeting_rows(world) == before
    assert await refusals(world) == refused + 3

    own = await member.says("/meeting 2026-12-04 19:00 | Old Town Hall | open")
    assert "scheduled for Old Town" in own.text, "their own ward is theirs to run"
    assert (await _meeting_rows(world))[-1][1] == OLD_TOWN


async def test_team_member_may_not_schedule_meetings(world: World) -> None:
    team = await join_as(world, KINGSMEAD, Role.TEAM_MEMBER)
    reply = await team.says(MEETING)
    assert "Sorry, you can't do that for this ward." in reply.text
    assert await _meeting_rows(world) == []


def test_a_plan_is_read_in_local_time_whatever_the_season() -> None:
    now = START
    winter = meeting_domain.parse_plan("2026-12-03 19:00 | Hall | open", LONDON, now)
    summer = meeting_domain.parse_plan(
        "2027-07-01T09:05 | Hall | CLOSED | https://meet.example/x", LONDON, now
    )
    assert winter.starts_at == datetime(2026, 12, 3, 19, 0, tzinfo=UTC)
    assert summer.starts_at == datetime(2027, 7, 1, 8, 5, tzinfo=UTC)
    assert (summer.open_to_public, summer.online_link) == (False, "https://meet.example/x")
    with pytest.raises(RuleError):
        meeting_domain.parse_plan("2026-12-03 19:00 | Hall | open | ftp://x.example", LONDON, now)
