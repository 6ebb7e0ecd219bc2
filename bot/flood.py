"""Per-user flood control: a sliding window of update times per user.

In memory on purpose: it protects the running process, and losing it on restart is
harmless. A user over the limit gets exactly one notice per window; the rest of their
burst is dropped before it queues, so everyone else stays responsive.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import Enum


class Verdict(Enum):
    ALLOW = "allow"
    NOTIFY = "notify"  # first update over the limit: drop it and tell the user once
    DROP = "drop"


class FloodGate:
    MAX_TRACKED = 50_000

    def __init__(
        self, burst: int, window: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.window = window
        self._now = monotonic
        self._seen: dict[int, deque[float]] = {}
        self._notified: dict[int, float] = {}

    def check(self, user_id: int) -> Verdict:
        now = self._now()
        times = self._seen.get(user_id)
        if times is None:
            if len(self._seen) >= self.MAX_TRACKED:
                self._forget_idle(now)
            times = self._seen[user_id] = deque()
        while times and now - times[0] > self.window:
            times.popleft()
        if len(times) < self.burst:
            times.append(now)
            return Verdict.ALLOW
        notified = self._notified.get(user_id)
        if notified is not None and now - notified <= self.window:
            return Verdict.DROP
        self._notified[user_id] = now
        return Verdict.NOTIFY

    def _forget_idle(self, now: float) -> None:
        for user_id in [u for u, t in self._seen.items() if not t or now - t[-1] > self.window]:
            del self._seen[user_id]
            self._notified.pop(user_id, None)
