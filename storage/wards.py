"""Ward boundaries and boroughs, and the one-transaction re-import that keeps residents placed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from storage.db import Database

BATCH = 500


@dataclass(frozen=True)
class WardRow:
    code: str
    name: str
    borough_code: str
    borough_name: str
    wkb: bytes


@dataclass(frozen=True)
class ImportCounts:
    wards: int
    boroughs: int
    added: int
    updated: int
    unchanged: int
    retired: int
    residents_kept: int
    residents_replaced: int
    residents_to_ask: int


async def load_active(db: Database) -> list[WardRow]:
    """Every ward in force, for building the lookup index at start-up."""
    rows = await db.fetchall(
        "SELECT w.code, w.name, w.borough_code, b.name AS borough_name, w.geometry"
        " FROM wards w JOIN boroughs b ON b.code = w.borough_code"
        " WHERE w.active = 1 ORDER BY w.code"
    )
    return [WardRow(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]


async def count_active(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM wards WHERE active = 1"))


async def replace_boundaries(
    db: Database,
    rows: Sequence[WardRow],
    *,
    source: str,
    year: str,
    now: str,
    relocate: Callable[[float, float], str | None],
    progress: Callable[[str], None] = lambda _line: None,
) -> ImportCounts:
    """Make `rows` the wards in force, in one transaction.

    Wards missing from `rows` are retired (kept for history, never looked up again).
    Residents of a retired ward are placed again with `relocate(lat, lon)` from the point
    they gave; those without a point, or whose point is now outside every ward, lose their
    ward and are asked again at their next message.
    """
    new_codes = {row.code for row in rows}
    boroughs = {row.borough_code: row.borough_name for row in rows}
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT code, name, borough_code, geometry, active FROM wards")
        existing = {r[0]: (r[1], r[2], bytes(r[3]), r[4]) for r in await cursor.fetchall()}

        await conn.executemany(
            "INSERT INTO boroughs (code, name) VALUES (?, ?)"
            " ON CONFLICT (code) DO UPDATE SET name = excluded.name",
            sorted(boroughs.items()),
        )
        added = updated = unchanged = 0
        changed: list[tuple[str, str, str, bytes, str]] = []
        for row in rows:
            old = existing.get(row.code)
            if old is None:
                added += 1
            elif old == (row.name, row.borough_code, row.wkb, 1):
                unchanged += 1
                continue
            else:
                updated += 1
            changed.append((row.code, row.name, row.borough_code, row.wkb, now))
        for start in range(0, len(changed), BATCH):
            await conn.executemany(
                "INSERT INTO wards (code, name, borough_code, geometry, active, imported_at)"
                " VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (code) DO UPDATE SET name = excluded.name,"
                " borough_code = excluded.borough_code, geometry = excluded.geometry, active = 1,"
                " imported_at = excluded.imported_at, retired_at = NULL",
                changed[start : start + BATCH],
            )
            progress(
                f"wrote {min(start + BATCH, len(changed))} of {len(changed)} new or changed wards"
            )

        retired = [code for code, old in existing.items() if old[3] == 1 and code not in new_codes]
        await conn.executemany(
            "UPDATE wards SET active = 0, retired_at = ? WHERE code = ?",
            [(now, code) for code in retired],
        )

        cursor = await conn.execute(
            "SELECT r.user_id, r.lat, r.lon FROM residents r JOIN wards w ON w.code = r.ward_code"
            " WHERE w.active = 0"
        )
        orphans = list(await cursor.fetchall())
        replaced: list[tuple[str, str, int]] = []
        to_ask: list[tuple[str, str, int]] = []
        for user_id, lat, lon in orphans:
            code = relocate(lat, lon) if lat is not None and lon is not None else None
            if code is not None:
                replaced.append((code, now, now, user_id))
            else:
                to_ask.append((now, now, user_id))
        await conn.executemany(
            "UPDATE residents SET ward_code = ?, ward_since = ?, updated_at = ? WHERE user_id = ?",
            replaced,
        )
        await conn.executemany(
            "UPDATE residents SET ward_code = NULL, finding_ward = 1, ward_lost_at = ?,"
            " updated_at = ? WHERE user_id = ?",
            to_ask,
        )
        cursor = await conn.execute("SELECT count(*) FROM residents WHERE ward_code IS NOT NULL")
        placed = (await cursor.fetchone())[0]
        await conn.execute(
            "INSERT INTO ward_imports (source, year, imported_at, wards_added, wards_updated,"
            " wards_unchanged, wards_retired, residents_replaced, residents_to_ask)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                source,
                year,
                now,
                added,
                updated,
                unchanged,
                len(retired),
                len(replaced),
                len(to_ask),
            ),
        )
    return ImportCounts(
        wards=len(rows),
        boroughs=len(boroughs),
        added=added,
        updated=updated,
        unchanged=unchanged,
        retired=len(retired),
        residents_kept=placed - len(replaced),
        residents_replaced=len(replaced),
        residents_to_ask=len(to_ask),
    )
