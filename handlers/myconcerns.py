"""/myconcerns: the concerns a resident raised or supports, with status and every answer."""

from __future__ import annotations

from babel.dates import format_datetime
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.clock import from_iso
from bot.domain import concerns as domain
from bot.domain.categories import CATEGORIES
from bot.domain.privacy import ERASED_TEXT
from bot.i18n import babel_locale, label, t
from bot.render import Html, join
from handlers import callback_data as cb
from handlers.common import Context, answer, edit_quietly, reply, resident_of, services
from storage.concerns import Concern, ConcernEvent

EXCERPT = 60


def _when(language: str, iso: str, context: Context) -> str:
    moment = from_iso(iso).astimezone(services(context).settings.tz)
    return format_datetime(moment, "d MMM yyyy, HH:mm", locale=babel_locale(language))


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…"


def _status(language: str, status: str) -> Html:
    return t(language, domain.STATUS_LABELS.get(status, status))


async def _render_page(update: Update, context: Context, page: int, *, edit: bool) -> None:
    resident = await resident_of(update, context)
    language = resident.language
    result = await domain.my_concerns(services(context).db, resident.user_id, page)
    if result.total == 0:
        await reply(
            update, t(language, "You haven't raised any concerns yet. Raise one with /concern.")
        )
        return
    lines: list[Html | str] = [
        t(
            language,
            "<b>Your concerns</b> (page {page} of {pages})",
            page=result.number + 1,
            pages=result.pages,
        )
    ]
    rows: list[list[InlineKeyboardButton]] = []
    for concern in result.concerns:
        mine = concern.raised_by == resident.user_id
        lines.append("")
        lines.append(
            t(
                language,
                "<b>{ref}</b> · {category} · {status}",
                ref=concern.ref,
                category=t(language, CATEGORIES.get(concern.category, concern.category)),
                status=_status(language, concern.status),
            )
        )
        lines.append(
            t(
                language,
                "“{excerpt}”",
                excerpt=_excerpt(concern.text or label(language, ERASED_TEXT)),
            )
        )
        lines.append(
            t(language, "Raised {when}", when=_when(language, concern.created_at, context))
            if mine
            else t(language, "You said “me too” · {count} people", count=concern.supporters + 1)
        )
        rows.append(
            [
                InlineKeyboardButton(
                    label(language, "Open {ref}", ref=concern.ref),
                    callback_data=cb.MY_CONCERN_OPEN.build(ref=concern.ref),
                )
            ]
        )
    nav = []
    if result.number > 0:
        nav.append(
            InlineKeyboardButton(
                label(language, "‹ Newer"),
                callback_data=cb.MY_CONCERNS_PAGE.build(page=str(result.number - 1)),
            )
        )
    if result.number + 1 < result.pages:
        nav.append(
            InlineKeyboardButton(
                label(language, "Older ›"),
                callback_data=cb.MY_CONCERNS_PAGE.build(page=str(result.number + 1)),
            )
        )
    if nav:
        rows.append(nav)
    markup = InlineKeyboardMarkup(rows)
    if edit:
        await edit_quietly(update, join(lines), markup)
    else:
        await reply(update, join(lines), markup)


async def my_concerns_command(update: Update, context: Context) -> None:
    await _render_page(update, context, 0, edit=False)


async def page_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.MY_CONCERNS_PAGE.parse(query.data)
    assert parsed is not None
    await answer(update)
    await _render_page(update, context, int(parsed["page"]), edit=True)


def _event_line(language: str, event: ConcernEvent, context: Context) -> Html:
    when = _when(language, event.changed_at, context)
    if event.kind == "response":
        return t(language, "{when} · Answer: {text}", when=when, text=event.text or "")
    if event.from_status is None:
        return t(
            language,
            "{when} · {status}",
            when=when,
            status=_status(language, event.to_status or ""),
        )
    return t(
        language,
        "{when} · {old} → {new}",
        when=when,
        old=_status(language, event.from_status),
        new=_status(language, event.to_status or ""),
    )


def render_history(
    language: str, concern: Concern, events: list[ConcernEvent], context: Context
) -> Html:
    lines: list[Html | str] = [
        t(
            language,
            "<b>{ref}</b> · {category}",
            ref=concern.ref,
            category=t(language, CATEGORIES.get(concern.category, concern.category)),
        ),
        t(language, "Status: {status}", status=_status(language, concern.status)),
        t(language, "{count} people have raised this.", count=concern.supporters + 1),
        "",
        t(language, "What was said: {text}", text=concern.text or label(language, ERASED_TEXT)),
        "",
        t(language, "<b>History</b>"),
        *(_event_line(language, event, context) for event in events),
    ]
    return join(lines)


async def open_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.MY_CONCERN_OPEN.parse(query.data)
    assert parsed is not None
    resident = await resident_of(update, context)
    found = await domain.history_for(services(context).db, resident.user_id, parsed["ref"])
    if found is None:
        await answer(update, label(resident.language, "That concern is not one you follow."))
        return
    await answer(update)
    concern, events = found
    await reply(update, render_history(resident.language, concern, events, context))
