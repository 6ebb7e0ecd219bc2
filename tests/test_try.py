"""`wardvoice try`: a person chats with the real bot in a terminal, no Telegram needed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from bot.config import Settings
from bot.try_chat import try_chat

# Nothing may leave the machine: an address lookup would go to a port nobody listens on.
OFFLINE_GEOCODER = "nominatim:domain=127.0.0.1:9,scheme=http,min_delay=0"


async def chat(tmp_path: Path, lines: list[str], **options: object) -> str:
    said: list[str] = []
    settings = Settings(db_path=tmp_path / "none.db", geocoder=OFFLINE_GEOCODER)
    code = await try_chat(
        settings,
        stdin=io.StringIO("".join(line + "\n" for line in lines)),
        write=said.append,
        **options,  # type: ignore[arg-type]
    )
    assert code == 0
    return "".join(said)


async def test_a_person_finds_their_ward_in_the_terminal_with_the_demo_wards(
    tmp_path: Path,
) -> None:
    shown = await chat(tmp_path, ["/start", "1", "NB1 2BD", "2", "51.41,-0.155", "quit"])
    assert "Using the demo wards" in shown
    assert "bot> 👋 Welcome to WardVoice." in shown
    assert "[1] 📍 Share my location" in shown
    assert "(type the location as lat,lon" in shown, "a location button asks for lat,lon"
    assert "You're in Kingsmead ward, Northbank." in shown, "a postcode"
    assert "[2] 🗓 Weekly digest" in shown
    assert "[i] Saved." in shown, "button 2 was pressed: its answer is shown"
    assert "Your ward is now Old Town ward, Southbank" in shown, "a typed location"
    assert not (tmp_path / "none.db").exists(), "the demo database is a throwaway"


async def test_an_admin_tries_the_panel_tools_and_a_wrong_number_is_explained(
    tmp_path: Path,
) -> None:
    shown = await chat(tmp_path, ["/start E05900002", "9", "/panel", "quit"], admin=True)
    assert "(there is no button 9)" in shown
    assert "Panel tools for Kingsmead ward, Northbank" in shown


def test_wardvoice_try_runs_from_the_command_line_and_stops_at_the_end_of_input(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "WARDVOICE_DB": str(tmp_path / "none.db"),
        "WARDVOICE_GEOCODER": OFFLINE_GEOCODER,
        "TELEGRAM_BOT_TOKEN": "",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "try"],
        input="/help\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "bot> What I can do" in done.stdout
