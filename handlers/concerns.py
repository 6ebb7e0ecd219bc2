"""/concern: a guided conversation to raise a concern.

    /concern ─▶ CATEGORY ─tap─▶ TEXT ─type─▶ PLACE ─location or skip─▶ PHOTO ─photo or skip─▶ REVIEW
                                                                                          │
        REVIEW: send ─▶ reference (WV-XXXXX), end   · me too on a similar concern ─▶ end
                change category/text/place/photo ─▶ that step ─▶ back to REVIEW
        /cancel or Cancel at any step ─▶ nothing kept, end

Every step is written to the resident's draft in SQLite before the bot answers, and the
conversation's state is the draft's step (see bot/persistence.py): a restart puts the
resident back where they were. Buttons carry the draft's key, so a button from an earlier
concern is refused instead of acting on this one.
"""

from __future__ import annotations

import warnings

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.domain import concerns as domain
from bot.domain.categories import CATEGORIES
from bot.domain.errors import RuleError
from bot.domain.privacy import ERASED_TEXT
from bot.i18n import N_, label, t
from bot.persistence import CONCERN_CONVERSATION
from bot.render import Html, join
from handlers import callback_data as cb
from handlers.common import Context, answer, edit_quietly, now_iso, reply, resident_of, services
from handlers.wards import begin_finding
from storage import concerns as concern_store
from storage import drafts as draft_store
from storage.concerns import Concern
from storage.drafts import Draft

CATEGORY, TEXT, PLACE, PHOTO, REVIEW = "category", "text", "place", "photo", "review"
EXCERPT = 80


def _query_key(update: Update, fmt: cb.CallbackFormat) -> dict[str, str] | None:
    query = update.callback_query
    return None if query is None else fmt.parse(query.data)


async def _current(update: Update, context: Context, key: str | None) -> Draft | None:
    """The resident's draft, if the button pressed belongs to it."""
    user = update.effective_user
    assert user is not None
    draft = await draft_store.get(services(context).db, user.id)
    if draft is None or (key is not None and draft.draft_key != key):
        return None
    return draft


async def _stale(update: Update, context: Context) -> None:
    """A concern button that is not for the draft in hand: say so, change nothing.

    A Send pressed again after its draft was filed (a double tap, or the same press
    delivered twice) is answered with the reference it got.
    """
    resident = await resident_of(update, context)
    query = update.callback_query
    if query is None:
        return
    sent = cb.CONCERN_SEND.parse(query.data)
    filed = await concern_store.by_draft_key(services(context).db, sent["key"]) if sent else None
    if filed is not None:
        await answer(update, label(resident.language, "Already sent as {ref}.", ref=filed.ref))
        return
    await answer(
        update,
        label(
            resident.language, "This button belongs to an earlier concern, so it no longer works."
        ),
    )


async def late_button(update: Update, context: Context) -> None:
    """A concern button pressed when no concern is being written."""
    await _stale(update, context)


# --- prompts for each step ---------------------------------------------------------------


def _category_markup(language: str, key: str) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            label(language, text), callback_data=cb.CONCERN_CATEGORY.build(key=key, category=code)
        )
        for code, text in CATEGORIES.items()
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append(
        [
            InlineKeyboardButton(
                label(language, "Cancel"), callback_data=cb.CONCERN_CANCEL.build(key=key)
            )
        ]
    )
    return InlineKeyboardMarkup(rows)


