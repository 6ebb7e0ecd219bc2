"""The figures a panel reviews at its meetings, for a ward or a whole borough.

Concerns by category week by week (drawn as a chart), the median time from a concern to
its first response, concerns by status, and a CSV export of concerns and "you said, we
did" entries for a date range, for the minutes; the satisfaction figure (the mean of the
1-5 follow-up ratings given in the period, with how many) and subscribers by mode.

`figures` and `export` authorise first (`Action.VIEW_STATS`) and write the audit log (an
export is data leaving the bot); `compute` and `build_export` are the same without the
check, for the operator's shell. A ward is checked by `roles.authorise`; a borough is
open to admins and to roles granted for the whole borough only.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from bot.clock import Clock, from_iso, to_iso
from bot.domain import roles
from bot.domain.categories import CATEGORIES
from bot.domain.concerns import STATUS_LABELS
from bot.domain.directory import WardDirectory
from bot.domain.errors import RuleError
from bot.domain.roles import Action, NotAllowed
from bot.i18n import N_, label
from storage import ratings, subscriptions
from storage import stats as stats_store
from storage.concerns import STATUSES
from storage.db import Database
from storage.stats import ConcernFigure, OutcomeFigure

WEEKS = 12  # two or three meeting cycles of 4 to 6 weeks
MAX_EXPORT_DAYS = 366
EXPORT_USAGE = N_(
    "Usage: /export FROM TO, dates as YYYY-MM-DD, for example /export 2026-11-01 2026-11-30"
)
STATS_USAGE = N_("Usage: /stats, /stats borough, or /stats followed by a ward's code")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CODE = re.compile(r"[A-Za-z][0-9]{8}")


@dataclass(frozen=True)
class Scope:
    """A ward, or a borough (all its wards)."""

    code: str
    name: str
    is_borough: bool
    ward_codes: tuple[str, ...]


@dataclass(frozen=True)
class Stats:
    scope: Scope
    week_starts: tuple[date, ...]  # local dates, oldest first; the last week is this one
    by_category: dict[str, tuple[int, ...]]  # concerns raised per week, busiest category first
    raised: int  # in those weeks
    answered: int  # of those, with a response
    median_response: timedelta | None  # creation to first response, of the answered
    by_status: dict[str, int]  # all concerns now, all time, in status order
    satisfaction: float | None = None  # mean follow-up rating (1-5) in the period
    ratings: int = 0  # how many ratings that mean is of
    subscribers: dict[str, int] = field(default_factory=dict)  # instant / weekly


@dataclass(frozen=True)
class Export:
    scope: Scope
    first_day: date
    last_day: date
    concerns: int
    outcomes: int
    concerns_csv: bytes
    outcomes_csv: bytes


def is_scope(text: str) -> bool:
    """True for the word borough, or for anything shaped like an ONS ward or borough code."""
    return text.lower() == "borough" or _CODE.fullmatch(text) is not None


def scope_code(directory: WardDirectory, working_ward: str, wanted: str | None) -> str:
    """The code a command means: the working ward, "borough" for its borough, or a code."""
    if wanted is None:
        return working_ward
    if not is_scope(wanted):
        raise RuleError(STATS_USAGE)
    if wanted.lower() == "borough":
        ward = directory.ward(working_ward)
        return ward.borough_code if ward else working_ward
    return wanted.upper()


def scope_of(directory: WardDirectory, code: str) -> Scope | None:
    """The ward or borough with this code, or None."""
    ward = directory.ward(code)
    if ward is not None:
        return Scope(ward.code, ward.name, False, (ward.code,))
    return _borough(directory, code)


def _borough(directory: WardDirectory, code: str) -> Scope | None:
    wards = [w for w in directory.index.wards() if w.borough_code == code]
    if not wards:
        return None
    return Scope(code, wards[0].borough_name, True, tuple(sorted(w.code for w in wards)))


async def authorise_scope(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    user_id: int,
    code: str,
) -> Scope:
    """The ward or borough `code`, if this user may see its figures; refused and audited if not."""
    borough = _borough(directory, code)
    if borough is None:
        await roles.authorise(db, clock, directory, admin_ids, user_id, Action.VIEW_STATS, code)
        scope = scope_of(directory, code)
        assert scope is not None  # authorise refuses unknown wards
        return scope
    staff = await roles.staff_of(db, admin_ids, user_id)
    # `may` with the borough as the scope: admins, or a role granted for the whole borough.
    if staff.may(Action.VIEW_STATS, borough.code):
        return borough
    await roles.record(
        db, clock, roles.actor(user_id), Action.VIEW_STATS, borough.code, refused=True
    )
    raise NotAllowed(N_("Sorry, you can't see the figures for this borough."))


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _response_time(figure: ConcernFigure) -> timedelta | None:
    if figure.first_response_at is None:
        return None
    return from_iso(figure.first_response_at) - from_iso(figure.created_at)


def median_response(figures: Sequence[ConcernFigure]) -> timedelta | None:
    """Median time from creation to first response, over the concerns that have one."""
    waits = [w for f in figures if (w := _response_time(f)) is not None]
    if not waits:
        return None
    return timedelta(seconds=statistics.median(w.total_seconds() for w in waits))


def weekly_by_category(
    figures: Sequence[ConcernFigure], first_week: date, weeks: int, tz: tzinfo
) -> dict[str, tuple[int, ...]]:
    """Counts per category per week from `first_week` (a local date); busiest first."""
    counts: dict[str, list[int]] = {}
    for figure in figures:
        week = (from_iso(figure.created_at).astimezone(tz).date() - first_week).days // 7
        if 0 <= week < weeks:
            counts.setdefault(figure.category, [0] * weeks)[week] += 1
    ordered = sorted(counts.items(), key=lambda item: (-sum(item[1]), item[0]))
    return {category: tuple(per_week) for category, per_week in ordered}


async def compute(
    db: Database, clock: Clock, scope: Scope, tz: tzinfo, weeks: int = WEEKS
) -> Stats:
    """The figures for a scope, over the last `weeks` weeks (this one too). No role check:
    for callers that have authorised already, or the operator's shell."""
    today = clock.now().astimezone(tz).date()
    first_week = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    start = _local_midnight(first_week, tz)
    end = _local_midnight(first_week + timedelta(weeks=weeks), tz)
    rows = await stats_store.concerns_created(db, scope.ward_codes, to_iso(start), to_iso(end))
    statuses = await stats_store.status_counts(db, scope.ward_codes)
    satisfaction, rated = await ratings.satisfaction(
        db, scope.ward_codes, to_iso(start), to_iso(end)
    )
    return Stats(
        scope=scope,
        week_starts=tuple(first_week + timedelta(weeks=n) for n in range(weeks)),
        by_category=weekly_by_category(rows, first_week, weeks, tz),
        raised=len(rows),
        answered=sum(1 for r in rows if r.first_response_at is not None),
        median_response=median_response(rows),
        by_status={s: statuses[s] for s in STATUSES if statuses.get(s)},
        satisfaction=satisfaction,
        ratings=rated,
        subscribers=await subscriptions.counts(db, scope.ward_codes),
    )


