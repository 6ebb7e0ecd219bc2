"""Panel meetings: residents' /meetings, and the staff's /meeting, /cancelmeeting and list.

    /meetings ─▶ the ward's next meetings (when, where, open or closed, online link)
    /meeting DATE TIME | venue | open/closed | link ─▶ scheduled (staff, audited)
    /cancelmeeting ID, or Panel ─▶ Meetings ─▶ Cancel #ID ─▶ cancelled (staff, audited)

Handlers only parse and render: the rules and the role checks live in
`bot.domain.meetings`, which runs `authorise` whatever command or button led there.
"""

from __future__ import annotations

from datetime import tzinfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain import meetings as meeting_domain
from bot.domain.errors import RuleError
from bot.i18n import label, t
from bot.meeting_text import render_meeting, when_text
from bot.render import Html, join
from handlers.callback_data import MEETING_CANCEL, STAFF_MEETINGS
from handlers.common import Context, answer, record_id, refuse, reply, resident_of, services
from handlers.wards import begin_finding
from handlers.working_ward import working_ward
from storage.meetings import AgendaItem, Meeting
from storage.residents import Resident


def render_meetings(
    language: str,
    ward_name: str,
    meetings: list[Meeting],
    tz: tzinfo,
    agendas: dict[int, list[AgendaItem]] | None = None,
) -> Html:
    if not meetings:
        return join(
            [
                t(
                    language,
                    "No meetings of the {ward} ward panel are scheduled at the moment.",
                    ward=ward_name,
                ),
                t(language, "When the panel sets its next one, you will find it here."),
            ]
        )
    header = t(language, "<b>Next meetings of the {ward} ward panel</b>", ward=ward_name)
    agendas = agendas or {}
    shown = (render_meeting(language, m, tz, agendas.get(m.id, ())) for m in meetings)
    return join([header, *shown], "\n\n")


async def meetings_command(update: Update, context: Context) -> None:
    """/meetings for residents: the next meetings of their ward."""
    svc = services(context)
    resident = await resident_of(update, context)
    ward = svc.wards.ward(resident.ward_code) if resident.ward_code else None
    if ward is None:
        await begin_finding(update, context, resident)
        return
    meetings = await meeting_domain.next_meetings(svc.db, svc.clock, ward.code)
    agendas = await meeting_domain.agendas(svc.db, meetings)
    await reply(
        update, render_meetings(resident.language, ward.name, meetings, svc.settings.tz, agendas)
    )


async def _show_staff_list(
    update: Update, context: Context, resident: Resident, ward_code: str
) -> None:
    """The ward's coming meetings for its staff, each with a cancel button."""
    svc = services(context)
    language = resident.language
    meetings = await meeting_domain.staff_meetings(
        svc.db,
        svc.clock,
        svc.wards,
        svc.settings.admin_ids,
        user_id=resident.user_id,
        ward_code=ward_code,
    )
    ward = svc.wards.ward(ward_code)
    assert ward is not None  # authorise refuses unknown wards
    tz = svc.settings.tz
    lines: list[Html | str] = [
        t(language, "<b>Meetings of the {ward} ward panel</b>", ward=ward.name)
    ]
    lines += [
        t(
            language,
            "#{id} {when} · {venue} · {access}",
            id=m.id,
            when=when_text(language, m.starts_at, tz),
            venue=m.venue,
            access=label(language, "open") if m.open_to_public else label(language, "closed"),
        )
        for m in meetings
    ] or [t(language, "None scheduled.")]
    lines += ["", t(language, meeting_domain.USAGE)]
    rows = [
        [
            InlineKeyboardButton(
                label(language, "Cancel #{id}", id=m.id),
                callback_data=MEETING_CANCEL.build(id=str(m.id)),
            )
        ]
        for m in meetings
    ]
    await reply(update, join(lines), InlineKeyboardMarkup(rows) if rows else None)


async def meeting_command(update: Update, context: Context) -> None:
    """/meeting: schedule one for the ward being worked on; bare, list them."""
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    ward_code = await working_ward(context, resident)
    try:
        if not context.args:
            await _show_staff_list(update, context, resident, ward_code)
            return
        meeting = await meeting_domain.schedule(
            svc.db,
            svc.clock,
            svc.wards,
            svc.settings.admin_ids,
            user_id=resident.user_id,
            ward_code=ward_code,
            line=" ".join(context.args),
            tz=svc.settings.tz,
        )
    except RuleError as err:
        await refuse(update, language, err)
        return
    ward = svc.wards.ward(meeting.ward_code)
    await reply(
        update,
        join(
            [
                t(
                    language,
                    "✅ Meeting #{id} scheduled for {ward}:",
                    id=meeting.id,
                    ward=ward.name if ward else meeting.ward_code,
                ),
                render_meeting(language, meeting, svc.settings.tz),
                t(language, "Residents see it with /meetings."),
            ]
        ),
    )


async def _cancel(update: Update, context: Context, meeting_id: int) -> Meeting | None:
    svc = services(context)
    resident = await resident_of(update, context)
    try:
        return await meeting_domain.cancel(
            svc.db,
            svc.clock,
            svc.wards,
            svc.settings.admin_ids,
            user_id=resident.user_id,
            meeting_id=meeting_id,
        )
    except RuleError as err:
        await refuse(update, resident.language, err)
        return None


async def cancel_meeting_command(update: Update, context: Context) -> None:
    """/cancelmeeting ID"""
    resident = await resident_of(update, context)
    language = resident.language
    args = context.args or []
    meeting_id = record_id(args[0]) if len(args) == 1 else None
    if meeting_id is None:
        await reply(update, t(language, "Usage: /cancelmeeting ID (the number of the meeting)"))
        return
    meeting = await _cancel(update, context, meeting_id)
    if meeting is not None:
        await reply(update, _cancelled_text(language, meeting, services(context).settings.tz))


def _cancelled_text(language: str, meeting: Meeting, tz: tzinfo) -> Html:
    return t(
        language,
        "Cancelled meeting #{id} ({when}).",
        id=meeting.id,
        when=when_text(language, meeting.starts_at, tz),
    )


async def staff_meetings_pressed(update: Update, context: Context) -> None:
    """Panel ─▶ Meetings: the ward in the button is checked again, not trusted."""
    query = update.callback_query
    assert query is not None
    parsed = STAFF_MEETINGS.parse(query.data)
    assert parsed is not None
    resident = await resident_of(update, context)
    try:
        await _show_staff_list(update, context, resident, parsed["code"])
    except RuleError as err:
        await refuse(update, resident.language, err)
        return
    await answer(update)


async def cancel_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = MEETING_CANCEL.parse(query.data)
    assert parsed is not None
    resident = await resident_of(update, context)
    meeting = await _cancel(update, context, int(parsed["id"]))
    if meeting is None:
        return
    await answer(update, label(resident.language, "Cancelled."))
    await reply(update, _cancelled_text(resident.language, meeting, services(context).settings.tz))
