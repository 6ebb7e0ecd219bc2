"""Agenda votes: drafts, the open vote, ballots, the close and what it put on the agenda.

    draft --open--> open --close (time, or the chair)--> closed --publish--> (published_at)
      |
      +--discard--> discarded

Who may vote (the electorate) is one SQL predicate, `_ELIGIBLE`, used by the ballot
itself, by /vote's list and by the turnout count, so no path can disagree with another.
A ballot is one row per (vote, person), its picks one row each; every change to a ballot
runs in one transaction that first checks the vote is open and the person eligible.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from storage.db import Database, placeholders

AUDIENCES = ("ward_youth", "borough_youth", "residents")

# The electorate of vote `v` contains `:user` when this holds. A ward's youth panel is the
# youth roles for that ward; a borough's is those for the borough and for its wards; a
# ward's residents are those who chose the ward before the vote opened (so nobody can hop
# from ward to ward voting in each).
_ELIGIBLE = """(
    EXISTS (SELECT 1 FROM roles r WHERE r.user_id = :user AND r.role = 'youth' AND (
        (v.audience = 'ward_youth' AND r.scope = v.ward_code)
        OR (v.audience = 'borough_youth' AND (r.scope = v.borough_code
            OR r.scope IN (SELECT w.code FROM wards w WHERE w.borough_code = v.borough_code)))))
    OR (v.audience = 'residents' AND EXISTS (SELECT 1 FROM residents p
        WHERE p.user_id = :user AND p.ward_code = v.ward_code AND p.ward_since <= v.opened_at))
)"""

# Everyone in the electorate of vote :vote (the same rules as `_ELIGIBLE`, as a set).
_ELECTORATE = """
    SELECT r.user_id FROM votes v JOIN roles r ON r.role = 'youth' AND (
        (v.audience = 'ward_youth' AND r.scope = v.ward_code)
        OR (v.audience = 'borough_youth' AND (r.scope = v.borough_code
            OR r.scope IN (SELECT w.code FROM wards w WHERE w.borough_code = v.borough_code))))
    WHERE v.id = :vote
    UNION
    SELECT p.user_id FROM votes v JOIN residents p ON v.audience = 'residents'
        AND p.ward_code = v.ward_code AND p.ward_since <= COALESCE(v.opened_at, :now)
    WHERE v.id = :vote
