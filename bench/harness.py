"""What the in-process benches share: waiting for the bot to have handled an update, and
percentiles. The benches run as scripts (`python bench/x.py`), so this folder is on their
import path."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field

HANDLED_WITHIN = 300.0  # seconds; only a stuck bot gets near this


class StepFailed(Exception):
    """The bot's answer was not the one the next step needs."""


@dataclass
class Handled:
    """How many times each update id was handled (or dropped), with waiters."""

    counts: Counter[int] = field(default_factory=Counter)
    at: dict[int, float] = field(default_factory=dict)  # first handling, perf_counter
    waiters: dict[int, list[tuple[int, asyncio.Future[None]]]] = field(default_factory=dict)

    def listener(self, update: object) -> None:
        update_id = getattr(update, "update_id", None)
        if update_id is None:
            return
        self.counts[update_id] += 1
        self.at.setdefault(update_id, time.perf_counter())
        for need, future in self.waiters.pop(update_id, []):
            if self.counts[update_id] >= need:
                if not future.done():
                    future.set_result(None)
            else:
                self.waiters.setdefault(update_id, []).append((need, future))

    async def wait(self, update_id: int, times: int = 1) -> None:
        if self.counts[update_id] >= times:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(update_id, []).append((times, future))
        await asyncio.wait_for(future, HANDLED_WITHIN)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def latency_summary(seconds: list[float], prefix: str = "latency_ms") -> dict[str, float | None]:
    """p50/p95/p99/max of latencies given in seconds, in milliseconds, for a JSON line."""
    ms = [x * 1000 for x in seconds]
    return {
        f"{prefix}_p50": round(percentile(ms, 50), 1) if ms else None,
        f"{prefix}_p95": round(percentile(ms, 95), 1) if ms else None,
        f"{prefix}_p99": round(percentile(ms, 99), 1) if ms else None,
        f"{prefix}_max": round(max(ms), 1) if ms else None,
    }


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, all its threads (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name (field 2) may hold spaces; the fields after it are fixed.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
