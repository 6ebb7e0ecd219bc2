"""Faults outside the bot: Telegram down or hanging, the disk full, the database read-only.

Through the real Application against the fake Bot API, on the real SQLite file:

- Telegram answers 502 to everything for a while, then answers nothing at all (longer than
  the bot's read timeout): the bot neither crashes nor hammers it, and once Telegram is
  back it answers everyone who wrote meanwhile and delivers the outbox, each message once;
- the disk fills up, or the database becomes read-only, while the bot runs: one clear
  ERROR line naming the cause and the file (no traceback per update), a polite answer to
  whoever wanted something saved, the read-only things still answered, the outbox and the
  schedules waiting instead of spinning, and everything working again once the disk has
  room, without a restart;
- `wardvoice run` on a read-only database, or on a full disk that leaves no room to
  migrate: a clear message and exit status 1.

How the disk is made full: as root, the database lives on a tiny tmpfs that is then
filled (ENOSPC, the real thing); without root, and as well, SQLite's own page limit
(`PRAGMA max_page_count` on the writer connection, with every write made to need a new
page, as every commit needs room in the WAL on a full disk). Read-only: `PRAGMA
query_only` on the writer connection while the bot runs (SQLITE_READONLY, SQLite's answer
to a write on a database it could only open read-only), and at start-up a read-only mount
(root) or a file without write permission.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

import storage.db as storage_db
from bot import cli
from bot.clock import to_iso
from bot.domain.priorities import add_priority
from schedules import JOBS, run_due
from storage import outbox
from storage.db import Database, unavailable_cause
from storage.outbox import Envelope, Recipient
from tests.conftest import World, WorldFactory
from tests.fakes.bot_api import FakeBotAPI

KINGSMEAD = "E05900002"
NEWS = "The bus shelter on Mill Lane has been repaired."
POLITE = "Sorry, I can't save anything right now"
READ_TIMEOUT = 0.5  # seconds: the bot's wait for an answer, shortened from 5 for a quick test


# --- helpers ---------------------------------------------------------------------------------


def shorten_read_timeouts(world: World, seconds: float = READ_TIMEOUT) -> None:
    """The bot waits 5 s for Telegram's answer (bot/http.py; getUpdates that plus its long
    poll): a hang that outlasts it would make this test slow, so the world's two request
    objects wait `seconds` instead."""
    for request in world.application.bot._request:  # (getUpdates', everything else's)
        request._read_timeout = seconds  # type: ignore[attr-defined]
        request._default_timeout = aiohttp.ClientTimeout(  # type: ignore[attr-defined]
            sock_read=seconds,
            sock_connect=request._connect_timeout,  # type: ignore[attr-defined]
        )


def texts_to(api: FakeBotAPI, chat_id: int, *, since: int = 0) -> list[str]:
    """What the chat received from `since` on: messages sent and alerts on buttons."""
    seen = []
    for call in api.calls[since:]:
        if not call.ok:
            continue
        if call.method == "sendMessage" and call.chat_id == chat_id:
            seen.append(call.text or "")
        elif call.method == "answerCallbackQuery" and call.params.get("text"):
            seen.append(f"alert: {call.params['text']}")
    return seen


async def queue_news(world: World, people: list[int], *, due_in: timedelta = timedelta()) -> None:
    """An outbox item (as a broadcast queues it) for `people`, due `due_in` from now."""
    item_id = await outbox.enqueue(
        world.db,
        Envelope("broadcast", {"en": NEWS}, [Recipient(p) for p in people], ward_code=KINGSMEAD),
        to_iso(world.clock.now() + due_in),  # the rows are due at the time they are written
    )
    assert item_id is not None


def copies(api: FakeBotAPI, chat_id: int) -> int:
    return sum(1 for m in api.messages(chat_id) if NEWS in (m.get("text") or ""))


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 (a counter of the fake's, not an event)
            await asyncio.sleep(0.02)


def is_root_with_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `path` (root only; the test skips without it)."""
    path.mkdir(exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a file into `folder` until its disk has no byte left (ENOSPC at every size)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * chunk)
    finally:
        os.close(fd)
    return filler


# --- the storage faults ------------------------------------------------------------------------


class StorageFault:
    """A database that stops taking writes while the bot runs, and then takes them again."""

    kind = ""
    cause = ""  # as storage.db.unavailable_cause names it
    db_path: Path | None = None  # where the world's database must live, if not the default

    async def begin(self, db: Database) -> None:
        raise NotImplementedError

    async def end(self, db: Database) -> None:
        raise NotImplementedError


