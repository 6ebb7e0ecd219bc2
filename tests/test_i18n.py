"""Translations: every message in the code is in every catalog, translations keep their
placeholders, HTML and commands, and the bot speaks a resident's language.

The catalog checks run on the shipped catalogs (`bot/locale`) and, to show they catch
what they should, on tiny catalogs made here. The tests through the bot use the shipped
catalogs where they have the messages translated, and tiny ones otherwise.
"""

from __future__ import annotations

import gettext
import os
import re
import string
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

from bot import i18n, i18n_tools
from bot.domain.roles import Role
from bot.i18n import label, language_name, t
from handlers import callback_data as cb
from handlers.commands import RESIDENT_COMMANDS
from handlers.staff import STAFF_COMMANDS, sync_staff_commands
from storage import residents as resident_store
from tests.conftest import Person, Reply, World, WorldFactory
from tests.fakes.bot_api import ApiError, parse_html
from tests.staffing import invite_code

KINGSMEAD = "E05900002"
PRIVATE_CHATS = {"type": "all_private_chats"}
WELCOME = "👋 Welcome to WardVoice."
HELP_TITLE = "<b>What I can do</b>"
ASK = "Which language should I write to you in?"
CHOSEN = "✅ From now on I'll write to you in {language}. To change it: /language"
REFUSED = "Sorry, I can't write in that language."

SHIPPED = i18n_tools.catalogs()


# ── the checks ───────────────────────────────────────────────────────────────────────────


def _read(path: Path) -> Catalog:
    with path.open("rb") as source:
        return read_po(source)


def _forms(string_: str | tuple[str, ...]) -> tuple[str, ...]:
    return string_ if isinstance(string_, tuple) else (string_,)


def _translated(message: Message) -> bool:
    return all(_forms(message.string))


def completeness_problems(
    messages: Iterable[tuple[str, int, str | tuple[str, ...]]],
    template: Path,
    catalogs: dict[str, Path],
) -> list[str]:
    """Every message of the code in the template and in each catalog, translated, not fuzzy."""
    problems = []
    in_code: dict[str, tuple[str, int, str | tuple[str, ...]]] = {}
    for filename, lineno, message in messages:
        in_code.setdefault(_forms(message)[0], (filename, lineno, message))
    for name, path in [(f"{template.name}", template), *catalogs.items()]:
        catalog = _read(path)
        for msgid, (filename, lineno, message) in sorted(in_code.items(), key=lambda i: i[1][:2]):
            entry = catalog.get(msgid)
            if entry is None:
                problems.append(f"{name}: missing {msgid!r} ({filename}:{lineno})")
            elif isinstance(message, tuple) and _forms(entry.id) != message:
                problems.append(f"{name}: {msgid!r} should be the plural entry {message!r}")
        if path == template:
            continue
        for entry in catalog:
            if not entry.id:
                continue
            if entry.fuzzy:
                problems.append(f"{name}: fuzzy {_forms(entry.id)[0]!r}")
            elif not _translated(entry):
                problems.append(f"{name}: untranslated {_forms(entry.id)[0]!r}")
    return problems


_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*")


def _tags(text: str) -> Counter[str]:
    """The HTML tags, by name (`<a href=...>` counts as `<a>`)."""
    return Counter(f"{tag}>" for tag in _TAG.findall(text))


# A bot command: a slash starting a word (not the ones in </b> or https://).
_COMMAND = re.compile(r"(?<![\w/<:])/[a-z][a-z0-9_]*")


def _placeholders(text: str) -> set[str]:
    """The `{name}` fields of a str.format template; ValueError when it is not one."""
    return {
        re.split(r"[.\[]", field)[0]
        for _literal, field, _spec, _conversion in string.Formatter().parse(text)
        if field is not None
    }


class _Dummy:
    def __format__(self, spec: str) -> str:
        return "1"


def _plural_numbers(catalog: Catalog) -> dict[int, set[int]]:
    """For each plural form, the counts (0 to 1000) that use it."""
    choose = gettext.c2py(catalog.plural_expr)
    numbers: dict[int, set[int]] = {}
    for n in range(1001):
        numbers.setdefault(choose(n), set()).add(n)
    return numbers


