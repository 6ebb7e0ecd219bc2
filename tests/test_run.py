"""`wardvoice run` as a real process: long polling against the fake Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.conftest import import_into
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.users import SimUser
from tests.processes import spawn_wardvoice
from tests.synthetic import synthetic_wards_geojson

STARTUP_WITHIN = 30.0  # generous: a shared CI machine; bench/startup.py measures it


async def _run_bot(api: FakeBotAPI, db: Path) -> asyncio.subprocess.Process:
    return await spawn_wardvoice(api, db, asyncio.subprocess.PIPE)


async def _stop(process: asyncio.subprocess.Process) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), STARTUP_WITHIN)
    return process.returncode or 0, err.decode()


async def test_console_script_runs_the_bot_and_stops_cleanly(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    db = tmp_path / "wardvoice.db"
    await import_into(db, synthetic_wards_geojson(tmp_path / "w.geojson"), None)
    process = await _run_bot(fake_api, db)
    resident = SimUser(42)
    fake_api.push_update(resident.message("/start E05900002"))
    call = await fake_api.wait_for_call(42, method="sendMessage", within=STARTUP_WITHIN)
    while "Kingsmead" not in (call.text or ""):
        call = await fake_api.wait_for_call(
            42, method="sendMessage", since=fake_api.calls.index(call) + 1, within=STARTUP_WITHIN
        )
    assert fake_api.commands_for({"type": "all_private_chats"}), "the command menu was set"
    code, err = await _stop(process)
    assert code == 0, err
    assert FakeBotAPI.TOKEN not in err, "the token never reaches the log"


async def test_bot_with_no_wards_starts_and_says_the_area_is_not_set_up(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    process = await _run_bot(fake_api, tmp_path / "empty.db")
    fake_api.push_update(SimUser(43).message("/start"))
    call = await fake_api.wait_for_call(43, method="sendMessage", within=STARTUP_WITHIN)
    while "not set up for any area yet" not in (call.text or ""):
        call = await fake_api.wait_for_call(
            43, method="sendMessage", since=fake_api.calls.index(call) + 1, within=STARTUP_WITHIN
        )
    code, err = await _stop(process)
    assert code == 0, err
    assert "no wards imported" in err
