"""The outbox: every message meant for many people, one row per recipient.

An item (a broadcast, a digest run, a reminder...) and all its rows are written in one
transaction, so a crash leaves either the whole item to send or nothing. Row states:

    pending --claim--> sending --sent / blocked / failed
       ^                  |
       +---- retry -------+        (429, timeout, 5xx: due again later)

A row left `sending` by a process that died is the one in-flight edge: its send may or
may not have reached Telegram. `recover()` puts such rows back to `pending` at start-up,
so delivery is at-least-once and a duplicate can only come from that window (see the
README, "Delivery").
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from storage.db import Database, placeholders

KINDS = (
    "broadcast",
    "digest",
    "reminder",
    "followup",
    "nudge",
    "wedid",
    "answer",
    "results",
    "vote",
)
FINAL_STATES = ("sent", "blocked", "failed", "dropped")


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    language: str = "en"
    text: str | None = None  # this recipient's own HTML; None: the item's text in `language`


@dataclass(frozen=True)
class Envelope:
    """What to send to whom: becomes one item and one row per distinct recipient."""

    kind: str
    texts: Mapping[str, str]  # language -> HTML, shared by recipients without their own text
    recipients: Sequence[Recipient]
    key: str | None = None  # once-only: a second envelope with this key is ignored
    ward_code: str | None = None
    markup: list[list[dict[str, str]]] | None = None  # inline keyboard rows
    created_by: str = "bot"


@dataclass(frozen=True)
class Item:
    id: int
    kind: str
    ward_code: str | None
    texts: dict[str, str]
    markup: list[list[dict[str, str]]] | None
    state: str
    total: int
    created_by: str
    progress_chat: int | None
    progress_message: int | None
    progress_language: str | None

    def text_for(self, language: str) -> str:
        return self.texts.get(language) or self.texts.get("en") or next(iter(self.texts.values()))


@dataclass(frozen=True)
class Row:
    id: int
    item_id: int
    chat_id: int
    language: str
    text: str | None
    attempts: int


@dataclass(frozen=True)
class Result:
    """How one send ended; `record()` writes a batch of these in one transaction."""

    row_id: int
    chat_id: int
    item_id: int
    outcome: str  # sent | later (429: same attempt, due now) | retry | failed | blocked
    error: str | None = None
    due_at: str | None = None


@dataclass
class Counts:
    total: int = 0
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    waiting: int = 0  # pending or sending
    by_state: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.waiting == 0


_ITEM_COLUMNS = (
    "id, kind, ward_code, texts, markup, state, total, created_by, progress_chat, "
    "progress_message, progress_language"
)


def _item(row: sqlite3.Row) -> Item:
    return Item(
        id=int(row[0]),
        kind=row[1],
        ward_code=row[2],
        texts=json.loads(row[3]),
        markup=json.loads(row[4]) if row[4] else None,
        state=row[5],
        total=int(row[6]),
        created_by=row[7],
        progress_chat=row[8],
        progress_message=row[9],
        progress_language=row[10],
    )


def _distinct(recipients: Iterable[Recipient]) -> list[Recipient]:
    seen: dict[int, Recipient] = {}
    for recipient in recipients:
        seen.setdefault(recipient.chat_id, recipient)
    return list(seen.values())


async def _insert_item(
    conn: aiosqlite.Connection, envelope: Envelope, state: str, now: str
) -> int | None:
    if envelope.kind not in KINDS:
        raise ValueError(f"unknown outbox kind {envelope.kind!r}")
    cursor = await conn.execute(
        "INSERT INTO outbox_items (kind, key, ward_code, texts, markup, state, created_by, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        (
            envelope.kind,
            envelope.key,
            envelope.ward_code,
            json.dumps(dict(envelope.texts), ensure_ascii=False),
            json.dumps(envelope.markup, ensure_ascii=False) if envelope.markup else None,
            state,
            envelope.created_by,
            now,
        ),
    )
    if cursor.rowcount == 0:
        return None
    return int(cursor.lastrowid or 0)


async def _insert_rows(
    conn: aiosqlite.Connection, item_id: int, recipients: Sequence[Recipient], now: str
) -> int:
    rows = _distinct(recipients)
    await conn.executemany(
        "INSERT INTO outbox (item_id, chat_id, language, text, due_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (item_id, chat_id) DO NOTHING",
        [(item_id, r.chat_id, r.language, r.text, now) for r in rows],
    )
    await conn.execute(
        "UPDATE outbox_items SET total = (SELECT COUNT(*) FROM outbox WHERE item_id = ?), "
        "queued_at = ?, state = CASE WHEN ? THEN 'sending' ELSE 'done' END, "
        "finished_at = CASE WHEN ? THEN NULL ELSE ? END WHERE id = ?",
        (item_id, now, bool(rows), bool(rows), now, item_id),
    )
    return len(rows)


async def write(conn: aiosqlite.Connection, envelope: Envelope, now: str) -> int | None:
    """Add an item and its rows inside the caller's transaction (with what created it).

    Returns the item id, or None when an item with the same key already exists.
    """
    item_id = await _insert_item(conn, envelope, "sending", now)
    if item_id is None:
        return None
    await _insert_rows(conn, item_id, envelope.recipients, now)
    return item_id


async def enqueue(db: Database, envelope: Envelope, now: str) -> int | None:
    async with db.transaction() as conn:
        return await write(conn, envelope, now)


async def key_exists(db: Database, key: str) -> bool:
    return await db.fetchval("SELECT 1 FROM outbox_items WHERE key = ?", (key,)) is not None


async def existing_keys(db: Database, keys: Sequence[str]) -> set[str]:
    """Which of these keys an item already has: one query per 500 keys instead of one per
    key (a scheduled job checks thousands every minute)."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        rows = await db.fetchall(
            f"SELECT key FROM outbox_items WHERE key IN ({placeholders(chunk)})", chunk
        )
        found.update(str(r[0]) for r in rows)
    return found


