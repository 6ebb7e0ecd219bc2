"""`wardvoice run` stopped in the middle of a broadcast, then started again.

A broadcast to 300 subscribers is queued in the outbox; the real bot process sends it to
the fake Bot API on 127.0.0.1 and is stopped once about a third has gone out:

- with SIGKILL: the rows it had claimed but not recorded (`sending`) are the documented
  in-flight window. After the restart every subscriber has the message, and anyone who
  got it twice is one of the rows in that window;
- with SIGTERM: the dispatcher finishes what is in flight and records it, so after the
  restart nobody gets it twice.

Either way the database passes `PRAGMA integrity_check` afterwards.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

from bot.clock import SystemClock, to_iso
from storage import outbox
from storage.db import Database
from storage.outbox import Envelope, Recipient
from tests.conftest import import_into
from tests.fakes.bot_api import FakeBotAPI
from tests.synthetic import synthetic_wards_geojson

WARDVOICE = Path(sys.executable).with_name("wardvoice")
WARD = "E05900002"
SUBSCRIBERS = 300
FIRST_USER = 80_001
STOP_AFTER = 100
WITHIN = 60.0  # seconds: generous bounds for a shared machine, not goals


async def _prepare(folder: Path) -> Path:
    db_path = folder / "wardvoice.db"
    await import_into(db_path, synthetic_wards_geojson(folder / "wards.geojson"), None)
    now = to_iso(SystemClock().now())
    with sqlite3.connect(db_path) as conn:  # set-up only: many subscribers at once
        conn.executemany(
            "INSERT INTO residents (user_id, language, ward_code, created_at, updated_at, "
            "updates) VALUES (?, 'en', ?, ?, ?, 'weekly')",
            [(FIRST_USER + n, WARD, now, now) for n in range(SUBSCRIBERS)],
        )
    db = await Database.open(db_path)
    try:
        await outbox.enqueue(
            db,
            Envelope(
                "broadcast",
                {"en": "📣 The bus shelter on Mill Lane has been repaired."},
                [Recipient(FIRST_USER + n) for n in range(SUBSCRIBERS)],
                ward_code=WARD,
            ),
            now,
        )
    finally:
        await db.close()
    return db_path


async def _bot(api: FakeBotAPI, db_path: Path) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": FakeBotAPI.TOKEN,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "WARDVOICE_DB": str(db_path),
        "WARDVOICE_GEOCODER": "none",
        "WARDVOICE_MAX_SEND_RATE": "150",
        "PTB_TIMEDELTA": "true",
    }
    return await asyncio.create_subprocess_exec(
        str(WARDVOICE),
        "run",
        env=env,
        cwd=db_path.parent,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def _sent(api: FakeBotAPI) -> int:
    return sum(n for chat, n in api.delivered.items() if chat >= FIRST_USER)


async def _until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WITHIN
    while True:
        if condition():
            return
        if loop.time() > deadline:
            raise TimeoutError(f"waited {WITHIN} s for {what}")
        await asyncio.sleep(0.02)


def _rows(db_path: Path) -> dict[str, list[int]]:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT state, chat_id FROM outbox").fetchall()
    states: dict[str, list[int]] = {}
    for state, chat in rows:
        states.setdefault(state, []).append(chat)
    return states


async def _interrupt_and_restart(
    api: FakeBotAPI, tmp_path: Path, how: signal.Signals
) -> tuple[list[int], dict[int, int]]:
    db_path = await _prepare(tmp_path)
    bot = await _bot(api, db_path)
    try:
        await _until(lambda: _sent(api) >= STOP_AFTER, "the first sends")
        bot.send_signal(how)
        await asyncio.wait_for(bot.wait(), WITHIN)
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    in_flight = _rows(db_path).get("sending", [])
    assert _sent(api) < SUBSCRIBERS, "stopped mid-way"
    bot = await _bot(api, db_path)
    try:
        await _until(
            lambda: not {"pending", "sending"} & set(_rows(db_path)), "the rest of the broadcast"
        )
        await _until(lambda: _sent(api) >= SUBSCRIBERS, "every delivery")
    finally:
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), WITHIN)
    delivered = {chat: n for chat, n in api.delivered.items() if chat >= FIRST_USER}
    assert set(_rows(db_path)) == {"sent"}
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return in_flight, delivered


async def test_a_broadcast_killed_mid_way_reaches_everyone_and_repeats_only_the_in_flight(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    in_flight, delivered = await _interrupt_and_restart(fake_api, tmp_path, signal.SIGKILL)
    assert len(delivered) == SUBSCRIBERS, "nobody is missed"
    twice = {chat for chat, n in delivered.items() if n > 1}
    assert all(n <= 2 for n in delivered.values())
    assert twice <= set(in_flight), "a duplicate only from the documented in-flight window"


async def test_a_broadcast_stopped_with_sigterm_resumes_without_sending_anyone_twice(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    in_flight, delivered = await _interrupt_and_restart(fake_api, tmp_path, signal.SIGTERM)
    assert in_flight == [], "a graceful stop records what it sent"
    assert len(delivered) == SUBSCRIBERS
    assert set(delivered.values()) == {1}
