"""/language: the languages the bot speaks, as buttons; a tap switches the resident's.

A resident's language is Telegram's `language_code` at first contact (`resident_of`), then
whatever they choose here. The choices are English plus every catalog we ship
(`available_languages`), each named in itself. The code in a button comes back from the
client, so it is checked against those catalogs again before it is saved.

    /language ─▶ English ✅ · Polski · Türkçe · বাংলা ─▶ tap ─▶ saved, answered in the new
    language; a staff member's command menu is set again in it
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain import roles
from bot.i18n import available_languages, label, language_name, t
from handlers import callback_data as cb
from handlers.common import (
    Context,
    answer,
    edit_quietly,
    now_iso,
    remember_resident,
    reply,
    resident_of,
    services,
)
from handlers.staff import show_staff_commands
from storage import residents as resident_store

PER_ROW = 2


def _keyboard(current: str) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            f"✅ {language_name(code)}" if code == current else language_name(code),
            callback_data=cb.LANGUAGE_SET.build(lang=code),
        )
        for code in available_languages()
    ]
    return InlineKeyboardMarkup([buttons[i : i + PER_ROW] for i in range(0, len(buttons), PER_ROW)])


async def language_command(update: Update, context: Context) -> None:
    resident = await resident_of(update, context)
    await reply(
        update,
        t(resident.language, "Which language should I write to you in?"),
        _keyboard(resident.language),
    )


async def language_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.LANGUAGE_SET.parse(query.data)
    assert parsed is not None
    resident = await resident_of(update, context)
    chosen = parsed["lang"]
    if chosen not in available_languages():  # forged, or a catalog removed since
        await answer(
            update,
            label(resident.language, "Sorry, I can't write in that language."),
            alert=True,
        )
        return
    svc = services(context)
    now = now_iso(context)
    remember_resident(
        context, await resident_store.set_language(svc.db, resident.user_id, chosen, now)
    )
    await answer(update)
    await edit_quietly(
        update,
        t(
            chosen,
            "✅ From now on I'll write to you in {language}. To change it: /language",
            language=language_name(chosen),
        ),
    )
    staff = await roles.staff_of(svc.db, svc.settings.admin_ids, resident.user_id)
    if staff.is_staff:
        await show_staff_commands(context, resident.user_id, chosen)