"""


@dataclass(frozen=True)
class VoteItem:
    position: int
    title: str
    detail: str | None
    votes: int | None = None  # frozen at the close
    won: bool = False


@dataclass(frozen=True)
class Vote:
    id: int
    ward_code: str
    borough_code: str
    meeting_id: int
    audience: str
    picks: int
    places: int
    close_hours: int
    closes_at: str | None
    state: str
    created_by: str
    opened_at: str | None
    closed_at: str | None
    closed_by: str | None
    eligible: int | None
    voters: int | None
    published_at: str | None
    items: tuple[VoteItem, ...]

    def is_open(self, now: str) -> bool:
        return self.state == "open" and self.closes_at is not None and self.closes_at > now


@dataclass(frozen=True)
class Cast:
    """How a press on a vote's button ended, and the person's picks after it."""

    status: str  # saved | unchanged | too_many | closed | not_eligible | too_late | unknown
    picks: frozenset[int] = frozenset()


_COLUMNS = (
    "id, ward_code, borough_code, meeting_id, audience, picks, places, close_hours, closes_at, "
    "state, created_by, opened_at, closed_at, closed_by, eligible, voters, published_at"
)


def _vote(row: sqlite3.Row, items: Sequence[VoteItem]) -> Vote:
    return Vote(
        id=int(row[0]),
        ward_code=row[1],
        borough_code=row[2],
        meeting_id=int(row[3]),
        audience=row[4],
        picks=int(row[5]),
        places=int(row[6]),
        close_hours=int(row[7]),
        closes_at=row[8],
        state=row[9],
        created_by=row[10],
        opened_at=row[11],
        closed_at=row[12],
        closed_by=row[13],
        eligible=row[14],
        voters=row[15],
        published_at=row[16],
        items=tuple(items),
    )


def _item(row: sqlite3.Row) -> VoteItem:
    return VoteItem(int(row[0]), row[1], row[2], row[3], bool(row[4]))


async def _items_of(db: Database, vote_ids: Sequence[int]) -> dict[int, list[VoteItem]]:
    found: dict[int, list[VoteItem]] = {v: [] for v in vote_ids}
    if not vote_ids:
        return found
    rows = await db.fetchall(
        f"SELECT vote_id, position, title, detail, votes, won FROM vote_items "
        f"WHERE vote_id IN ({placeholders(vote_ids)}) ORDER BY vote_id, position",
        list(vote_ids),
    )
    for row in rows:
        found[int(row[0])].append(_item(row[1:]))
    return found


async def _votes(
    db: Database, where: str, params: Sequence[object] | dict[str, object]
) -> list[Vote]:
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM votes v WHERE {where}", params)
    items = await _items_of(db, [int(r[0]) for r in rows])
    return [_vote(r, items[int(r[0])]) for r in rows]


# --- drafts ------------------------------------------------------------------------------


async def create_draft(
    db: Database,
    *,
    ward_code: str,
    borough_code: str,
    meeting_id: int,
    items: Sequence[tuple[str, str | None]],
    audience: str,
    picks: int,
    places: int,
    close_hours: int,
    by: str,
    now: str,
) -> int:
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO votes (ward_code, borough_code, meeting_id, audience, picks, places,"
            " close_hours, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ward_code, borough_code, meeting_id, audience, picks, places, close_hours, by, now),
        )
        vote_id = int(cursor.lastrowid or 0)
        await conn.executemany(
            "INSERT INTO vote_items (vote_id, position, title, detail) VALUES (?, ?, ?, ?)",
            [(vote_id, n, title, detail) for n, (title, detail) in enumerate(items, start=1)],
        )
    return vote_id


async def get(db: Database, vote_id: int) -> Vote | None:
    found = await _votes(db, "id = ?", (vote_id,))
    return found[0] if found else None


SETTINGS = ("meeting_id", "audience", "picks", "places", "close_hours")


async def change_draft(db: Database, vote_id: int, setting: str, value: int | str) -> bool:
    """Change one setting of a draft; False if it is no longer a draft."""
    if setting not in SETTINGS:
        raise ValueError(f"not a vote setting: {setting!r}")
    changed = await db.execute(
        f"UPDATE votes SET {setting} = ? WHERE id = ? AND state = 'draft'", (value, vote_id)
    )
    return changed == 1


async def discard(db: Database, vote_id: int) -> bool:
    changed = await db.execute(
        "UPDATE votes SET state = 'discarded' WHERE id = ? AND state = 'draft'", (vote_id,)
    )
    return changed == 1


async def open_vote(db: Database, vote_id: int, closes_at: str, *, by: str, now: str) -> bool:
    """Draft to open, with its closing moment fixed; False if it was not a draft any more
    (a double tap on "Open" opens it once)."""
    changed = await db.execute(
        "UPDATE votes SET state = 'open', closes_at = ?, opened_by = ?, opened_at = ?"
        " WHERE id = ? AND state = 'draft'",
        (closes_at, by, now, vote_id),
    )
    return changed == 1


# --- who may vote --------------------------------------------------------------------------


async def electorate(db: Database, vote_id: int, now: str) -> list[int]:
    rows = await db.fetchall(
        f"SELECT user_id FROM ({_ELECTORATE}) ORDER BY user_id", {"vote": vote_id, "now": now}
    )
    return [int(r[0]) for r in rows]


async def electorate_size(db: Database, vote_id: int, now: str) -> int:
    return int(
        await db.fetchval(f"SELECT count(*) FROM ({_ELECTORATE})", {"vote": vote_id, "now": now})
    )


async def open_for(db: Database, user_id: int, now: str) -> list[Vote]:
    """Open votes this person may vote in, closing soonest first."""
    return await _votes(
        db,
        f"v.state = 'open' AND v.closes_at > :now AND {_ELIGIBLE} ORDER BY v.closes_at, v.id",
        {"user": user_id, "now": now},
    )


async def may_vote(db: Database, vote_id: int, user_id: int) -> bool:
    return bool(
        await db.fetchval(
            f"SELECT {_ELIGIBLE} FROM votes v WHERE v.id = :vote",
            {"user": user_id, "vote": vote_id},
        )
    )


# --- ballots -------------------------------------------------------------------------------


async def _picks(conn: aiosqlite.Connection, vote_id: int, user_id: int) -> frozenset[int]:
    rows = await conn.execute_fetchall(
        "SELECT position FROM ballot_choices WHERE vote_id = ? AND user_id = ?",
        (vote_id, user_id),
    )
    return frozenset(int(r[0]) for r in rows)


async def picks_of(db: Database, vote_id: int, user_id: int) -> frozenset[int]:
    rows = await db.fetchall(
        "SELECT position FROM ballot_choices WHERE vote_id = ? AND user_id = ?",
        (vote_id, user_id),
    )
    return frozenset(int(r[0]) for r in rows)


async def _why_not(conn: aiosqlite.Connection, vote_id: int, user_id: int) -> str:
    """A resident of the ward who chose it after the vote opened is told so."""
    rows = await conn.execute_fetchall(
        "SELECT 1 FROM votes v JOIN residents p ON p.user_id = ? AND p.ward_code = v.ward_code"
        " WHERE v.id = ? AND v.audience = 'residents'",
        (user_id, vote_id),
    )
    return "too_late" if rows else "not_eligible"


async def cast(
    db: Database, vote_id: int, user_id: int, position: int, chosen: bool, now: str
) -> Cast:
    """Pick (`chosen`) or drop one item, in one transaction that checks first.

    The button says what it does ("pick 2", "drop 2"), not "toggle": a double tap or a
    duplicated update asks for the same state twice and changes nothing the second time.
    With one pick each, picking another item moves the pick.
    """
    async with db.transaction() as conn:
        rows = await conn.execute_fetchall(
            f"SELECT v.state, v.closes_at, v.picks, {_ELIGIBLE}, EXISTS (SELECT 1 FROM vote_items"
            " i WHERE i.vote_id = v.id AND i.position = :position) FROM votes v WHERE v.id = :vote",
            {"user": user_id, "vote": vote_id, "position": position},
        )
        row = next(iter(rows), None)
        if row is None or row[0] in ("draft", "discarded") or not row[4]:
            return Cast("unknown")
        if row[0] != "open" or row[1] is None or row[1] <= now:
            return Cast("closed", await _picks(conn, vote_id, user_id))
        if not row[3]:
            return Cast(await _why_not(conn, vote_id, user_id))
        allowed = int(row[2])
        before = await _picks(conn, vote_id, user_id)
        if chosen:
            after = frozenset({position}) if allowed == 1 else before | {position}
        else:
            after = before - {position}
        if after == before:
            return Cast("unchanged", before)
        if len(after) > allowed:
            return Cast("too_many", before)
        if not after:
            await conn.execute(
                "DELETE FROM ballots WHERE vote_id = ? AND user_id = ?", (vote_id, user_id)
            )
            return Cast("saved", after)
        await conn.execute(
            "INSERT INTO ballots (vote_id, user_id, cast_at, changed_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (vote_id, user_id) DO UPDATE SET changed_at = excluded.changed_at",
            (vote_id, user_id, now, now),
        )
        if before - after:
            dropped = sorted(before - after)
            await conn.execute(
                f"DELETE FROM ballot_choices WHERE vote_id = ? AND user_id = ?"
                f" AND position IN ({placeholders(dropped)})",
                [vote_id, user_id, *dropped],
            )
        await conn.executemany(
            "INSERT INTO ballot_choices (vote_id, user_id, position) VALUES (?, ?, ?)",
            [(vote_id, user_id, p) for p in sorted(after - before)],
        )
        return Cast("saved", after)


async def ballot_count(db: Database, vote_id: int) -> int:
    return int(await db.fetchval("SELECT count(*) FROM ballots WHERE vote_id = ?", (vote_id,)))


async def voters_of(db: Database, vote_id: int) -> list[int]:
    rows = await db.fetchall(
        "SELECT user_id FROM ballots WHERE vote_id = ? ORDER BY user_id", (vote_id,)
    )
    return [int(r[0]) for r in rows]


async def tally(db: Database, vote_id: int) -> dict[int, int]:
    """Picks per item position, counted from the ballots themselves."""
    rows = await db.fetchall(
        "SELECT i.position, count(c.user_id) FROM vote_items i LEFT JOIN ballot_choices c"
        " ON c.vote_id = i.vote_id AND c.position = i.position WHERE i.vote_id = ?"
        " GROUP BY i.position ORDER BY i.position",
        (vote_id,),
    )
    return {int(r[0]): int(r[1]) for r in rows}


# --- closing -------------------------------------------------------------------------------


async def due_to_close(db: Database, now: str) -> list[int]:
    rows = await db.fetchall(
        "SELECT id FROM votes WHERE state = 'open' AND closes_at <= ? ORDER BY closes_at, id",
        (now,),
    )
    return [int(r[0]) for r in rows]


async def close(db: Database, vote_id: int, *, by: str, now: str) -> bool:
    """Close an open vote and freeze its counts and turnout in the same transaction; False
    if it was closed already (the schedule and the chair may race: one of them wins)."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE votes SET state = 'closed', closed_by = ?, closed_at = ?"
            " WHERE id = ? AND state = 'open'",
            (by, now, vote_id),
        )
        if cursor.rowcount != 1:
            return False
        await conn.execute(
            "UPDATE vote_items SET votes = (SELECT count(*) FROM ballot_choices c"
            " WHERE c.vote_id = vote_items.vote_id AND c.position = vote_items.position)"
            " WHERE vote_id = ?",
            (vote_id,),
        )
        # Turnout's base: the electorate now, plus anyone who voted and has since left it.
        await conn.execute(
            f"UPDATE votes SET voters = (SELECT count(*) FROM ballots WHERE vote_id = :vote),"
            f" eligible = (SELECT count(*) FROM ({_ELECTORATE}"
            f" UNION SELECT user_id FROM ballots WHERE vote_id = :vote)) WHERE id = :vote",
            {"vote": vote_id, "now": now},
        )
    return True


