""" "Did this make a difference?": `followup_days` after a concern's first answer, each
person who raised it or said "me too" gets 1-5 buttons. Their ratings feed the
satisfaction figure staff see in /stats.

Only answers from the last `followup_days + WINDOW_DAYS` days are followed up, so
turning the feature on (or a long outage) does not survey people about old answers.
Keyed `followup:CONCERN`: once per concern.
"""

from __future__ import annotations

from datetime import timedelta

from bot.clock import to_iso
from bot.domain import notices
from bot.domain.categories import CATEGORIES
from bot.i18n import label, t
from bot.render import Html, join
from bot.services import Services
from handlers import callback_data as cb
from storage import concerns as concern_store
from storage import outbox
from storage import schedules as store

WINDOW_DAYS = 14


def question(language: str, ref: str, category: str) -> Html:
    return join(
        [
            t(
                language,
                "A few weeks ago the team answered your concern {ref} ({category}).",
                ref=ref,
                category=label(language, CATEGORIES.get(category, category)),
            ),
            t(
                language,
                "<b>Did it make a difference?</b> 1 = not at all, 5 = a real difference.",
            ),
        ]
    )


def buttons(concern_id: int) -> list[list[dict[str, str]]]:
    return [
        [
            {
                "text": str(score),
                "callback_data": cb.RATE.build(id=str(concern_id), score=str(score)),
            }
            for score in range(1, 6)
        ]
    ]


async def run(services: Services) -> int:
    db = services.db
    now = services.clock.now()
    due = now - timedelta(days=services.settings.followup_days)
    oldest = due - timedelta(days=WINDOW_DAYS)
    queued = 0
    answered_list = await store.first_answered_between(db, to_iso(oldest), to_iso(due))
    asked = await outbox.existing_keys(db, [f"followup:{a.concern_id}" for a in answered_list])
    for answered in answered_list:
        key = f"followup:{answered.concern_id}"
        if key in asked:
            continue
        people = await store.reachable(db, await concern_store.followers(db, answered.concern_id))
        if not people:
            continue
        queued += await notices.notify(
            db,
            services.clock,
            "followup",
            people,
            lambda language, a=answered: question(language, a.ref, a.category),
            ward_code=answered.ward_code,
            key=key,
            markup=buttons(answered.concern_id),
        )
    return queued
