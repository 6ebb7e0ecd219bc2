"""/start (with deep links such as `t.me/<bot>?start=E05013806`) and /help."""

from __future__ import annotations

from telegram import Update

from bot.domain.finding import Found, find_by_code
from bot.i18n import t
from bot.render import join
from handlers.common import Context, reply, resident_of, services
from handlers.wards import begin_finding, miss_text, settle, ward_line


async def start_command(update: Update, context: Context) -> None:
    resident = await resident_of(update, context)
    language = resident.language
    svc = services(context)
    if context.args:
        answer = find_by_code(svc.wards, context.args[0])
        if isinstance(answer, Found):
            await reply(update, t(language, "👋 Welcome to WardVoice."))
            await settle(update, context, resident, answer)
            return
        await reply(update, miss_text(language, answer))

    welcome = [
        t(language, "👋 Welcome to WardVoice."),
        t(
            language,
            "Every ward has a panel of local residents who set the neighbourhood team's "
            "priorities. Here you can see what your panel is working on, and hear what was done.",
        ),
    ]
    ward = svc.wards.ward(resident.ward_code) if resident.ward_code else None
    if ward is not None:
        welcome += [
            "",
            t(language, "📍 Your ward: {ward}", ward=ward_line(language, ward)),
            t(language, "See its priorities: /priorities · change ward: /ward · more: /help"),
        ]
        await reply(update, join(welcome))
        return
    await begin_finding(update, context, resident, intro=join(welcome))


async def help_command(update: Update, context: Context) -> None:
    resident = await resident_of(update, context)
    language = resident.language
    await reply(
        update,
        join(
            [
                t(language, "<b>What I can do</b>"),
                t(language, "/ward — your ward, or change it"),
                t(language, "/priorities — what your ward panel is working on"),
                t(language, "/concern — raise a concern with your ward panel"),
                t(language, "/myconcerns — your concerns, and what happened to them"),
                t(language, "/meetings — when and where your ward panel meets"),
                t(language, "/vote — vote on what your ward panel talks about"),
                t(language, "/updates — hear what your ward panel does, at once or weekly"),
                t(language, "/language — choose the language I write in"),
                t(language, "/privacy — what we keep about you, and why"),
                t(language, "/mydata — everything we keep about you, as a file"),
                t(language, "/forget — erase what we keep about you"),
                t(language, "/start — start again"),
                t(language, "/help — this list"),
                "",
                t(
                    language,
                    "To find your ward, share your location, or type your postcode, your "
                    "address or part of your ward's name.",
                ),
            ]
        ),
    )
