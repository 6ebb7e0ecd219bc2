"""Many residents filing concerns at once, in process, against the fake Bot API.

Run by hand:  /work/venv/bin/python bench/concerns.py [--residents 1000] [--double-tap 0.1]

Builds the bot as the tests do (Settings, open_services, build_application, start_bot) on a
temporary database with the synthetic wards, polling a FakeBotAPI on 127.0.0.1. Every
resident starts at once and goes /start E05900002 → /concern → Noise → text → Skip place →
Skip photo → Send, each step pushed only once the bot has handled the one before.

Double tap: a share of the residents (10 % by default) press Send twice at once, and the
first of those presses is also delivered twice with the same update_id (as Telegram does
when an update was fetched but not confirmed). Each of them must still have exactly one
concern and one "Your reference is" message.

Reports concerns stored, distinct references, duplicates, errors seen by the error handler,
wall time, updates per second, and p50/p95/p99 of the time from pushing an update to the
bot having handled it (its answer in that chat is sent by then). Human lines, then one
JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
# python-telegram-bot 22 warns about RetryAfter.retry_after unless this opts in (as the bot does).
os.environ.setdefault("PTB_TIMEDELTA", "true")

from harness import Handled, StepFailed, percentile  # noqa: E402

from bot.app import build_application  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.runtime import start_bot, stop_bot  # noqa: E402
from bot.services import open_services  # noqa: E402
from bot.updates import PerUserUpdateProcessor  # noqa: E402
from handlers import callback_data as cb  # noqa: E402
from tests.conftest import import_into  # noqa: E402
from tests.fakes.bot_api import FakeBotAPI  # noqa: E402
from tests.fakes.users import SimUser  # noqa: E402
from tests.synthetic import synthetic_wards_geojson  # noqa: E402

WARD = "E05900002"  # Kingsmead, Northbank
TEXT = "Loud music from the flat above until three in the morning, every night this week."
REF = re.compile(r"WV-[2-9A-HJKMNP-Z]{5}")
FIRST_USER = 100_001


@dataclass
class Outcome:
    user_id: int
    double_tap: bool
    ref: str | None = None
    thanks: int = 0  # "Your reference is" messages in the chat
    already_sent: list[str] = field(default_factory=list)  # "Already sent as" answers
    apologies: int = 0  # "Sorry, something went wrong" messages (the error handler's)
    failure: str | None = None


class Bench:
    def __init__(self, api: FakeBotAPI, handled: Handled, *, redeliver: bool) -> None:
        self.api = api
        self.handled = handled
        self.redeliver = redeliver
        self.latencies: list[float] = []
        self.pushed = 0

    async def deliver(self, update: dict) -> int:
        """Push one update and wait until the bot has handled it; records the latency."""
        started = time.perf_counter()
        update_id = self.api.push_update(update)
        self.pushed += 1
        await self.handled.wait(update_id)
        self.latencies.append(self.handled.at[update_id] - started)
        return update_id

    def button_message(self, chat_id: int, data: str) -> dict:
        for message in reversed(self.api.messages(chat_id)):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
            if any(b.get("callback_data") == data for row in rows for b in row):
                return message
        raise StepFailed(f"no button {data!r} in chat {chat_id}")

    def draft_key(self, chat_id: int) -> str:
        for message in reversed(self.api.messages(chat_id)):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    parsed = cb.CONCERN_CATEGORY.parse(button.get("callback_data"))
                    if parsed is not None:
                        return parsed["key"]
        raise StepFailed(f"no category buttons in chat {chat_id}")

    async def press(self, sim: SimUser, data: str) -> None:
        await self.deliver(sim.callback(data, message=self.button_message(sim.chat_id, data)))

    async def file(self, outcome: Outcome) -> None:
        sim = SimUser(outcome.user_id, first_name=f"Resident{outcome.user_id}")
        chat = sim.chat_id
        await self.deliver(sim.message(f"/start {WARD}"))
        await self.deliver(sim.message("/concern"))
        key = self.draft_key(chat)
        await self.press(sim, cb.CONCERN_CATEGORY.build(key=key, category="noise"))
        await self.deliver(sim.message(TEXT))
        await self.press(sim, cb.CONCERN_SKIP.build(key=key, step="place"))
        await self.press(sim, cb.CONCERN_SKIP.build(key=key, step="photo"))
        send = cb.CONCERN_SEND.build(key=key)
        review = self.button_message(chat, send)
        if not outcome.double_tap:
            await self.deliver(sim.callback(send, message=review))
        else:
            first = sim.callback(send, message=review)
            second = sim.callback(send, message=review)
            started = time.perf_counter()
            first_id = self.api.push_update(first)
            if self.redeliver:
                self.api.push_update({**first, "update_id": first_id})  # delivered twice
                self.pushed += 1
            second_id = self.api.push_update(second)
            self.pushed += 2
            await self.handled.wait(first_id, times=2 if self.redeliver else 1)
            await self.handled.wait(second_id)
            self.latencies.append(self.handled.at[first_id] - started)
            for update in (first, second):
                answer = self.api.answered_callbacks.get(update["callback_query"]["id"], {})
                if str(answer.get("text") or "").startswith("Already sent as"):
                    outcome.already_sent.append(str(answer["text"]))
        for message in self.api.messages(chat):
            text = message.get("text") or ""
            if text.startswith("Sorry, something went wrong"):
                outcome.apologies += 1
            if "Your reference is" in text:
                outcome.thanks += 1
                match = REF.search(text)
                outcome.ref = match.group(0) if match else None
        if outcome.ref is None:
            raise StepFailed(f"no reference in chat {chat}")

    async def resident(self, outcome: Outcome) -> None:
        try:
            await self.file(outcome)
        except (StepFailed, TimeoutError) as err:
            outcome.failure = f"{type(err).__name__}: {err}"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=1000)
    parser.add_argument("--double-tap", type=float, default=0.1, help="share of residents")
    parser.add_argument("--send-rate", type=float, default=10_000.0, help="sends per second")
    parser.add_argument(
        "--no-redeliver",
        dest="redeliver",
        action="store_false",
        help="double tappers press Send twice, without the same update delivered twice",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="show the bot's own log")
    args = parser.parse_args()
    # Errors are counted through an error handler and summarised below; the bot's log
    # (a traceback per error) only with --verbose.
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "bench.db"
        await import_into(db_path, synthetic_wards_geojson(Path(folder) / "wards.geojson"), None)
        api = FakeBotAPI()
        await api.start()
        settings = Settings(
            token=FakeBotAPI.TOKEN,
            api_base_url=api.base_url,
            api_file_url=api.base_file_url,
            db_path=db_path,
            geocoder="none",
            max_send_rate=args.send_rate,
        )
        services = await open_services(settings)
        application = build_application(services)
        errors: list[BaseException] = []

        async def record(update: object, context: Any) -> None:
            errors.append(context.error)  # type: ignore[arg-type]

        application.add_error_handler(record)
        handled = Handled()
        processor = application.update_processor
        assert isinstance(processor, PerUserUpdateProcessor)
        processor.listeners.append(handled.listener)
        await start_bot(application, poll_timeout=1)

        bench = Bench(api, handled, redeliver=args.redeliver)
        tappers = set(rng.sample(range(args.residents), round(args.residents * args.double_tap)))
        outcomes = [Outcome(FIRST_USER + n, n in tappers) for n in range(args.residents)]
        again = ", their first press delivered twice" if args.redeliver else ""
        print(
            f"{args.residents} residents filing at once ({len(tappers)} double-tapping Send"
            f"{again}), sends paced at {args.send_rate:g}/s"
        )
        started = time.perf_counter()
        await asyncio.gather(*(bench.resident(o) for o in outcomes))
        wall = time.perf_counter() - started

        await stop_bot(application)
        await services.close()
        await api.stop()

        with sqlite3.connect(db_path) as conn:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            rows = conn.execute(
                "SELECT raised_by, ref, draft_key FROM concerns WHERE raised_by >= ?",
                (FIRST_USER,),
            ).fetchall()
            drafts_left = conn.execute("SELECT count(*) FROM concern_drafts").fetchone()[0]

    per_resident = Counter(user for user, _, _ in rows)
    refs = Counter(ref for _, ref, _ in rows)
    keys = Counter(key for _, _, key in rows)
    stored_ref = {user: ref for user, ref, _ in rows}
    duplicates = sum(n - 1 for n in per_resident.values() if n > 1) + sum(
        n - 1 for n in keys.values() if n > 1
    )
    failures = [o for o in outcomes if o.failure]
    wrong_ref = [o for o in outcomes if o.ref and stored_ref.get(o.user_id) != o.ref]
    extra_thanks = [o for o in outcomes if o.thanks > 1]
    tappers_out = [o for o in outcomes if o.double_tap]
    tappers_ok = [
        o
        for o in tappers_out
        if not o.failure
        and per_resident[o.user_id] == 1
        and o.thanks == 1
        and o.already_sent
        and all(o.ref in text for text in o.already_sent)
    ]
    lat_ms = [x * 1000 for x in bench.latencies]
    result = {
        "bench": "concerns",
        "residents": args.residents,
        "double_tappers": len(tappers_out),
        "double_tappers_ok": len(tappers_ok),
        "stored": len(rows),
        "distinct_refs": len(refs),
        "duplicates": duplicates,
        "residents_with_more_than_one": sum(1 for n in per_resident.values() if n > 1),
        "refs_seen_not_stored": len(wrong_ref),
        "extra_thank_you_messages": sum(o.thanks - 1 for o in extra_thanks),
        "failed_residents": len(failures),
        "errors": len(errors),
        "residents_told_something_went_wrong": sum(1 for o in outcomes if o.apologies),
        "drafts_left": drafts_left,
        "integrity": integrity,
        "updates": bench.pushed,
        "wall_s": round(wall, 3),
        "updates_per_s": round(bench.pushed / wall, 1) if wall else None,
        "latency_ms_p50": round(percentile(lat_ms, 50), 1),
        "latency_ms_p95": round(percentile(lat_ms, 95), 1),
        "latency_ms_p99": round(percentile(lat_ms, 99), 1),
        "latency_ms_max": round(max(lat_ms), 1) if lat_ms else None,
        "latency_ms_mean": round(statistics.fmean(lat_ms), 1) if lat_ms else None,
        "send_rate": args.send_rate,
        "redeliver": args.redeliver,
    }

    print(f"stored {len(rows)} concerns, {len(refs)} distinct references, {duplicates} duplicates")
    print(
        f"double tap: {len(tappers_ok)} of {len(tappers_out)} residents have one concern, one "
        "thank-you and an 'Already sent' answer"
    )
    print(
        f"errors seen by the error handler: {len(errors)} "
        f"({result['residents_told_something_went_wrong']} residents told something went wrong)"
    )
    for kind, n in Counter(f"{type(e).__name__}: {e}" for e in errors).most_common(5):
        print(f"  {n} × {kind}")
    print(f"residents who could not finish: {len(failures)}")
    for o in failures[:5]:
        print(f"  {o.user_id}: {o.failure}")
    if wrong_ref:
        print(f"references seen but not stored for that resident: {len(wrong_ref)}")
    print(f"database: integrity {integrity}, {drafts_left} drafts left")
    print(
        f"{bench.pushed} updates in {wall:.2f} s: {result['updates_per_s']} updates/s; "
        f"push → handled p50 {result['latency_ms_p50']} ms, p95 {result['latency_ms_p95']} ms, "
        f"p99 {result['latency_ms_p99']} ms, max {result['latency_ms_max']} ms"
    )
    print(json.dumps(result))
    goal = (
        len(rows) == args.residents
        and len(refs) == args.residents
        and duplicates == 0
        and not errors
        and not result["residents_told_something_went_wrong"]
        and not failures
        and not wrong_ref
        and len(tappers_ok) == len(tappers_out)
        and integrity == "ok"
    )
    return 0 if goal else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