async def _ask(
    update: Update, context: Context, draft: Draft, step: str, *, recorded: bool = False
) -> str:
    """Record `step` on the draft (unless this update has just `recorded` the draft at
    that step), then ask its question. Returns the conversation state."""
    svc = services(context)
    language = (await resident_of(update, context)).language
    if not (recorded and draft.step == step):
        now = now_iso(context)
        draft = await draft_store.update(svc.db, draft.user_id, now, step=step) or draft
    key = draft.draft_key
    if step == CATEGORY:
        await reply(
            update, t(language, "What is your concern about?"), _category_markup(language, key)
        )
    elif step == TEXT:
        await reply(
            update,
            join(
                [
                    t(
                        language,
                        "🔒 Who sees this: your ward's panel and neighbourhood team see what you "
                        "write, the place and the photo, never your name or Telegram account. The "
                        "public record never shows who raised it.",
                    ),
                    "",
                    t(
                        language,
                        "What happened? Please describe it in {min} to {max} characters.",
                        min=domain.TEXT_MIN,
                        max=domain.TEXT_MAX,
                    ),
                ]
            ),
            ReplyKeyboardRemove(),
        )
    elif step == PLACE:
        await reply(
            update,
            t(language, "Where did it happen? Share the location, or skip this step."),
            ReplyKeyboardMarkup(
                [[KeyboardButton(label(language, "📍 Share the location"), request_location=True)]],
                resize_keyboard=True,
                one_time_keyboard=True,
            ),
        )
        await reply(
            update,
            t(
                language,
                "(Use the button below the message box, or 📎 → Location to pick a place on "
                "the map.)",
            ),
            InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            label(language, "Skip"),
                            callback_data=cb.CONCERN_SKIP.build(key=key, step="place"),
                        )
                    ]
                ]
            ),
        )
    elif step == PHOTO:
        await reply(
            update,
            t(language, "Would you like to add a photo? Send it now, or skip this step."),
            InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            label(language, "Skip"),
                            callback_data=cb.CONCERN_SKIP.build(key=key, step="photo"),
                        )
                    ]
                ]
            ),
        )
    else:
        await _review(update, context, draft)
    return step


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…"


async def _review(update: Update, context: Context, draft: Draft) -> None:
    """The review screen for `draft` as stored now (it has just been written)."""
    svc = services(context)
    language = (await resident_of(update, context)).language
    assert draft.category and draft.text and draft.ward_code
    ward = svc.wards.ward(draft.ward_code)
    key = draft.draft_key
    place = (
        t(
            language,
            "the location you shared, in {ward} ward",
            ward=ward.name if ward else draft.ward_code,
        )
        if draft.lat is not None
        else t(
            language,
            "no exact place (filed under {ward} ward)",
            ward=ward.name if ward else draft.ward_code,
        )
    )
    lines: list[Html | str] = [
        t(language, "<b>Please check your concern</b>"),
        t(language, "Category: {category}", category=t(language, CATEGORIES[draft.category])),
        t(language, "What happened: {text}", text=draft.text),
        t(language, "Where: {place}", place=place),
        t(
            language,
            "Photo: {photo}",
            photo=t(language, "yes") if draft.photo_file_id else t(language, "no"),
        ),
    ]
    rows: list[list[InlineKeyboardButton]] = []
    similar = await domain.similar_open(svc.db, draft)
    if similar:
        lines += [
            "",
            t(
                language,
                "<b>Already raised close by:</b> if one of these is yours too, tap “Me too” "
                "to add your voice and get its updates, instead of sending a new one.",
            ),
        ]
        for concern in similar:
            lines.append(
                t(
                    language,
                    "{ref}: “{excerpt}” ({count} people)",
                    ref=concern.ref,
                    excerpt=_excerpt(concern.text or label(language, ERASED_TEXT)),
                    count=concern.supporters + 1,
                )
            )
            rows.append(
                [
                    InlineKeyboardButton(
                        label(language, "Me too: {ref}", ref=concern.ref),
                        callback_data=cb.CONCERN_ME_TOO.build(key=key, ref=concern.ref),
                    )
                ]
            )
    rows.append(
        [
            InlineKeyboardButton(
                label(language, "✅ Send"), callback_data=cb.CONCERN_SEND.build(key=key)
            )
        ]
    )
    rows.append(
        [
            InlineKeyboardButton(
                label(language, "Change category"),
                callback_data=cb.CONCERN_CHANGE.build(key=key, step="category"),
            ),
            InlineKeyboardButton(
                label(language, "Change text"),
                callback_data=cb.CONCERN_CHANGE.build(key=key, step="text"),
            ),
        ]
    )
    rows.append(
        [
            InlineKeyboardButton(
                label(language, "Change place"),
                callback_data=cb.CONCERN_CHANGE.build(key=key, step="place"),
            ),
            InlineKeyboardButton(
                label(language, "Change photo"),
                callback_data=cb.CONCERN_CHANGE.build(key=key, step="photo"),
            ),
        ]
    )
    rows.append(
        [
            InlineKeyboardButton(
                label(language, "Cancel"), callback_data=cb.CONCERN_CANCEL.build(key=key)
            )
        ]
    )
    await reply(update, join(lines), InlineKeyboardMarkup(rows))


