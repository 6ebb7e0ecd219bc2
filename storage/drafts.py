"""Concerns being written: one draft per resident, its step and what they have said so far.

This table is the conversation's durable state: a restart restores every resident to the
step they were on (see `bot.persistence`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from typing import Any

from storage.db import Database


@dataclass(frozen=True)
class Draft:
    user_id: int
    draft_key: str
    step: str
    category: str | None
    text: str | None
    lat: float | None
    lon: float | None
    ward_code: str | None
    photo_file_id: str | None
    reviewing: bool


_NAMES = [f.name for f in fields(Draft)]
_UPDATABLE = set(_NAMES) - {"user_id", "draft_key"}


def _draft(row: sqlite3.Row) -> Draft:
    values = dict(zip(_NAMES, row, strict=True))
    values["reviewing"] = bool(values["reviewing"])
    return Draft(**values)


async def get(db: Database, user_id: int) -> Draft | None:
    row = await db.fetchone(
        f"SELECT {', '.join(_NAMES)} FROM concern_drafts WHERE user_id = ?", (user_id,)
    )
    return None if row is None else _draft(row)


async def _write(db: Database, sql: str, params: tuple[Any, ...]) -> Draft | None:
    """One write that ends `RETURNING` the draft's columns: the draft as stored by it,
    without reading it again."""
    rows = await db.write(f"{sql} RETURNING {', '.join(_NAMES)}", params)
    row = next(iter(rows), None)
    return None if row is None else _draft(row)


async def start(db: Database, user_id: int, draft_key: str, step: str, now: str) -> Draft:
    """A fresh draft, replacing any earlier one of this resident."""
    draft = await _write(
        db,
        "INSERT OR REPLACE INTO concern_drafts (user_id, draft_key, step, updated_at)"
        " VALUES (?, ?, ?, ?)",
        (user_id, draft_key, step, now),
    )
    assert draft is not None
    return draft


async def update(db: Database, user_id: int, now: str, **values: Any) -> Draft | None:
    """Change some of the draft's fields; the draft as now stored, or None if there is none."""
    unknown = set(values) - _UPDATABLE
    if unknown:
        raise ValueError(f"not draft fields: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ?" for name in values)
    return await _write(
        db,
        f"UPDATE concern_drafts SET {assignments}, updated_at = ? WHERE user_id = ?",
        (*values.values(), now, user_id),
    )


async def delete(db: Database, user_id: int) -> None:
    await db.execute("DELETE FROM concern_drafts WHERE user_id = ?", (user_id,))


async def steps(db: Database) -> dict[int, str]:
    """Every resident's current step, to restore conversations at start-up."""
    rows = await db.fetchall("SELECT user_id, step FROM concern_drafts")
    return {int(r[0]): str(r[1]) for r in rows}
