"""/privacy (what is kept, why, for how long, who sees it, how to appeal a block), /mydata
(all of it as a JSON file) and /forget (erase it, after confirmation).

    /forget ─▶ what will happen ─▶ [Forget me] ─▶ erased; /start starts afresh
                                 ─▶ [Keep my data] ─▶ nothing changes

The buttons carry only the prompt's random key; the prompt is stored for the person who
asked (see `bot.domain.privacy`), so a press by anyone else, or with no prompt pending, is
refused and changes nothing. The button handlers never create a resident: a press after
the erasure must not bring the person back.
"""

from __future__ import annotations

from telegram import (
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Update,
)
from telegram.error import BadRequest

from bot.domain import privacy, roles
from bot.domain.errors import RuleError
from bot.i18n import N_, label, normalise_language, t
from bot.render import Html, join
from handlers import callback_data as cb
from handlers.common import (
    Context,
    answer,
    edit_quietly,
    forget_resident,
    refuse,
    reply,
    resident_of,
    services,
)
from storage import residents as resident_store

STALE = N_("This button is no longer valid. Send /forget to ask again.")
ABOUT = N_(
    "Everything WardVoice keeps about you. Dates and times are UTC (ISO 8601). Your name "
    "and username are never stored."
)


async def privacy_command(update: Update, context: Context) -> None:
    language = (await resident_of(update, context)).language
    settings = services(context).settings
    await reply(
        update,
        join(
            [
                t(language, "<b>Your privacy</b>"),
                t(
                    language,
                    "What we keep: your Telegram user id, your language, your ward and "
                    "the place you gave to find it, and the concerns you raise (their "
                    "text, place and photo) with their answers.",
                ),
                t(language, "Why: to show you your ward's work and to answer your concerns."),
                t(
                    language,
                    "Who sees it: your ward's panel and neighbourhood team see your "
                    "concerns' text, place and photo, never your name or Telegram "
                    "account. The public record never shows who raised a concern.",
                ),
                t(
                    language,
                    "Votes: what you picked is kept until the results are out, then for "
                    "{days} days, then deleted. Nobody on the panel sees who picked what; "
                    "they only see the totals.",
                    days=settings.outbox_retention_days,
                ),
                t(
                    language,
                    "How long: while you use WardVoice. If you have not used it for {days} "
                    "days, hold no role and receive no updates, everything about you is "
                    "erased; your concerns stay only as anonymous items.",
                    days=settings.retention_days,
                ),
                t(
                    language,
                    "Which message was sent to whom is kept for {days} days. Photos of "
                    "concerns closed {retention} days ago are removed.",
                    days=settings.outbox_retention_days,
                    retention=settings.retention_days,
                ),
                t(language, "Your name and username are never stored."),
                "",
                t(
                    language,
                    "<b>Your data</b>: /mydata sends you everything we keep about you, as a "
                    "file. /forget erases it.",
                ),
                "",
                t(
                    language,
                    "<b>Appeals</b>: if you have been stopped from raising concerns and "
                    "think it is a mistake, write to your ward panel's chair or your "
                    "council, quoting your Telegram user id: {user_id}.",
                    user_id=update.effective_user.id if update.effective_user else "",
                ),
            ]
        ),
    )


async def my_data_command(update: Update, context: Context) -> None:
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    document = await privacy.export(
        svc.db, svc.clock, resident.user_id, about=label(language, ABOUT)
    )
    chat = update.effective_chat
    assert chat is not None
    await chat.send_document(
        document=InputFile(privacy.as_json(document), filename=privacy.FILENAME),
        caption=t(
            language,
            "Everything WardVoice keeps about you, as a JSON file: your ward, your concerns "
            "and their answers, your “me too”s, ratings and votes, your roles, and the "
            "messages waiting for you. To erase it, send /forget.",
        ),
    )