def _after(draft: Draft, after: str) -> str:
    """The step after `after`, or the review screen when the resident came from it.

    Handlers store an answer and this next step in one write (then `_ask(...,
    recorded=True)`): one trip to the database a step, and no moment where the answer is
    stored but the step is not."""
    order = [CATEGORY, TEXT, PLACE, PHOTO, REVIEW]
    return REVIEW if draft.reviewing else order[order.index(after) + 1]


# --- handlers ------------------------------------------------------------------------------


async def start(update: Update, context: Context) -> str | int:
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    if resident.ward_code is None or svc.wards.ward(resident.ward_code) is None:
        await begin_finding(
            update,
            context,
            resident,
            intro=t(language, "First, let's find your ward. Then send /concern again."),
        )
        return ConversationHandler.END
    if resident.blocked:
        await reply(
            update,
            t(
                language,
                "You can't raise concerns at the moment. If you think this is a mistake, "
                "/privacy says how to appeal.",
            ),
        )
        return ConversationHandler.END
    if not await domain.can_raise_today(
        svc.db, svc.clock, resident.user_id, svc.settings.max_concerns_per_day
    ):
        error = domain.daily_limit_error(svc.settings.max_concerns_per_day)
        await reply(update, t(language, error.message, **error.values))
        return ConversationHandler.END
    draft = await domain.start_draft(svc.db, svc.clock, resident.user_id, CATEGORY)
    return await _ask(update, context, draft, CATEGORY, recorded=True)


async def category_chosen(update: Update, context: Context) -> str | None:
    parsed = _query_key(update, cb.CONCERN_CATEGORY)
    draft = await _current(update, context, parsed["key"] if parsed else None)
    if parsed is None or draft is None or parsed["category"] not in CATEGORIES:
        await _stale(update, context)
        return None
    # Saved first: a crash after this never loses the press, only the screen's update.
    draft = await draft_store.update(
        services(context).db,
        draft.user_id,
        now_iso(context),
        category=parsed["category"],
        step=_after(draft, CATEGORY),
    )
    assert draft is not None
    await answer(update)
    language = (await resident_of(update, context)).language
    await edit_quietly(
        update,
        t(language, "Category: {category}", category=t(language, CATEGORIES[parsed["category"]])),
    )
    return await _ask(update, context, draft, draft.step, recorded=True)


async def text_written(update: Update, context: Context) -> str | int | None:
    message = update.effective_message
    assert message is not None
    draft = await _current(update, context, None)
    if draft is None:
        return None
    if draft.step != TEXT:
        return await _reask(update, context, None)
    language = (await resident_of(update, context)).language
    try:
        text = domain.check_text(message.text or "")
    except RuleError as err:
        await reply(update, t(language, err.message, **err.values))
        return TEXT
    draft = await draft_store.update(
        services(context).db, draft.user_id, now_iso(context), text=text, step=_after(draft, TEXT)
    )
    assert draft is not None
    return await _ask(update, context, draft, draft.step, recorded=True)