async def create_draft(db: Database, envelope: Envelope, now: str) -> int:
    """An item composed but not yet confirmed (a broadcast awaiting its sender's yes)."""
    async with db.transaction() as conn:
        item_id = await _insert_item(conn, envelope, "draft", now)
    assert item_id is not None
    return item_id


async def release_draft(
    db: Database,
    item_id: int,
    recipients: Sequence[Recipient],
    now: str,
    *,
    progress_chat: int | None = None,
    progress_message: int | None = None,
    progress_language: str | None = None,
) -> int | None:
    """Queue a draft to its recipients, all in one transaction; None if not a draft any more.

    Checking the state inside the transaction is what makes a double-tapped "Send" queue
    the broadcast once.
    """
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE outbox_items SET state = 'sending', progress_chat = ?, "
            "progress_message = ?, progress_language = ? WHERE id = ? AND state = 'draft'",
            (progress_chat, progress_message, progress_language, item_id),
        )
        if cursor.rowcount == 0:
            return None
        return await _insert_rows(conn, item_id, recipients, now)


async def cancel_draft(db: Database, item_id: int, now: str) -> bool:
    changed = await db.execute(
        "UPDATE outbox_items SET state = 'cancelled', finished_at = ? "
        "WHERE id = ? AND state = 'draft'",
        (now, item_id),
    )
    return changed > 0


async def set_progress_message(db: Database, item_id: int, chat_id: int, message_id: int) -> None:
    await db.execute(
        "UPDATE outbox_items SET progress_chat = ?, progress_message = ? WHERE id = ?",
        (chat_id, message_id, item_id),
    )


async def item(db: Database, item_id: int) -> Item | None:
    row = await db.fetchone(f"SELECT {_ITEM_COLUMNS} FROM outbox_items WHERE id = ?", (item_id,))
    return None if row is None else _item(row)


