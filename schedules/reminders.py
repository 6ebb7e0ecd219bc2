"""Meeting reminders, `reminder_hours` before each meeting (24 by default).

An open meeting is announced to the ward's subscribers and its panel and team; a closed
one only to the panel and team. Keyed `reminder:MEETING`, so each meeting is reminded
once, also when it was scheduled inside the lead time or the bot was down at the moment.
"""

from __future__ import annotations

from datetime import timedelta

from bot.clock import to_iso
from bot.domain import notices
from bot.i18n import t
from bot.meeting_text import render_meeting
from bot.render import Html, join
from bot.services import Services
from storage import meetings as meeting_store
from storage import outbox, subscriptions
from storage import schedules as store

STAFF_ROLES = ("panel_member", "panel_chair", "team_member")


async def run(services: Services) -> int:
    db = services.db
    now = services.clock.now()
    until = now + timedelta(hours=services.settings.reminder_hours)
    tz = services.settings.tz
    queued = 0
    for due in await store.meetings_starting(db, to_iso(now), to_iso(until)):
        key = f"reminder:{due.id}"
        if await outbox.key_exists(db, key):
            continue
        meeting = await meeting_store.get(db, due.id)
        if meeting is None:
            continue
        people = await store.staff_of(db, due.ward_code, STAFF_ROLES)
        if due.open_to_public:
            people += [s.user_id for s in await subscriptions.of_ward(db, due.ward_code)]
        ward_name = services.wards.name_of(due.ward_code)
        agenda = (await meeting_store.agenda_of(db, [meeting.id]))[meeting.id]

        def text(language: str, meeting=meeting, ward_name=ward_name, agenda=agenda) -> Html:  # type: ignore[no-untyped-def]
            return join(
                [
                    t(
                        language,
                        "⏰ <b>Reminder: the {ward} ward panel meets soon</b>",
                        ward=ward_name,
                    ),
                    render_meeting(language, meeting, tz, agenda),
                    t(language, "/meetings for all meetings, /updates to change reminders."),
                ],
                "\n\n",
            )

        queued += await notices.notify(
            db, services.clock, "reminder", people, text, ward_code=due.ward_code, key=key
        )
    return queued