def placeholder_problems(path: Path) -> list[str]:
    """Each translation keeps its message's placeholders, HTML tags and bot commands."""
    catalog = _read(path)
    numbers = _plural_numbers(catalog)
    problems = []
    for entry in catalog:
        if not entry.id or entry.fuzzy or not _translated(entry):
            continue
        ids = _forms(entry.id)
        where = f"{path.parent.parent.name}: {ids[0]!r}"
        try:
            wanted = [_placeholders(i) for i in ids]
        except ValueError as err:
            problems.append(f"{where}: the message itself is not a template ({err})")
            continue
        union = set().union(*wanted)
        tags = _tags(ids[-1])
        commands = [set(_COMMAND.findall(i)) for i in ids]
        for index, text in enumerate(_forms(entry.string)):
            label_ = f"{where} form {index}" if entry.pluralizable else where
            try:
                found = _placeholders(text)
                text.format_map(dict.fromkeys(found | union, _Dummy()))
            except (ValueError, KeyError, IndexError, AttributeError) as err:
                problems.append(f"{label_}: {text!r} does not format: {err!r}")
                continue
            if entry.pluralizable:
                if not found <= union:
                    problems.append(f"{label_}: unknown placeholders {sorted(found - union)}")
                used_for = numbers.get(index, set())
                if "count" in wanted[-1] and used_for - {1} and "count" not in found:
                    problems.append(f"{label_}: lost {{count}} (this form is for {min(used_for)})")
            elif found != union:
                problems.append(f"{label_}: placeholders {sorted(found)}, want {sorted(union)}")
            if _tags(text) != tags:
                problems.append(
                    f"{label_}: HTML tags {sorted(_tags(text).elements())},"
                    f" want {sorted(tags.elements())}"
                )
            command_set = set(_COMMAND.findall(text))
            if not (set.intersection(*commands) <= command_set <= set.union(*commands)):
                problems.append(
                    f"{label_}: commands {sorted(command_set)}, want {sorted(set.union(*commands))}"
                )
            if _html_ok(ids[-1], union) and not _html_ok(text, found | union):
                problems.append(f"{label_}: Telegram would refuse its HTML: {text!r}")
    return problems


def _html_ok(template: str, names: Iterable[str] = ()) -> bool:
    try:
        parse_html(template.format_map(dict.fromkeys(names, _Dummy())) if names else template)
    except (ApiError, ValueError, KeyError):
        return False
    return True


# ── on the shipped catalogs ──────────────────────────────────────────────────────────────


def test_english_and_at_least_three_languages_ship() -> None:
    assert len(SHIPPED) >= 3, f"catalogs in bot/locale: {sorted(SHIPPED)}"
    assert set(i18n.available_languages()) == {"en", *SHIPPED}


def test_the_template_has_every_message_in_the_code() -> None:
    """Fails with the messages to extract: `python -m bot.i18n_tools extract`."""
    problems = completeness_problems(i18n_tools.messages_in_code(), i18n_tools.TEMPLATE, {})
    assert not problems, "run `python -m bot.i18n_tools extract`:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", sorted(SHIPPED))
def test_every_message_in_the_code_is_translated(language: str) -> None:
    """Fails listing what is missing (`python -m bot.i18n_tools update`), untranslated or fuzzy."""
    problems = completeness_problems(
        i18n_tools.messages_in_code(), i18n_tools.TEMPLATE, {language: SHIPPED[language]}
    )
    problems = [p for p in problems if not p.startswith(i18n_tools.TEMPLATE.name)]
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", sorted(SHIPPED))
def test_translations_keep_placeholders_tags_and_commands(language: str) -> None:
    problems = placeholder_problems(SHIPPED[language])
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


# ── the checks themselves, on tiny catalogs ──────────────────────────────────────────────

