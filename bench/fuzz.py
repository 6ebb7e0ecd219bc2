"""Fuzzing the handlers at scale: hostile updates of every kind through the real bot.

Run by hand:  /work/venv/bin/python bench/fuzz.py [--updates 100000] [--seed 1]

Builds the bot as the tests do (Settings, open_services, build_application, start_bot) on a
temporary database with the synthetic wards and postcodes, polling a FakeBotAPI on
127.0.0.1, with a fake Nominatim for addresses and a clock that only the schedules move.
tests/fuzzing.py generates the updates (random and hostile text, every command of the bot,
every update type python-telegram-bot parses, forged and mutated button data, floods,
out-of-order and duplicate update ids) and mixes in legitimate flows (residents filing
concerns and voting, a panel opening and closing agenda votes, broadcasts, answers, the
schedules) so deep states are reached. Updates go in batches of about `--batch`, each
waited for until the bot has handled or dropped every copy.

Reports the updates pushed per type, updates per second, the flood limiter's verdicts,
unhandled exceptions (what an error handler saw, each kind with the update that caused it
as a reproduction), errors logged, PRAGMA integrity_check and foreign_key_check, our own
invariants (tests/fuzzing.py INVARIANTS), then one JSON line. Exit status 0 when there
were no unhandled exceptions and the database is consistent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
# python-telegram-bot 22 warns about RetryAfter.retry_after unless this opts in (as the bot does).
os.environ.setdefault("PTB_TIMEDELTA", "true")

from bot.app import build_application  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.runtime import start_bot, stop_bot  # noqa: E402
from bot.services import open_services  # noqa: E402
from tests.conftest import FakeClock, import_into  # noqa: E402
from tests.fakes.bot_api import FakeBotAPI  # noqa: E402
from tests.fakes.nominatim import FakeNominatim  # noqa: E402
from tests.fuzzing import (  # noqa: E402
    Driver,
    ErrorLogs,
    ErrorSeen,
    Fuzzer,
    Scenario,
    bot_commands,
    check_database,
)
from tests.synthetic import synthetic_postcodes_csv, synthetic_wards_geojson  # noqa: E402

PROGRESS_EVERY = 10_000  # updates between progress lines


async def fuzz(
    args: argparse.Namespace, driver: Driver, fuzzer: Fuzzer, scenario: Scenario, started: float
) -> int:
    """The legitimate set-up, then batches of fuzz with flows in between; updates pushed."""
    rng = random.Random(args.seed)
    api = driver.api
    await scenario.setup()
    staff = [user.user_id for user in scenario.staff]
    fuzzed = shown = 0
    while fuzzed < args.updates:
        size = min(args.batch, args.updates - fuzzed)
        batch, driver.next_id = fuzzer.batch(size, driver.next_id)
        await driver.push(batch)
        fuzzed += len(batch)
        driver.observe(fuzzer, [*fuzzer.touched, *staff])
        if rng.random() < args.flow_share:
            await scenario.step()
        del api.calls[:]  # the fake's per-call record, not needed here: keep memory flat
        if fuzzed - shown >= PROGRESS_EVERY:
            shown = fuzzed
            wall = time.perf_counter() - started
            print(
                f"  {fuzzed:>7,} fuzz updates, {driver.pushed_total:,} in all, "
                f"{wall:6.1f} s, {driver.pushed_total / wall:,.0f}/s, "
                f"{len(driver.errors)} unhandled exceptions",
                flush=True,
            )
    return fuzzed


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=100_000, help="fuzz updates to push")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--users", type=int, default=2_000, help="the pool of fuzzing users")
    parser.add_argument("--batch", type=int, default=80, help="updates per getUpdates batch")
    parser.add_argument(
        "--flow-share", type=float, default=0.2, help="chance of a legitimate flow per batch"
    )
    parser.add_argument(
        "--within", type=float, default=300.0, help="seconds a batch may take before it is a hang"
    )
    parser.add_argument("--verbose", action="store_true", help="show the bot's own log")
    args = parser.parse_args()
    # Errors are counted through an error handler and summarised below; the bot's log
    # (a traceback per error) only with --verbose.
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL)
    logs = ErrorLogs()
    logging.getLogger().addHandler(logs)

    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "bench.db"
        await import_into(
            db_path,
            synthetic_wards_geojson(Path(folder) / "wards.geojson"),
            synthetic_postcodes_csv(Path(folder) / "postcodes.csv"),
        )
        api = FakeBotAPI()
        await api.start()
        nominatim = FakeNominatim()
        await nominatim.start()
        settings = Settings(
            token=FakeBotAPI.TOKEN,
            api_base_url=api.base_url,
            api_file_url=api.base_file_url,
            db_path=db_path,
            geocoder=f"nominatim:domain={nominatim.domain},scheme=http,min_delay=0",
            max_send_rate=10_000,
        )
        clock = FakeClock()
        services = await open_services(settings, clock)
        application = build_application(services)
        driver = Driver(api, services, application, within=args.within)
        await start_bot(application, poll_timeout=1)

        codes = [row[0] for row in await services.db.fetchall("SELECT code FROM wards")]
        fuzzer = Fuzzer(
            args.seed,
            ward_codes=sorted(codes),
            commands=bot_commands(application),
            bot_user=api.bot_user,
            clock=lambda: clock.now().timestamp(),
            users=args.users,
        )
        scenario = Scenario(driver, fuzzer, args.seed)
        print(
            f"fuzzing with {args.updates:,} updates (seed {args.seed}, {args.users:,} users, "
            f"batches of {args.batch}, a legitimate flow after {args.flow_share:.0%} of them)"
        )
        started = time.perf_counter()
        fuzzed = 0
        hang: str | None = None
        try:
            fuzzed = await fuzz(args, driver, fuzzer, scenario, started)
            await driver.delivered()
        except TimeoutError as err:  # a batch not handled in time: report where it hangs
            hang = str(err)
        wall = time.perf_counter() - started
        try:
            async with asyncio.timeout(60):
                await stop_bot(application)
                await services.close()
        except TimeoutError:
            print("the bot did not stop within 60 s", flush=True)
        await nominatim.stop()
        await api.stop()
        logging.getLogger().removeHandler(logs)
        report = check_database(db_path, max_concerns_per_day=settings.max_concerns_per_day)

    # What an error handler saw is also logged (handlers/errors.py): count the rest only.
    logged = [r for r in logs.records if r.name != "handlers.errors"]
    kinds = Counter(e.signature for e in driver.errors)
    first_of: dict[str, ErrorSeen] = {}
    for error in driver.errors:
        first_of.setdefault(error.signature, error)
    result = {
        "bench": "fuzz",
        "hang": hang,
        "seed": args.seed,
        "users": args.users,
        "fuzz_updates": fuzzed,
        "updates": driver.pushed_total,
        "duplicates_pushed": driver.duplicates,
        "out_of_order_pushed": driver.out_of_order,
        "handled_more_than_pushed": driver.unexpected,
        "wall_s": round(wall, 1),
        "updates_per_s": round(driver.pushed_total / wall, 1) if wall else None,
        "flood": dict(driver.flood.verdicts),
        "unhandled_exceptions": len(driver.errors),
        "exception_kinds": len(kinds),
        "exceptions": dict(kinds.most_common()),
        "errors_logged": len(logged),
        "integrity_check": report.integrity_check[0]
        if report.integrity_check == ["ok"]
        else report.integrity_check[:5],
        "foreign_key_check": len(report.foreign_key_check),
        "invariants_broken": sorted(report.broken),
        "flows": dict(scenario.flows),
        "flows_abandoned": dict(scenario.abandoned),
        "rows": report.rows,
        "per_type": dict(driver.pushed.most_common()),
    }

    print(f"\nupdates pushed per type ({driver.pushed_total:,} in all):")
    for kind, count in driver.pushed.most_common():
        print(f"  {kind:28} {count:>8,}")
    print("generator kinds:", ", ".join(f"{k} {n:,}" for k, n in fuzzer.kinds.most_common()))
    print(
        f"{driver.pushed_total:,} updates in {wall:.1f} s: {result['updates_per_s']:,} updates/s "
        f"({driver.duplicates:,} pushed twice with the same update_id, "
        f"{driver.out_of_order:,} with an id lower than one before it)"
    )
    print(f"flood limiter: {dict(driver.flood.verdicts)}")
    print(f"legitimate flows: {dict(scenario.flows)}; abandoned: {dict(scenario.abandoned)}")
    print(f"rows: {report.rows}")
    print(f"unhandled exceptions: {len(driver.errors)} ({len(kinds)} kinds)")
    for kind, count in kinds.most_common():
        error = first_of[kind]
        print(f"  {count} × {error.error[:200]}")
        print(f"    at {error.where}")
        print(f"    first on update {error.update_id} ({error.kind}), as pushed:")
        print(f"    {json.dumps(error.raw, ensure_ascii=True)[:3000]}")
    print(f"errors logged (besides the error handler's): {len(logged)}")
    for name, count in Counter(f"{r.name}: {r.getMessage()[:160]}" for r in logged).most_common(10):
        print(f"  {count} × {name}")
    print(f"integrity_check: {', '.join(report.integrity_check[:5])}")
    print(f"foreign_key_check: {len(report.foreign_key_check)} rows {report.foreign_key_check[:5]}")
    print(f"invariants broken: {len(report.broken)}")
    for name, rows in report.broken.items():
        print(f"  {name}: {rows}")
    if hang is not None:
        print(f"HANG: {hang}")
    print(json.dumps(result))
    goal = not driver.errors and report.ok and not driver.unexpected and hang is None
    return 0 if goal else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
