"""Start-up to first answer: `wardvoice run` with all England and Wales wards imported.

Run by hand:  .venv/bin/python bench/startup.py [--runs 5]

Imports ../shared/data/england_wales_wards_2022_bsc.geojson into a temporary database,
starts a fake Bot API on 127.0.0.1, then for each run spawns `wardvoice run` with a /start
already waiting, and times from spawn to the bot's reply. Prints one JSON line at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import import_into  # noqa: E402
from tests.fakes.bot_api import FakeBotAPI  # noqa: E402
from tests.fakes.users import SimUser  # noqa: E402

DATA = REPO.parent / "shared" / "data"


async def one_run(api: FakeBotAPI, db: Path, user_id: int) -> float:
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": FakeBotAPI.TOKEN,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "WARDVOICE_DB": str(db),
        "WARDVOICE_GEOCODER": "none",
    }
    since = len(api.calls)
    api.push_update(SimUser(user_id).message("/start E05013806"))
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("wardvoice")),
        "run",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await api.wait_for_call(user_id, method="sendMessage", since=since, within=60)
    elapsed = time.perf_counter() - started
    process.send_signal(signal.SIGTERM)
    await process.wait()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    wards = DATA / "england_wales_wards_2022_bsc.geojson"
    if not wards.exists():
        sys.exit(f"needs {wards}")
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "ew.db"
        t0 = time.perf_counter()
        await import_into(db, wards, None)
        print(f"imported all England and Wales wards in {time.perf_counter() - t0:.1f} s")
        api = FakeBotAPI()
        await api.start()
        try:
            times = []
            for run in range(args.runs):
                elapsed = await one_run(api, db, 500 + run)
                times.append(elapsed)
                print(f"run {run + 1}: first answer {elapsed:.2f} s after spawn")
        finally:
            await api.stop()
    result = {
        "bench": "startup",
        "wards": 7665,
        "runs": args.runs,
        "first_answer_s_median": round(statistics.median(times), 3),
        "first_answer_s_max": round(max(times), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