async def unpublished(db: Database) -> list[int]:
    rows = await db.fetchall(
        "SELECT id FROM votes WHERE state = 'closed' AND published_at IS NULL ORDER BY id"
    )
    return [int(r[0]) for r in rows]


async def place_on_agenda(
    db: Database, vote_id: int, meeting_id: int | None, winners: Sequence[int], now: str
) -> None:
    """Mark the winning items and put them on the meeting's agenda (once, however often
    this runs: one agenda row per vote item)."""
    async with db.transaction() as conn:
        if winners:
            await conn.execute(
                f"UPDATE vote_items SET won = 1 WHERE vote_id = ?"
                f" AND position IN ({placeholders(winners)})",
                [vote_id, *winners],
            )
        if meeting_id is None or not winners:
            return
        await conn.execute(
            f"INSERT INTO agenda_items (meeting_id, title, detail, vote_id, vote_position,"
            f" votes, added_at) SELECT ?, title, detail, vote_id, position, votes, ?"
            f" FROM vote_items WHERE vote_id = ? AND position IN ({placeholders(winners)})"
            f" ORDER BY votes DESC, position ON CONFLICT (vote_id, vote_position) DO NOTHING",
            [meeting_id, now, vote_id, *winners],
        )


async def mark_published(db: Database, vote_id: int, now: str) -> None:
    await db.execute(
        "UPDATE votes SET published_at = ? WHERE id = ? AND published_at IS NULL", (now, vote_id)
    )


