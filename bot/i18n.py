"""The one translation function every user-visible text goes through.

`t(lang, "Hello {name}", name=...)` translates the message id with gettext into the
user's language, then fills it with HTML-escaped values (see `bot.render`). Catalogs live
in `bot/locale/<lang>/LC_MESSAGES/wardvoice.mo`; a language without a catalog falls back
to the English message ids, so a missing catalog never breaks a reply.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.render import Html, fill

DOMAIN = "wardvoice"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LANGUAGE = "en"


def N_(message: str) -> str:
    """Mark a module-level string for extraction; it is translated later with `t`."""
    return message


def normalise_language(code: str | None) -> str:
    """Telegram sends IETF tags like `en-GB` or `pt-br`; catalogs are keyed by the base tag."""
    if not code:
        return DEFAULT_LANGUAGE
    base = code.replace("_", "-").split("-")[0].strip().lower()
    return base if base.isalpha() and 2 <= len(base) <= 3 else DEFAULT_LANGUAGE


@lru_cache(maxsize=64)
def _catalog(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def t(language: str | None, message: str, /, **values: Any) -> Html:
    """Translate `message` and fill its `{placeholders}` with escaped values (for HTML replies)."""
    return fill(_catalog(normalise_language(language)).gettext(message), values)


def label(language: str | None, message: str, /, **values: Any) -> str:
    """Translate `message` as plain text, for what Telegram does not parse as HTML:
    button labels, keyboard placeholders, command descriptions, callback answers."""
    template = _catalog(normalise_language(language)).gettext(message)
    return template.format_map(values) if values else template


def babel_locale(language: str | None) -> str:
    """The Babel locale for dates and numbers: British English for English (a UK product)."""
    language = normalise_language(language)
    return "en_GB" if language == DEFAULT_LANGUAGE else language


def available_languages() -> list[str]:
    """English plus every language that has a compiled catalog."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")}
    return [DEFAULT_LANGUAGE, *sorted(found - {DEFAULT_LANGUAGE})]


def tn(language: str | None, singular: str, plural: str, count: int, /, **values: Any) -> Html:
    """Plural-aware `t`; `count` is available to the template as `{count}`."""
    template = _catalog(normalise_language(language)).ngettext(singular, plural, count)
    return fill(template, {"count": count, **values})
