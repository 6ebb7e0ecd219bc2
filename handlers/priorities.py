"""/priorities: what the resident's ward panel is working on, and the latest action on each."""

from __future__ import annotations

from datetime import date, tzinfo

from babel.dates import format_date
from telegram import Update

from bot.clock import from_iso
from bot.domain.priorities import PriorityView, ward_priorities
from bot.geo.index import Ward
from bot.i18n import babel_locale, normalise_language, t
from bot.render import Html, escape, join
from handlers.common import Context, answer, reply, resident_of, services
from handlers.wards import begin_finding

# Keeps five priorities well inside Telegram's 4,096 characters.
SHOWN_CHARS = 300


def _date(language: str, day: date) -> str:
    return format_date(day, format="long", locale=babel_locale(language))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1].rstrip() + "…"


def render_priority(language: str, number: int, view: PriorityView, tz: tzinfo) -> Html:
    priority = view.priority
    lines = [
        t(
            language,
            "{number}. <b>{title}</b> · {category}",
            number=number,
            title=priority.title,
            category=t(language, view.category_label),
        )
    ]
    if priority.description:
        lines.append(escape(_short(priority.description)))
    since = from_iso(priority.set_at).astimezone(tz).date()
    lines.append(t(language, "A priority since {date}", date=_date(language, since)))
    if view.latest is not None:
        lines.append(
            t(
                language,
                "Latest action ({date}): {action}",
                date=_date(language, date.fromisoformat(view.latest.action_date)),
                action=_short(view.latest.we_did),
            )
        )
    else:
        lines.append(t(language, "No action recorded yet."))
    return join(lines)


def render_priorities(language: str, ward: Ward, views: list[PriorityView], tz: tzinfo) -> Html:
    if not views:
        return join(
            [
                t(language, "The panel for {ward} hasn't set its priorities yet.", ward=ward.name),
                t(language, "They will appear here as soon as it does."),
            ]
        )
    header = t(language, "<b>What the {ward} ward panel is working on</b>", ward=ward.name)
    body = [render_priority(language, i, view, tz) for i, view in enumerate(views, start=1)]
    return join([header, *body], "\n\n")


async def priorities_command(update: Update, context: Context) -> None:
    resident = await resident_of(update, context)
    svc = services(context)
    ward = svc.wards.ward(resident.ward_code) if resident.ward_code else None
    if ward is None:
        await begin_finding(update, context, resident)
        return
    language = normalise_language(resident.language)
    views = await ward_priorities(svc.db, ward.code)
    await reply(update, render_priorities(language, ward, views, svc.settings.tz))


async def priorities_pressed(update: Update, context: Context) -> None:
    await answer(update)
    await priorities_command(update, context)