CODE = """
from bot.i18n import N_, label, t, tn

LABEL = N_("Marked for later")


def reply(language, n):
    t(language, "Hello {name}, see /help", name="Sam")
    label(language, "Go")
    tn(language, "{count} vote", "{count} votes", n)
    _("Not one of our keywords")
    t(language, "<b>Bold</b> {name}", name="x")
"""


def _write_po(path: Path, locale: str | None, entries: dict, fuzzy: Iterable[str] = ()) -> Path:
    catalog = Catalog(locale=locale, domain=i18n.DOMAIN, project="WardVoice", fuzzy=False)
    for msgid, msgstr in entries.items():
        catalog.add(msgid, msgstr, flags=["fuzzy"] if _forms(msgid)[0] in fuzzy else [])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(out, catalog)
    return path


@pytest.fixture
def tiny_code(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "handlers").mkdir(parents=True)
    (root / "handlers" / "demo.py").write_text(CODE)
    (root / "tests").mkdir()
    (root / "tests" / "test_demo.py").write_text('t("en", "Only in a test")\n')
    return root


def test_extraction_finds_our_calls_only(tiny_code: Path) -> None:
    found = [m for _f, _l, m in i18n_tools.messages_in_code(tiny_code)]
    assert found == [
        "Marked for later",
        "Hello {name}, see /help",
        "Go",
        ("{count} vote", "{count} votes"),
        "<b>Bold</b> {name}",
    ]


def test_completeness_check_lists_missing_untranslated_and_fuzzy(
    tiny_code: Path, tmp_path: Path
) -> None:
    messages = list(i18n_tools.messages_in_code(tiny_code))
    template = _write_po(
        tmp_path / "t.pot",
        None,
        {"Marked for later": "", "Go": "", ("{count} vote", "{count} votes"): ("", "")},
    )
    complete = _write_po(
        tmp_path / "pl" / "LC_MESSAGES" / "wardvoice.po",
        "pl",
        {
            "Marked for later": "Na później",
            "Hello {name}, see /help": "Cześć {name}, zobacz /help",
            "Go": "Dalej",
            ("{count} vote", "{count} votes"): ("{count} głos", "{count} głosy", "{count} głosów"),
            "<b>Bold</b> {name}": "<b>Gruby</b> {name}",
        },
    )
    partial = _write_po(
        tmp_path / "tr" / "LC_MESSAGES" / "wardvoice.po",
        "tr",
        {
            "Marked for later": "Sonra için",
            "Hello {name}, see /help": "",
            "Go": "Git",
            "{count} vote": "{count} oy",
        },
        fuzzy=["Go"],
    )
    problems = completeness_problems(messages, template, {"pl": complete, "tr": partial})
    assert problems == [
        "t.pot: missing 'Hello {name}, see /help' (handlers/demo.py:8)",
        "t.pot: missing '<b>Bold</b> {name}' (handlers/demo.py:12)",
        "tr: '{count} vote' should be the plural entry ('{count} vote', '{count} votes')",
        "tr: missing '<b>Bold</b> {name}' (handlers/demo.py:12)",
        "tr: untranslated 'Hello {name}, see /help'",
        "tr: fuzzy 'Go'",
    ]