async def items(db: Database, item_ids: Sequence[int]) -> dict[int, Item]:
    if not item_ids:
        return {}
    rows = await db.fetchall(
        f"SELECT {_ITEM_COLUMNS} FROM outbox_items WHERE id IN ({placeholders(item_ids)})",
        list(item_ids),
    )
    return {int(r[0]): _item(r) for r in rows}


async def items_by_kind(db: Database, kind: str) -> list[Item]:
    rows = await db.fetchall(
        f"SELECT {_ITEM_COLUMNS} FROM outbox_items WHERE kind = ? ORDER BY id", (kind,)
    )
    return [_item(r) for r in rows]


async def sending_items(db: Database) -> list[Item]:
    rows = await db.fetchall(
        f"SELECT {_ITEM_COLUMNS} FROM outbox_items WHERE state = 'sending' ORDER BY id"
    )
    return [_item(r) for r in rows]


async def recover(db: Database) -> int:
    """Rows a dead process left `sending` go back to `pending` (at-least-once)."""
    return await db.execute("UPDATE outbox SET state = 'pending' WHERE state = 'sending'")


async def claim(db: Database, now: str, limit: int) -> list[Row]:
    """Take up to `limit` due rows, oldest first, and mark them `sending`."""
    async with db.transaction() as conn:
        rows = list(
            await conn.execute_fetchall(
                "SELECT id, item_id, chat_id, language, text, attempts FROM outbox "
                "WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?",
                (now, limit),
            )
        )
        if rows:
            ids = [r[0] for r in rows]
            await conn.execute(
                f"UPDATE outbox SET state = 'sending' WHERE id IN ({placeholders(ids)})", ids
            )
    return [
        Row(
            id=int(r[0]),
            item_id=int(r[1]),
            chat_id=int(r[2]),
            language=r[3],
            text=r[4],
            attempts=int(r[5]),
        )
        for r in rows
    ]


async def next_due(db: Database) -> str | None:
    value = await db.fetchval("SELECT MIN(due_at) FROM outbox WHERE state = 'pending'")
    return None if value is None else str(value)


async def record(db: Database, results: Sequence[Result], now: str) -> list[int]:
    """Write how a batch of sends ended; returns the items that have now finished.

    A 403 (the person blocked the bot) also turns their updates off and drops every other
    row still waiting for them: Telegram says that is final.
    """
    if not results:
        return []
    sent = [(now, r.row_id) for r in results if r.outcome == "sent"]
    later = [(r.due_at or now, r.row_id) for r in results if r.outcome == "later"]
    retry = [(r.due_at or now, r.error, r.row_id) for r in results if r.outcome == "retry"]
    failed = [(r.error, r.row_id) for r in results if r.outcome == "failed"]
    blocked = [r for r in results if r.outcome == "blocked"]
    touched = sorted({r.item_id for r in results})
    async with db.transaction() as conn:
        if sent:
            await conn.executemany(
                "UPDATE outbox SET state = 'sent', sent_at = ?, error = NULL WHERE id = ?", sent
            )
        if later:
            await conn.executemany(
                "UPDATE outbox SET state = 'pending', due_at = ? WHERE id = ?", later
            )
        if retry:
            await conn.executemany(
                "UPDATE outbox SET state = 'pending', attempts = attempts + 1, due_at = ?, "
                "error = ? WHERE id = ?",
                retry,
            )
        if failed:
            await conn.executemany(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1, error = ? "
                "WHERE id = ?",
                failed,
            )
        if blocked:
            await conn.executemany(
                "UPDATE outbox SET state = 'blocked', error = ? WHERE id = ?",
                [(r.error, r.row_id) for r in blocked],
            )
            chats = sorted({r.chat_id for r in blocked})
            touched = sorted(
                set(touched)
                | {
                    int(row[0])
                    for row in await conn.execute_fetchall(
                        "SELECT DISTINCT item_id FROM outbox WHERE state = 'pending' "
                        f"AND chat_id IN ({placeholders(chats)})",
                        chats,
                    )
                }
            )
            await _drop_pending_for(conn, chats, now)
        return await _finish(conn, touched, now)


