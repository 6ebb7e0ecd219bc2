"""A nudge to a ward's panel when its priorities have not been reviewed (added, reworded
or retired) for longer than its meeting cycle.

The cycle is the median gap between the ward's last meetings, or `meeting_cycle_days`
when it has fewer than two. One nudge per overdue cycle: keyed by the last review and
how many cycles have passed since, so a review stops them and a long silence repeats
them once a cycle, never once a minute.
"""

from __future__ import annotations

import itertools
import statistics
from datetime import timedelta

from bot.clock import from_iso, to_iso
from bot.domain import notices
from bot.i18n import t
from bot.render import Html, join
from bot.services import Services
from storage import outbox
from storage import schedules as store

PANEL_ROLES = ("panel_chair", "panel_member")
CYCLE_MEETINGS = 5


def cycle_of(starts: list[str], default_days: int) -> timedelta:
    """The median gap between these meeting starts (newest first), at least a week; the
    default without two of them."""
    moments = [from_iso(s) for s in starts]
    gaps = [a - b for a, b in itertools.pairwise(moments)]
    if not gaps:
        return timedelta(days=default_days)
    return max(timedelta(days=7), statistics.median(gaps))


def text(language: str, ward_name: str, days: int) -> Html:
    return join(
        [
            t(
                language,
                "🔔 The {ward} ward's priorities were last reviewed {days} days ago, longer "
                "than the panel's meeting cycle.",
                ward=ward_name,
                days=days,
            ),
            t(
                language,
                "Review them in /panel → Priorities, or keep them as they are "
                "by rewording any one of them.",
            ),
        ]
    )


async def run(services: Services) -> int:
    db = services.db
    now = services.clock.now()
    # Every ward's cycle from one query, and the nudges already queued from one more: a
    # country's wards are thousands, and this runs every minute.
    starts = await store.recent_meeting_starts(db, to_iso(now), CYCLE_MEETINGS)
    due: dict[str, tuple[str, timedelta]] = {}
    for ward_code, reviewed_at in (await store.last_priority_review(db)).items():
        period = cycle_of(starts.get(ward_code, []), services.settings.meeting_cycle_days)
        age = now - from_iso(reviewed_at)
        if age <= period:
            continue
        overdue = int(age / period)
        due[f"nudge:{ward_code}:{reviewed_at}:{overdue}"] = (ward_code, age)
    sent = await outbox.existing_keys(db, list(due))
    queued = 0
    for key, (ward_code, age) in due.items():
        if key in sent:
            continue
        people = await store.staff_of(db, ward_code, PANEL_ROLES)
        ward_name = services.wards.name_of(ward_code)
        queued += await notices.notify(
            db,
            services.clock,
            "nudge",
            people,
            lambda language, n=ward_name, d=age.days: text(language, n, d),
            ward_code=ward_code,
            key=key,
        )
    return queued
