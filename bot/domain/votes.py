"""Agenda votes: a panel asks young people (or the ward's residents) what its next meeting
should talk about; the items with the most votes go on that meeting's agenda.

    /newvote + one item per line ─▶ draft (the panel's settings) ─▶ open ─▶ the
    audience is told through the outbox, each notice a ballot ─▶ ballots, changeable
    until the close ─▶ closed (at its time, or early by the panel) ─▶ published:
    winners on the agenda, results to the panel and to everyone who voted.

Every staff step runs `roles.authorise` on the vote's own ward, inside these functions;
every ballot is checked (open? eligible?) inside its own database transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from bot.clock import Clock, from_iso, to_iso
from bot.domain import notices, roles
from bot.domain.directory import WardDirectory
from bot.domain.errors import RuleError
from bot.domain.roles import Action
from bot.i18n import N_, t
from bot.render import Html, join
from bot.vote_text import buttons, results, screen
from handlers.callback_data import VOTE_CHART
from storage import meetings as meeting_store
from storage import schedules as schedule_store
from storage import votes as vote_store
from storage.db import Database
from storage.meetings import Meeting
from storage.votes import AUDIENCES, Cast, Vote

MIN_ITEMS, MAX_ITEMS = 2, 10
# Short enough that five items fit a phone's screen with their buttons (tests/test_votes.py).
TITLE_MIN, TITLE_MAX = 3, 32
DETAIL_MAX = 50
# When a vote may close, in hours before its meeting; it stays open at least MIN_OPEN.
CLOSE_HOURS = (168, 72, 48, 24, 2)
DEFAULT_CLOSE_HOURS = 24
MIN_OPEN = timedelta(hours=1)
MEETINGS_OFFERED = 10
PANEL_ROLES = ("panel_member", "panel_chair")

USAGE = N_(
    "To start a vote, send /newvote and then the choices, one per line (2 to 10). "
    "Add a short explanation after a | if you like. For example:\n"
    "/newvote\n"
    "Bike racks at the school gate | so fewer bikes get stolen\n"
    "More street lights on Mill Lane\n"
    "Youth club open on Fridays"
)
_BULLET = re.compile(r"^\s*(?:[-•*]|\d{1,2}[.)])\s*")
_DETAIL_SPLIT = re.compile(r"\s*\|\s*|\s+[-–—]\s+")


@dataclass(frozen=True)
class Draft:
    """A vote still being set up, with what its settings may become."""

    vote: Vote
    meeting: Meeting
    meetings: list[Meeting]  # coming meetings it may be moved to, soonest first
    close_options: list[int]  # hours before the meeting
    electorate: int

    @property
    def closes_at(self) -> datetime:
        return from_iso(self.meeting.starts_at) - timedelta(hours=self.vote.close_hours)


def parse_items(text: str) -> list[tuple[str, str | None]]:
    """One item per line, `title | explanation` (or `title - explanation`); bullets and
    numbers at the start of a line are ignored."""
    items: list[tuple[str, str | None]] = []
    for raw in text.splitlines():
        line = _BULLET.sub("", " ".join(raw.split()))
        if not line:
            continue
        parts = _DETAIL_SPLIT.split(line, maxsplit=1)
        title = parts[0].strip()
        detail = parts[1].strip() if len(parts) > 1 and parts[1].strip() else None
        if not TITLE_MIN <= len(title) <= TITLE_MAX:
            raise RuleError(
                N_("Each choice needs a title of {min} to {max} characters: “{title}” is not."),
                min=TITLE_MIN,
                max=TITLE_MAX,
                title=title[:60],
            )
        if detail is not None and len(detail) > DETAIL_MAX:
            raise RuleError(
                N_("Keep each explanation to {max} characters: the one for “{title}” is longer."),
                max=DETAIL_MAX,
                title=title,
            )
        if any(title.casefold() == seen.casefold() for seen, _ in items):
            raise RuleError(N_("“{title}” is in the list twice."), title=title)
        items.append((title, detail))
    if not MIN_ITEMS <= len(items) <= MAX_ITEMS:
        raise RuleError(
            N_("A vote needs {min} to {max} choices; this has {count}."),
            min=MIN_ITEMS,
            max=MAX_ITEMS,
            count=len(items),
        )
    return items


def close_options(meeting: Meeting, now: datetime) -> list[int]:
    """The closing times still possible for a meeting, as hours before it."""
    start = from_iso(meeting.starts_at)
    return [h for h in CLOSE_HOURS if start - timedelta(hours=h) >= now + MIN_OPEN]


def winners(vote: Vote) -> tuple[list[int], bool]:
    """The items that go on the agenda, and whether a tie made that more than `places`.

    The `places` items with the most votes win; items tied with the last of them win too
    (a panel cannot fairly drop one of two equal choices); an item nobody picked never does.
    """
    ranked = sorted(
        (i for i in vote.items if (i.votes or 0) > 0), key=lambda i: (-(i.votes or 0), i.position)
    )
    if not ranked:
        return [], False
    cut = ranked[min(vote.places, len(ranked)) - 1].votes or 0
    chosen = [i.position for i in ranked if (i.votes or 0) >= cut]
    return chosen, len(chosen) > vote.places


# --- setting a vote up (panel) -------------------------------------------------------------


async def panel_vote(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    vote_id: int,
    action: Action = Action.OPEN_VOTE,
) -> Vote:
    """The vote, if this user may do `action` on its ward (refused and audited otherwise)."""
    vote = await vote_store.get(db, vote_id)
    if vote is None or vote.state == "discarded":
        raise RuleError(N_("There is no vote #{id}."), id=vote_id)
    await roles.authorise(
        db,
        clock,
        directory,
        admin_ids,
        user_id,
        action,
        vote.ward_code,
        target=f"vote:{vote.id}",
    )
    return vote


async def _coming_meetings(db: Database, ward_code: str, now: datetime) -> list[Meeting]:
    found = await meeting_store.upcoming(db, ward_code, to_iso(now), MEETINGS_OFFERED)
    return [m for m in found if close_options(m, now)]


async def draft_view(db: Database, clock: Clock, vote: Vote) -> Draft:
    now = clock.now()
    meetings = await _coming_meetings(db, vote.ward_code, now)
    meeting = next((m for m in meetings if m.id == vote.meeting_id), None)
    if meeting is None:
        meeting = await meeting_store.get(db, vote.meeting_id)
        assert meeting is not None  # a foreign key
    return Draft(
        vote=vote,
        meeting=meeting,
        meetings=meetings,
        close_options=close_options(meeting, now),
        electorate=await vote_store.electorate_size(db, vote.id, to_iso(now)),
    )


async def new_draft(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    ward_code: str,
    text: str,
) -> Draft:
    """A draft for the ward's next meeting, from `/newvote`'s lines, with plain defaults:
    the ward's youth panel, up to two picks each, the top two on the agenda, closing a
    day before the meeting."""
    await roles.authorise(db, clock, directory, admin_ids, user_id, Action.OPEN_VOTE, ward_code)
    if not text.strip():
        raise RuleError(USAGE)
    items = parse_items(text)
    now = clock.now()
    meetings = await _coming_meetings(db, ward_code, now)
    if not meetings:
        raise RuleError(
            N_(
                "A vote is for a coming meeting, and this ward has none far enough ahead "
                "(at least 3 hours). Schedule it first with /meeting."
            )
        )
    meeting = meetings[0]
    options = close_options(meeting, now)
    ward = directory.ward(ward_code)
    assert ward is not None  # authorise refuses unknown wards
    picks = min(2, len(items) - 1)
    vote_id = await vote_store.create_draft(
        db,
        ward_code=ward_code,
        borough_code=ward.borough_code,
        meeting_id=meeting.id,
        items=items,
        audience="ward_youth",
        picks=picks,
        places=picks,
        close_hours=DEFAULT_CLOSE_HOURS if DEFAULT_CLOSE_HOURS in options else options[-1],
        by=roles.actor(user_id),
        now=to_iso(now),
    )
    vote = await vote_store.get(db, vote_id)
    assert vote is not None
    await roles.record(db, clock, roles.actor(user_id), "draft_vote", ward_code, f"vote:{vote_id}")
    return await draft_view(db, clock, vote)


async def show_draft(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    vote_id: int,
) -> Draft:
    vote = await panel_vote(db, clock, directory, admin_ids, user_id=user_id, vote_id=vote_id)
    if vote.state != "draft":
        raise RuleError(N_("Vote #{id} is already open or closed."), id=vote.id)
    return await draft_view(db, clock, vote)


async def change(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    vote_id: int,
    setting: str,
    value: str,
) -> Draft:
    """Change one setting of a draft: every value is checked here, whatever the button said."""
    vote = await panel_vote(db, clock, directory, admin_ids, user_id=user_id, vote_id=vote_id)
    if vote.state != "draft":
        raise RuleError(N_("Vote #{id} is already open or closed."), id=vote.id)
    draft = await draft_view(db, clock, vote)
    count = len(vote.items)
    invalid = RuleError(N_("That setting is not possible for this vote."))
    column: str
    new: int | str
    if setting == "audience":
        if value not in AUDIENCES:
            raise invalid
        column, new = "audience", value
    else:
        if not value.isdigit():
            raise invalid
        number = int(value)
        if setting == "picks" and 1 <= number <= count:
            column, new = "picks", number
        elif setting == "places" and 1 <= number < count:
            column, new = "places", number
        elif setting == "close" and number in draft.close_options:
            column, new = "close_hours", number
        elif setting == "meeting" and any(m.id == number for m in draft.meetings):
            column, new = "meeting_id", number
        else:
            raise invalid
    if not await vote_store.change_draft(db, vote.id, column, new):
        raise RuleError(N_("Vote #{id} is already open or closed."), id=vote.id)
    if column == "meeting_id":
        # The closing time is kept if the new meeting allows it, else the latest possible.
        meeting = next(m for m in draft.meetings if m.id == new)
        options = close_options(meeting, clock.now())
        if vote.close_hours not in options:
            fallback = DEFAULT_CLOSE_HOURS if DEFAULT_CLOSE_HOURS in options else options[-1]
            await vote_store.change_draft(db, vote.id, "close_hours", fallback)
    changed = await vote_store.get(db, vote.id)
    assert changed is not None
    return await draft_view(db, clock, changed)


async def discard(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    vote_id: int,
) -> Vote:
    vote = await panel_vote(db, clock, directory, admin_ids, user_id=user_id, vote_id=vote_id)
    if not await vote_store.discard(db, vote.id):
        raise RuleError(N_("Vote #{id} is already open or closed."), id=vote.id)
    await roles.record(
        db, clock, roles.actor(user_id), "discard_vote", vote.ward_code, f"vote:{vote.id}"
    )
    return vote


@dataclass(frozen=True)
class Opened:
    vote: Vote
    told: int  # how many people the notice was queued to


async def open_vote(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    vote_id: int,
    tz: tzinfo,
) -> Opened:
    """Open a draft and tell its audience; the notice they get is itself the ballot."""
    vote = await panel_vote(db, clock, directory, admin_ids, user_id=user_id, vote_id=vote_id)
    if vote.state != "draft":
        raise RuleError(N_("Vote #{id} is already open or closed."), id=vote.id)
    draft = await draft_view(db, clock, vote)
    if draft.meeting.cancelled_at is not None or vote.close_hours not in draft.close_options:
        raise RuleError(
            N_("The meeting or the closing time no longer works: please pick them again.")
        )
    now = to_iso(clock.now())
    who = roles.actor(user_id)
    if not await vote_store.open_vote(db, vote.id, to_iso(draft.closes_at), by=who, now=now):
        raise RuleError(N_("Vote #{id} is already open or closed."), id=vote.id)
    opened = await vote_store.get(db, vote.id)
    assert opened is not None
    await roles.record(db, clock, who, Action.OPEN_VOTE, vote.ward_code, f"vote:{vote.id}")
    people = await schedule_store.reachable(db, await vote_store.electorate(db, vote.id, now))
    ward_name = directory.name_of(vote.ward_code)
    starts_at = draft.meeting.starts_at

    def notice(language: str) -> Html:
        return screen(
            language, opened, ward_name=ward_name, meeting_starts_at=starts_at, tz=tz, now=now
        )

    told = await notices.notify(
        db,
        clock,
        "vote",
        people,
        notice,
        ward_code=vote.ward_code,
        key=f"vote:{vote.id}",
        by=who,
        markup=buttons(opened),
    )
    return Opened(opened, told)


async def close_early(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    vote_id: int,
) -> Vote:
    """The panel ends a vote before its time; results then go out as at a timed close."""
    vote = await panel_vote(db, clock, directory, admin_ids, user_id=user_id, vote_id=vote_id)
    who = roles.actor(user_id)
    if vote.state != "open" or not await vote_store.close(
        db, vote.id, by=who, now=to_iso(clock.now())
    ):
        raise RuleError(N_("Vote #{id} has already closed."), id=vote.id)
    await roles.record(db, clock, who, "close_vote", vote.ward_code, f"vote:{vote.id}")
    closed = await vote_store.get(db, vote.id)
    assert closed is not None
    return closed


async def ward_votes(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    ward_code: str,
) -> list[tuple[Vote, int]]:
    """The panel's list: drafts, open votes and those closed in the last 30 days, each with
    how many have voted so far (the counts per item stay hidden until the close)."""
    await roles.authorise(db, clock, directory, admin_ids, user_id, Action.OPEN_VOTE, ward_code)
    since = to_iso(clock.now() - timedelta(days=30))
    found = await vote_store.of_ward(db, ward_code, closed_since=since)
    return [(v, await vote_store.ballot_count(db, v.id)) for v in found]


async def results_for_panel(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    vote_id: int,
) -> Vote:
    """A closed vote's results, for its ward's panel and team (the chart)."""
    vote = await panel_vote(
        db,
        clock,
        directory,
        admin_ids,
        user_id=user_id,
        vote_id=vote_id,
        action=Action.VIEW_STATS,
    )
    if vote.state != "closed":
        raise RuleError(N_("The results of vote #{id} are shown when it closes."), id=vote.id)
    return vote


# --- voting (young people, or the ward's residents) -----------------------------------------


async def open_for(db: Database, clock: Clock, user_id: int) -> list[tuple[Vote, frozenset[int]]]:
    """The open votes this person may take part in, each with what they picked so far."""
    found = await vote_store.open_for(db, user_id, to_iso(clock.now()))
    return [(v, await vote_store.picks_of(db, v.id, user_id)) for v in found]


async def cast(
    db: Database, clock: Clock, *, user_id: int, vote_id: int, position: int, chosen: bool
) -> Cast:
    """Pick or drop one item. Anyone outside the audience is refused inside the ballot's own
    transaction (a forged button gets no further), and the refusal is audited."""
    result = await vote_store.cast(db, vote_id, user_id, position, chosen, to_iso(clock.now()))
    if result.status in ("not_eligible", "too_late"):
        await roles.record(
            db,
            clock,
            roles.actor(user_id),
            "vote",
            None,
            f"vote:{vote_id}",
            result.status,
            refused=True,
        )
    return result


async def meeting_of(db: Database, vote: Vote) -> Meeting:
    meeting = await meeting_store.get(db, vote.meeting_id)
    assert meeting is not None  # a foreign key
    return meeting


# --- closing and publishing (schedules) ---------------------------------------------------------


async def close_due(db: Database, clock: Clock) -> int:
    """Close every open vote whose time has come (ballots already stop at that moment)."""
    closed = 0
    for vote_id in await vote_store.due_to_close(db, to_iso(clock.now())):
        closed += await vote_store.close(db, vote_id, by="schedule", now=to_iso(clock.now()))
    return closed


async def publish(
    db: Database, clock: Clock, directory: WardDirectory, vote_id: int, tz: tzinfo
) -> int:
    """Winners onto the agenda, results to the panel and the voters, then marked published.

    Each step is once-only (agenda rows unique per vote item, outbox items keyed), so a
    crash anywhere in here is repaired by the next run; returns the messages queued.
    """
    vote = await vote_store.get(db, vote_id)
    if vote is None or vote.state != "closed" or vote.published_at is not None:
        return 0
    chosen, tied = winners(vote)
    now = clock.now()
    meeting: Meeting | None = await meeting_of(db, vote)
    if meeting is not None and meeting.cancelled_at is not None:
        # Its meeting was cancelled: the ward's next one gets the agenda items, if any.
        following = await meeting_store.upcoming(db, vote.ward_code, to_iso(now), 1)
        meeting = following[0] if following else None
    await vote_store.place_on_agenda(
        db, vote.id, meeting.id if meeting else None, chosen, to_iso(now)
    )
    published = await vote_store.get(db, vote.id)
    assert published is not None
    ward_name = directory.name_of(vote.ward_code)
    starts_at = meeting.starts_at if meeting else None

    def text(language: str) -> Html:
        return results(
            language, published, ward_name=ward_name, meeting_starts_at=starts_at, tz=tz, tied=tied
        )

    panel = await schedule_store.staff_of(db, vote.ward_code, PANEL_ROLES)
    opener = vote.created_by.removeprefix("tg:")
    if opener.isdigit():
        panel.append(int(opener))
    panel = list(dict.fromkeys(panel))

    def panel_text(language: str) -> Html:
        return join([text(language), t(language, "Tap 📊 for a chart of the results.")], "\n\n")

    # One keyboard serves every language: the chart button is a symbol, not a word.
    chart = [[{"text": "📊", "callback_data": VOTE_CHART.build(id=str(vote.id))}]]
    queued = await notices.notify(
        db,
        clock,
        "results",
        panel,
        panel_text,
        ward_code=vote.ward_code,
        key=f"results:{vote.id}:panel",
        markup=chart,
    )
    voters = await schedule_store.reachable(
        db, [u for u in await vote_store.voters_of(db, vote.id) if u not in set(panel)]
    )
    queued += await notices.notify(
        db,
        clock,
        "results",
        voters,
        text,
        ward_code=vote.ward_code,
        key=f"results:{vote.id}:voters",
    )
    await vote_store.mark_published(db, vote.id, to_iso(now))
    return queued


async def publish_due(db: Database, clock: Clock, directory: WardDirectory, tz: tzinfo) -> int:
    queued = 0
    for vote_id in await vote_store.unpublished(db):
        queued += await publish(db, clock, directory, vote_id, tz)
    return queued