class FullTmpfs(StorageFault):
    """The real thing: the database on a 4 MB tmpfs, filled to the last byte."""

    kind, cause = "disk full (tmpfs)", "full"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db_path = folder / "wardvoice.db"
        self.filler: Path | None = None

    async def begin(self, db: Database) -> None:
        # Empty the WAL first: then every commit must grow it, and cannot.
        await db.checkpoint()
        assert os.stat(f"{db.path}-wal").st_size == 0
        self.filler = fill(self.folder)

    async def end(self, db: Database) -> None:
        assert self.filler is not None
        self.filler.unlink()


class FullPageLimit(StorageFault):
    """SQLite's own limit, for machines without root: the writer may not grow the file
    (`max_page_count`), its free pages are used up, and every change to any table also
    writes a page-sized row (temporary triggers on the writer connection only), as every
    commit on a full disk needs room in the WAL."""

    kind, cause = "database full (SQLite page limit)", "full"

    def __init__(self) -> None:
        self.limit = 0
        self.triggers: list[str] = []

    async def begin(self, db: Database) -> None:
        async with db._write_lock:
            writer = db._writer
            await writer.execute("CREATE TABLE IF NOT EXISTS test_disk_filler (b BLOB)")
            self.limit = (await writer.execute_fetchall("PRAGMA max_page_count"))[0][0]
            pages = (await writer.execute_fetchall("PRAGMA page_count"))[0][0]
            await writer.execute_fetchall(f"PRAGMA max_page_count = {pages}")
            with contextlib.suppress(sqlite3.OperationalError):
                while True:  # until the free pages are gone
                    await writer.execute("INSERT INTO test_disk_filler VALUES (zeroblob(4000))")
            tables = await writer.execute_fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE"
                " 'sqlite_%' AND name != 'test_disk_filler' AND sql NOT LIKE 'CREATE VIRTUAL%'"
            )
            for (table,) in tables:
                for op in ("INSERT", "UPDATE", "DELETE"):
                    name = f"test_fill_{op}_{table}"
                    with contextlib.suppress(sqlite3.OperationalError):  # shadow tables
                        await writer.execute(
                            f'CREATE TEMP TRIGGER "{name}" AFTER {op} ON main."{table}" BEGIN'
                            " INSERT INTO test_disk_filler VALUES (zeroblob(8000)); END"
                        )
                        self.triggers.append(name)
        assert self.triggers

    async def end(self, db: Database) -> None:
        async with db._write_lock:
            writer = db._writer
            for name in self.triggers:
                await writer.execute(f'DROP TRIGGER temp."{name}"')
            await writer.execute_fetchall(f"PRAGMA max_page_count = {self.limit}")
            await writer.execute("DELETE FROM test_disk_filler")


class ReadOnly(StorageFault):
    """The database stops taking writes: SQLITE_READONLY on the writer connection."""

    kind, cause = "read-only", "read-only"

    async def begin(self, db: Database) -> None:
        async with db._write_lock:
            await db._writer.execute("PRAGMA query_only = ON")

    async def end(self, db: Database) -> None:
        async with db._write_lock:
            await db._writer.execute("PRAGMA query_only = OFF")


@pytest.fixture(params=["disk_full_tmpfs", "database_full_page_limit", "read_only"])
def storage_fault(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageFault]:
    """Requested before make_world, so it is torn down after the bot has stopped."""
    if request.param == "disk_full_tmpfs":
        if not is_root_with_mount():
            pytest.skip("a real full disk needs root to mount a tmpfs; the page-limit case runs")
        with tmpfs(tmp_path / "disk", "4m") as folder:
            yield FullTmpfs(folder)
    elif request.param == "database_full_page_limit":
        yield FullPageLimit()
    else:
        yield ReadOnly()


# --- Telegram down ---------------------------------------------------------------------------


