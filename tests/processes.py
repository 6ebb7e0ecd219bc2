"""`wardvoice run` as a process of its own against the fake Bot API (the kill tests)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import IO

from tests.fakes.bot_api import FakeBotAPI

WARDVOICE = Path(sys.executable).with_name("wardvoice")


async def spawn_wardvoice(
    api: FakeBotAPI, db: Path, log: IO[bytes] | int, **settings: str
) -> asyncio.subprocess.Process:
    """Start the bot on `db`, polling `api`, its output to `log` (a file, or
    asyncio.subprocess.PIPE to read it with communicate()); `settings` are more
    WARDVOICE_* variables (WARDVOICE_MAX_SEND_RATE="2000")."""
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": FakeBotAPI.TOKEN,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_API_FILE_URL": api.base_file_url,
        "WARDVOICE_DB": str(db),
        "WARDVOICE_GEOCODER": "none",
        **settings,
    }
    return await asyncio.create_subprocess_exec(
        str(WARDVOICE),
        "run",
        env=env,
        cwd=db.parent,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log,
        stderr=log,  # for a long run a file: a full pipe nobody reads would stall the bot
    )