async def figures(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    code: str,
    tz: tzinfo,
    weeks: int = WEEKS,
) -> Stats:
    """The stats screen for a ward or borough, if this user may see it (audited)."""
    scope = await authorise_scope(db, clock, directory, admin_ids, user_id, code)
    stats = await compute(db, clock, scope, tz, weeks)
    await roles.record(db, clock, roles.actor(user_id), Action.VIEW_STATS, scope.code)
    return stats


def parse_range(first: str, last: str, today: date) -> tuple[date, date]:
    """Two local dates, inclusive, in order, at most a year apart."""
    if not (_DATE.fullmatch(first) and _DATE.fullmatch(last)):
        raise RuleError(EXPORT_USAGE)
    try:
        first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError as err:
        raise RuleError(EXPORT_USAGE) from err
    if first_day > last_day:
        raise RuleError(N_("The first date must not be after the last one."))
    if (last_day - first_day).days >= MAX_EXPORT_DAYS:
        raise RuleError(N_("Export at most {days} days at a time."), days=MAX_EXPORT_DAYS)
    if first_day > today:
        raise RuleError(N_("That range is in the future: nothing has happened yet."))
    return first_day, last_day


_FORMULA_FIRST = frozenset("=+-@\t\r")


def _cell(value: object) -> object:
    """Text a spreadsheet would run as a formula is prefixed with ' (CSV injection)."""
    if type(value) is str and value[:1] in _FORMULA_FIRST:
        return "'" + value
    return value


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read accents correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return buffer.getvalue().encode("utf-8-sig")


