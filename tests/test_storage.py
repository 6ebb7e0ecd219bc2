"""The database: pragmas, migrations applied once and atomically, transactions that roll back."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiosqlite
import pytest

from storage import concerns as concern_store
from storage import schedules as schedule_store
from storage import stats as stats_store
from storage.db import Database, StorageError
from storage.migrations import MIGRATIONS, apply_migrations, schema_version, split_statements


async def test_new_database_is_migrated_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "w.db")
    try:
        assert await db.fetchval("PRAGMA journal_mode") == "wal"
        assert await db.fetchval("PRAGMA foreign_keys") == 1
        assert await db.fetchval("PRAGMA busy_timeout") == 5000
        assert await db.fetchval("PRAGMA user_version") == len(MIGRATIONS)
        assert await db.integrity_check() == "ok"
    finally:
        await db.close()


async def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    for _ in range(2):
        db = await Database.open(tmp_path / "w.db")
        await db.close()
    db = await Database.open(tmp_path / "w.db")
    try:
        tables = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert {"wards", "residents", "priorities", "postcodes"} <= {r[0] for r in tables}
    finally:
        await db.close()


async def test_failed_migration_leaves_the_previous_version_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await Database.open(tmp_path / "w.db")
    await db.close()
    broken = "CREATE TABLE half_done (x INTEGER);\nTHIS IS NOT SQL;"
    monkeypatch.setattr("storage.migrations.MIGRATIONS", [*MIGRATIONS, broken])
    conn = await aiosqlite.connect(tmp_path / "w.db", isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError):
            await apply_migrations(conn)
        assert await schema_version(conn) == len(MIGRATIONS)
        cursor = await conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'")
        assert (await cursor.fetchone())[0] == 0
    finally:
        await conn.close()


async def test_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    conn = await aiosqlite.connect(path)
    await conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    await conn.close()
    with pytest.raises(StorageError, match="newer"):
        await Database.open(path)


async def test_database_in_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        await Database.open(tmp_path / "nowhere" / "w.db")


async def test_transaction_rolls_back_everything_on_error(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "w.db")
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO boroughs (code, name) VALUES ('E09000001', 'City')")
                raise RuntimeError("boom")
        assert await db.fetchval("SELECT count(*) FROM boroughs") == 0
    finally:
        await db.close()


async def test_a_lone_write_returns_its_rows_and_is_read_at_once(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "w.db")
    try:
        rows = await db.write(
            "INSERT INTO boroughs (code, name) VALUES ('E09000001', 'City') RETURNING code, name"
        )
        assert [tuple(r) for r in rows] == [("E09000001", "City")]
        assert await db.write("UPDATE boroughs SET name = 'X' WHERE code = 'nowhere'") == []
        assert await db.fetchval("SELECT name FROM boroughs") == "City"
        assert not db._writer.in_transaction, "committed on its own, nothing left open"
    finally:
        await db.close()


async def test_a_lone_write_never_joins_another_tasks_open_transaction(tmp_path: Path) -> None:
    """`write` and `execute` skip BEGIN/COMMIT; they must still wait for a transaction
    another task has open on the same connection, or its rollback would undo them."""
    db = await Database.open(tmp_path / "w.db")
    try:
        opened = asyncio.Event()

        async def failing_transaction() -> None:
            with pytest.raises(RuntimeError):
                async with db.transaction() as conn:
                    await conn.execute("INSERT INTO boroughs (code, name) VALUES ('A', 'a')")
                    opened.set()
                    await asyncio.sleep(0.05)
                    raise RuntimeError("rolled back")

        async def lone_writes() -> None:
            await opened.wait()
            await db.write("INSERT INTO boroughs (code, name) VALUES ('B', 'b')")
            await db.execute("INSERT INTO boroughs (code, name) VALUES ('C', 'c')")

        await asyncio.gather(failing_transaction(), lone_writes())
        codes = [r[0] for r in await db.fetchall("SELECT code FROM boroughs ORDER BY code")]
        assert codes == ["B", "C"]
    finally:
        await db.close()


async def test_a_residents_read_does_not_queue_behind_a_long_staff_report(
    tmp_path: Path,
) -> None:
    """Regression (bench/scale.py): residents' replies reached p95 181-261 ms while an
    admin ran borough exports, their one-row reads waiting behind the export's query on
    the one reader connection."""
    db = await Database.open(tmp_path / "w.db")
    try:
        long_report = asyncio.ensure_future(
            db.report(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                " WHERE i < 3000000) SELECT count(*) FROM n"
            )
        )
        await asyncio.sleep(0.01)  # the report is running in its own thread
        residents_read = asyncio.ensure_future(db.fetchval("SELECT count(*) FROM boroughs"))
        done, _ = await asyncio.wait(
            {long_report, residents_read}, return_when=asyncio.FIRST_COMPLETED
        )
        assert done == {residents_read}, "the resident's read waited for the report"
        assert await residents_read == 0
        assert (await long_report)[0][0] == 3000000
    finally:
        await db.close()


def test_statements_split_safely_around_semicolons_in_strings() -> None:
    script = "INSERT INTO t VALUES ('a;b');\n-- a comment; with a semicolon\nSELECT 1;\n"
    assert split_statements(script) == [
        "INSERT INTO t VALUES ('a;b');",
        "-- a comment; with a semicolon\nSELECT 1;",
    ]


async def test_a_read_after_a_commit_sees_it_while_other_reads_are_in_flight(
    tmp_path: Path,
) -> None:
    """Regression: with cursors held open across awaits, overlapping reads kept the reader's
    snapshot alive, and a resident's fresh draft was "not found" under load."""
    db = await Database.open(tmp_path / "w.db")
    try:

        async def write_then_read(n: int) -> bool:
            await db.execute("INSERT INTO boroughs (code, name) VALUES (?, ?)", (f"B{n}", f"n{n}"))
            return (
                await db.fetchone("SELECT name FROM boroughs WHERE code = ?", (f"B{n}",))
                is not None
            )

        async def keep_reading() -> None:
            for _ in range(200):
                await db.fetchall("SELECT count(*) FROM boroughs")

        results = await asyncio.gather(
            *(write_then_read(n) for n in range(200)), keep_reading(), keep_reading()
        )
        assert all(results[:200])
    finally:
        await db.close()


