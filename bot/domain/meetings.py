"""Ward panel meetings: the one-line schedule format, its rules, and who may change them.

Each meeting is its own date and time (panels rotate days and hours), entered in the
bot's time zone (Europe/London by default) and stored as a UTC moment. Scheduling and
cancelling are staff actions: `roles.authorise` runs inside these functions, so no caller
can skip it, and every change is written to the audit log.

    /meeting 2026-12-03 19:00 | St Mark's Church Hall, Mill Lane | open | https://meet.example/abc
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from urllib.parse import urlsplit

from bot.clock import Clock, from_iso, to_iso
from bot.domain import roles
from bot.domain.directory import WardDirectory
from bot.domain.errors import RuleError
from bot.domain.roles import Action
from bot.i18n import N_
from storage import meetings as meeting_store
from storage.db import Database
from storage.meetings import AgendaItem, Meeting, SlotTaken

VENUE_MIN, VENUE_MAX = 3, 200
LINK_MAX = 300
MAX_AHEAD = timedelta(days=366)  # a typo in the year should not schedule 2062
SHOWN = 5  # how many of the next meetings residents see

USAGE = N_(
    "Usage: /meeting YYYY-MM-DD HH:MM | venue | open or closed | online link (optional)\n"
    "For example: /meeting 2026-12-03 19:00 | St Mark's Church Hall, Mill Lane | open"
)
_WHEN = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:\s+|T)(\d{1,2})[:.](\d{2})")
_OPEN = {"open", "public"}
_CLOSED = {"closed", "private"}


@dataclass(frozen=True)
class MeetingPlan:
    """A parsed, checked `/meeting` line; `starts_at` is timezone-aware, in UTC."""

    starts_at: datetime
    venue: str
    open_to_public: bool
    online_link: str | None


def _local_moment(text: str, tz: tzinfo) -> datetime:
    match = _WHEN.fullmatch(" ".join(text.split()))
    if match is None:
        raise RuleError(USAGE)
    year, month, day, hour, minute = (int(g) for g in match.groups())
    try:
        naive = datetime(year, month, day, hour, minute)
    except ValueError as err:
        raise RuleError(N_("There is no date and time {when}."), when=text.strip()) from err
    local = naive.replace(tzinfo=tz)
    # A time skipped when the clocks go forward does not survive the round trip.
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        raise RuleError(
            N_("{when} does not exist: the clocks change that night. Please pick another time."),
            when=text.strip(),
        )
    return local.astimezone(UTC)


def _venue(text: str) -> str:
    venue = " ".join(text.split())
    if not VENUE_MIN <= len(venue) <= VENUE_MAX:
        raise RuleError(
            N_("The venue must be {min} to {max} characters long."), min=VENUE_MIN, max=VENUE_MAX
        )
    return venue


def _access(text: str) -> bool:
    word = text.strip().lower()
    if word in _OPEN:
        return True
    if word in _CLOSED:
        return False
    raise RuleError(N_("Say whether the meeting is open or closed to the public: open or closed."))


def _link(text: str) -> str | None:
    link = text.strip()
    if not link:
        return None
    parts = urlsplit(link)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() for ch in link)
        or len(link) > LINK_MAX
    ):
        raise RuleError(
            N_(
                "The online link must be a web address starting with https:// (at most {max} "
                "characters)."
            ),
            max=LINK_MAX,
        )
    return link


def parse_plan(line: str, tz: tzinfo, now: datetime) -> MeetingPlan:
    """Read `date time | venue | open/closed | link?`; refuse the past and malformed input."""
    parts = [part.strip() for part in line.split("|")]
    if len(parts) not in (3, 4) or not all(parts[:3]):
        raise RuleError(USAGE)
    starts_at = _local_moment(parts[0], tz)
    if starts_at <= now:
        raise RuleError(N_("That time has already passed. Please give a date in the future."))
    if starts_at > now + MAX_AHEAD:
        raise RuleError(N_("Meetings can be scheduled at most a year ahead."))
    return MeetingPlan(
        starts_at=starts_at,
        venue=_venue(parts[1]),
        open_to_public=_access(parts[2]),
        online_link=_link(parts[3]) if len(parts) == 4 else None,
    )


async def schedule(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    ward_code: str,
    line: str,
    tz: tzinfo,
) -> Meeting:
    """Schedule a meeting for `ward_code` from a `/meeting` line, if this user may."""
    await roles.authorise(
        db, clock, directory, admin_ids, user_id, Action.SCHEDULE_MEETING, ward_code
    )
    plan = parse_plan(line, tz, clock.now())
    who = roles.actor(user_id)
    try:
        meeting = await meeting_store.add(
            db,
            ward_code,
            to_iso(plan.starts_at),
            plan.venue,
            plan.open_to_public,
            plan.online_link,
            by=who,
            now=to_iso(clock.now()),
        )
    except SlotTaken as err:
        raise RuleError(N_("The panel already has a meeting at that time.")) from err
    await roles.record(
        db, clock, who, Action.SCHEDULE_MEETING, ward_code, target=f"meeting:{meeting.id}"
    )
    return meeting


async def cancel(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    meeting_id: int,
) -> Meeting:
    """Cancel a meeting that has not happened yet; authorised on the meeting's own ward."""
    meeting = await meeting_store.get(db, meeting_id)
    if meeting is None:
        raise RuleError(N_("There is no meeting #{id}."), id=meeting_id)
    target = f"meeting:{meeting.id}"
    await roles.authorise(
        db,
        clock,
        directory,
        admin_ids,
        user_id,
        Action.SCHEDULE_MEETING,
        meeting.ward_code,
        target=target,
    )
    if meeting.cancelled_at is not None:
        raise RuleError(N_("Meeting #{id} is already cancelled."), id=meeting.id)
    if from_iso(meeting.starts_at) <= clock.now():
        raise RuleError(N_("Meeting #{id} has already taken place."), id=meeting.id)
    who = roles.actor(user_id)
    if not await meeting_store.cancel(db, meeting.id, by=who, now=to_iso(clock.now())):
        raise RuleError(N_("Meeting #{id} is already cancelled."), id=meeting.id)
    await roles.record(db, clock, who, "cancel_meeting", meeting.ward_code, target=target)
    return meeting


async def next_meetings(db: Database, clock: Clock, ward_code: str) -> list[Meeting]:
    """What residents see: the ward's next meetings, soonest first (public record)."""
    return await meeting_store.upcoming(db, ward_code, to_iso(clock.now()), SHOWN)


async def agendas(db: Database, meetings: list[Meeting]) -> dict[int, list[AgendaItem]]:
    """What is on each meeting's agenda (items put there by votes), by meeting id."""
    return await meeting_store.agenda_of(db, [m.id for m in meetings])


async def staff_meetings(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    ward_code: str,
) -> list[Meeting]:
    """The same list for the panel's tools, where each comes with a cancel button."""
    await roles.authorise(
        db, clock, directory, admin_ids, user_id, Action.SCHEDULE_MEETING, ward_code
    )
    return await meeting_store.upcoming(db, ward_code, to_iso(clock.now()), SHOWN * 2)