def _local(moment: datetime, tz: tzinfo) -> str:
    """YYYY-MM-DD HH:MM in `tz` (isoformat: a third of strftime's time, per line)."""
    return moment.astimezone(tz).isoformat(" ", "minutes")[:16]


CONCERN_COLUMNS = (
    "ref",
    "ward_code",
    "ward",
    "category",
    "status",
    "created",
    "first_response",
    "hours_to_first_response",
    "supporters",
)
OUTCOME_COLUMNS = ("date", "ward_code", "ward", "priority", "you_said", "we_did", "concerns")


@dataclass(frozen=True)
class _Labels:
    """A language's category and status labels, looked up once per export (on the event
    loop: the catalogs load lazily), not once per line."""

    categories: dict[str, str]
    statuses: dict[str, str]

    @classmethod
    def of(cls, language: str) -> _Labels:
        return cls(
            {code: label(language, text) for code, text in CATEGORIES.items()},
            {code: label(language, text) for code, text in STATUS_LABELS.items()},
        )


def concerns_csv(
    rows: Sequence[ConcernFigure], directory: WardDirectory, tz: tzinfo, language: str
) -> bytes:
    """One line per concern; never who raised it, nor its text."""
    return _concerns_csv(rows, directory, tz, _Labels.of(language))


def _concerns_csv(
    rows: Sequence[ConcernFigure], directory: WardDirectory, tz: tzinfo, labels: _Labels
) -> bytes:
    """Pure CPU (a borough's year is tens of thousands of lines): `build_export` runs it in
    a worker thread, so the event loop goes on answering residents meanwhile."""
    names: dict[str, str] = {}
    lines = []
    for r in rows:
        created = from_iso(r.created_at)
        answered = from_iso(r.first_response_at) if r.first_response_at else None
        name = names.get(r.ward_code)
        if name is None:
            name = names[r.ward_code] = directory.name_of(r.ward_code)
        lines.append(
            [
                r.ref,
                r.ward_code,
                name,
                labels.categories.get(r.category, r.category),
                labels.statuses.get(r.status, r.status),
                _local(created, tz),
                _local(answered, tz) if answered else "",
                f"{(answered - created).total_seconds() / 3600:.1f}" if answered else "",
                r.supporters,
            ]
        )
    return _csv(CONCERN_COLUMNS, lines)


def outcomes_csv(rows: Sequence[OutcomeFigure], directory: WardDirectory) -> bytes:
    return _csv(
        OUTCOME_COLUMNS,
        [
            [
                r.action_date,
                r.ward_code,
                directory.name_of(r.ward_code),
                r.priority_title or "",
                r.you_said,
                r.we_did,
                " ".join(r.concern_refs),
            ]
            for r in rows
        ],
    )


async def build_export(
    db: Database,
    directory: WardDirectory,
    scope: Scope,
    first_day: date,
    last_day: date,
    tz: tzinfo,
    language: str,
) -> Export:
    """Concerns raised and entries dated `first_day` to `last_day` (local, inclusive).
    No role check: for callers that have authorised already, or the operator's shell."""
    start = to_iso(_local_midnight(first_day, tz))
    end = to_iso(_local_midnight(last_day + timedelta(days=1), tz))
    concerns = await stats_store.concerns_created(db, scope.ward_codes, start, end)
    outcomes = await stats_store.outcomes_between(
        db, scope.ward_codes, first_day.isoformat(), last_day.isoformat()
    )
    labels = _Labels.of(language)
    return Export(
        scope=scope,
        first_day=first_day,
        last_day=last_day,
        concerns=len(concerns),
        outcomes=len(outcomes),
        concerns_csv=await asyncio.to_thread(_concerns_csv, concerns, directory, tz, labels),
        outcomes_csv=await asyncio.to_thread(outcomes_csv, outcomes, directory),
    )


async def export(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    user_id: int,
    code: str,
    first: str,
    last: str,
    tz: tzinfo,
    language: str,
) -> Export:
    """`/export`: authorise, read the range, build the files, and audit what left the bot."""
    scope = await authorise_scope(db, clock, directory, admin_ids, user_id, code)
    first_day, last_day = parse_range(first, last, clock.now().astimezone(tz).date())
    result = await build_export(db, directory, scope, first_day, last_day, tz, language)
    await roles.record(
        db,
        clock,
        roles.actor(user_id),
        "export_csv",
        scope.code,
        detail=f"{first_day}..{last_day}: {result.concerns} concerns, {result.outcomes} entries",
    )
    return result
