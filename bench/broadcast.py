"""A broadcast to many subscribers through the real outbox dispatcher, against a fake
Telegram in its own process (bench/fake_telegram.py).

Run by hand from the repository root:

    python bench/broadcast.py                     # 10,000 with Telegram's limits, then
                                                  # 10,000 with the limits off
    python bench/broadcast.py --only limits --recipients 2000
    python bench/broadcast.py --kill              # SIGKILL during 5,000, restart, count

limits: the fake answers 429 past 30 sends a second (and per chat), as Telegram does; the
bot paces at WARDVOICE_MAX_SEND_RATE (28). Reported: messages a second sustained, 429s
received, violations (sends that ignored a retry_after), the most sends the fake saw in
any one second, duplicates and misses.

unlimited: the fake enforces nothing and the bot's pacer is set to 100,000 a second, to
show what the dispatcher itself can do (Telegram's paid broadcasts allow 1,000 a second).

kill: `wardvoice run` in a child process sends a 5,000-recipient broadcast; it is killed
with SIGKILL at a random moment, the rows it left `sending` (the documented in-flight
window) are counted, the bot is started again and finishes. Duplicates must not exceed
that window; misses must be 0.

Human lines, then one JSON line per run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from bot.app import build_application  # noqa: E402
from bot.clock import SystemClock, to_iso  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import open_services  # noqa: E402
from schedules.dispatcher import Dispatcher  # noqa: E402
from storage import outbox  # noqa: E402
from storage.outbox import Envelope, Recipient  # noqa: E402
from tests.conftest import import_into  # noqa: E402
from tests.fakes.bot_api import FakeBotAPI  # noqa: E402
from tests.synthetic import synthetic_wards_geojson  # noqa: E402

WARD = "E05900002"
FIRST_USER = 500_001
TEXT = (
    "📣 <b>News from the Kingsmead neighbourhood team</b>\n\nThe bus shelter on Mill Lane "
    "has been repaired and the street lights on Church Walk now work again."
)


class FakeTelegram:
    """bench/fake_telegram.py in a child process."""

    def __init__(self, folder: Path, *, limits: bool) -> None:
        self.port_file = folder / f"fake-{limits}.url"
        args = [
            sys.executable,
            str(REPO / "bench" / "fake_telegram.py"),
            "--port-file",
            str(self.port_file),
            "--no-record",
        ]
        if limits:
            args.append("--limits")
        self.process = subprocess.Popen(args, cwd=REPO)
        deadline = time.monotonic() + 20
        while not self.port_file.exists() or not self.port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the fake Telegram did not start")
            time.sleep(0.05)
        self.base_url = self.port_file.read_text().strip()

    def _root(self) -> str:
        return self.base_url.rsplit("/bot", 1)[0]

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self._root() + "/stats", timeout=10) as answer:
            return json.loads(answer.read())

    def reset(self) -> None:
        request = urllib.request.Request(self._root() + "/reset", method="POST", data=b"")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)


def seed(db_path: Path, template: Path, recipients: int) -> None:
    """The synthetic wards plus `recipients` weekly subscribers of one ward.

    Plain sqlite3 here: this is the benchmark's set-up, not the product (the product's SQL
    stays in storage/).
    """
    db_path.write_bytes(template.read_bytes())
    now = to_iso(SystemClock().now())
    with sqlite3.connect(db_path) as conn:
        conn.executemany(
            "INSERT INTO residents (user_id, language, ward_code, created_at, updated_at, "
            "updates, updates_asked_at) VALUES (?, 'en', ?, ?, ?, 'weekly', ?)",
            [(FIRST_USER + n, WARD, now, now, now) for n in range(recipients)],
        )


def envelope(recipients: int) -> Envelope:
    return Envelope(
        "broadcast",
        {"en": TEXT},
        [Recipient(FIRST_USER + n) for n in range(recipients)],
        ward_code=WARD,
        created_by="bench",
    )


async def broadcast_run(
    name: str,
    folder: Path,
    template: Path,
    recipients: int,
    *,
    limits: bool,
    rate: float,
    concurrency: int,
) -> dict[str, Any]:
    fake = FakeTelegram(folder, limits=limits)
    try:
        db_path = folder / f"{name}.db"
        seed(db_path, template, recipients)
        settings = Settings(
            token=FakeBotAPI.TOKEN,
            api_base_url=fake.base_url,
            db_path=db_path,
            geocoder="none",
            max_send_rate=rate,
            send_concurrency=concurrency,
        )
        services = await open_services(settings)
        application = build_application(services)
        await application.initialize()
        dispatcher = Dispatcher(services, application.bot)
        await outbox.enqueue(services.db, envelope(recipients), to_iso(SystemClock().now()))
        fake.reset()
        started = time.perf_counter()
        await dispatcher.start()
        await dispatcher.drained(within=3600)
        elapsed = time.perf_counter() - started
        await dispatcher.stop()
        items = await outbox.items_by_kind(services.db, "broadcast")
        counts = await outbox.counts(services.db, items[0].id)
        await application.shutdown()
        await services.close()
        served = fake.stats()
    finally:
        fake.stop()
    return {
        "run": name,
        "recipients": recipients,
        "pace": rate,
        "seconds": round(elapsed, 2),
        "per_second": round(served["sent_total"] / elapsed, 1),
        # As Telegram would see it: from the first message to the last.
        "sustained_per_second": round((served["sends_accepted"] - 1) / served["span_seconds"], 1)
        if served["span_seconds"]
        else None,
        "sent_rows": counts.sent,
        "failed_rows": counts.failed,
        "retry_after_seen_by_bot": dispatcher.stats.retry_after,
        "rejected_429": served["rejected_429"],
        "violations": served["violations"],
        "max_in_any_second": served["max_sends_in_any_second"],
        "duplicates": served["duplicates"],
        "misses": recipients - served["chats"],
    }


def _bot_process(settings_env: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings_env}
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _states(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        return dict(conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())


def kill_run(
    folder: Path,
    template: Path,
    recipients: int,
    *,
    limits: bool,
    rate: float,
    seed_value: int | None,
) -> dict[str, Any]:
    fake = FakeTelegram(folder, limits=limits)
    rng = random.Random(seed_value)
    try:
        db_path = folder / "kill.db"
        seed(db_path, template, recipients)

        async def queue() -> None:
            services = await open_services(Settings(db_path=db_path, geocoder="none"))
            await outbox.enqueue(services.db, envelope(recipients), to_iso(SystemClock().now()))
            await services.close()

        asyncio.run(queue())
        env = {
            "TELEGRAM_BOT_TOKEN": FakeBotAPI.TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "WARDVOICE_DB": str(db_path),
            "WARDVOICE_GEOCODER": "none",
            "WARDVOICE_MAX_SEND_RATE": str(rate),
        }
        fake.reset()
        bot = _bot_process(env)
        expected = recipients / min(rate, 30 if limits else rate)
        # Wait for sending to begin, then kill somewhere in the first 80 % of the run.
        while fake.stats()["sent_total"] == 0:
            if bot.poll() is not None:
                raise RuntimeError(bot.stderr.read().decode() if bot.stderr else "bot died")
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, expected * 0.8))
        bot.send_signal(signal.SIGKILL)
        bot.wait()
        at_kill = fake.stats()["sent_total"]
        states = _states(db_path)
        in_flight = states.get("sending", 0)
        restarted = time.perf_counter()
        bot = _bot_process(env)
        while True:
            states = _states(db_path)
            if states.get("pending", 0) == 0 and states.get("sending", 0) == 0:
                break
            if bot.poll() is not None:
                raise RuntimeError(bot.stderr.read().decode() if bot.stderr else "bot died")
            time.sleep(0.2)
        finish = time.perf_counter() - restarted
        bot.send_signal(signal.SIGTERM)
        bot.wait(timeout=30)
        served = fake.stats()
    finally:
        fake.stop()
    return {
        "run": "kill",
        "recipients": recipients,
        "sent_before_kill": at_kill,
        "in_flight_at_kill": in_flight,
        "seconds_after_restart": round(finish, 2),
        "duplicates": served["duplicates"],
        "misses": recipients - served["chats"],
        "duplicates_within_in_flight_window": served["duplicates"] <= in_flight,
        "violations": served["violations"],
        "final_states": states,
    }


def report(result: dict[str, Any]) -> None:
    if result["run"] == "kill":
        print(
            f"kill: {result['recipients']:,} recipients; killed after "
            f"{result['sent_before_kill']:,} sent with {result['in_flight_at_kill']} in flight; "
            "after restart: "
            f"{result['duplicates']} duplicates (allowed: {result['in_flight_at_kill']}), "
            f"{result['misses']} misses"
        )
    else:
        print(
            f"{result['run']}: {result['recipients']:,} in {result['seconds']} s = "
            f"{result['per_second']:,} msg/s ({result['sustained_per_second']:,} sustained, first "
            f"to last message); 429s {result['rejected_429']} "
            f"(violations {result['violations']}), most in one second "
            f"{result['max_in_any_second']}; duplicates {result['duplicates']}, "
            f"misses {result['misses']}, failed {result['failed_rows']}"
        )
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--only", choices=("limits", "unlimited"))
    parser.add_argument("--rate", type=float, default=28.0, help="the bot's pace with limits")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--kill", action="store_true", help="the SIGKILL and restart run")
    parser.add_argument("--kill-recipients", type=int, default=5_000)
    parser.add_argument(
        "--kill-unlimited", action="store_true", help="kill run without Telegram's limits (fast)"
    )
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wardvoice-bench-") as tmp:
        folder = Path(tmp)
        template = folder / "template.db"
        asyncio.run(import_into(template, synthetic_wards_geojson(folder / "wards.geojson"), None))
        if args.kill:
            limits = not args.kill_unlimited
            report(
                kill_run(
                    folder,
                    template,
                    args.kill_recipients,
                    limits=limits,
                    rate=args.rate if limits else 100_000,
                    seed_value=args.seed,
                )
            )
            return
        if args.only in (None, "limits"):
            report(
                asyncio.run(
                    broadcast_run(
                        "limits",
                        folder,
                        template,
                        args.recipients,
                        limits=True,
                        rate=args.rate,
                        concurrency=args.concurrency,
                    )
                )
            )
        if args.only in (None, "unlimited"):
            report(
                asyncio.run(
                    broadcast_run(
                        "unlimited",
                        folder,
                        template,
                        args.recipients,
                        limits=False,
                        rate=100_000,
                        concurrency=max(args.concurrency, 64),
                    )
                )
            )


if __name__ == "__main__":
    main()
