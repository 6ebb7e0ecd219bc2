"""Read-only figures for staff: concerns with their first response, statuses, outcomes.

Takes a list of ward codes so one query serves a ward and a borough alike. Nothing here
returns who raised a concern: these rows leave the bot as charts and CSV files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from storage.db import Database, placeholders


class ConcernFigure(NamedTuple):
    """A tuple (a borough's year is tens of thousands of them: a frozen dataclass costs
    three times as much to make)."""

    ref: str
    ward_code: str
    category: str
    status: str
    created_at: str
    first_response_at: str | None  # the first 'response' event, if any
    supporters: int


@dataclass(frozen=True)
class OutcomeFigure:
    id: int
    ward_code: str
    action_date: str  # YYYY-MM-DD
    priority_title: str | None
    you_said: str
    we_did: str
    concern_refs: tuple[str, ...]


async def concerns_created(
    db: Database, ward_codes: Sequence[str], start: str, end: str
) -> list[ConcernFigure]:
    """Concerns raised in [start, end) (UTC ISO moments), oldest first."""
    if not ward_codes:
        return []
    rows = await db.report(
        "SELECT c.ref, c.ward_code, c.category, c.status, c.created_at,"
        " (SELECT min(e.changed_at) FROM concern_events e"
        "  WHERE e.concern_id = c.id AND e.kind = 'response'),"
        " (SELECT count(*) FROM concern_supporters s WHERE s.concern_id = c.id)"
        f" FROM concerns c WHERE c.ward_code IN ({placeholders(ward_codes)})"
        " AND c.created_at >= ? AND c.created_at < ? ORDER BY c.created_at, c.id",
        (*ward_codes, start, end),
    )
    return [ConcernFigure(*r) for r in rows]  # count(*) is an int already


async def status_counts(db: Database, ward_codes: Sequence[str]) -> dict[str, int]:
    """How many concerns are in each status now, all time."""
    if not ward_codes:
        return {}
    rows = await db.report(
        f"SELECT status, count(*) FROM concerns WHERE ward_code IN ({placeholders(ward_codes)})"
        " GROUP BY status",
        tuple(ward_codes),
    )
    return {str(r[0]): int(r[1]) for r in rows}


async def outcomes_between(
    db: Database, ward_codes: Sequence[str], first_day: str, last_day: str
) -> list[OutcomeFigure]:
    """ "You said, we did" entries dated first_day to last_day (YYYY-MM-DD, inclusive)."""
    if not ward_codes:
        return []
    rows = await db.report(
        "SELECT o.id, o.ward_code, o.action_date, p.title, o.you_said, o.we_did,"
        " (SELECT group_concat(c.ref, ' ') FROM outcome_concerns oc"
        "  JOIN concerns c ON c.id = oc.concern_id WHERE oc.outcome_id = o.id)"
        " FROM outcomes o LEFT JOIN priorities p ON p.id = o.priority_id"
        f" WHERE o.ward_code IN ({placeholders(ward_codes)})"
        " AND o.action_date >= ? AND o.action_date <= ? ORDER BY o.action_date, o.id",
        (*ward_codes, first_day, last_day),
    )
    return [
        OutcomeFigure(int(r[0]), r[1], r[2], r[3], r[4], r[5], tuple(sorted((r[6] or "").split())))
        for r in rows
    ]
