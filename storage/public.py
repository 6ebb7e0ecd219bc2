"""What the public record may show, read in bulk for the static site (`wardvoice export-site`).

One query per table for every ward in force, never one per ward, so exporting all England
and Wales wards costs a handful of queries. Only public columns are selected: never who
did something (`created_by`, `changed_by`, `opened_by`... hold `tg:<user id>`), never
residents, roles, ballots, concern texts, places or photos. Concerns appear only as
counts per ward and category.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database
from storage.meetings import AgendaItem, Meeting


@dataclass(frozen=True)
class PublicWard:
    code: str
    name: str
    borough_code: str
    borough_name: str


@dataclass(frozen=True)
class PublicPriority:
    id: int
    ward_code: str
    title: str
    category: str
    description: str
    set_at: str  # UTC ISO


@dataclass(frozen=True)
class PublicOutcome:
    id: int
    ward_code: str
    priority_id: int | None
    priority_title: str | None
    you_said: str
    we_did: str
    action_date: str  # YYYY-MM-DD
    created_at: str  # UTC ISO, when it was recorded


@dataclass(frozen=True)
class PublicVoteItem:
    position: int
    title: str
    detail: str | None
    votes: int
    won: bool


@dataclass(frozen=True)
class PublicVote:
    id: int
    ward_code: str
    audience: str
    picks: int
    places: int
    closed_at: str
    eligible: int
    voters: int
    agenda_meeting_starts_at: str | None  # the meeting its winners went to, if any
    items: tuple[PublicVoteItem, ...]


_ACTIVE = "SELECT code FROM wards WHERE active = 1"


async def active_wards(db: Database) -> list[PublicWard]:
    """Every ward in force with its borough, by borough name then ward name (no geometry)."""
    rows = await db.fetchall(
        "SELECT w.code, w.name, w.borough_code, b.name FROM wards w"
        " JOIN boroughs b ON b.code = w.borough_code WHERE w.active = 1"
        " ORDER BY b.name, b.code, w.name, w.code"
    )
    return [PublicWard(r[0], r[1], r[2], r[3]) for r in rows]


async def active_priorities(db: Database) -> list[PublicPriority]:
    """Every active priority of every ward in force, oldest first."""
    rows = await db.fetchall(
        "SELECT id, ward_code, title, category, description, set_at FROM priorities"
        f" WHERE retired_at IS NULL AND ward_code IN ({_ACTIVE}) ORDER BY set_at, id"
    )
    return [PublicPriority(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def outcomes(db: Database) -> list[PublicOutcome]:
    """Every "you said, we did" entry of every ward in force, newest first."""
    rows = await db.fetchall(
        "SELECT o.id, o.ward_code, o.priority_id, p.title, o.you_said, o.we_did, o.action_date,"
        " o.created_at FROM outcomes o LEFT JOIN priorities p ON p.id = o.priority_id"
        f" WHERE o.ward_code IN ({_ACTIVE}) ORDER BY o.action_date DESC, o.id DESC"
    )
    return [PublicOutcome(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]


async def meetings_since(db: Database, since: str) -> list[Meeting]:
    """Meetings (cancelled ones too) starting at or after `since`, soonest first."""
    rows = await db.fetchall(
        "SELECT id, ward_code, starts_at, venue, open_to_public, online_link, cancelled_at"
        f" FROM meetings WHERE starts_at >= ? AND ward_code IN ({_ACTIVE})"
        " ORDER BY starts_at, id",
        (since,),
    )
    return [Meeting(int(r[0]), r[1], r[2], r[3], bool(r[4]), r[5], r[6]) for r in rows]


async def agenda_since(db: Database, since: str) -> dict[int, list[AgendaItem]]:
    """The agenda items of the meetings starting at or after `since`, by meeting."""
    rows = await db.fetchall(
        "SELECT a.meeting_id, a.title, a.detail, a.vote_id, a.votes FROM agenda_items a"
        " JOIN meetings m ON m.id = a.meeting_id WHERE m.starts_at >= ?"
        " ORDER BY a.meeting_id, a.id",
        (since,),
    )
    found: dict[int, list[AgendaItem]] = {}
    for r in rows:
        found.setdefault(int(r[0]), []).append(AgendaItem(int(r[0]), r[1], r[2], r[3], r[4]))
    return found


async def closed_votes(db: Database) -> list[PublicVote]:
    """Every vote whose results were published (counts frozen, winners marked), newest first."""
    rows = await db.fetchall(
        "SELECT v.id, v.ward_code, v.audience, v.picks, v.places, v.closed_at, v.eligible,"
        " v.voters, (SELECT min(m.starts_at) FROM agenda_items a JOIN meetings m"
        " ON m.id = a.meeting_id WHERE a.vote_id = v.id)"
        " FROM votes v WHERE v.state = 'closed' AND v.published_at IS NOT NULL"
        f" AND v.ward_code IN ({_ACTIVE}) ORDER BY v.closed_at DESC, v.id DESC"
    )
    item_rows = await db.fetchall(
        "SELECT i.vote_id, i.position, i.title, i.detail, i.votes, i.won FROM vote_items i"
        " JOIN votes v ON v.id = i.vote_id WHERE v.state = 'closed'"
        " AND v.published_at IS NOT NULL ORDER BY i.vote_id, i.position"
    )
    items: dict[int, list[PublicVoteItem]] = {}
    for r in item_rows:
        items.setdefault(int(r[0]), []).append(
            PublicVoteItem(int(r[1]), r[2], r[3], int(r[4] or 0), bool(r[5]))
        )
    return [
        PublicVote(
            id=int(r[0]),
            ward_code=r[1],
            audience=r[2],
            picks=int(r[3]),
            places=int(r[4]),
            closed_at=r[5],
            eligible=int(r[6] or 0),
            voters=int(r[7] or 0),
            agenda_meeting_starts_at=r[8],
            items=tuple(items.get(int(r[0]), ())),
        )
        for r in rows
    ]


async def concern_counts_since(db: Database, since: str) -> dict[str, dict[str, int]]:
    """How many concerns each ward received per category since `since`: counts only."""
    rows = await db.fetchall(
        "SELECT ward_code, category, count(*) FROM concerns WHERE created_at >= ?"
        " GROUP BY ward_code, category",
        (since,),
    )
    found: dict[str, dict[str, int]] = {}
    for r in rows:
        found.setdefault(r[0], {})[r[1]] = int(r[2])
    return found
