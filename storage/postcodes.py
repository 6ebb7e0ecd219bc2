"""The offline postcode table: postcode → point (and ward code where the file gave one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.db import Database


@dataclass(frozen=True)
class PostcodePoint:
    postcode: str
    lat: float
    lon: float
    ward_code: str | None


async def upsert_many(db: Database, rows: Sequence[tuple[str, float, float, str | None]]) -> None:
    """Insert or replace a batch of (postcode, lat, lon, ward_code) in one transaction."""
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO postcodes (postcode, lat, lon, ward_code) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (postcode) DO UPDATE SET lat = excluded.lat, lon = excluded.lon,"
            " ward_code = excluded.ward_code",
            rows,
        )


async def find(db: Database, postcode: str) -> PostcodePoint | None:
    row = await db.fetchone(
        "SELECT postcode, lat, lon, ward_code FROM postcodes WHERE postcode = ?", (postcode,)
    )
    if row is None:
        return None
    return PostcodePoint(row["postcode"], row["lat"], row["lon"], row["ward_code"])


async def count(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM postcodes"))