def test_placeholder_check_catches_broken_translations(tmp_path: Path) -> None:
    good = {
        "Hello {name}, see /help": "Cześć {name}, zobacz /help",
        "<b>Bold</b> {name}": "{name} <b>gruby</b>",
        ("{count} vote", "{count} votes"): ("jeden głos", "{count} głosy", "{count} głosów"),
        ("One day left", "{count} days left"): ("Został dzień", "{count} dni", "{count} dni"),
        "https://example.org/a is fine": "https://example.org/a jest ok",
    }
    assert placeholder_problems(_write_po(tmp_path / "ok" / "x" / "w.po", "pl", good)) == []

    bad = {
        "Hello {name}, see /help": "Cześć {imie}, zobacz /pomoc",
        "<b>Bold</b> {name}": "<b>gruby {name}",
        "Close {ref}": "Zamknij {ref",
        "Send {n} now": "Wyślij {0} teraz",
        ("{count} vote", "{count} votes"): ("{count} głos", "głosy", "{count} {when} głosów"),
        "See /ward or /help": "Zobacz /ward",
        "<i>note</i>": "</i>notatka<i>",
    }
    problems = placeholder_problems(_write_po(tmp_path / "bad" / "x" / "w.po", "pl", bad))
    text = "\n".join(problems)
    assert "'Hello {name}, see /help': placeholders ['imie'], want ['name']" in text
    assert "'Hello {name}, see /help': commands ['/pomoc'], want ['/help']" in text
    assert "'<b>Bold</b> {name}': HTML tags ['<b>'], want ['</b>', '<b>']" in text
    assert "'<b>Bold</b> {name}': Telegram would refuse its HTML" in text
    assert "'Close {ref}': 'Zamknij {ref' does not format" in text
    assert "'Send {n} now': 'Wyślij {0} teraz' does not format" in text
    assert "'{count} vote' form 1: lost {count} (this form is for 2)" in text
    assert "'{count} vote' form 2: unknown placeholders ['when']" in text
    assert "'See /ward or /help': commands ['/ward'], want ['/help', '/ward']" in text
    assert "'<i>note</i>': Telegram would refuse its HTML" in text
    assert len(problems) == 10, text


# ── compiling ────────────────────────────────────────────────────────────────────────────

TINY = {
    "pl": {
        WELCOME: "👋 Witaj w WardVoice.",
        HELP_TITLE: "<b>Co potrafię</b>",
        ASK: "W jakim języku mam do Ciebie pisać?",
        REFUSED: "Niestety nie umiem pisać w tym języku.",
        "Raise a concern": "Zgłoś problem",
        "Your ward panel's tools": "Narzędzia panelu okręgu",
    },
    "tr": {
        WELCOME: "👋 WardVoice'a hoş geldiniz.",
        HELP_TITLE: "<b>Neler yapabilirim</b>",
        ASK: "Size hangi dilde yazayım?",
        CHOSEN: "✅ Bundan sonra size {language} yazacağım. Değiştirmek için: /language",
        REFUSED: "Maalesef bu dilde yazamıyorum.",
        "Raise a concern": "Bir sorun bildirin",
        "Your ward panel's tools": "Mahalle panelinizin araçları",
    },
}


@pytest.fixture
def tiny_locale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """bot/i18n reads these .po files instead of the shipped ones (compiled at first use)."""
    folder = tmp_path / "locale"
    for language, entries in TINY.items():
        _write_po(folder / language / "LC_MESSAGES" / "wardvoice.po", language, entries)
    monkeypatch.setattr(i18n, "LOCALE_DIR", folder)
    i18n.reload_catalogs()
    yield folder
    i18n.reload_catalogs()


def test_a_catalog_is_compiled_at_first_use_and_again_when_its_po_changes(
    tiny_locale: Path,
) -> None:
    mo = tiny_locale / "pl" / "LC_MESSAGES" / "wardvoice.mo"
    assert not mo.exists()
    assert i18n.available_languages() == ["en", "pl", "tr"]
    assert t("pl-PL", WELCOME) == "👋 Witaj w WardVoice."
    assert mo.exists()

    po = mo.with_suffix(".po")
    _write_po(po, "pl", {**TINY["pl"], WELCOME: "👋 Dzień dobry w WardVoice."})
    later = mo.stat().st_mtime + 5
    os.utime(po, (later, later))
    assert t("pl", WELCOME) == "👋 Witaj w WardVoice.", "read once per process"
    i18n.reload_catalogs()
    assert t("pl", WELCOME) == "👋 Dzień dobry w WardVoice."
    with mo.open("rb") as compiled:
        assert gettext.GNUTranslations(compiled).gettext(WELCOME) == "👋 Dzień dobry w WardVoice."