async def test_migration_7_keeps_the_outbox_and_lets_it_carry_votes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 7 rebuilds the outbox tables (a CHECK cannot be altered): what was queued
    before stays queued, the foreign key still cascades, and residents who had a ward are
    counted as living there since they joined."""
    path = tmp_path / "w.db"
    monkeypatch.setattr("storage.migrations.MIGRATIONS", MIGRATIONS[:6])
    db = await Database.open(path)
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO boroughs (code, name) VALUES ('E09900001', 'Northbank')")
        await conn.execute(
            "INSERT INTO wards (code, name, borough_code, geometry, imported_at)"
            " VALUES ('E05900002', 'Kingsmead', 'E09900001', x'00', 'then')"
        )
        await conn.execute(
            "INSERT INTO residents (user_id, ward_code, created_at, updated_at)"
            " VALUES (7, 'E05900002', '2026-01-02T00:00:00+00:00', 'now')"
        )
        await conn.execute(
            "INSERT INTO outbox_items (id, kind, key, texts, state, total, created_by,"
            " created_at) VALUES (1, 'digest', 'digest:x', '{}', 'sending', 2, 'bot', 'now')"
        )
        await conn.executemany(
            "INSERT INTO outbox (item_id, chat_id, state, due_at) VALUES (1, ?, ?, 'now')",
            [(7, "sent"), (8, "pending")],
        )
    await db.close()
    monkeypatch.undo()

    db = await Database.open(path)
    try:
        assert await db.fetchval("PRAGMA user_version") == len(MIGRATIONS) >= 7
        rows = await db.fetchall("SELECT item_id, chat_id, state FROM outbox ORDER BY chat_id")
        assert [tuple(r) for r in rows] == [(1, 7, "sent"), (1, 8, "pending")]
        assert await db.fetchval("SELECT key FROM outbox_items WHERE id = 1") == "digest:x"
        await db.execute(
            "INSERT INTO outbox_items (kind, texts, state, created_by, created_at)"
            " VALUES ('vote', '{}', 'sending', 'bot', 'now')"
        )
        await db.execute("DELETE FROM outbox_items WHERE id = 1")
        assert await db.fetchval("SELECT count(*) FROM outbox") == 0, "still cascades"
        assert await db.fetchval("SELECT ward_since FROM residents WHERE user_id = 7") == (
            "2026-01-02T00:00:00+00:00"
        )
        assert await db.fetchall("PRAGMA foreign_key_check") == []
        assert await db.integrity_check() == "ok"
    finally:
        await db.close()


async def test_the_queries_that_grow_with_the_country_read_through_indexes(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 200,000 concerns (bench/scale.py) a scan of every concern or every concern event
    costs 60 to 200 ms of a reader connection (the one residents' replies use, or staff's): a
    resident's /myconcerns, a ward's or a borough's figures and CSV export, and the
    follow-ups job (every minute) must seek, not scan (migration 9)."""
    seen: list[tuple[str, tuple[object, ...]]] = []
    fetchall = db.fetchall

    async def recording(sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        seen.append((sql, tuple(params)))
        return await fetchall(sql, params)

    monkeypatch.setattr(db, "fetchall", recording)
    monkeypatch.setattr(db, "report", recording)  # staff reports' own connection
    await concern_store.for_resident(db, 7, 5, 0)
    await stats_store.concerns_created(
        db, ["E05900002", "E05900011"], "2026-08-31T00:00:00+00:00", "2026-11-24T00:00:00+00:00"
    )
    await schedule_store.first_answered_between(
        db, "2026-10-12T00:00:00+00:00", "2026-10-26T00:00:00+00:00"
    )
    monkeypatch.undo()
    assert len(seen) == 4
    plans = []
    for sql, params in seen:
        plan = [str(r[3]) for r in await db.fetchall(f"EXPLAIN QUERY PLAN {sql}", params)]
        scans = [step for step in plan if re.match(r"SCAN (c|e|w|concerns|concern_events)\b", step)]
        assert not scans, f"{sql}\n{plan}"
        plans.append(" | ".join(plan))
    figures, follow_ups = plans[2], plans[3]
    assert "concerns_ward_created" in figures and "concern_responses " in figures, figures
    assert "concern_responses_at" in follow_ups, follow_ups