async def _drop_pending_for(conn: aiosqlite.Connection, chats: Sequence[int], now: str) -> None:
    await conn.execute(
        "UPDATE outbox SET state = 'dropped', error = 'blocked' "
        f"WHERE state = 'pending' AND chat_id IN ({placeholders(chats)})",
        list(chats),
    )
    await conn.execute(
        "UPDATE residents SET updates = 'off', unreachable_at = ?, updates_changed_at = ? "
        f"WHERE user_id IN ({placeholders(chats)})",
        [now, now, *chats],
    )


async def _finish(conn: aiosqlite.Connection, item_ids: Sequence[int], now: str) -> list[int]:
    if not item_ids:
        return []
    rows = await conn.execute_fetchall(
        f"SELECT id FROM outbox_items i WHERE id IN ({placeholders(item_ids)}) "
        "AND state = 'sending' AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.item_id = i.id "
        "AND o.state IN ('pending', 'sending'))",
        list(item_ids),
    )
    done = [int(r[0]) for r in rows]
    if done:
        await conn.execute(
            f"UPDATE outbox_items SET state = 'done', finished_at = ? "
            f"WHERE id IN ({placeholders(done)})",
            [now, *done],
        )
    return done


async def unreachable(db: Database, chat_id: int, now: str) -> list[int]:
    """Telegram told us (my_chat_member: kicked) this person blocked the bot; returns the
    items that dropping their rows has finished."""
    async with db.transaction() as conn:
        item_ids = [
            int(r[0])
            for r in await conn.execute_fetchall(
                "SELECT DISTINCT item_id FROM outbox WHERE state = 'pending' AND chat_id = ?",
                (chat_id,),
            )
        ]
        await _drop_pending_for(conn, [chat_id], now)
        return await _finish(conn, item_ids, now)


async def counts(db: Database, item_id: int) -> Counts:
    rows = await db.fetchall(
        "SELECT state, COUNT(*) FROM outbox WHERE item_id = ? GROUP BY state", (item_id,)
    )
    by_state = {str(r[0]): int(r[1]) for r in rows}
    return Counts(
        total=sum(by_state.values()),
        sent=by_state.get("sent", 0),
        blocked=by_state.get("blocked", 0) + by_state.get("dropped", 0),
        failed=by_state.get("failed", 0),
        waiting=by_state.get("pending", 0) + by_state.get("sending", 0),
        by_state=by_state,
    )


async def rows_for_chat(db: Database, chat_id: int) -> list[dict[str, Any]]:
    """Every row for one chat, for tests and for a person's data export."""
    rows = await db.fetchall(
        "SELECT o.id, o.item_id, i.kind, o.state, o.attempts, o.sent_at, o.error "
        "FROM outbox o JOIN outbox_items i ON i.id = o.item_id WHERE o.chat_id = ? "
        "ORDER BY o.id",
        (chat_id,),
    )
    return [dict(r) for r in rows]


async def was_sent(db: Database, kind: str, key: str, chat_id: int) -> bool:
    """Did this person get (or are they getting) the item with this key?"""
    value = await db.fetchval(
        "SELECT 1 FROM outbox o JOIN outbox_items i ON i.id = o.item_id "
        "WHERE i.kind = ? AND i.key = ? AND o.chat_id = ?",
        (kind, key, chat_id),
    )
    return value is not None


async def purge_finished(db: Database, before: str) -> int:
    """Retention: delete items (and their rows) that finished before `before`."""
    return await db.execute(
        "DELETE FROM outbox_items WHERE (state IN ('done', 'cancelled') AND finished_at < ?) "
        "OR (state = 'draft' AND created_at < ?)",
        (before, before),
    )