def test_a_catalog_in_a_read_only_folder_is_compiled_in_memory(
    tiny_locale: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(target: Path, data: bytes) -> None:
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(i18n_tools, "write_atomically", refuse)
    assert label("tr", "Raise a concern") == "Bir sorun bildirin"
    assert not (tiny_locale / "tr" / "LC_MESSAGES" / "wardvoice.mo").exists()


def test_a_broken_po_falls_back_to_the_compiled_catalog(tiny_locale: Path) -> None:
    folder = tiny_locale / "tr" / "LC_MESSAGES"
    i18n_tools.compile_catalog(folder / "wardvoice.po", folder / "wardvoice.mo")
    (folder / "wardvoice.po").write_bytes(b'msgid "unterminated\n')
    later = (folder / "wardvoice.mo").stat().st_mtime + 5
    os.utime(folder / "wardvoice.po", (later, later))
    assert label("tr", "Raise a concern") == "Bir sorun bildirin"
    assert label("de", "Raise a concern") == "Raise a concern"


def test_compile_all_writes_every_catalog_where_asked(tiny_locale: Path, tmp_path: Path) -> None:
    written = i18n_tools.compile_all(tiny_locale, tmp_path / "build")
    assert sorted(p.relative_to(tmp_path / "build").as_posix() for p in written) == [
        "pl/LC_MESSAGES/wardvoice.mo",
        "tr/LC_MESSAGES/wardvoice.mo",
    ]
    with written[0].open("rb") as mo:
        assert gettext.GNUTranslations(mo).gettext(WELCOME) == "👋 Witaj w WardVoice."


def test_language_names_are_in_their_own_language() -> None:
    names = {code: language_name(code) for code in ("en", "pl", "tr", "bn", "zz")}
    assert names == {"en": "English", "pl": "Polski", "tr": "Türkçe", "bn": "বাংলা", "zz": "zz"}


# ── through the bot ──────────────────────────────────────────────────────────────────────


def _shown(template: str, **values: str) -> str:
    """A template as the person sees it (HTML rendered to text)."""
    return parse_html(template.format_map(values) if values else template)[0]


def _first_line(reply: Reply) -> str:
    return reply.texts[0].splitlines()[0]


def _buttons(person: Person) -> list[str]:
    message = person.world.api.messages(person.sim.chat_id)[-1]
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["text"] for row in rows for b in row]


async def _language(world: World, person: Person) -> str:
    resident = await resident_store.get(world.db, person.user_id)
    assert resident is not None
    return resident.language


def _descriptions(commands: list[dict]) -> dict[str, str]:
    return {c["command"]: c["description"] for c in commands}


async def test_a_resident_speaks_their_telegram_language_then_chooses_another(
    make_world: WorldFactory, synthetic_db: Path, tiny_locale: Path
) -> None:
    world = await make_world(synthetic_db)
    person = world.person(language="pl-PL")
    started = await person.says("/start")
    assert started.texts[0].startswith("👋 Witaj w WardVoice.")
    assert await _language(world, person) == "pl"

    menu = await person.says("/language")
    assert menu.text == "W jakim języku mam do Ciebie pisać?"
    assert _buttons(person) == ["English", "✅ Polski", "Türkçe"]

    chosen = await person.taps("Türkçe")
    assert chosen.text == "✅ Bundan sonra size Türkçe yazacağım. Değiştirmek için: /language"
    assert await _language(world, person) == "tr"
    assert _first_line(await person.says("/help")) == "Neler yapabilirim"
    assert _first_line(await person.says("/start")) == "👋 WardVoice'a hoş geldiniz."

    await person.says("/language")
    assert _buttons(person) == ["English", "Polski", "✅ Türkçe"]
    await person.taps("English")
    assert _first_line(await person.says("/help")) == "What I can do"


@pytest.mark.parametrize("forged", ["lang:xx", "lang:de", "lang:enn"])
async def test_a_language_we_do_not_ship_is_refused(
    make_world: WorldFactory, synthetic_db: Path, tiny_locale: Path, forged: str
) -> None:
    world = await make_world(synthetic_db)
    person = world.person(language="pl")
    await person.says("/language")
    refused = await person.presses(forged)
    assert [a.params.get("text") for a in refused.answers] == [
        "Niestety nie umiem pisać w tym języku."
    ]
    assert refused.answers[0].params.get("show_alert") is True
    assert [c.method for c in refused.calls] == ["answerCallbackQuery"], "nothing else happened"
    assert await _language(world, person) == "pl"