async def test_bot_recovers_by_itself_after_telegram_answers_502_and_then_hangs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api = world.api
    shorten_read_timeouts(world)
    alice, bob, carol = world.person(), world.person(), world.person()
    for person in (alice, bob, carol):
        await person.says(f"/start {KINGSMEAD}")
    since = len(api.calls)

    # Telegram's front end answers 502 Bad Gateway to everything...
    api.start_outage(status=502, description="Bad Gateway")
    await queue_news(world, [alice.user_id, bob.user_id, carol.user_id])
    world.services.outbox_bell.ring()
    # (A long poll already waiting when the outage began may still bring what is pushed
    # now, and the answer then fails: wait until polling itself is refused.)
    await until(lambda: api.outage_calls["getUpdates"] >= 1)
    wrote = [api.push_update(alice.sim.message("/ward"))]
    await asyncio.sleep(1.0)
    # ... then answers nothing at all, for longer than the bot waits for an answer.
    api.start_hanging()
    wrote.append(api.push_update(bob.sim.message("/help")))
    await asyncio.sleep(3 * READ_TIMEOUT)
    during = len(api.calls)
    assert all(c.status != 200 for c in api.calls[since:during]), "nothing got through"
    outage_calls = dict(api.outage_calls)

    api.end_outage()
    for update_id in wrote:  # what residents wrote during the outage is answered after it
        await world.wait_handled(update_id)
    await world.delivered()

    assert any("Your ward: <b>Kingsmead" in t for t in texts_to(api, alice.user_id, since=during))
    assert any("What I can do" in t for t in texts_to(api, bob.user_id, since=during))
    for person in (alice, bob, carol):
        assert copies(api, person.user_id) == 1, "the news reached everyone, once"
    rows = await world.db.fetchall("SELECT state, attempts FROM outbox")
    assert [tuple(r) for r in rows] == [("sent", 0)] * 3, "an outage costs no message a try"
    # It backed off instead of hammering a server that was down: in about 3.5 s, a few
    # polls (1, 1.5, 2.25 s apart, then one per timeout), the news sent once before the
    # dispatcher knew, then one getMe per pause (0.5, 1, 2 s...).
    assert outage_calls.get("sendMessage", 0) <= 3, outage_calls
    assert outage_calls.get("getUpdates", 0) <= 10, outage_calls
    assert outage_calls.get("getMe", 0) <= 6, outage_calls
    assert world.dispatcher.stats.held >= 1
    # The log says what happened in a few lines, with no traceback.
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("getUpdates failed (NetworkError: Bad Gateway)" in w for w in warnings), warnings
    assert any("Telegram is not answering" in w for w in warnings), warnings
    assert len(warnings) <= 4, warnings


# --- the database cannot be written ------------------------------------------------------------


