"""Broadcasts from a ward's neighbourhood team to the ward's subscribers.

    /broadcast TEXT ─▶ preview (exactly what residents will see) + how many will get it
        ─▶ [Send to N] ─▶ the preview becomes a live count: "1,240 of 5,000 sent."
                          ─▶ "Broadcast finished: sent, could not be reached, failed."
        ─▶ [Cancel]

The role is checked when the command runs and again when "Send" is pressed (a forged or
old button is refused); the draft lives in the database, so "Send" works after a
restart and a double tap sends once.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain import broadcasts, roles
from bot.domain.errors import RuleError
from bot.domain.roles import Action
from bot.i18n import N_, label, t
from bot.render import join
from handlers import callback_data as cb
from handlers.common import (
    Context,
    allowed,
    answer,
    audit_action,
    edit_quietly,
    refuse,
    reply,
    resident_of,
    services,
)
from handlers.working_ward import working_ward

ALREADY = N_("This broadcast was already sent or cancelled.")


def _text_after_command(update: Update) -> str:
    message = update.effective_message
    text = (message.text or "") if message is not None else ""
    parts = text.split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


async def broadcast_command(update: Update, context: Context) -> None:
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    ward_code = await working_ward(context, resident)
    if not await allowed(update, context, Action.BROADCAST, ward_code):
        return
    try:
        draft = await broadcasts.compose(
            svc.db,
            svc.clock,
            ward_code,
            svc.wards.name_of(ward_code),
            _text_after_command(update),
            by=roles.actor(resident.user_id),
            language=language,
        )
    except RuleError as err:
        await refuse(update, language, err)
        return
    if draft.recipients == 0:
        await reply(
            update,
            t(
                language,
                "Nobody in this ward has asked for updates yet, so there is no one to send "
                "it to. Residents choose with /updates.",
            ),
        )
        return
    await reply(
        update,
        join(
            [
                t(language, "<b>Preview</b>: this is what residents will see."),
                draft.preview,
                t(language, "It goes to {count} subscribers of this ward.", count=draft.recipients),
            ],
            "\n\n",
        ),
        InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        label(language, "Send to {count}", count=draft.recipients),
                        callback_data=cb.BROADCAST_SEND.build(id=str(draft.item_id)),
                    ),
                    InlineKeyboardButton(
                        label(language, "Cancel"),
                        callback_data=cb.BROADCAST_CANCEL.build(id=str(draft.item_id)),
                    ),
                ]
            ]
        ),
    )


async def _own_draft(update: Update, context: Context, item_id: int):  # type: ignore[no-untyped-def]
    """The draft, if it exists, may still be sent by this user: the role for its ward is
    checked (and a refusal audited) first, then that it is their own draft."""
    svc = services(context)
    resident = await resident_of(update, context)
    item = await broadcasts.draft(svc.db, item_id)
    if item is None or item.ward_code is None:
        await answer(update, label(resident.language, "This button is no longer valid."))
        return None
    target = f"bc:{item_id}"
    if not await allowed(update, context, Action.BROADCAST, item.ward_code, target=target):
        return None
    if item.created_by != roles.actor(resident.user_id):
        await audit_action(
            context,
            resident.user_id,
            "broadcast",
            item.ward_code,
            target=target,
            detail="not their draft",
            refused=True,
        )
        await answer(update, label(resident.language, "This button is no longer valid."))
        return None
    if item.state != "draft":
        await answer(update, label(resident.language, ALREADY))
        return None
    return item


async def send_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.message is not None
    parsed = cb.BROADCAST_SEND.parse(query.data)
    assert parsed is not None
    item = await _own_draft(update, context, int(parsed["id"]))
    if item is None:
        return
    svc = services(context)
    resident = await resident_of(update, context)
    total = await broadcasts.confirm(
        svc.db,
        svc.clock,
        item,
        progress_chat=query.message.chat.id,
        progress_message=query.message.message_id,
        language=resident.language,
    )
    if total is None:
        await answer(update, label(resident.language, ALREADY))
        return
    await answer(update, label(resident.language, "Sending."))
    # The preview becomes the live count; the dispatcher makes every edit of it, in order,
    # so this first "0 of N" can never land on top of a later count.
    await context.bot_data["dispatcher"].show_progress([item.id])
    svc.outbox_bell.ring()
    await audit_action(
        context,
        resident.user_id,
        "broadcast",
        item.ward_code,
        target=f"bc:{item.id}",
        detail=f"{total} recipients",
    )


async def cancel_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.BROADCAST_CANCEL.parse(query.data)
    assert parsed is not None
    item = await _own_draft(update, context, int(parsed["id"]))
    if item is None:
        return
    svc = services(context)
    resident = await resident_of(update, context)
    await broadcasts.cancel(svc.db, svc.clock, item)
    await answer(update, label(resident.language, "Cancelled."))
    await edit_quietly(update, t(resident.language, "Broadcast cancelled; nothing was sent."))