def _roles_line(language: str, context: Context, prompt: privacy.Prompt) -> Html:
    places = services(context).wards
    held: list[Html] = [
        t(
            language,
            "{role} for {place}",
            role=label(language, roles.ROLE_LABELS[roles.Role(grant.role)]),
            place=places.place_name(grant.scope),
        )
        for grant in prompt.grants
    ]
    if prompt.admin:
        held.append(t(language, "admin"))
    return t(
        language,
        "You also lose your roles: {roles}. What you did in them stays on record, no longer "
        "linked to you.",
        roles=join(held, ", "),
    )


async def forget_command(update: Update, context: Context) -> None:
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    try:
        prompt = await privacy.ask(svc.db, svc.clock, svc.settings.admin_ids, resident.user_id)
    except RuleError as err:
        await refuse(update, language, err)
        return
    lines: list[Html | str] = [
        t(language, "<b>Forget me?</b>"),
        t(
            language,
            "This erases what WardVoice keeps about you: your ward and the place you gave, "
            "your language, your choice of updates, your “me too”s, and the messages "
            "waiting for you.",
        ),
        t(
            language,
            "Concerns you raised stay only as anonymous counts (category, ward, status and "
            "dates). Where your ward's panel or team has already acted on one, its text "
            "stays too, no longer linked to you.",
        ),
        t(language, "Your ratings and votes stay counted, no longer linked to you."),
    ]
    if prompt.grants or prompt.admin:
        lines.append(_roles_line(language, context, prompt))
    if prompt.configured_admin:
        lines.append(
            t(
                language,
                "You stay an admin through the bot's configuration until its operator "
                "removes your id from it.",
            )
        )
    lines += [
        "",
        t(language, "This cannot be undone. For a copy first, send /mydata."),
    ]
    await reply(
        update,
        join(lines),
        InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        label(language, "Forget me"),
                        callback_data=cb.FORGET_CONFIRM.build(key=prompt.token),
                    ),
                    InlineKeyboardButton(
                        label(language, "Keep my data"),
                        callback_data=cb.FORGET_KEEP.build(key=prompt.token),
                    ),
                ]
            ]
        ),
    )


async def _presser(update: Update, context: Context) -> tuple[int, str]:
    """Who pressed, and their language, without creating a resident for them."""
    user = update.effective_user
    assert user is not None
    resident = await resident_store.get(services(context).db, user.id)
    language = resident.language if resident else normalise_language(user.language_code)
    return user.id, language


async def forget_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.FORGET_CONFIRM.parse(query.data)
    assert parsed is not None
    svc = services(context)
    user_id, language = await _presser(update, context)
    try:
        done = await privacy.confirm(svc.db, svc.clock, user_id, parsed["key"])
    except RuleError as err:
        await refuse(update, language, err)
        return
    if done is None:
        await answer(update, label(language, STALE), alert=True)
        return
    forget_resident(context)  # erased: a later ask must not find the old row
    if done.finished_items:  # they were the last a broadcast was waiting for
        await context.bot_data["dispatcher"].show_progress(done.finished_items)
    if done.roles and user_id not in svc.settings.admin_ids:
        try:  # the staff menu their chat had goes with their roles
            await context.bot.delete_my_commands(scope=BotCommandScopeChat(user_id))
        except BadRequest:
            pass
    await answer(update, label(language, "Done."))
    await edit_quietly(
        update,
        join(
            [
                t(language, "<b>Done: you have been forgotten.</b>"),
                t(
                    language,
                    "Everything WardVoice kept about you is erased. Concerns you raised "
                    "and your votes and ratings are still counted, no longer linked to you.",
                ),
                t(language, "Send /start whenever you like to start afresh."),
            ]
        ),
    )


async def keep_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.FORGET_KEEP.parse(query.data)
    assert parsed is not None
    user_id, language = await _presser(update, context)
    if not await privacy.keep(services(context).db, user_id, parsed["key"]):
        await answer(update, label(language, STALE), alert=True)
        return
    await answer(update, label(language, "Kept."))
    await edit_quietly(update, t(language, "Nothing was erased: your data stays as it was."))