async def test_a_full_or_read_only_database_is_reported_once_answered_politely_and_heals_itself(
    storage_fault: StorageFault,
    make_world: WorldFactory,
    synthetic_db: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    overrides = {"db_path": storage_fault.db_path} if storage_fault.db_path else {}
    world: World = await make_world(synthetic_db, **overrides)
    api, db = world.api, world.db
    await add_priority(
        db, world.clock, world.services.wards, KINGSMEAD, "Speeding on Mill Lane", "roads", by="cli"
    )
    alice = world.person()  # found her ward before the disk filled up
    await alice.says(f"/start {KINGSMEAD}")
    await queue_news(world, [alice.user_id], due_in=timedelta(hours=1))
    newcomer = world.person()

    await storage_fault.begin(db)
    logged_from = len(caplog.records)

    # Something to save: a polite answer, not a crash and not silence.
    hello = await newcomer.says(f"/start {KINGSMEAD}")
    assert hello.text.startswith(POLITE), hello.text
    concern = await alice.says("/concern")
    assert concern.text.startswith(POLITE), concern.text
    # What needs no write still works.
    priorities = await alice.says("/priorities")
    assert "Speeding on Mill Lane" in priorities.text
    ward = await alice.says("/ward")
    assert "Kingsmead" in ward.text and POLITE not in ward.text

    # The news falls due: the dispatcher cannot claim it, and waits rather than spins.
    world.clock.advance(hours=1, minutes=1)
    world.services.outbox_bell.ring()
    await asyncio.sleep(1.5)
    assert copies(api, alice.user_id) == 0
    stats = world.dispatcher.stats
    assert 1 <= stats.storage_pauses <= 4, "0.5, 1, 2 s pauses, not a tight loop"
    # The schedules (a day later: retention is due) stop their round without raising.
    world.clock.advance(days=1)
    report = await run_due(world.services)
    assert len(report) < len(JOBS), report
    # A new day: her "last seen" cannot be written, and /priorities answers all the same.
    again = await alice.says("/priorities")
    assert "Speeding on Mill Lane" in again.text and POLITE not in again.text

    errors = [r for r in caplog.records[logged_from:] if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    line = errors[0].getMessage()
    assert f"database is {storage_fault.cause}: {db.path}" in line, line
    assert "residents are told to try again later" in line
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"
    assert world.errors and all(unavailable_cause(e) for e in world.errors), world.errors
    world.errors.clear()  # expected: what the error handler saw was the full/read-only disk

    # Room again: everything works, without a restart.
    await storage_fault.end(db)
    again = await newcomer.says(f"/start {KINGSMEAD}")
    assert POLITE not in again.text and "Kingsmead" in again.text, again.text
    await world.delivered()
    assert copies(api, alice.user_id) == 1, "the news went out once"
    assert len(await run_due(world.services)) == len(JOBS)
    concern = await alice.says("/concern")
    assert POLITE not in concern.text and concern.buttons, concern.text
    assert any("can be written again" in r.getMessage() for r in caplog.records)
    assert await db.integrity_check() == "ok"
    assert not world.errors
    await world.stop()  # before the tmpfs goes


async def test_a_button_pressed_while_the_database_is_read_only_gets_the_polite_answer_on_it(
    make_world: WorldFactory, synthetic_db: Path
) -> None:
    world: World = await make_world(synthetic_db)
    alice = world.person()
    await alice.says(f"/start {KINGSMEAD}")
    fault = ReadOnly()
    await fault.begin(world.db)
    since = len(world.api.calls)
    pressed = await alice.taps("Weekly digest")  # the one-time updates question
    alerts = [a.params for a in pressed.answers]
    assert alerts and alerts[0].get("show_alert") is True
    assert str(alerts[0].get("text")).startswith(POLITE), alerts
    assert not [t for t in texts_to(world.api, alice.user_id, since=since) if "Saved" in t]
    assert world.errors and all(unavailable_cause(e) for e in world.errors)
    world.errors.clear()
    await fault.end(world.db)
    saved = await alice.taps("Weekly digest")
    assert "Saved." in [a.params.get("text") for a in saved.answers]


# --- start-up -------------------------------------------------------------------------------------


def run_cli(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> int:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", FakeBotAPI.TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9/bot")  # never reached
    monkeypatch.setenv("WARDVOICE_DB", str(db_path))
    monkeypatch.setenv("WARDVOICE_GEOCODER", "none")
    monkeypatch.chdir(db_path.parent.parent)
    return cli.main(["run"])


@pytest.fixture
def read_only_database(tmp_path: Path, synthetic_db: Path) -> Iterator[Path]:
    """The synthetic database, read-only: as root on a read-only mount (root may write any
    file), otherwise as a file without write permission."""
    if is_root_with_mount():
        with tmpfs(tmp_path / "ro", "4m") as folder:
            path = folder / "wardvoice.db"
            shutil.copyfile(synthetic_db, path)
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
            yield path
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        path = folder / "wardvoice.db"
        shutil.copyfile(synthetic_db, path)
        path.chmod(0o444)
        yield path
        path.chmod(0o644)


def test_wardvoice_run_on_a_read_only_database_says_so_and_exits_1(
    read_only_database: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert run_cli(monkeypatch, read_only_database) == 1
    err = capsys.readouterr().err
    assert f"the database {read_only_database} is read-only" in err, err
    assert "Traceback" not in err
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("disk", ["real_full_disk_tmpfs", "sqlite_page_limit"])
def test_wardvoice_run_with_no_room_to_migrate_says_the_disk_is_full_and_exits_1(
    disk: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with contextlib.ExitStack() as stack:
        if disk == "real_full_disk_tmpfs":
            if not is_root_with_mount():
                pytest.skip("a real full disk needs root to mount a tmpfs")
            folder = stack.enter_context(tmpfs(tmp_path / "disk", "1m"))
            fill(folder)
        else:
            folder = tmp_path / "disk"
            folder.mkdir()
            connect = storage_db._connect

            async def capped(path: Path):  # type: ignore[no-untyped-def]
                conn = await connect(path)
                await conn.execute_fetchall("PRAGMA max_page_count = 2")  # no room for the schema
                return conn

            monkeypatch.setattr("storage.db._connect", capped)
        db_path = folder / "wardvoice.db"  # a new database: every table still to create
        assert run_cli(monkeypatch, db_path) == 1
    err = capsys.readouterr().err
    assert f"the disk holding the database {db_path} is full" in err, err
    assert "free some space" in err and "Traceback" not in err
    assert not [r for r in caplog.records if r.exc_info]