# --- lists ---------------------------------------------------------------------------------


async def of_ward(db: Database, ward_code: str, *, closed_since: str) -> list[Vote]:
    """A ward's drafts and open votes, and those closed since `closed_since`, newest first."""
    return await _votes(
        db,
        "v.ward_code = ? AND (v.state IN ('draft', 'open') OR"
        " (v.state = 'closed' AND v.closed_at >= ?)) ORDER BY v.id DESC LIMIT 20",
        (ward_code, closed_since),
    )


async def recent_results(db: Database, ward_code: str, since: str) -> list[Vote]:
    """A ward's votes closed since `since`, newest first (results are public)."""
    return await _votes(
        db,
        "v.ward_code = ? AND v.state = 'closed' AND v.closed_at >= ? ORDER BY v.closed_at DESC"
        " LIMIT 3",
        (ward_code, since),
    )


async def forget_ballots(db: Database, published_before: str) -> int:
    """Who picked what is personal: once a vote's results are frozen and published, its
    ballots are kept for `outbox_retention_days` (to answer a query about the count), then
    deleted. The counts, turnout and winners stay on the vote."""
    return await db.execute(
        "DELETE FROM ballots WHERE vote_id IN (SELECT id FROM votes WHERE state = 'closed'"
        " AND published_at IS NOT NULL AND published_at < ?)",
        (published_before,),
    )
