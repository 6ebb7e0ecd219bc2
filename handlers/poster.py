"""/poster for staff: a printable A4 poster of the ward being worked on, with a QR code.

    /poster      ─▶ the PDF (vector, for printing) as a document
    /poster png  ─▶ the same poster as a 300 dpi PNG document (for screens and newsletters)

The QR code opens `t.me/<this bot>?start=<ward code>`. The role is checked on the server
every time (`Action.POSTER`: the ward's panel, chair and neighbourhood team, and admins); a
refusal is answered politely and audited. The drawing runs in a worker thread.
"""

from __future__ import annotations

from telegram import InputFile, Update

from bot import poster as poster_domain
from bot.domain.errors import RuleError
from bot.domain.roles import Action
from bot.i18n import N_, t
from bot.render import join
from handlers.common import Context, audit_action, authorise, refuse, reply, resident_of, services
from handlers.working_ward import working_ward

USAGE = N_("Usage: /poster for a PDF to print, or /poster png for a picture.")


async def poster_command(update: Update, context: Context) -> None:
    """/poster [pdf | png]"""
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    args = [a.lower() for a in context.args or []]
    ward_code = await working_ward(context, resident)
    try:
        await authorise(context, resident.user_id, Action.POSTER, ward_code)
        if len(args) > 1 or (args and args[0] not in poster_domain.FORMATS):
            raise RuleError(USAGE)
        fmt: poster_domain.Format = "png" if args == ["png"] else "pdf"
        username = context.bot.username
        poster = await poster_domain.make_poster(
            svc.db,
            svc.clock,
            svc.wards,
            ward_code,
            username=username,
            language=language,
            tz=svc.settings.tz,
            fmt=fmt,
        )
    except RuleError as err:
        await refuse(update, language, err)
        return
    chat = update.effective_chat
    assert chat is not None
    await chat.send_document(
        document=InputFile(poster.content, filename=poster.filename),
        caption=join(
            [
                t(
                    language,
                    "A poster for {ward} ward, to print on A4.",
                    ward=poster.ward.name,
                ),
                t(
                    language,
                    "Its QR code opens this bot at the ward: {link}",
                    link=poster.link,
                ),
            ]
        ),
    )
    await audit_action(context, resident.user_id, Action.POSTER, ward_code, target=fmt)
    if poster.meeting is None:
        await reply(
            update,
            t(
                language,
                "No meeting is scheduled yet, so the poster says to scan the code to hear "
                "when it is. Once you set one with /meeting, a new /poster shows it.",
            ),
        )
