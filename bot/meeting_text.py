"""How a meeting reads, shared by /meetings and the scheduled reminders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from babel.dates import format_date, format_skeleton, format_time

from bot.clock import from_iso
from bot.i18n import babel_locale, t
from bot.render import Html, join
from storage.meetings import AgendaItem, Meeting


def when_text(language: str, starts_at: str, tz: tzinfo) -> str:
    """`Thursday, 3 December 2026, 19:00` in the bot's time zone and the user's language."""
    local = from_iso(starts_at).astimezone(tz)
    locale = babel_locale(language)
    day = format_date(local.date(), format="full", locale=locale)
    hour = format_time(local.time(), format="short", locale=locale)
    return f"{day}, {hour}"


def short_when(language: str, moment: str, tz: tzinfo) -> str:
    """`Thu 3 Dec, 19:00`: for lines that must fit a phone's width (votes)."""
    local = from_iso(moment).astimezone(tz)
    locale = babel_locale(language)
    day = format_skeleton("MMMEd", local, locale=locale)
    hour = format_time(local.time(), format="short", locale=locale)
    return f"{day}, {hour}"


def render_meeting(
    language: str, meeting: Meeting, tz: tzinfo, agenda: Sequence[AgendaItem] = ()
) -> Html:
    lines = [
        t(language, "<b>{when}</b>", when=when_text(language, meeting.starts_at, tz)),
        t(language, "Where: {venue}", venue=meeting.venue),
        t(language, "Open to the public: all welcome.")
        if meeting.open_to_public
        else t(language, "Closed meeting: for panel members only."),
    ]
    if meeting.online_link:
        lines.append(t(language, "Online: {link}", link=meeting.online_link))
    if agenda:
        lines.append(t(language, "On the agenda:"))
        lines += [
            t(language, "• {title} (chosen in a vote)", title=item.title)
            if item.vote_id is not None
            else t(language, "• {title}", title=item.title)
            for item in agenda
        ]
    return join(lines)
