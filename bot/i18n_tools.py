"""Catalog maintenance: extract the messages, update the catalogs, compile them.

    python -m bot.i18n_tools extract        # code ─▶ bot/locale/wardvoice.pot
    python -m bot.i18n_tools update         # .pot ─▶ every bot/locale/<lang>/.../wardvoice.po
    python -m bot.i18n_tools init LANG      # start a new language from the .pot
    python -m bot.i18n_tools compile        # every .po ─▶ its .mo (the build does this too)
    python -m bot.i18n_tools check          # what the catalog test checks, as a report

The keywords and folders live here once, so the extraction, the build, the runtime
compile-on-first-use in `bot.i18n` and the catalog test (`tests/test_i18n.py`) agree.

This module imports only the standard library and Babel, never the rest of the package:
`setup.py` loads it by file path inside the isolated build environment, where the bot's
own dependencies are not installed.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

DOMAIN = "wardvoice"
ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "bot" / "locale"
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
# The folders whose code holds user-visible text (never tests/ or bench/).
SOURCE_DIRS = ("bot", "handlers", "schedules", "storage")
# t(lang, msg), label(lang, msg), N_(msg), tn(lang, singular, plural, n): the only
# translation calls there are (bot/i18n.py); Babel's default keywords are switched off.
KEYWORDS = ("t:2", "label:2", "N_", "tn:2,3")


def extract_arguments(output: Path = TEMPLATE) -> list[str]:
    """The `pybabel extract` command line, relative to the repository root."""
    keywords = [arg for keyword in KEYWORDS for arg in ("-k", keyword)]
    return [
        "pybabel",
        "extract",
        "--no-default-keywords",
        *keywords,
        "--no-wrap",
        "--sort-by-file",
        "--project=WardVoice",
        "--version=0.1",
        "-o",
        str(output),
        *SOURCE_DIRS,
    ]


def _pybabel(arguments: list[str]) -> int:
    from babel.messages.frontend import CommandLineInterface

    cwd = os.getcwd()
    os.chdir(ROOT)  # file references in the catalogs stay relative (bot/app.py:32)
    try:
        return CommandLineInterface().run(arguments) or 0
    finally:
        os.chdir(cwd)


def extract() -> int:
    return _pybabel(extract_arguments())


def update() -> int:
    """Merge the template into every catalog: new messages appear empty, changed ones fuzzy."""
    return _pybabel(
        ["pybabel", "update", "-i", str(TEMPLATE), "-d", str(LOCALE_DIR), "-D", DOMAIN, "--no-wrap"]
    )


def init(language: str) -> int:
    return _pybabel(
        [
            "pybabel",
            "init",
            "-i",
            str(TEMPLATE),
            "-d",
            str(LOCALE_DIR),
            "-D",
            DOMAIN,
            "-l",
            language,
            "--no-wrap",
        ]
    )


def catalogs(locale_dir: Path = LOCALE_DIR) -> dict[str, Path]:
    """Every `<lang>/LC_MESSAGES/wardvoice.po` under `locale_dir`, by language."""
    return {
        po.parent.parent.name: po for po in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    }


def compile_bytes(po: Path) -> bytes:
    """The .mo for a .po (fuzzy and empty entries left out, as gettext expects)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        # abort_invalid: a syntax error fails loudly instead of compiling a shorter catalog.
        catalog = read_po(source, locale=po.parent.parent.name, domain=DOMAIN, abort_invalid=True)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def write_atomically(target: Path, data: bytes) -> None:
    """Write to a temporary file beside `target`, then rename: readers (another process
    compiling the same catalog at the same moment) see the old file or the new, never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def compile_catalog(po: Path, mo: Path) -> None:
    write_atomically(mo, compile_bytes(po))


def compile_all(locale_dir: Path = LOCALE_DIR, target_dir: Path | None = None) -> list[Path]:
    """Compile every catalog under `locale_dir` into `target_dir` (default: beside it)."""
    written = []
    for language, po in catalogs(locale_dir).items():
        mo = (target_dir or locale_dir) / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        compile_catalog(po, mo)
        written.append(mo)
    return written


def messages_in_code(root: Path = ROOT) -> Iterator[tuple[str, int, str | tuple[str, ...]]]:
    """Every message the code marks for translation: (file, line, msgid or (singular, plural))."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_keywords

    method_map = [(f"{folder}/**.py", "python") for folder in SOURCE_DIRS]
    for filename, lineno, message, _comments, _context in extract_from_dir(
        root, method_map=method_map, keywords=parse_keywords(list(KEYWORDS))
    ):
        yield filename, lineno, message


def _check() -> int:
    from babel.messages.pofile import read_po

    wanted = {m[0] if isinstance(m, tuple) else m for _f, _l, m in messages_in_code()}
    problems = 0
    for name, path in [("template", TEMPLATE), *catalogs().items()]:
        with path.open("rb") as source:
            catalog = read_po(source)
        missing = [m for m in wanted if m not in catalog]
        entries = [m for m in catalog if m.id]
        empty = [
            m for m in entries if not (all(m.string) if isinstance(m.string, tuple) else m.string)
        ]
        fuzzy = [m for m in entries if m.fuzzy]
        if name == "template":
            print(f"{name}: {len(missing)} messages in the code are missing")
        else:
            print(
                f"{name}: {len(missing)} missing, {len(empty)} untranslated, {len(fuzzy)} fuzzy"
                f" of {len(entries)}"
            )
            problems += len(empty) + len(fuzzy)
        problems += len(missing)
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.i18n_tools", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("extract", help="extract the messages from the code into the .pot")
    sub.add_parser("update", help="merge the .pot into every language's .po")
    p = sub.add_parser("init", help="start a new language's .po from the .pot")
    p.add_argument("language", help="ISO 639-1 code, e.g. pl")
    sub.add_parser("compile", help="compile every .po into its .mo")
    sub.add_parser("check", help="count missing, untranslated and fuzzy messages")
    args = parser.parse_args(argv)
    if args.command == "extract":
        return extract()
    if args.command == "update":
        return update()
    if args.command == "init":
        return init(args.language)
    if args.command == "compile":
        for mo in compile_all():
            print(f"compiled {mo.relative_to(ROOT)}")
        return 0
    return _check()


if __name__ == "__main__":
    sys.exit(main())
