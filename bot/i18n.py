"""The one translation function every user-visible text goes through.

`t(lang, "Hello {name}", name=...)` translates the message id with gettext into the
user's language, then fills it with HTML-escaped values (see `bot.render`). Catalogs live
in `bot/locale/<lang>/LC_MESSAGES/wardvoice.mo`; a language without a catalog falls back
to the English message ids, so a missing catalog never breaks a reply.

The translators' `.po` files are committed; the `.mo` files are built from them, not
committed. The build compiles them (`setup.py`, for `pip install .` and `pip install -e .`
alike). As a safety net, a catalog whose `.mo` is missing or older than its `.po` is
compiled here at first use, into the package's own folder (logged at info): so a `.po`
edited after the install, or an install made without the build hook (`--no-build-isolation`
with Babel missing, an old setuptools), still speaks every language with no extra step,
and the README's commands on a fresh machine need nothing more. Where the folder is not
writable, the catalog is compiled in memory for this process. An installed wheel carries
only the `.mo` files, so there this is never needed. `python -m bot.i18n_tools compile`
does the same by hand.
"""

from __future__ import annotations

import gettext
import io
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.render import Html, fill

log = logging.getLogger(__name__)

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
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if po.is_file() and (not mo.is_file() or mo.stat().st_mtime < po.stat().st_mtime):
        compiled = _compile(po, mo)
        if compiled is not None:
            return gettext.GNUTranslations(io.BytesIO(compiled))
    if not mo.is_file():
        return gettext.NullTranslations()
    # Read directly, not through gettext.translation(): that caches by path for the life
    # of the process, so a catalog compiled again would never be seen.
    with mo.open("rb") as source:
        return gettext.GNUTranslations(source)


def _compile(po: Path, mo: Path) -> bytes | None:
    """Compile a missing or stale catalog (see the module's docstring); None on failure,
    when the old .mo (if any) is used."""
    from bot import i18n_tools

    try:
        data = i18n_tools.compile_bytes(po)
    except Exception:  # a .po being written as we read it, or broken: keep what we had
        log.exception("could not compile %s; using the compiled catalog if there is one", po)
        return None
    try:
        i18n_tools.write_atomically(mo, data)
        log.info("compiled %s (it was missing or older than its .po)", mo)
    except OSError as err:
        log.info("compiled %s in memory only, the folder is not writable: %s", po, err)
    return data


def reload_catalogs() -> None:
    """Forget the catalogs read so far (the next message reads, or compiles, them again)."""
    _catalog.cache_clear()
    _spoken_languages.cache_clear()


def t(language: str | None, message: str, /, **values: Any) -> Html:
    """Translate `message` and fill its `{placeholders}` with escaped values (for HTML replies)."""
    return fill(_catalog(normalise_language(language)).gettext(message), values)


def label(language: str | None, message: str, /, **values: Any) -> str:
    """Translate `message` as plain text, for what Telegram does not parse as HTML:
    button labels, keyboard placeholders, command descriptions, callback answers."""
    template = _catalog(normalise_language(language)).gettext(message)
    return template.format_map(values) if values else template


def babel_locale(language: str | None) -> str:
    """The Babel locale for dates and numbers: the language's own where the bot speaks it,
    else British English (a UK product). A language without a catalog gets its words in
    English, so its dates are English too rather than a mix; and a client can send any tag
    ("zz"), which Babel would refuse with UnknownLocaleError (found by fuzzing)."""
    language = normalise_language(language)
    return language if language in _spoken_languages() else "en_GB"


@lru_cache(maxsize=1)
def _spoken_languages() -> frozenset[str]:
    return frozenset(available_languages()) - {DEFAULT_LANGUAGE}


def available_languages() -> list[str]:
    """English plus every language that has a compiled catalog (or a .po that the first
    message in that language compiles, see above)."""
    found = {
        p.parent.parent.name
        for pattern in (f"*/LC_MESSAGES/{DOMAIN}.mo", f"*/LC_MESSAGES/{DOMAIN}.po")
        for p in LOCALE_DIR.glob(pattern)
    }
    return [DEFAULT_LANGUAGE, *sorted(found - {DEFAULT_LANGUAGE})]


def language_name(language: str) -> str:
    """The language's name in itself, as on a language menu: English, Polski, Türkçe."""
    from babel import Locale, UnknownLocaleError

    try:
        name = Locale.parse(language).get_display_name(language) or language
    except (ValueError, UnknownLocaleError):
        return language
    return name[:1].upper() + name[1:]


def tn(language: str | None, singular: str, plural: str, count: int, /, **values: Any) -> Html:
    """Plural-aware `t`; `count` is available to the template as `{count}`."""
    template = _catalog(normalise_language(language)).ngettext(singular, plural, count)
    return fill(template, {"count": count, **values})