async def place_shared(update: Update, context: Context) -> str | int | None:
    message = update.effective_message
    assert message is not None and message.location is not None
    draft = await _current(update, context, None)
    if draft is None:
        return None
    if draft.step != PLACE:
        return await _reask(update, context, None)
    svc = services(context)
    language = (await resident_of(update, context)).language
    lat, lon = message.location.latitude, message.location.longitude
    placement = svc.wards.locate(lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else None
    if placement is None:
        await reply(
            update,
            t(
                language,
                "That place is outside the area we cover. Share another place, or tap Skip.",
            ),
        )
        return PLACE
    draft = await draft_store.update(
        svc.db,
        draft.user_id,
        now_iso(context),
        lat=lat,
        lon=lon,
        ward_code=placement.ward.code,
        step=_after(draft, PLACE),
    )
    assert draft is not None
    return await _ask(update, context, draft, draft.step, recorded=True)


async def photo_sent(update: Update, context: Context) -> str | int | None:
    message = update.effective_message
    assert message is not None and message.photo
    draft = await _current(update, context, None)
    if draft is None:
        return None
    if draft.step != PHOTO:
        return await _reask(update, context, None)
    largest = max(message.photo, key=lambda size: size.width * size.height)
    draft = await draft_store.update(
        services(context).db,
        draft.user_id,
        now_iso(context),
        photo_file_id=largest.file_id,
        step=_after(draft, PHOTO),
    )
    assert draft is not None
    return await _ask(update, context, draft, draft.step, recorded=True)


async def skip_pressed(update: Update, context: Context) -> str | None:
    """Skip the place (the concern goes to the resident's own ward) or the photo."""
    parsed = _query_key(update, cb.CONCERN_SKIP)
    draft = await _current(update, context, parsed["key"] if parsed else None)
    if parsed is None or draft is None or parsed["step"] != draft.step:
        await _stale(update, context)
        return None
    resident = await resident_of(update, context)
    now = now_iso(context)
    db = services(context).db
    step = _after(draft, parsed["step"])
    if parsed["step"] == PLACE:
        updated = await draft_store.update(
            db, draft.user_id, now, lat=None, lon=None, ward_code=resident.ward_code, step=step
        )
        shown = t(resident.language, "No exact place.")
    else:
        updated = await draft_store.update(db, draft.user_id, now, photo_file_id=None, step=step)
        shown = t(resident.language, "No photo.")
    assert updated is not None
    await answer(update)
    await edit_quietly(update, shown)
    return await _ask(update, context, updated, updated.step, recorded=True)


async def change_pressed(update: Update, context: Context) -> str | None:
    parsed = _query_key(update, cb.CONCERN_CHANGE)
    draft = await _current(update, context, parsed["key"] if parsed else None)
    if parsed is None or draft is None:
        await _stale(update, context)
        return None
    await answer(update)
    draft = await draft_store.update(
        services(context).db, draft.user_id, now_iso(context), reviewing=True, step=parsed["step"]
    )
    assert draft is not None
    return await _ask(update, context, draft, draft.step, recorded=True)


async def send_pressed(update: Update, context: Context) -> str | int | None:
    parsed = _query_key(update, cb.CONCERN_SEND)
    svc = services(context)
    language = (await resident_of(update, context)).language
    if parsed is None:
        await _stale(update, context)
        return None
    query = update.callback_query
    assert query is not None
    draft = await _current(update, context, parsed["key"])
    if draft is None:
        await _stale(update, context)
        return None
    try:
        concern, _created = await domain.file_concern(
            svc.db, svc.clock, draft, svc.settings.max_concerns_per_day
        )
    except RuleError as err:
        await answer(update)
        await reply(update, t(language, err.message, **err.values))
        await draft_store.delete(svc.db, draft.user_id)
        return ConversationHandler.END
    await answer(update)
    await edit_quietly(update, t(language, "✅ Sent."))
    await reply(update, _thanks(language, concern), ReplyKeyboardRemove())
    return ConversationHandler.END


def _thanks(language: str, concern: Concern) -> Html:
    return join(
        [
            t(
                language,
                "Thank you. Your concern has been sent to your ward's panel and neighbourhood "
                "team.",
            ),
            t(language, "Your reference is <b>{ref}</b>.", ref=concern.ref),
            t(language, "Follow it, and every answer it gets, with /myconcerns."),
        ]
    )


async def me_too_pressed(update: Update, context: Context) -> str | int | None:
    parsed = _query_key(update, cb.CONCERN_ME_TOO)
    draft = await _current(update, context, parsed["key"] if parsed else None)
    if parsed is None or draft is None:
        await _stale(update, context)
        return None
    svc = services(context)
    language = (await resident_of(update, context)).language
    query = update.callback_query
    assert query is not None
    try:
        concern = await domain.add_voice(svc.db, svc.clock, draft.user_id, parsed["ref"])
    except RuleError as err:
        await answer(update, label(language, err.message, **err.values))
        return None
    await answer(update)
    await edit_quietly(update, t(language, "✅ Me too: {ref}", ref=concern.ref))
    await reply(
        update,
        join(
            [
                t(
                    language,
                    "Thank you. Your voice was added to {ref}: {count} people have raised it now.",
                    ref=concern.ref,
                    count=concern.supporters + 1,
                ),
                t(language, "You'll get its updates. Follow it with /myconcerns."),
            ]
        ),
        ReplyKeyboardRemove(),
    )
    return ConversationHandler.END


async def cancel(update: Update, context: Context) -> int | None:
    svc = services(context)
    resident = await resident_of(update, context)
    query = update.callback_query
    if query is not None:
        parsed = cb.CONCERN_CANCEL.parse(query.data)
        draft = await _current(update, context, parsed["key"] if parsed else None)
        if parsed is None or draft is None:
            await _stale(update, context)
            return None
        await answer(update)
        await edit_quietly(update, t(resident.language, "Cancelled."))
    await draft_store.delete(svc.db, resident.user_id)
    await reply(update, t(resident.language, "Cancelled. Nothing was sent."), ReplyKeyboardRemove())
    return ConversationHandler.END


# --- answers for everything else in the middle of the conversation -----------------------

_PROMPTS = {
    CATEGORY: N_("Please tap one of the categories, or send /cancel."),
    TEXT: N_("Please type what happened, or send /cancel."),
    PLACE: N_("Please share the location with the button, tap Skip, or send /cancel."),
    PHOTO: N_("Please send a photo, tap Skip, or send /cancel."),
    REVIEW: N_("Please tap Send, change something, or send /cancel."),
}


async def _reask(update: Update, context: Context, note: str | None) -> str | int:
    """Say what is expected, then show the draft's current step again with its buttons.

    The step comes from the draft in SQLite, so this also puts python-telegram-bot's state
    back in line with it when they differ (a crash or a failed send between the two).
    """
    draft = await _current(update, context, None)
    language = (await resident_of(update, context)).language
    if draft is None:
        await reply(update, t(language, "That concern was closed. Send /concern to start again."))
        return ConversationHandler.END
    await reply(update, t(language, note or _PROMPTS[draft.step]))
    return await _ask(update, context, draft, draft.step)


async def reprompt(update: Update, context: Context) -> str | int:
    """Anything the current step cannot take: stickers, text where a button is expected..."""
    return await _reask(update, context, None)


async def already_writing(update: Update, context: Context) -> str | int:
    return await _reask(
        update, context, N_("You're in the middle of a concern: carry on, or send /cancel to stop.")
    )


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    messages = private & ~filters.COMMAND & ~filters.UpdateType.EDITED

    def buttons(step_specific: list) -> list:  # type: ignore[type-arg]
        return [
            *step_specific,
            CallbackQueryHandler(cancel, pattern=cb.CONCERN_CANCEL.pattern),
        ]

    states = {
        CATEGORY: buttons(
            [CallbackQueryHandler(category_chosen, pattern=cb.CONCERN_CATEGORY.pattern)]
        ),
        TEXT: buttons([MessageHandler(messages & filters.TEXT, text_written)]),
        PLACE: buttons(
            [
                MessageHandler(messages & filters.LOCATION, place_shared),
                CallbackQueryHandler(skip_pressed, pattern=cb.CONCERN_SKIP.pattern),
            ]
        ),
        PHOTO: buttons(
            [
                MessageHandler(messages & filters.PHOTO, photo_sent),
                CallbackQueryHandler(skip_pressed, pattern=cb.CONCERN_SKIP.pattern),
            ]
        ),
        REVIEW: buttons(
            [
                CallbackQueryHandler(send_pressed, pattern=cb.CONCERN_SEND.pattern),
                CallbackQueryHandler(me_too_pressed, pattern=cb.CONCERN_ME_TOO.pattern),
                CallbackQueryHandler(change_pressed, pattern=cb.CONCERN_CHANGE.pattern),
            ]
        ),
    }
    for handlers_ in states.values():
        handlers_.append(MessageHandler(messages, reprompt))
    with warnings.catch_warnings():
        # per_message=False is right here (one concern per resident at a time); the
        # warning is about buttons being tracked per chat, which is what we want.
        warnings.filterwarnings("ignore", message=".*per_message.*", category=PTBUserWarning)
        return ConversationHandler(
            entry_points=[CommandHandler("concern", start, filters=private)],
            states=states,
            fallbacks=[
                CommandHandler("cancel", cancel, filters=private),
                CommandHandler("concern", already_writing, filters=private),
            ],
            name=CONCERN_CONVERSATION,
            persistent=True,
            allow_reentry=False,
        )
