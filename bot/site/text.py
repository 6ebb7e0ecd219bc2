"""Escaping and date wording shared by the site's pages and feeds."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, tzinfo

from babel.dates import format_date, format_time

from bot.clock import from_iso
from bot.domain.categories import CATEGORIES

LOCALE = "en_GB"

# Characters XML 1.0 forbids (and HTML treats as parse errors): C0 controls but tab, LF, CR;
# lone surrogates; U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(value: object) -> str:
    """Text as stored, minus characters no HTML or XML document may hold."""
    return _NOT_XML.sub("", str(value))


def esc(value: object) -> str:
    """Escape any value for HTML or XML text and attribute values (quotes included)."""
    return html.escape(clean(value), quote=True)


def local(moment: str, tz: tzinfo) -> datetime:
    """A stored UTC ISO moment in the site's time zone."""
    return from_iso(moment).astimezone(tz)


def day_text(day: date) -> str:
    """`3 December 2026`."""
    return format_date(day, format="d MMMM y", locale=LOCALE)


def when_text(moment: datetime) -> str:
    """`Thursday 3 December 2026, 19:00` (a local moment)."""
    return (
        f"{format_date(moment.date(), format='EEEE d MMMM y', locale=LOCALE)}, "
        f"{format_time(moment.time(), format='HH:mm', locale=LOCALE)}"
    )


def category_label(code: str) -> str:
    return CATEGORIES.get(code, code)


AUDIENCES = {
    "ward_youth": "the ward's youth panel",
    "borough_youth": "the borough's youth panel",
    "residents": "everyone living in the ward",
}


def turnout_text(voters: int, eligible: int) -> str:
    if eligible <= 0:
        return f"{voters} voted"
    share = round(100 * voters / eligible)
    return f"{voters} of {eligible} people who could vote ({share}%)"
