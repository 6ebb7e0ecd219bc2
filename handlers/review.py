"""Concern review for a ward's panel and team, and "you said, we did" entries.

    /panel ─▶ Concerns ─▶ a category ─▶ a concern ─▶ Reviewed · Close · Use template ·
                                                      Link to priority · Hide text · Stop filing
    /respond WV-XXXXX text     /template CATEGORY STATUS text     /wedid [#ID] [WV-…] what was done

Every button and command re-checks the role for the concern's own ward when it runs.
Residents who raised a concern, or said "me too", are told of each answer and change.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain import concerns as concern_domain
from bot.domain import notices, review, roles
from bot.domain.categories import CATEGORIES
from bot.domain.errors import RuleError
from bot.domain.privacy import ERASED_TEXT
from bot.domain.roles import Action
from bot.i18n import N_, label, t
from bot.render import Html, join
from handlers import callback_data as cb
from handlers.common import (
    Context,
    allowed,
    answer,
    audit_action,
    refuse,
    reply,
    resident_of,
    services,
)
from handlers.working_ward import working_ward
from storage import concerns as concern_store
from storage import priorities as priority_store
from storage.concerns import Concern

log = logging.getLogger(__name__)
SHOWN = 10


async def tell(context: Context, user_ids: list[int], render, *, ward_code: str) -> int:  # type: ignore[no-untyped-def]
    """Queue `render(language)` to each resident through the outbox; returns how many.

    The staff action is already saved; the outbox delivers within Telegram's limits, and
    one resident who blocked the bot does not stop the others being told.
    """
    svc = services(context)
    count = await notices.notify(svc.db, svc.clock, "answer", user_ids, render, ward_code=ward_code)
    svc.outbox_bell.ring()
    return count


def _concern_text(language: str, concern: Concern, hidden: bool) -> Html:
    return (
        t(language, "[hidden by a moderator]")
        if hidden
        else t(language, "{text}", text=concern.text or label(language, ERASED_TEXT))
    )


async def queue_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.STAFF_CONCERNS.parse(query.data)
    assert parsed is not None
    ward_code = parsed["code"]
    if not await allowed(update, context, Action.REVIEW_CONCERNS, ward_code):
        return
    await answer(update)
    svc = services(context)
    language = (await resident_of(update, context)).language
    found = await review.queue(svc.db, svc.clock, ward_code)
    if not found.counts:
        await reply(update, t(language, "No new concerns. 🎉"))
        return
    period = (
        t(language, "since the last meeting")
        if found.since_meeting
        else t(language, "in the last 4 weeks")
    )
    lines: list[Html | str] = [t(language, "<b>New concerns</b> (people include “me too”)")]
    rows = []
    for c in found.counts:
        name = label(language, CATEGORIES.get(c.category, c.category))
        lines.append(
            t(
                language,
                "{category}: {concerns} concerns, {people} people, {since} of them {period}",
                category=name,
                concerns=c.concerns,
                people=c.people,
                since=c.since,
                period=period,
            )
        )
        rows.append(
            [
                InlineKeyboardButton(
                    f"{name} ({c.concerns})",
                    callback_data=cb.STAFF_CATEGORY.build(code=ward_code, category=c.category),
                )
            ]
        )
    await reply(update, join(lines), InlineKeyboardMarkup(rows))


async def category_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.STAFF_CATEGORY.parse(query.data)
    assert parsed is not None
    if not await allowed(update, context, Action.REVIEW_CONCERNS, parsed["code"]):
        return
    await answer(update)
    svc = services(context)
    language = (await resident_of(update, context)).language
    found = await concern_store.for_review(svc.db, parsed["code"], parsed["category"], SHOWN)
    if not found:
        await reply(update, t(language, "No open concerns in this category."))
        return
    rows = [
        [
            InlineKeyboardButton(
                f"{c.ref} · {label(language, concern_domain.STATUS_LABELS[c.status])}",
                callback_data=cb.STAFF_CONCERN.build(id=str(c.id)),
            )
        ]
        for c in found
    ]
    await reply(update, t(language, "Open concerns, oldest first:"), InlineKeyboardMarkup(rows))


async def _card(update: Update, context: Context, concern: Concern) -> None:
    svc = services(context)
    language = (await resident_of(update, context)).language
    hidden = await concern_store.is_hidden(svc.db, concern.id)
    ward = svc.wards.ward(concern.ward_code)
    lines: list[Html | str] = [
        t(
            language,
            "<b>{ref}</b> · {category} · {status}",
            ref=concern.ref,
            category=t(language, CATEGORIES.get(concern.category, concern.category)),
            status=t(language, concern_domain.STATUS_LABELS[concern.status]),
        ),
        t(language, "{count} people have raised this.", count=concern.supporters + 1),
        t(
            language,
            "Where: {place}",
            place=(
                f"{concern.lat:.5f}, {concern.lon:.5f}"
                if concern.lat is not None and concern.lon is not None
                else (ward.name if ward else concern.ward_code)
            ),
        ),
        "",
        _concern_text(language, concern, hidden),
        "",
        t(language, "Answer with: /respond {ref} your answer", ref=concern.ref),
    ]
    template = await review.template_for(svc.db, concern)
    key = str(concern.id)
    rows = [
        [
            InlineKeyboardButton(
                label(language, "Mark reviewed"),
                callback_data=cb.STAFF_STATUS.build(id=key, status="reviewed"),
            ),
            InlineKeyboardButton(
                label(language, "Close"),
                callback_data=cb.STAFF_STATUS.build(id=key, status="closed"),
            ),
        ],
    ]
    if template:
        rows.append(
            [
                InlineKeyboardButton(
                    label(language, "Answer: {text}", text=template[:40]),
                    callback_data=cb.STAFF_TEMPLATE.build(id=key),
                )
            ]
        )
    for priority in await priority_store.active_for_ward(svc.db, concern.ward_code):
        rows.append(
            [
                InlineKeyboardButton(
                    label(language, "Link to: {title}", title=priority.title[:40]),
                    callback_data=cb.STAFF_LINK.build(id=key, priority=str(priority.id)),
                )
            ]
        )
    rows.append(
        [
            InlineKeyboardButton(
                label(language, "Hide text"), callback_data=cb.STAFF_HIDE.build(id=key)
            ),
            InlineKeyboardButton(
                label(language, "Stop this person filing"),
                callback_data=cb.STAFF_BLOCK.build(id=key),
            ),
        ]
    )
    if concern.photo_file_id and not hidden:
        await update.effective_chat.send_photo(concern.photo_file_id)  # type: ignore[union-attr]
    await reply(update, join(lines), InlineKeyboardMarkup(rows))


async def _concern_for(
    update: Update, context: Context, fmt: cb.CallbackFormat, action: Action
) -> tuple[Concern, dict[str, str]] | None:
    query = update.callback_query
    assert query is not None
    parsed = fmt.parse(query.data)
    assert parsed is not None
    concern = await concern_store.by_id(services(context).db, int(parsed["id"]))
    if concern is None:
        await answer(
            update,
            label((await resident_of(update, context)).language, "There is no such concern."),
        )
        return None
    if not await allowed(update, context, action, concern.ward_code, target=concern.ref):
        return None
    return concern, parsed


async def concern_pressed(update: Update, context: Context) -> None:
    found = await _concern_for(update, context, cb.STAFF_CONCERN, Action.REVIEW_CONCERNS)
    if found is None:
        return
    await answer(update)
    await _card(update, context, found[0])


def _status_news(concern: Concern, status: str):  # type: ignore[no-untyped-def]
    return lambda language: t(
        language,
        "Update on your concern {ref}: {status}.",
        ref=concern.ref,
        status=t(language, concern_domain.STATUS_LABELS[status]),
    )


def _answer_news(concern: Concern, text: str):  # type: ignore[no-untyped-def]
    return lambda language: join(
        [
            t(language, "Your ward panel answered your concern {ref}:", ref=concern.ref),
            t(language, "{text}", text=text),
        ]
    )


async def status_pressed(update: Update, context: Context) -> None:
    found = await _concern_for(update, context, cb.STAFF_STATUS, Action.REVIEW_CONCERNS)
    if found is None:
        return
    concern, parsed = found
    svc = services(context)
    resident = await resident_of(update, context)
    query = update.callback_query
    assert query is not None
    try:
        told = await review.set_status(
            svc.db, svc.clock, concern, parsed["status"], by=roles.actor(resident.user_id)
        )
    except RuleError as err:
        await refuse(update, resident.language, err)
        return
    await audit_action(
        context,
        resident.user_id,
        "concern_status",
        concern.ward_code,
        target=concern.ref,
        detail=parsed["status"],
    )
    await answer(update, label(resident.language, "Done."))
    await tell(context, told, _status_news(concern, parsed["status"]), ward_code=concern.ward_code)


async def _answer(update: Update, context: Context, concern: Concern, text: str) -> None:
    svc = services(context)
    resident = await resident_of(update, context)
    told = await review.respond(svc.db, svc.clock, concern, text, by=roles.actor(resident.user_id))
    await audit_action(
        context,
        resident.user_id,
        "respond",
        concern.ward_code,
        target=concern.ref,
    )
    sent = await tell(context, told, _answer_news(concern, text), ward_code=concern.ward_code)
    await reply(update, t(resident.language, "Answer on its way to {count} people.", count=sent))


async def template_pressed(update: Update, context: Context) -> None:
    found = await _concern_for(update, context, cb.STAFF_TEMPLATE, Action.RESPOND)
    if found is None:
        return
    concern = found[0]
    assert update.callback_query is not None
    text = await review.template_for(services(context).db, concern)
    if not text:
        await answer(
            update,
            label((await resident_of(update, context)).language, "There is no template for this."),
        )
        return
    await answer(update)
    await _answer(update, context, concern, text)


async def link_pressed(update: Update, context: Context) -> None:
    found = await _concern_for(update, context, cb.STAFF_LINK, Action.MANAGE_PRIORITIES)
    if found is None:
        return
    concern, parsed = found
    svc = services(context)
    resident = await resident_of(update, context)
    try:
        told = await review.link_to_priority(
            svc.db, svc.clock, concern, int(parsed["priority"]), by=roles.actor(resident.user_id)
        )
    except RuleError as err:
        await refuse(update, resident.language, err)
        return
    await audit_action(
        context,
        resident.user_id,
        "link_priority",
        concern.ward_code,
        target=concern.ref,
        detail=f"priority:{parsed['priority']}",
    )
    await answer(update, label(resident.language, "Linked."))
    await tell(context, told, _status_news(concern, "priority"), ward_code=concern.ward_code)


async def hide_pressed(update: Update, context: Context) -> None:
    found = await _concern_for(update, context, cb.STAFF_HIDE, Action.MODERATE)
    if found is None:
        return
    svc = services(context)
    resident = await resident_of(update, context)
    await review.hide_text(svc.db, svc.clock, found[0])
    await audit_action(
        context,
        resident.user_id,
        "hide_text",
        found[0].ward_code,
        target=found[0].ref,
    )
    await answer(update, label(resident.language, "The text is hidden."))


async def block_pressed(update: Update, context: Context) -> None:
    found = await _concern_for(update, context, cb.STAFF_BLOCK, Action.MODERATE)
    if found is None:
        return
    svc = services(context)
    resident = await resident_of(update, context)
    try:
        await review.block_raiser(svc.db, svc.clock, found[0])
    except RuleError as err:
        await refuse(update, resident.language, err)
        return
    await audit_action(
        context,
        resident.user_id,
        "block_filing",
        found[0].ward_code,
        target=found[0].ref,
    )
    await answer(update, label(resident.language, "They can no longer raise concerns."))


async def respond_command(update: Update, context: Context) -> None:
    svc = services(context)
    resident = await resident_of(update, context)
    args = context.args or []
    try:
        if len(args) < 2:
            raise RuleError(N_("Usage: /respond WV-XXXXX your answer"))
        concern = await review.concern_by_ref(svc.db, args[0])
    except RuleError as err:
        await refuse(update, resident.language, err)
        return
    if not await allowed(update, context, Action.RESPOND, concern.ward_code, target=concern.ref):
        return
    await _answer(update, context, concern, " ".join(args[1:]))


async def template_command(update: Update, context: Context) -> None:
    svc = services(context)
    resident = await resident_of(update, context)
    ward_code = await working_ward(context, resident)
    if not await allowed(update, context, Action.RESPOND, ward_code):
        return
    args = context.args or []
    try:
        if len(args) < 3:
            raise RuleError(N_("Usage: /template CATEGORY STATUS text"))
        await review.save_template(
            svc.db,
            svc.clock,
            ward_code,
            args[0].lower(),
            args[1].lower(),
            " ".join(args[2:]),
            by=roles.actor(resident.user_id),
        )
    except RuleError as err:
        await refuse(update, resident.language, err)
        return
    await audit_action(
        context,
        resident.user_id,
        "template",
        ward_code,
        target=f"{args[0].lower()}:{args[1].lower()}",
    )
    await reply(update, t(resident.language, "Template saved."))


async def we_did_command(update: Update, context: Context) -> None:
    svc = services(context)
    resident = await resident_of(update, context)
    ward_code = await working_ward(context, resident)
    if not await allowed(update, context, Action.RECORD_OUTCOME, ward_code):
        return
    try:
        entry = await review.record_we_did(
            svc.db,
            svc.clock,
            ward_code,
            " ".join(context.args or []),
            by=roles.actor(resident.user_id),
        )
    except RuleError as err:
        await refuse(update, resident.language, err)
        return
    await audit_action(
        context,
        resident.user_id,
        "we_did",
        ward_code,
        target=f"outcome:{entry.outcome.id}",
    )
    outcome = entry.outcome

    def news(language: str) -> Html:
        return join(
            [
                t(language, "<b>You said, we did</b>"),
                t(language, "You said: {said}", said=outcome.you_said),
                t(language, "We did: {did}", did=outcome.we_did),
            ]
        )

    sent = await tell(context, entry.told, news, ward_code=ward_code)
    subscribers = await notices.notify_instant_subscribers(
        svc.db,
        svc.clock,
        ward_code,
        news,
        key=f"wedid:{outcome.id}",
        skip=entry.told,
        by=f"tg:{resident.user_id}",
    )
    svc.outbox_bell.ring()
    await reply(
        update,
        t(
            resident.language,
            "Posted. On its way to {count} residents who raised it and {subscribers} subscribers.",
            count=sent,
            subscribers=subscribers,
        ),
    )
