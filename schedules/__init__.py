"""Scheduled work: agenda votes closing, the weekly digest, meeting reminders, follow-ups,
nudges and retention.

One APScheduler job (python-telegram-bot's JobQueue, in WARDVOICE_TIMEZONE) wakes
`run_due` at start-up and then every `schedule_interval` seconds. Each job works out
from the database what is due at that moment and records what it did in the same
transaction, with a unique key per item, so a restart loses no run, a late or repeated
wake-up runs nothing twice, and APScheduler's misfire rules do not matter
(FIELD-NOTES, APScheduler). What the jobs queue goes out through the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from telegram.ext import Application, ContextTypes

from bot.services import Services
from schedules import digest, followups, nudges, reminders, retention, votes
from storage.db import unavailable_cause

log = logging.getLogger(__name__)

Job = Callable[[Services], Awaitable[int]]
JOBS: tuple[tuple[str, Job], ...] = (
    ("votes", votes.run),
    ("digest", digest.run),
    ("reminders", reminders.run),
    ("followups", followups.run),
    ("nudges", nudges.run),
    ("retention", retention.run),
)


async def run_due(services: Services) -> dict[str, int]:
    """Run every job once for `services.clock.now()`; returns what each one did.

    A job that fails does not stop the others; the first failure is raised at the end
    so the error handler (and the tests) see it. When the database cannot be written
    (disk full, read-only) the round stops there without raising: storage.db has said so
    once, the other jobs would fail the same way, nothing was half done (each job writes
    in whole transactions), and the next wake-up catches up on everything still due.
    """
    report: dict[str, int] = {}
    failure: BaseException | None = None
    for name, job in JOBS:
        try:
            report[name] = await job(services)
        except Exception as error:
            if unavailable_cause(error) is not None:
                log.info(
                    "scheduled work waits for the database to take writes again (%s: %s)",
                    name,
                    error,
                )
                break
            log.exception("scheduled job %s failed", name)
            failure = failure or error
    services.outbox_bell.ring()
    if failure is not None:
        raise failure
    return report


async def _wake(context: ContextTypes.DEFAULT_TYPE) -> None:
    services: Services = context.application.bot_data["services"]
    report = await run_due(services)
    if any(report.values()):
        log.info("scheduled work: %s", report)


def install_schedules(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Wake the jobs now (catching up whatever fell due while the bot was down) and then
    every `schedule_interval` seconds."""
    services: Services = application.bot_data["services"]
    assert application.job_queue is not None, "install python-telegram-bot[job-queue]"
    job = application.job_queue.run_repeating(
        _wake,
        interval=services.settings.schedule_interval,
        first=0,
        name="schedules",
        job_kwargs={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    # APScheduler puts an interval job's first run one interval after a start time that
    # has passed by the time the job is added (first=0 always has): wake it now.
    job.job.modify(next_run_time=datetime.now(UTC))