@pytest.mark.parametrize("forged", ["lang:PL", "lang:", "lang:polski", "lang:pl ", "lang:p1"])
def test_malformed_language_buttons_match_no_format(forged: str) -> None:
    assert cb.is_unknown(forged)


async def test_command_menus_in_every_language(
    make_world: WorldFactory, synthetic_db: Path, tiny_locale: Path
) -> None:
    world = await make_world(synthetic_db)
    default = _descriptions(world.api.commands_for(PRIVATE_CHATS))
    assert default["language"] == "Choose the language I write in"
    assert list(default) == [name for name, _ in RESIDENT_COMMANDS]
    for language in ("pl", "tr"):
        menu = _descriptions(world.api.commands_for(PRIVATE_CHATS, language))
        assert list(menu) == list(default)
        assert menu["concern"] == TINY[language]["Raise a concern"]
    assert world.api.commands_for(PRIVATE_CHATS, "bn") == []


async def test_a_staff_members_menu_follows_their_language(
    make_world: WorldFactory, synthetic_db: Path, tiny_locale: Path
) -> None:
    world = await make_world(synthetic_db)
    chair = world.person(language="pl")
    await chair.says(f"/start {KINGSMEAD}")
    await chair.says(f"/join {await invite_code(world, KINGSMEAD, Role.PANEL_CHAIR)}")
    own_chat = {"type": "chat", "chat_id": chair.sim.chat_id}
    menu = _descriptions(world.api.commands_for(own_chat))
    assert menu["panel"] == "Narzędzia panelu okręgu"
    assert set(menu) == {name for name, _ in [*RESIDENT_COMMANDS, *STAFF_COMMANDS]}

    await chair.says("/language")
    await chair.taps("Türkçe")
    menu = _descriptions(world.api.commands_for(own_chat))
    assert menu["panel"] == "Mahalle panelinizin araçları"
    assert menu["concern"] == "Bir sorun bildirin"

    # At start-up every staff member's menu is set in their own language (not English).
    world.api.commands.clear()
    await sync_staff_commands(world.application)
    assert _descriptions(world.api.commands_for(own_chat))["panel"] == (
        "Mahalle panelinizin araçları"
    )


# ── through the bot, with the shipped catalogs ───────────────────────────────────────────


def _shipped_translation(language: str, msgid: str) -> str:
    if language not in SHIPPED:
        pytest.skip(f"no {language} catalog in bot/locale")
    entry = _read(SHIPPED[language]).get(msgid)
    if entry is None or entry.fuzzy or not entry.string:
        pytest.skip(f"{language} has no translation of {msgid!r} yet (the catalog test says so)")
    return str(entry.string)


async def test_the_shipped_catalogs_reach_residents(world: World) -> None:
    welcome_pl = _shipped_translation("pl", WELCOME)
    help_tr = _shipped_translation("tr", HELP_TITLE)
    assert welcome_pl != WELCOME and help_tr != HELP_TITLE

    person = world.person(language="pl")
    assert (await person.says("/start")).texts[0].startswith(_shown(welcome_pl))
    await person.says("/language")
    assert "✅ Polski" in _buttons(person) and "Türkçe" in _buttons(person)
    chosen = await person.taps("Türkçe")
    assert chosen.text == _shown(t("tr", CHOSEN, language="Türkçe"))
    assert _first_line(await person.says("/help")) == _shown(help_tr)

    refused = await person.presses("lang:xx")
    assert refused.answers[0].params.get("text") == label("tr", REFUSED)
    assert await _language(world, person) == "tr"

    for language in SHIPPED:
        menu = _descriptions(world.api.commands_for(PRIVATE_CHATS, language))
        assert menu == {name: label(language, text) for name, text in RESIDENT_COMMANDS}
        concern = _read(SHIPPED[language]).get("Raise a concern")
        if concern is not None and concern.string and not concern.fuzzy:
            assert menu["concern"] == concern.string
