"""Stats for staff: /stats (figures and a chart) and /export (CSV files for the minutes).

    /stats [borough | CODE]              ─▶ figures, then the weekly chart as a photo
    /export [borough | CODE] FROM TO     ─▶ two CSV documents: concerns, "you said, we did"
    Panel ─▶ Stats (button)              ─▶ as /stats for the ward in the button

Without a code they are about the ward being worked on (/panel). The role check runs in
`bot.domain.stats` every time; the chart is drawn in a worker thread.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from babel.dates import format_date, format_timedelta
from telegram import InputFile, Update

from bot import charts
from bot.domain import stats as stats_domain
from bot.domain.categories import CATEGORIES
from bot.domain.concerns import STATUS_LABELS
from bot.domain.errors import RuleError
from bot.domain.stats import Export, Stats
from bot.i18n import babel_locale, label, t
from bot.render import Html, join
from handlers.callback_data import STATS_SHOW
from handlers.common import Context, answer, refuse, reply, resident_of, services
from handlers.working_ward import working_ward


def _day(language: str, day: date, pattern: str) -> str:
    return format_date(day, format=pattern, locale=babel_locale(language))


def _duration(language: str, delta: timedelta) -> str:
    return format_timedelta(delta, locale=babel_locale(language))


def _title(language: str, stats_scope: stats_domain.Scope) -> str:
    if stats_scope.is_borough:
        return label(language, "{name} (borough)", name=stats_scope.name)
    return label(language, "{name} ward", name=stats_scope.name)


def render_stats(language: str, stats: Stats) -> Html:
    lines: list[Html | str] = [
        t(language, "<b>Figures for {scope}</b>", scope=_title(language, stats.scope)),
        t(
            language,
            "Concerns raised since {date}: {count}",
            date=_day(language, stats.week_starts[0], "long"),
            count=stats.raised,
        ),
    ]
    lines += [
        t(
            language,
            "· {category}: {count}",
            category=label(language, CATEGORIES.get(code, code)),
            count=sum(per_week),
        )
        for code, per_week in stats.by_category.items()
    ]
    if stats.median_response is not None:
        lines.append(
            t(
                language,
                "Median time to a first response: {duration} ({answered} of {raised} answered)",
                duration=_duration(language, stats.median_response),
                answered=stats.answered,
                raised=stats.raised,
            )
        )
    elif stats.raised:
        lines.append(t(language, "None of these concerns has had a response yet."))
    lines.append("")
    if stats.by_status:
        lines.append(t(language, "<b>All concerns by status now</b>"))
        lines += [
            t(language, "· {status}: {count}", status=label(language, STATUS_LABELS[s]), count=n)
            for s, n in stats.by_status.items()
        ]
    else:
        lines.append(t(language, "No concerns have been raised here yet."))
    lines.append("")
    if stats.satisfaction is None:
        lines.append(t(language, "Satisfaction: no ratings in these weeks yet."))
    else:
        lines.append(
            t(
                language,
                "Satisfaction: {mean} out of 5, from {count} ratings.",
                mean=f"{stats.satisfaction:.1f}",
                count=stats.ratings,
            )
        )
    lines.append(
        t(
            language,
            "Subscribers: {instant} at once, {weekly} weekly.",
            instant=stats.subscribers.get("instant", 0),
            weekly=stats.subscribers.get("weekly", 0),
        )
    )
    return join(lines)


def chart_png(language: str, stats: Stats) -> bytes:
    """CPU-bound (matplotlib): call through `asyncio.to_thread`."""
    return charts.stacked_bars_png(
        [_day(language, d, "d MMM") for d in stats.week_starts],
        [
            (label(language, CATEGORIES.get(code, code)), per_week)
            for code, per_week in stats.by_category.items()
        ],
        title=label(
            language,
            "Concerns by category, week by week: {scope}",
            scope=_title(language, stats.scope),
        ),
        x_label=label(language, "Week beginning"),
        y_label=label(language, "Concerns raised"),
    )


async def _show(update: Update, context: Context, code: str) -> bool:
    """Figures, then the chart if there is anything to draw; False if refused."""
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    try:
        stats = await stats_domain.figures(
            svc.db,
            svc.clock,
            svc.wards,
            svc.settings.admin_ids,
            user_id=resident.user_id,
            code=code,
            tz=svc.settings.tz,
        )
    except RuleError as err:
        await refuse(update, language, err)
        return False
    await reply(update, render_stats(language, stats))
    if stats.raised:
        png = await asyncio.to_thread(chart_png, language, stats)
        chat = update.effective_chat
        assert chat is not None
        await chat.send_photo(
            photo=InputFile(png, filename="concerns.png"),
            caption=t(
                language,
                "Concerns by category, week by week, since {date}.",
                date=_day(language, stats.week_starts[0], "long"),
            ),
        )
    return True


async def stats_command(update: Update, context: Context) -> None:
    """/stats [borough | CODE]"""
    resident = await resident_of(update, context)
    args = context.args or []
    try:
        code = stats_domain.scope_code(
            services(context).wards,
            await working_ward(context, resident),
            args[0] if args else None,
        )
    except RuleError as err:
        await refuse(update, resident.language, err)
        return
    await _show(update, context, code)


async def stats_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = STATS_SHOW.parse(query.data)
    assert parsed is not None
    if await _show(update, context, parsed["code"]):
        await answer(update)


def _export_caption(language: str, export: Export, what: str, count: int, tz: str) -> Html:
    return t(
        language,
        "{what} for {scope}, {first} to {last}: {count}. Times are in the {tz} time zone.",
        what=what,
        scope=_title(language, export.scope),
        first=_day(language, export.first_day, "long"),
        last=_day(language, export.last_day, "long"),
        count=count,
        tz=tz,
    )


async def export_command(update: Update, context: Context) -> None:
    """/export [borough | CODE] FROM TO"""
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    args = list(context.args or [])
    wanted = args.pop(0) if args and stats_domain.is_scope(args[0]) else None
    try:
        code = stats_domain.scope_code(svc.wards, await working_ward(context, resident), wanted)
        export = await stats_domain.export(
            svc.db,
            svc.clock,
            svc.wards,
            svc.settings.admin_ids,
            user_id=resident.user_id,
            code=code,
            first=args[0] if len(args) == 2 else "",
            last=args[1] if len(args) == 2 else "",
            tz=svc.settings.tz,
            language=language,
        )
    except RuleError as err:
        await refuse(update, language, err)
        return
    chat = update.effective_chat
    assert chat is not None
    zone = svc.settings.timezone
    span = f"{export.scope.code}-{export.first_day}-{export.last_day}"
    await chat.send_document(
        document=InputFile(export.concerns_csv, filename=f"concerns-{span}.csv"),
        caption=_export_caption(
            language, export, label(language, "Concerns"), export.concerns, zone
        ),
    )
    await chat.send_document(
        document=InputFile(export.outcomes_csv, filename=f"you-said-we-did-{span}.csv"),
        caption=_export_caption(
            language,
            export,
            label(language, "“You said, we did” entries"),
            export.outcomes,
            zone,
        ),
    )
