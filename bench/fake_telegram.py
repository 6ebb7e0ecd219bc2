"""The fake Telegram Bot API in a process of its own, for benchmarks.

Run from the repository root:

    /work/venv/bin/python bench/fake_telegram.py --port-file PATH [--limits]
        [--latency SECONDS] [--no-record]

Starts tests.fakes.bot_api.FakeBotAPI on 127.0.0.1 (a random free port), writes its
base_url (".../bot", what Settings.api_base_url takes) to PATH once it is listening, and
serves until SIGTERM or SIGINT. A benchmark reads the counters with GET /stats on the same
host and port (sent_total, rejected_429, violations, max_sends_in_any_second, duplicates,
chats, ...) and zeros them with POST /reset. Its own process keeps the fake's CPU off the
bot's event loop, so the bot's throughput is measured, not the fake's.

--limits enforces Telegram's flood limits (TelegramLimits defaults: 30 sends a second
overall, 3 in 3 s per chat, retry_after 1, doubled for a client that ignores it).
--no-record keeps only counters for sendMessage (no per-call list, no stored messages).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fakes.bot_api import FakeBotAPI, TelegramLimits  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port-file", type=Path, required=True, help="where to write the base_url")
    parser.add_argument(
        "--limits", action="store_true", help="enforce Telegram's flood limits (429s)"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="count sendMessage calls instead of keeping them (for long runs)",
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> dict:
    api = FakeBotAPI(limits=TelegramLimits() if args.limits else None, record=not args.no_record)
    api.latency = args.latency
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await api.start()
    try:
        # Written whole, then renamed: a reader polling for the file never sees half a URL.
        partial = args.port_file.with_name(args.port_file.name + ".partial")
        partial.write_text(api.base_url + "\n")
        os.replace(partial, args.port_file)
        await stop.wait()
    finally:
        await api.stop()
        with contextlib.suppress(FileNotFoundError):
            args.port_file.unlink()
    return api.stats()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    stats = asyncio.run(serve(args))
    # The final counters, one JSON line on stderr, for a run that did not ask /stats.
    print(json.dumps({"fake_telegram": stats}), file=sys.stderr)


if __name__ == "__main__":
    main()
