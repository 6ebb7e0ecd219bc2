"""Updates from the ward panel: /updates, the one-time question at onboarding, and
Telegram's notice that someone blocked the bot.

    ward found (first time) ─▶ "Hear what the panel does?" [At once] [Weekly] [No thanks]
    /updates ─▶ the current choice ─▶ [At once] [Weekly digest] [Off]
"""

from __future__ import annotations

from dataclasses import replace

from telegram import ChatMember, InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain import updates
from bot.domain.errors import RuleError
from bot.i18n import label, t
from bot.render import Html, join
from handlers import callback_data as cb
from handlers.common import (
    Context,
    answer,
    edit_quietly,
    forget_resident,
    refuse,
    remember_resident,
    reply,
    resident_of,
    services,
)

CHOICES = (
    ("instant", "🔔 At once"),
    ("weekly", "🗓 Weekly digest"),
    ("off", "🔕 Off"),
)


def _markup(language: str, current: str | None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    ("✓ " if mode == current else "") + label(language, text),
                    callback_data=cb.UPDATES_SET.build(mode=mode),
                )
            ]
            for mode, text in CHOICES
        ]
    )


def _explain(language: str) -> Html:
    return join(
        [
            t(
                language,
                "<b>At once</b>: a message each time the team records what they did in your "
                "ward, news they send, and meeting reminders.",
            ),
            t(
                language,
                "<b>Weekly digest</b>: one message a week with what was done, only when "
                "something was, plus news and meeting reminders.",
            ),
        ]
    )


def _current(language: str, mode: str) -> Html:
    return {
        "instant": t(language, "You get updates from your ward panel at once."),
        "weekly": t(language, "You get a weekly digest from your ward panel."),
    }.get(mode, t(language, "You get no updates from your ward panel."))


async def ask_once(update: Update, context: Context) -> None:
    """After a resident first finds their ward: offer updates (nothing is assumed)."""
    svc = services(context)
    if update.effective_user is None:
        return
    resident = await resident_of(update, context)
    if not await updates.should_ask(svc.db, svc.clock, resident):
        return
    remember_resident(context, replace(resident, updates_asked=True))
    language = resident.language
    await reply(
        update,
        join(
            [
                t(language, "Would you like to hear what your ward panel does about it?"),
                _explain(language),
                t(language, "You can change this any time with /updates."),
            ],
            "\n\n",
        ),
        _markup(language, None),
    )


async def updates_command(update: Update, context: Context) -> None:
    resident = await resident_of(update, context)
    language = resident.language
    await reply(
        update,
        join([_current(language, resident.updates), _explain(language)], "\n\n"),
        _markup(language, resident.updates),
    )


async def choice_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.UPDATES_SET.parse(query.data)
    assert parsed is not None
    resident = await resident_of(update, context)
    svc = services(context)
    try:
        await updates.choose(svc.db, svc.clock, resident, parsed["mode"])
    except RuleError as err:
        await refuse(update, resident.language, err)
        return
    forget_resident(context)
    await answer(update, label(resident.language, "Saved."))
    await edit_quietly(
        update,
        join(
            [
                _current(resident.language, parsed["mode"]),
                t(resident.language, "Change it any time with /updates."),
            ]
        ),
    )


async def member_changed(update: Update, context: Context) -> None:
    """Telegram's my_chat_member: a resident who blocks the bot gets nothing more."""
    change = update.my_chat_member
    if change is None or change.chat.type != "private":
        return
    if change.new_chat_member.status == ChatMember.BANNED:
        svc = services(context)
        finished = await updates.blocked_the_bot(svc.db, svc.clock, change.chat.id)
        if finished:  # their row was a broadcast's last: its sender sees the final count
            await context.bot_data["dispatcher"].show_progress(finished)
