"""Hostile updates for the real Application: a seeded generator, a driver, legitimate flows
mixed in, and the database checks afterwards (shared by tests/test_fuzz.py and bench/fuzz.py).

`Fuzzer(seed)` builds raw update dicts of every kind python-telegram-bot can parse (every
`Update.ALL_TYPES` key): random Unicode text with control characters, bidi marks, zero-width
joiners and NULs (never lone surrogates: they are not JSON), 4,096+ and 100,000-character
texts, HTML and Markdown lookalikes, every command of the bot and made-up ones with random
arguments, entities that do not match their text, locations out of range, media, service
messages, group and channel posts, edits, inline and payment queries, polls, member changes,
reactions, boosts, business and guest messages, and button presses: the user's own buttons,
other users' buttons, every callback format of `handlers/callback_data.py` with wrong
values, near misses of real data, over-long, empty and non-ASCII data. Users are drawn from
a pool with a skewed distribution (and in bursts) so the flood limiter is hit. Each batch
gets update ids with short out-of-order runs and exact duplicates (the same update_id twice).
The same seed and the same observations of the bot's chats give the same updates.

Realism kept on purpose (Telegram guarantees these, so breaking them would test the fake,
not the bot): every update parses (`Update.de_json`); a user who blocked the bot unblocks it
(a `my_chat_member`) before anything else of theirs; a block comes first among a user's
updates of its batch (a reply to an earlier update of theirs would otherwise race the block);
an out-of-order run ends with its highest id, so getUpdates' offset confirms all of a batch.

`Driver` pushes batches through a `FakeBotAPI` and waits until the Application has handled
(or the flood limiter dropped) every copy of every update id; `Scenario` runs legitimate
flows between batches (a resident filing a concern, a panel opening and closing an agenda
vote, a broadcast, answers, the schedules) so the fuzz reaches deep states;
`check_database` runs the integrity checks and our own invariants.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import random
import re
import sqlite3
import string
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from telegram.ext import Application, CommandHandler, ConversationHandler

from bot.domain import roles
from bot.domain.categories import CATEGORIES
from bot.standin.bot_api import utf16_len
from bot.updates import PerUserUpdateProcessor
from handlers import callback_data as cb
from schedules import run_due

JsonDict = dict[str, Any]

# --- the raw material ---------------------------------------------------------------------

# The tables below are data, kept dense by hand.
# fmt: off

# Code point ranges text is drawn from (ASCII three times, so it stays common). The
# surrogates (U+D800-U+DFFF) are left out: a lone surrogate is not valid JSON, and Telegram
# never sends one.
CHAR_RANGES: tuple[tuple[int, int], ...] = (
    (0x20, 0x7E), (0x20, 0x7E), (0x20, 0x7E),  # ASCII
    (0x00, 0x1F), (0x7F, 0x9F),  # C0 controls (NUL included), DEL and C1 controls
    (0xA0, 0x24F), (0x300, 0x36F),  # Latin-1 and Latin Extended, combining marks
    (0x370, 0x3FF), (0x400, 0x4FF),  # Greek, Cyrillic
    (0x590, 0x5FF), (0x600, 0x6FF),  # Hebrew, Arabic (right to left)
    (0x980, 0x9FF), (0xE00, 0xE7F),  # Bengali, Thai
    (0x2000, 0x206F),  # general punctuation: zero-width, bidi controls, separators
    (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAFFF),  # kana, CJK, Hangul
    (0xE000, 0xE0FF), (0xFE00, 0xFE0F),  # private use, variation selectors
    (0xFFF0, 0xFFFF),  # specials, noncharacters U+FFFE and U+FFFF
    (0x1F300, 0x1F6FF), (0x1D400, 0x1D7FF),  # emoji, mathematical alphanumerics
    (0xE0000, 0xE007F), (0x10FFF0, 0x10FFFF),  # tags, the last code points
)
# Zero-width characters, bidi marks and overrides, the soft hyphen, invisible joiners.
INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\ufeff\u00ad\u034f\u180e"
)
SEPARATORS = "\u2028\u2029\u0085\u00a0\u3000\t\r\n\v\f\x00"
EMOJI = (
    "👍", "🇬🇧", "👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "👩🏽\u200d🚀", "🧟\u200d♂️", "1️⃣", "❤️",
    "🫠", "\U000e0067",
)
# Markup lookalikes (HTML is the bot's parse mode), format strings, injections, numbers
# that are not, and things that look like the bot's own words.
HOSTILE = (
    "<b>", "</b>", "<i>x</i>", '<a href="javascript:alert(1)">x</a>',
    "<a href='tg://user?id=1'>me</a>", "&amp;", "&", "&#0;", "&lt;", "<", ">",
    "<script>alert(1)</script>", "<tg-spoiler>", "<pre><code class='language-x'>",
    "<blockquote expandable>", "*bold*", "_it_", "`code`", "```pre```", "[link](http://x)",
    "~~s~~", "||spoiler||", "\\", "{0}", "{}", "{name}", "{ref}", "{count}", "{limit!r}",
    "{0.__class__}", "%s", "%(x)s", "%d", "%n", "'; DROP TABLE residents; --", '" OR 1=1 --',
    "%", "_", "'", '"', "${jndi:ldap://x}", "../../etc/passwd", "NaN", "Infinity", "-0",
    "1e309", "null", "true", "[]", "{}", "WV-", "WV-2345A", "WV-00000", "E05900002",
    "NB1 1AA", "/start", "@WardVoiceTestBot", "#1", "\u202eevil\u202c", "ﷺ", "𒐫",
    "Z̸̡̛̖͓͈̭͖̯̪̦̰̀̈́̀̂̈́̇̚͝a̴̡",
)
# Postcodes (the synthetic set's and others), ward names with typos, addresses, nothing.
PLACES = (
    "NB1 1AA", "nb1 1aa", "NB11AA", "NB1 2BD", "NB2 3EF", "SB1 4GH", "SB2 3DE", "SB3 5JL",
    "ZZ9 9ZZ", "SW1A 1AA", "Kingsmead", "kingsmed", "Abbey", "abbey",
    "St Mary's and Riverside", "Saint Marys & Riverside", "old town", "Marsh Lane",
    "Bankside", "10 Downing Street, London", "Mill Lane", "nowhere at all", "12345", "",
)
COMMAND_NAMES_MADE_UP = (
    "admin", "grant", "sudo", "debug", "START", "Start", "start_", "startx", "help2",
    "ｓｔａｒｔ", "старт", "a" * 64, "", "/", "start@", "_", "0", "concern\u200b",
)
# Telegram sends the app's IETF tag; a modified client can send anything ("zz").
LANGUAGE_CODES = (
    "en", "en", "en", "pl", "tr", "bn", "pl-PL", "en-GB", "de", "pt-br", "zz", "", None,
)
MEMBER_STATUSES = ("member", "left", "kicked", "administrator")
DRAFT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # handlers/callback_data.py's DRAFT_KEY
REACTIONS = ("👍", "👎", "❤", "🔥", "🤡", "💩", "🤔")
BOT_USERNAME = "WardVoiceTestBot"
MAX_BATCH = 100  # getUpdates answers at most this many updates at once

# Weights of the update kinds the generator draws (each maps to one builder method `_k_<name>`).
KIND_WEIGHTS: dict[str, float] = {
    "text": 13, "command": 12, "start_link": 4, "place_text": 4, "entities": 3,
    "location": 4, "venue": 1, "contact": 1.5, "media": 6, "dice": 0.5,
    "forwarded_poll": 0.5, "service": 1.5, "reply_or_forward": 2, "group": 4, "edited": 3,
    "channel_post": 1.2, "edited_channel_post": 0.5, "inline_query": 1.2,
    "chosen_inline_result": 0.6, "callback": 24, "shipping_query": 0.4,
    "pre_checkout_query": 0.4, "poll": 0.4, "poll_answer": 1, "my_chat_member": 1.5,
    "chat_member": 0.6, "chat_join_request": 0.4, "chat_boost": 0.3, "removed_chat_boost": 0.3,
    "message_reaction": 1, "message_reaction_count": 0.3, "business_connection": 0.3,
    "business_message": 1, "edited_business_message": 0.4, "deleted_business_messages": 0.3,
    "purchased_paid_media": 0.3, "managed_bot": 0.3, "guest_message": 0.5,
}
ENTITY_TYPES = (
    "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold",
    "italic", "underline", "strikethrough", "spoiler", "blockquote", "expandable_blockquote",
    "code", "pre", "text_link", "text_mention", "custom_emoji", "date_time",
)
ADMIN_RIGHTS = (
    "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
    "can_manage_video_chats", "can_restrict_members", "can_promote_members", "can_change_info",
    "can_invite_users", "can_post_stories", "can_edit_stories", "can_delete_stories",
)
# fmt: on


def kind_of(update: JsonDict) -> str:
    """The update's type: its one key besides update_id (message, callback_query, ...)."""
    return next(k for k in update if k != "update_id")


def bot_commands(application: Application) -> list[str]:  # type: ignore[type-arg]
    """Every command a handler of the Application answers (conversations included)."""
    found: set[str] = set()

    def walk(handler: object) -> None:
        if isinstance(handler, CommandHandler):
            found.update(handler.commands)
        elif isinstance(handler, ConversationHandler):
            for inner in (
                *handler.entry_points,
                *handler.fallbacks,
                *(h for hs in handler.states.values() for h in hs),
            ):
                walk(inner)

    for group in application.handlers.values():
        for handler in group:
            walk(handler)
    return sorted(found)


@dataclass
class FuzzUser:
    user_id: int
    first_name: str
    language_code: str | None
    username: str | None = None
    last_name: str | None = None
    is_premium: bool = False
    next_message_id: int = 10_000  # high, so it never clashes with the bot's own ids
    sent: list[int] = field(default_factory=list)  # ids of their recent messages

    @property
    def user(self) -> JsonDict:
        user: JsonDict = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        for key in ("username", "last_name", "language_code"):
            value = getattr(self, key)
            if value is not None:
                user[key] = value
        if self.is_premium:
            user["is_premium"] = True
        return user

    @property
    def chat(self) -> JsonDict:
        chat: JsonDict = {"id": self.user_id, "type": "private", "first_name": self.first_name}
        if self.username is not None:
            chat["username"] = self.username
        return chat

    def message_id(self) -> int:
        self.next_message_id += 1
        self.sent.append(self.next_message_id)
        del self.sent[:-8]
        return self.next_message_id


# --- the generator ------------------------------------------------------------------------


class Fuzzer:
    """Seeded builder of hostile updates (see the module docstring)."""

    def __init__(
        self,
        seed: int,
        *,
        ward_codes: Sequence[str],
        commands: Sequence[str],
        bot_user: JsonDict,
        clock: Callable[[], float],
        users: int = 200,
        first_user_id: int = 7_000_001,
        huge_share: float = 0.002,
        duplicate_share: float = 0.03,
        disorder_share: float = 0.04,
        burst_share: float = 0.01,
        skew: float = 0.5,
    ) -> None:
        self.rng = random.Random(seed)
        self.ward_codes = list(ward_codes)
        self.commands = list(commands)
        self.bot_user = bot_user
        self.clock = clock
        self.huge_share = huge_share
        self.duplicate_share = duplicate_share
        self.disorder_share = disorder_share
        self.burst_share = burst_share
        self.pool = [self._make_user(first_user_id + n) for n in range(users)]
        # Skewed: a few users send much more than the rest (and hit the flood limiter).
        self.pool_weights = list(itertools.accumulate(1 / (n + 1) ** skew for n in range(users)))
        self.groups = [
            {"id": -100_1000_000_000 - n, "type": "supergroup", "title": self._name(24)}
            for n in range(4)
        ] + [{"id": -4_000_000 - n, "type": "group", "title": self._name(16)} for n in range(2)]
        self.channels = [
            {"id": -100_2000_000_000 - n, "type": "channel", "title": self._name(20)}
            for n in range(2)
        ]
        self.protected: set[int] = set()  # never blocked (staff of the scripted flows)
        self.blocked: set[int] = set()
        self.bot_messages: dict[int, list[JsonDict]] = {}  # chat -> recent bot messages
        self.keyboards: dict[int, list[JsonDict]] = {}  # chat -> recent ones with buttons
        self.known_data: list[str] = []  # callback data seen on the bot's buttons
        self._known: set[str] = set()
        self.kinds: Counter[str] = Counter()  # generator kinds drawn
        self.touched: set[int] = set()  # private chats of this batch (to observe afterwards)
        self._in_batch: set[int] = set()
        self._ids = itertools.count(1)
        self._kinds = list(KIND_WEIGHTS)
        self._kind_weights = list(itertools.accumulate(KIND_WEIGHTS.values()))

    # --- small random pieces ------------------------------------------------------------

    def _chance(self, p: float) -> bool:
        return self.rng.random() < p

    def _char(self) -> str:
        low, high = self.rng.choice(CHAR_RANGES)
        return chr(self.rng.randint(low, high))

    def _name(self, n: int) -> str:
        return "".join(self._char() for _ in range(self.rng.randint(1, n))).strip() or "x"

    def _make_user(self, user_id: int) -> FuzzUser:
        rng = self.rng
        first = rng.choice(("Sam", "Ana", "Jo", "Łucja", "Ayşe", "রহিম", "محمد"))
        if self._chance(0.3):
            first = self._name(64)
        return FuzzUser(
            user_id,
            first_name=first,
            language_code=rng.choice(LANGUAGE_CODES),
            username=rng.choice((None, None, f"user{user_id}", "a" * 32)),
            last_name=rng.choice((None, None, self._name(20))),
            is_premium=self._chance(0.1),
        )

    def staff_user(self, user_id: int, language_code: str | None = "en") -> FuzzUser:
        """A user outside the random pool (for the scripted flows); never blocked."""
        self.protected.add(user_id)
        return FuzzUser(user_id, first_name="Staff", language_code=language_code)

    def text(self, *, length: int | None = None) -> str:
        """Random text: Unicode soup, hostile markup, places, emoji; sometimes huge."""
        rng = self.rng
        if length is None:
            roll = rng.random()
            if roll < self.huge_share:
                length = 100_000
            elif roll < self.huge_share * 5:
                length = rng.choice((10_000, 20_000, 65_536))
            elif roll < self.huge_share * 15:
                length = rng.randint(4_090, 4_200)
            elif roll < 0.12:
                length = rng.randint(60, 2_100)
            else:
                length = rng.randint(1, 60)
        pieces: list[str] = []
        size = 0
        target = min(length, 400)
        while size < target:
            roll = rng.random()
            if roll < 0.45:
                piece = "".join(self._char() for _ in range(rng.randint(1, 12)))
            elif roll < 0.6:
                piece = rng.choice(HOSTILE)
            elif roll < 0.7:
                piece = rng.choice(INVISIBLE) * rng.randint(1, 3)
            elif roll < 0.78:
                piece = rng.choice(SEPARATORS)
            elif roll < 0.86:
                piece = rng.choice(EMOJI)
            elif roll < 0.93:
                piece = rng.choice(PLACES)
            else:
                piece = " ".join(
                    rng.choice(("the", "bins", "noise", "Mill", "Lane", "at", "night"))
                    for _ in range(rng.randint(1, 8))
                )
            pieces.append(piece)
            size += len(piece)
        chunk = "".join(pieces)
        if length > len(chunk):
            chunk = (chunk * (length // max(len(chunk), 1) + 1))[:length]
        return chunk[:length] if length > 0 else ""

    def _ward_code(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6 and self.ward_codes:
            return rng.choice(self.ward_codes)
        if roll < 0.8:
            return f"{rng.choice(string.ascii_uppercase)}{rng.randint(0, 99_999_999):08d}"
        return rng.choice(
            (
                "e05900002",
                "E0590000",
                "E059000021",
                "E05900002 ",
                "E05999999",
                "W05900002",
                "E05900002\n",
                "E０5900002",
            )
        )

    def _id_text(self) -> str:
        rng = self.rng
        return rng.choice(
            (
                str(rng.randint(1, 30)),
                str(rng.randint(1, 30)),
                "0",
                "-1",
                str(rng.randint(1, 10**9)),
                "99999999999999999999999",
                str(2**63),
                str(2**63 - 1),
                "1.5",
                "1e3",
                "٣",
                "²",
                "१२",
                "abc",
                "",
                "#1",
                "0x10",
            )
        )

    def _ref(self) -> str:
        if self._chance(0.8):
            return "WV-" + "".join(self.rng.choice(DRAFT_ALPHABET) for _ in range(5))
        return self.rng.choice(("WV-", "wv-abcde", "WV-00000", "WV-ABCDEF", "WV-A", "ＷＶ-ABCDE"))

    def _date_text(self) -> str:
        rng = self.rng
        day = datetime(2026, 11, 1) + timedelta(days=rng.randint(-400, 500))
        return rng.choice(
            (
                day.strftime("%Y-%m-%d"),
                day.strftime("%Y-%m-%d"),
                day.strftime("%d/%m/%Y"),
                "2026-02-30",
                "2027-03-28",
                "0000-01-01",
                "9999-12-31",
                "tomorrow",
                "",
            )
        )

    # --- users, chats, messages ---------------------------------------------------------

    def pick_user(self) -> FuzzUser:
        return self.rng.choices(self.pool, cum_weights=self.pool_weights)[0]

    def _now(self) -> int:
        if self._chance(0.01):
            return self.rng.choice(
                (1, 2**31 - 1, int(self.clock()) - 10**7, int(self.clock()) + 10**6)
            )
        return int(self.clock())

    def _message(self, user: FuzzUser, payload: JsonDict, chat: JsonDict | None = None) -> JsonDict:
        return {
            "message_id": user.message_id(),
            "date": self._now(),
            "chat": chat or user.chat,
            "from": user.user,
            **payload,
        }

    def _file(self, kind: str) -> JsonDict:
        n = next(self._ids)
        data: JsonDict = {"file_id": f"fz-{kind}-{n}", "file_unique_id": f"fzu-{kind}-{n}"}
        if self._chance(0.7):
            data["file_size"] = self.rng.choice((0, 1, 24_000, 2**31 - 1, 2**40))
        return data

    def _entities(self, text: str, *, sane: bool) -> list[JsonDict]:
        """Entities for `text`: matching it when `sane`, otherwise anywhere (past the end too)."""
        rng = self.rng
        length = utf16_len(text)
        entities: list[JsonDict] = []
        for _ in range(rng.randint(1, 5)):
            kind = rng.choice(ENTITY_TYPES)
            if sane and length:
                offset = rng.randint(0, length - 1)
                size = rng.randint(1, length - offset)
            else:
                offset = rng.choice((0, rng.randint(0, length + 20), length, 2**31 - 1))
                size = rng.choice((0, 1, rng.randint(0, length + 20), 2**31 - 1))
            entity: JsonDict = {"type": kind, "offset": offset, "length": size}
            if kind == "text_link":
                entity["url"] = rng.choice(
                    ("http://x", "javascript:alert(1)", "tg://user?id=1", self.text(length=20))
                )
            elif kind == "text_mention":
                entity["user"] = self.pick_user().user
            elif kind == "custom_emoji":
                entity["custom_emoji_id"] = str(rng.randint(1, 10**18))
            elif kind == "pre" and self._chance(0.5):
                entity["language"] = self.text(length=10)
            elif kind == "date_time":
                entity["unix_time"] = rng.randint(0, 2**31 - 1)
            entities.append(entity)
        return entities

    def _command_text(self, name: str | None = None) -> str:
        rng = self.rng
        if name is None:
            name = (
                rng.choice(self.commands)
                if self._chance(0.8)
                else rng.choice(COMMAND_NAMES_MADE_UP)
            )
        suffix = ""
        if self._chance(0.1):
            suffix = rng.choice((f"@{BOT_USERNAME}", "@OtherBot", "@", f"@{BOT_USERNAME.lower()}"))
        args = self._arguments(name)
        separator = rng.choice((" ", " ", " ", "\n", "  ", "\t", "\u00a0", "")) if args else ""
        return f"/{name}{suffix}{separator}{args}"

    def _arguments(self, command: str) -> str:
        """Arguments shaped for the command (and often not quite right), or random ones."""
        rng = self.rng
        if self._chance(0.15):
            return ""
        if self._chance(0.2):
            return self.text()
        category = rng.choice((*CATEGORIES, "", "NOISE", "xx", "asb|"))
        match command:
            case "start":
                return rng.choice(
                    (self._ward_code(), self.text(length=rng.randint(1, 64)), "x" * 65)
                )
            case "join":
                return rng.choice(
                    (
                        "".join(rng.choice(DRAFT_ALPHABET) for _ in range(rng.randint(4, 12))),
                        self.text(length=10),
                    )
                )
            case "panel" | "invite":
                return rng.choice(
                    (self._ward_code(), *roles.Role, "chair", "borough", self.text(length=12))
                )
            case "addpriority":
                title, detail = self.text(length=rng.randint(0, 90)), self.text(length=300)
                return f"{category} {title} | {detail}"
            case "reword":
                title = self.text(length=rng.randint(0, 90))
                return f"{self._id_text()} {title} | {self.text(length=40)}"
            case "meeting":
                hour = rng.choice(("19:00", "18.30", "25:00", "01:30", "7pm", ""))
                when = f"{self._date_text()} {hour}"
                parts = [
                    when,
                    rng.choice(("Kingsmead Library", "Hi", self.text(length=rng.randint(0, 250)))),
                    rng.choice(("open", "closed", "maybe", "")),
                ]
                if self._chance(0.4):
                    parts.append(
                        rng.choice(
                            (
                                "https://example.org/meet",
                                "javascript:alert(1)",
                                "https://",
                                self.text(length=30),
                            )
                        )
                    )
                if self._chance(0.1):
                    parts.append("extra")
                return " | ".join(parts)
            case "cancelmeeting":
                return self._id_text()
            case "stats":
                return rng.choice(("borough", "", self._ward_code()))
            case "export":
                return f"{self._date_text()} {self._date_text()}"
            case "poster":
                return rng.choice(("png", "pdf", "PNG", self._ward_code()))
            case "respond":
                return f"{self._ref()} {self.text()}"
            case "template":
                status = rng.choice(("reviewed", "closed", "received", "priority", "action", "x"))
                return f"{category} {status} {self.text()}"
            case "wedid":
                head = " ".join(
                    rng.choice((f"#{self._id_text()}", self._ref(), ""))
                    for _ in range(rng.randint(0, 3))
                )
                return f"{head} {self.text()}"
            case "broadcast":
                return self.text()
            case "newvote":
                lines = [
                    rng.choice(
                        (
                            "Skate park",
                            "<b>Bold</b> idea | a & b",
                            self.text(length=rng.randint(0, 40)),
                        )
                    )
                    + (f" | {self.text(length=rng.randint(0, 60))}" if self._chance(0.3) else "")
                    for _ in range(rng.choice((0, 1, 2, 3, 5, 10, 11, 30)))
                ]
                return "\n" + "\n".join(lines)
            case "language":
                return rng.choice(("pl", "xx", "en", self.text(length=5)))
        return self.text(length=rng.randint(1, 40))

    # --- batches --------------------------------------------------------------------------

    def batch(self, size: int, first_id: int) -> tuple[list[JsonDict], int]:
        """About `size` updates with ids from `first_id` on, in push order (duplicates pushed
        right after their original); returns them and the next free id.

        Never more than MAX_BATCH in all, duplicates included: getUpdates answers at most
        100, and an out-of-order run cut by that limit would leave its lower ids below the
        offset confirmed after the cut, never to be served.
        """
        if not 1 <= size <= MAX_BATCH - 10:
            raise ValueError(f"a batch is 1 to {MAX_BATCH - 10} updates")
        self._in_batch = set()
        self.touched = set()
        planned: list[JsonDict] = []
        while len(planned) < size:
            if self._chance(self.burst_share):
                user = self.pool[self.rng.randrange(min(5, len(self.pool)))]
                kinds = ("text", "command", "callback", "location")
                for _ in range(self.rng.randint(21, 30)):
                    if len(planned) >= size:
                        break
                    planned.extend(self._for_user(user, self.rng.choice(kinds)))
            else:
                planned.extend(self.update())
        ids = list(range(first_id, first_id + len(planned)))
        start = 0
        while start < len(ids):
            run = min(self.rng.randint(2, 6), len(ids) - start)
            if run >= 2 and self._chance(self.disorder_share):
                head = ids[start : start + run - 1]
                self.rng.shuffle(head)
                ids[start : start + run - 1] = head  # the run's last (highest) id stays last
                start += run
            else:
                start += 1
        pushed: list[JsonDict] = []
        room = MAX_BATCH - len(planned)
        for update, update_id in zip(planned, ids, strict=True):
            update["update_id"] = update_id
            pushed.append(update)
            if room > 0 and self._chance(self.duplicate_share):
                pushed.append(copy.deepcopy(update))
                room -= 1
        return pushed, first_id + len(planned)

    def update(self) -> list[JsonDict]:
        """One update of a random kind (preceded by an unblock if its user had blocked us)."""
        kind = self.rng.choices(self._kinds, cum_weights=self._kind_weights)[0]
        return self._for_user(self.pick_user(), kind)

    def _for_user(self, user: FuzzUser, kind: str) -> list[JsonDict]:
        self.kinds[kind] += 1
        built = getattr(self, f"_k_{kind}")(user)
        return self._realistic(built if isinstance(built, list) else [built])

    def _realistic(self, updates: list[JsonDict]) -> list[JsonDict]:
        """Unblock first for a blocked user; keep track of whose chats this batch touches."""
        out: list[JsonDict] = []
        for update in updates:
            for user_id in _private_ids(update):
                if user_id in self.blocked:
                    self.blocked.discard(user_id)
                    user = self._user_by_id(user_id)
                    out.append(self._member_update(user, old="kicked", new="member"))
                self._in_batch.add(user_id)
                self.touched.add(user_id)
            out.append(update)
            member = update.get("my_chat_member")
            if member and member["chat"]["type"] == "private":
                if member["new_chat_member"]["status"] == "kicked":
                    self.blocked.add(member["chat"]["id"])
        return out

    def _user_by_id(self, user_id: int) -> FuzzUser:
        for user in self.pool:
            if user.user_id == user_id:
                return user
        return FuzzUser(user_id, first_name="Someone", language_code="en")

    # --- what the bot showed: buttons to press, messages to react to -----------------------

    def observe(self, chat_id: int, messages: Sequence[JsonDict]) -> None:
        """Remember the bot's recent messages in a chat (newest last) and their buttons."""
        self.bot_messages[chat_id] = [m for m in messages if m.get("date")][-6:]
        with_buttons = [m for m in messages if _buttons(m)]
        self.keyboards[chat_id] = with_buttons[-6:]
        for message in with_buttons:
            for data in _buttons(message):
                if data not in self._known:
                    self._known.add(data)
                    if len(self.known_data) < 5_000:
                        self.known_data.append(data)
                    else:
                        self.known_data[self.rng.randrange(len(self.known_data))] = data

    # --- builders: one per kind (`_k_<kind>`), for a user ----------------------------------

    def text_message(
        self, user: FuzzUser, text: str, *, entities: list[JsonDict] | None = None
    ) -> JsonDict:
        payload: JsonDict = {"text": text}
        if entities is None and text.startswith("/"):
            command = re.split(r"\s", text, maxsplit=1)[0]
            entities = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        if entities:
            payload["entities"] = entities
        return {"message": self._message(user, payload)}

    def location_message(self, user: FuzzUser, lat: float, lon: float) -> JsonDict:
        return {"message": self._message(user, {"location": {"latitude": lat, "longitude": lon}})}

    def photo_message(self, user: FuzzUser, caption: str | None = None) -> JsonDict:
        small, large = self._file("photo"), self._file("photo")
        sizes = [{**small, "width": 90, "height": 67}, {**large, "width": 1280, "height": 960}]
        payload: JsonDict = {"photo": sizes}
        if caption is not None:
            payload["caption"] = caption
        return {"message": self._message(user, payload)}

    def press(self, user: FuzzUser, data: str | None, message: JsonDict | None) -> JsonDict:
        query: JsonDict = {
            "id": str(4_000_000_000_000 + next(self._ids)),
            "from": user.user,
            "chat_instance": str(-(user.user_id * 7 + 1)),
        }
        if message is not None:
            query["message"] = copy.deepcopy(message)
        else:
            query["inline_message_id"] = f"fz-inline-{next(self._ids)}"
        if data is not None:
            query["data"] = data
        return {"callback_query": query}

    def _k_text(self, user: FuzzUser) -> JsonDict:
        text = self.text()
        if not text and self._chance(0.5):
            text = " "
        return self.text_message(user, text, entities=[] if not text.startswith("/") else None)

    def _k_command(self, user: FuzzUser) -> JsonDict:
        text = self._command_text()
        if self._chance(0.1):
            return self.text_message(user, text, entities=self._entities(text, sane=False))
        return self.text_message(user, text)

    def _k_start_link(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        payload = rng.choice(
            (
                self._ward_code(),
                self._ward_code(),
                "".join(
                    rng.choice(string.ascii_letters + string.digits + "_-")
                    for _ in range(rng.randint(1, 64))
                ),
                self.text(length=rng.randint(1, 80)),
            )
        )
        return self.text_message(user, f"/start {payload}")

    def _k_place_text(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        place = rng.choice(PLACES)
        if self._chance(0.3):
            place = rng.choice(
                (
                    place.upper(),
                    place.lower(),
                    f"  {place}  ",
                    place + rng.choice(INVISIBLE),
                    place.replace(" ", rng.choice(SEPARATORS)),
                )
            )
        return self.text_message(user, place or " ")

    def _k_entities(self, user: FuzzUser) -> JsonDict:
        text = self.text() or "x"
        if self._chance(0.3):
            text = self._command_text()
        return self.text_message(user, text, entities=self._entities(text, sane=self._chance(0.3)))

    def _k_location(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            lat, lon = rng.uniform(51.39, 51.51), rng.uniform(-0.215, -0.095)  # the synthetic wards
        elif roll < 0.6:
            lat, lon = rng.uniform(-90, 90), rng.uniform(-180, 180)
        elif roll < 0.8:
            lat, lon = rng.choice(
                (
                    (90, 180),
                    (-90, -180),
                    (0, 0),
                    (51.45, -0.15),
                    (51.4503, -0.155),
                    (90.0, 0),
                    (-0.0, -0.0),
                )
            )
        else:
            lat, lon = rng.choice(
                (
                    (999, 999),
                    (-1000, 0),
                    (91, 0),
                    (0, 181),
                    (1e300, -1e300),
                    (51.45, 1e-320),
                    (2**63, 0),
                )
            )
        location: JsonDict = {"latitude": lat, "longitude": lon}
        if self._chance(0.2):
            location["live_period"] = rng.choice((60, 86400, 0x7FFFFFFF))
            location["heading"] = rng.randint(1, 360)
        if self._chance(0.2):
            location["horizontal_accuracy"] = rng.uniform(0, 1500)
        return {"message": self._message(user, {"location": location})}

    def _k_venue(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        venue = {
            "location": {
                "latitude": rng.uniform(51.39, 51.51),
                "longitude": rng.uniform(-0.215, -0.095),
            },
            "title": self.text(length=rng.randint(1, 60)) or "x",
            "address": self.text(length=rng.randint(1, 100)) or "x",
        }
        return {"message": self._message(user, {"venue": venue, "location": venue["location"]})}

    def _k_contact(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        contact: JsonDict = {
            "phone_number": rng.choice(
                ("+447700900123", "", "+" + "9" * 40, self.text(length=20) or "0")
            ),
            "first_name": self._name(30),
        }
        if self._chance(0.6):
            contact["user_id"] = rng.choice((user.user_id, self.pick_user().user_id, 1))
        if self._chance(0.2):
            contact["vcard"] = self.text(length=200)
        return {"message": self._message(user, {"contact": contact})}

    def _k_media(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        kind = rng.choice(
            ("sticker", "photo", "document", "voice", "audio", "video", "video_note", "animation")
        )
        payload: JsonDict
        if kind == "photo":
            caption = self.text(length=rng.randint(0, 1100)) if self._chance(0.5) else None
            update = self.photo_message(user, caption)
            if caption and self._chance(0.3):
                update["message"]["caption_entities"] = self._entities(caption, sane=False)
            return update
        media = self._file(kind)
        if kind == "sticker":
            media.update(
                type=rng.choice(("regular", "mask", "custom_emoji")),
                width=512,
                height=512,
                is_animated=False,
                is_video=False,
            )
            if self._chance(0.7):
                media["emoji"] = rng.choice(EMOJI)
        elif kind in ("document", "animation"):
            media["file_name"] = rng.choice(
                (
                    "notes.pdf",
                    "../../etc/passwd",
                    "a" * 300,
                    self.text(length=30) or "x",
                    "photo.jpg",
                )
            )
            media["mime_type"] = rng.choice(
                ("application/pdf", "image/jpeg", "text/html", "x/y", "")
            )
        elif kind in ("voice", "audio"):
            media["duration"] = rng.choice((0, 4, 2**31 - 1))
        elif kind == "video_note":
            media.update(length=240, duration=rng.randint(0, 60))
        if kind in ("video", "animation"):
            media.update(
                width=rng.choice((0, 640)),
                height=rng.choice((0, 480)),
                duration=rng.randint(0, 600),
            )
        payload = {kind: media}
        if kind == "animation":
            payload["document"] = {
                k: v for k, v in media.items() if k not in ("width", "height", "duration")
            }
        if kind != "sticker" and self._chance(0.4):
            payload["caption"] = self.text(length=rng.randint(0, 1100))
        if self._chance(0.1):
            payload["media_group_id"] = str(rng.randint(1, 10**12))
        return {"message": self._message(user, payload)}

    def _k_dice(self, user: FuzzUser) -> JsonDict:
        emoji = self.rng.choice(("🎲", "🎯", "🏀", "⚽", "🎳", "🎰"))
        return {
            "message": self._message(
                user, {"dice": {"emoji": emoji, "value": self.rng.randint(1, 64)}}
            )
        }

    def _poll(self) -> JsonDict:
        rng = self.rng
        options = [
            {
                "text": self.text(length=rng.randint(1, 100)) or "x",
                "voter_count": rng.randint(0, 3),
                "persistent_id": str(n),
            }
            for n in range(rng.randint(2, 12))
        ]
        return {
            "id": str(rng.randint(1, 10**18)),
            "question": self.text(length=rng.randint(1, 300)) or "?",
            "options": options,
            "total_voter_count": sum(o["voter_count"] for o in options),
            "is_closed": self._chance(0.3),
            "is_anonymous": self._chance(0.5),
            "type": rng.choice(("regular", "quiz")),
            "allows_multiple_answers": self._chance(0.3),
            "allows_revoting": self._chance(0.5),  # required since Bot API 9.6
            "members_only": self._chance(0.2),  # required since Bot API 10.0
        }

    def _k_forwarded_poll(self, user: FuzzUser) -> JsonDict:
        return {"message": self._message(user, {"poll": self._poll()})}

    def _k_service(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        kind = rng.choice(
            (
                "web_app_data",
                "users_shared",
                "chat_shared",
                "successful_payment",
                "write_access_allowed",
                "pinned_message",
                "message_auto_delete_timer_changed",
            )
        )
        payload: JsonDict
        if kind == "web_app_data":
            payload = {
                "web_app_data": {
                    "data": self.text(length=rng.randint(0, 4096)),
                    "button_text": self._name(20),
                }
            }
        elif kind == "users_shared":
            payload = {
                "users_shared": {
                    "request_id": rng.randint(0, 2**31 - 1),
                    "users": [{"user_id": self.pick_user().user_id}],
                }
            }
        elif kind == "chat_shared":
            payload = {
                "chat_shared": {
                    "request_id": rng.randint(0, 9),
                    "chat_id": rng.choice(self.groups)["id"],
                }
            }
        elif kind == "successful_payment":
            payload = {
                "successful_payment": {
                    "currency": rng.choice(("GBP", "XTR", "ZZZ")),
                    "total_amount": rng.choice((0, 1, 2**31 - 1)),
                    "invoice_payload": self.text(length=rng.randint(0, 128)),
                    "telegram_payment_charge_id": str(next(self._ids)),
                    "provider_payment_charge_id": str(next(self._ids)),
                }
            }
        elif kind == "write_access_allowed":
            payload = {"write_access_allowed": {"from_request": True}}
        elif kind == "pinned_message":
            pinned = self._some_bot_message(user.user_id)
            payload = {"pinned_message": pinned or {"chat": user.chat, "message_id": 1, "date": 0}}
        else:
            payload = {
                "message_auto_delete_timer_changed": {
                    "message_auto_delete_time": rng.choice((0, 86400, 2**31 - 1))
                }
            }
        return {"message": self._message(user, payload)}

    def _k_reply_or_forward(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        text = self.text() or "x"
        update = self.text_message(user, text, entities=[])
        message = update["message"]
        roll = rng.random()
        if roll < 0.5:
            replied = self._some_bot_message(user.user_id)
            if replied is not None:
                replied = copy.deepcopy(replied)
                replied.pop("reply_to_message", None)
                message["reply_to_message"] = replied
            if self._chance(0.3):
                message["quote"] = {
                    "text": self.text(length=20) or "q",
                    "position": rng.randint(0, 100),
                }
        else:
            origin = rng.choice(
                (
                    {"type": "user", "date": self._now(), "sender_user": self.pick_user().user},
                    {
                        "type": "hidden_user",
                        "date": self._now(),
                        "sender_user_name": self._name(30),
                    },
                    {
                        "type": "channel",
                        "date": self._now(),
                        "chat": rng.choice(self.channels),
                        "message_id": rng.randint(1, 999),
                    },
                    {"type": "user", "date": self._now(), "sender_user": self.bot_user},
                )
            )
            message["forward_origin"] = origin
        return update

    def _k_group(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        chat = rng.choice(self.groups)
        roll = rng.random()
        payload: JsonDict
        if roll < 0.4:
            payload = {"text": self._command_text()}
            command = re.split(r"\s", payload["text"], maxsplit=1)[0]
            payload["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            ]
        elif roll < 0.65:
            payload = {"text": self.text() or "x"}
        elif roll < 0.75:
            payload = {"new_chat_members": [self.bot_user if self._chance(0.5) else user.user]}
        elif roll < 0.82:
            payload = {"left_chat_member": self.bot_user if self._chance(0.5) else user.user}
        elif roll < 0.87:
            payload = {"group_chat_created": True}
        elif roll < 0.92:
            payload = {"migrate_to_chat_id": -100_3000_000_000 - rng.randint(0, 9)}
        else:
            # An anonymous admin: sender_chat is the group itself.
            payload = {"text": self._command_text(), "sender_chat": chat}
        message = {
            "message_id": rng.randint(1, 10**6),
            "date": self._now(),
            "chat": chat,
            "from": user.user,
            **payload,
        }
        if self._chance(0.1):
            message["is_topic_message"] = True
            message["message_thread_id"] = rng.randint(1, 100)
        return {"message": message}

    def _k_edited(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        private = self._chance(0.8)
        chat = user.chat if private else rng.choice(self.groups)
        message_id = rng.choice(user.sent) if user.sent and private else rng.randint(1, 10**6)
        roll = rng.random()
        payload: JsonDict
        if roll < 0.6:
            payload = {"text": self.text() or "x"}
            if self._chance(0.3):
                payload["text"] = self._command_text()
                command = re.split(r"\s", payload["text"], maxsplit=1)[0]
                payload["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
                ]
        elif roll < 0.8:
            payload = {
                "location": {
                    "latitude": rng.uniform(51.39, 51.51),
                    "longitude": rng.uniform(-0.215, -0.095),
                    "live_period": 900,
                }
            }
        else:
            payload = {
                "photo": [{**self._file("photo"), "width": 90, "height": 90}],
                "caption": self.text(length=rng.randint(0, 200)),
            }
        message = {
            "message_id": message_id,
            "date": self._now(),
            "chat": chat,
            "from": user.user,
            "edit_date": self._now(),
            **payload,
        }
        return {"edited_message": message}

    def _channel_message(self) -> JsonDict:
        chat = self.rng.choice(self.channels)
        text = self._command_text() if self._chance(0.4) else (self.text() or "x")
        message: JsonDict = {
            "message_id": self.rng.randint(1, 10**6),
            "date": self._now(),
            "chat": chat,
            "sender_chat": chat,
            "text": text,
        }
        if text.startswith("/"):
            command = re.split(r"\s", text, maxsplit=1)[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            ]
        return message

    def _k_channel_post(self, user: FuzzUser) -> JsonDict:
        return {"channel_post": self._channel_message()}

    def _k_edited_channel_post(self, user: FuzzUser) -> JsonDict:
        message = self._channel_message()
        message["edit_date"] = self._now()
        return {"edited_channel_post": message}

    def _k_inline_query(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        query: JsonDict = {
            "id": str(next(self._ids)),
            "from": user.user,
            "query": self.text(length=rng.randint(0, 256)),
            "offset": rng.choice(("", "10", self.text(length=8))),
        }
        if self._chance(0.5):
            query["chat_type"] = rng.choice(("sender", "private", "group", "supergroup", "channel"))
        if self._chance(0.2):
            query["location"] = {
                "latitude": rng.uniform(-90, 90),
                "longitude": rng.uniform(-180, 180),
            }
        return {"inline_query": query}

    def _k_chosen_inline_result(self, user: FuzzUser) -> JsonDict:
        result: JsonDict = {
            "result_id": self.text(length=10) or "r",
            "from": user.user,
            "query": self.text(length=30),
        }
        if self._chance(0.5):
            result["inline_message_id"] = f"fz-inline-{next(self._ids)}"
        return {"chosen_inline_result": result}

    def _k_callback(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        own = self.keyboards.get(user.user_id) or []
        mine = self.bot_messages.get(user.user_id) or []
        roll = rng.random()
        message: JsonDict | None = rng.choice(own) if own else (rng.choice(mine) if mine else None)
        if roll < 0.4 and own:
            message = rng.choice(own)
            data: str | None = rng.choice(_buttons(message))
        elif roll < 0.55 and self.known_data:
            data = rng.choice(self.known_data)  # someone's real button, maybe another user's
        elif roll < 0.75:
            data = self._forged_format()
        elif roll < 0.9:
            data = self._near_miss()
        elif roll < 0.97:
            data = self._garbage_data()
        else:
            data = None
        if message is not None and self._chance(0.05):
            # Telegram's InaccessibleMessage: a message the bot can no longer see (date 0).
            message = {"chat": message["chat"], "message_id": message["message_id"], "date": 0}
        if message is None:
            if not self.bot_user.get("supports_inline_queries"):
                # No inline mode, so no inline messages: a press always names a message of
                # this chat, and with none of the bot's there, there is nothing to press.
                return self._k_text(user)
            if not self._chance(0.2):
                return self._k_text(user)
        update = self.press(user, data, message)
        if data is None and self._chance(0.5):
            update["callback_query"]["game_short_name"] = self._name(10)
        return update

    def _forged_format(self) -> str:
        """A callback format of ours, filled with values that fit its pattern but not reality."""
        rng = self.rng
        fmt = rng.choice(cb.ALL_FORMATS)
        values: dict[str, str] = {}
        for _, name, _, _ in string.Formatter().parse(fmt.template):
            if name:
                values[name] = self._format_value(name)
        return fmt.template.format(**values)

    def _format_value(self, name: str) -> str:
        rng = self.rng
        match name:
            case "code":
                return self._ward_code() if self._chance(0.8) else "E05900002"
            case "key":
                return "".join(rng.choice(DRAFT_ALPHABET) for _ in range(8))
            case "ref":
                return self._ref()
            case "category":
                return rng.choice((*CATEGORIES, "xx", "abcdefghijklm"))
            case "step":
                return rng.choice(("place", "photo", "category", "text", "review"))
            case "status":
                return rng.choice(("reviewed", "closed", "received", "priority"))
            case "mode":
                return rng.choice(("off", "instant", "weekly", "daily"))
            case "score":
                return str(rng.randint(0, 6))
            case "lang":
                return rng.choice(("en", "pl", "tr", "bn", "xx", "zzz", "de"))
            case "position":
                return str(rng.randint(0, 11))
            case "chosen":
                return rng.choice(("0", "1", "2"))
            case "setting":
                return rng.choice(("meeting", "picks", "places", "close", "audience"))
            case "value":
                return rng.choice(
                    (
                        "ward_youth",
                        "borough_youth",
                        "residents",
                        "0",
                        "1",
                        "2",
                        "10",
                        "11",
                        "168",
                        "999999999",
                        "everyone",
                    )
                )
            case "page":
                return str(rng.choice((0, 1, 2, 9999, rng.randint(0, 50))))
        return rng.choice(
            (
                str(rng.randint(1, 40)),
                str(rng.randint(1, 40)),
                "0",
                "999999999",
                str(rng.randint(1, 10**9)),
            )
        )

    def _near_miss(self) -> str:
        """Real-looking data, slightly wrong: the classic forged-button mutations."""
        rng = self.rng
        base = (
            rng.choice(self.known_data)
            if self.known_data and self._chance(0.7)
            else self._forged_format()
        )
        op = rng.randrange(12)
        if op == 0:
            return base + rng.choice((" ", "\n", "\x00", "\u200b", ":", ":1"))
        if op == 1:
            return rng.choice((" ", "\n", "\u200b", ":")) + base
        if op == 2:
            return rng.choice((base.upper(), base.lower(), base.swapcase()))
        if op == 3:
            return base[: rng.randint(0, max(len(base) - 1, 0))]
        if op == 4:
            return re.sub(
                r"[0-9]+",
                lambda m: rng.choice(
                    (
                        str(int(m.group()) + 1),
                        str(int(m.group()) - 1),
                        m.group() * 2,
                        "99999999999999999999",
                        "-" + m.group(),
                        "٣",
                    )
                ),
                base,
            )
        if op == 5:
            return (base * rng.randint(2, 8))[: rng.choice((64, 65, 128, 300))]
        if op == 6:
            return base.replace(":", rng.choice(("::", "", ";", "：")))
        if op == 7:
            return base.translate(str.maketrans("0123456789aeoAEO", "０１２３４５６７８９аеоАЕО"))
        if op == 8:
            return ""
        if op == 9:
            return base + ":" + base
        if op == 10:
            parts = base.split(":")
            rng.shuffle(parts)
            return ":".join(parts)
        return base.rsplit(":", 1)[0]

    def _garbage_data(self) -> str:
        rng = self.rng
        return rng.choice(
            (
                self.text(length=rng.randint(1, 64)),
                "".join(self._char() for _ in range(rng.randint(1, 64))),
                "x" * rng.choice((64, 65, 1000)),
                rng.choice(HOSTILE),
                '{"a": 1}',
                "admin:grant:1",
                "ward:pick:E05900002;DROP TABLE residents",
            )
        )

    def _k_shipping_query(self, user: FuzzUser) -> JsonDict:
        address = {
            k: self.text(length=self.rng.randint(0, 30))
            for k in ("state", "city", "street_line1", "street_line2", "post_code")
        }
        address["country_code"] = self.rng.choice(("GB", "XX", "zz"))
        return {
            "shipping_query": {
                "id": str(next(self._ids)),
                "from": user.user,
                "invoice_payload": self.text(length=30),
                "shipping_address": address,
            }
        }

    def _k_pre_checkout_query(self, user: FuzzUser) -> JsonDict:
        query = {
            "id": str(next(self._ids)),
            "from": user.user,
            "currency": self.rng.choice(("GBP", "XTR", "ZZZ")),
            "total_amount": self.rng.choice((0, 1, 2**31 - 1)),
            "invoice_payload": self.text(length=self.rng.randint(0, 128)),
        }
        return {"pre_checkout_query": query}

    def _k_poll(self, user: FuzzUser) -> JsonDict:
        return {"poll": self._poll()}

    def _k_poll_answer(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        options = rng.choice(([], [0], [1, 0], list(range(12)), [rng.randint(0, 2**31 - 1)]))
        answer: JsonDict = {
            "poll_id": str(rng.randint(1, 10**18)),
            "option_ids": options,
            "option_persistent_ids": [str(o) for o in options],
        }
        if self._chance(0.9):
            answer["user"] = user.user
        else:
            answer["voter_chat"] = rng.choice(self.groups + self.channels)
        return {"poll_answer": answer}

    def _member(self, user: JsonDict, status: str) -> JsonDict:
        member: JsonDict = {"user": user, "status": status}
        if status == "kicked":
            member["until_date"] = 0
        elif status == "administrator":
            member.update({key: self._chance(0.5) for key in ADMIN_RIGHTS})
        return member

    def _member_update(
        self,
        user: FuzzUser,
        *,
        old: str,
        new: str,
        chat: JsonDict | None = None,
        key: str = "my_chat_member",
    ) -> JsonDict:
        subject = self.bot_user if key == "my_chat_member" else user.user
        return {
            key: {
                "chat": chat or user.chat,
                "from": user.user,
                "date": self._now(),
                "old_chat_member": self._member(subject, old),
                "new_chat_member": self._member(subject, new),
            }
        }

    def _k_my_chat_member(self, user: FuzzUser) -> JsonDict | list[JsonDict]:
        rng = self.rng
        if self._chance(0.6):
            # Their private chat: block (only as their first update of the batch) or unblock.
            if (
                user.user_id in self.protected
                or user.user_id in self._in_batch
                or user.user_id in self.blocked
            ):
                return self._k_text(user)
            if self._chance(0.8):
                return self._member_update(user, old="member", new="kicked")
            return self._member_update(user, old="kicked", new="member")
        chat = rng.choice(self.groups + self.channels)
        old, new = rng.choice(MEMBER_STATUSES), rng.choice(MEMBER_STATUSES)
        return self._member_update(user, old=old, new=new, chat=chat)

    def _k_chat_member(self, user: FuzzUser) -> JsonDict:
        chat = self.rng.choice(self.groups + self.channels)
        return self._member_update(
            user,
            old=self.rng.choice(MEMBER_STATUSES),
            new=self.rng.choice(MEMBER_STATUSES),
            chat=chat,
            key="chat_member",
        )

    def _k_chat_join_request(self, user: FuzzUser) -> JsonDict:
        request: JsonDict = {
            "chat": self.rng.choice(self.groups + self.channels),
            "from": user.user,
            "user_chat_id": user.user_id,
            "date": self._now(),
        }
        if self._chance(0.5):
            request["bio"] = self.text(length=70)
        return {"chat_join_request": request}

    def _boost_source(self, user: FuzzUser) -> JsonDict:
        return self.rng.choice(
            (
                {"source": "premium", "user": user.user},
                {"source": "gift_code", "user": user.user},
                {
                    "source": "giveaway",
                    "giveaway_message_id": self.rng.randint(1, 99),
                    "is_unclaimed": True,
                },
            )
        )

    def _k_chat_boost(self, user: FuzzUser) -> JsonDict:
        boost = {
            "boost_id": str(next(self._ids)),
            "add_date": self._now(),
            "expiration_date": self._now() + 86400,
            "source": self._boost_source(user),
        }
        return {
            "chat_boost": {"chat": self.rng.choice(self.channels + self.groups), "boost": boost}
        }

    def _k_removed_chat_boost(self, user: FuzzUser) -> JsonDict:
        removed = {
            "chat": self.rng.choice(self.channels),
            "boost_id": str(next(self._ids)),
            "remove_date": self._now(),
            "source": self._boost_source(user),
        }
        return {"removed_chat_boost": removed}

    def _reaction(self) -> JsonDict:
        return self.rng.choice(
            (
                {"type": "emoji", "emoji": self.rng.choice(REACTIONS)},
                {"type": "custom_emoji", "custom_emoji_id": str(self.rng.randint(1, 10**18))},
                {"type": "paid"},
            )
        )

    def _k_message_reaction(self, user: FuzzUser) -> JsonDict:
        rng = self.rng
        target = self._some_bot_message(user.user_id)
        private = self._chance(0.8)
        reaction: JsonDict = {
            "chat": user.chat if private else rng.choice(self.groups),
            "message_id": target["message_id"] if target and private else rng.randint(1, 10**6),
            "date": self._now(),
            "old_reaction": [self._reaction() for _ in range(rng.randint(0, 2))],
            "new_reaction": [self._reaction() for _ in range(rng.randint(0, 3))],
        }
        if self._chance(0.9):
            reaction["user"] = user.user
        else:
            reaction["actor_chat"] = rng.choice(self.groups)
        return {"message_reaction": reaction}

    def _k_message_reaction_count(self, user: FuzzUser) -> JsonDict:
        counts = [
            {"type": self._reaction(), "total_count": self.rng.randint(0, 10**6)}
            for _ in range(self.rng.randint(0, 3))
        ]
        chat = self.rng.choice(self.channels + self.groups)
        return {
            "message_reaction_count": {
                "chat": chat,
                "message_id": self.rng.randint(1, 10**6),
                "date": self._now(),
                "reactions": counts,
            }
        }

    def _k_business_connection(self, user: FuzzUser) -> JsonDict:
        connection: JsonDict = {
            "id": f"fz-bc-{user.user_id}",
            "user": user.user,
            "user_chat_id": user.user_id,
            "date": self._now(),
            "is_enabled": self._chance(0.7),
        }
        if self._chance(0.5):
            connection["rights"] = {"can_reply": True, "can_read_messages": self._chance(0.5)}
        return {"business_connection": connection}

    def _business_message(self, owner: FuzzUser) -> JsonDict:
        customer = self.pick_user()
        sender = customer if self._chance(0.7) else owner
        text = self._command_text() if self._chance(0.4) else (self.text() or "x")
        message: JsonDict = {
            "message_id": sender.message_id(),
            "date": self._now(),
            "chat": customer.chat,
            "from": sender.user,
            "text": text,
            "business_connection_id": f"fz-bc-{owner.user_id}",
        }
        if text.startswith("/"):
            command = re.split(r"\s", text, maxsplit=1)[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            ]
        return message

    def _k_business_message(self, user: FuzzUser) -> JsonDict:
        return {"business_message": self._business_message(user)}

    def _k_edited_business_message(self, user: FuzzUser) -> JsonDict:
        message = self._business_message(user)
        message["edit_date"] = self._now()
        return {"edited_business_message": message}

    def _k_deleted_business_messages(self, user: FuzzUser) -> JsonDict:
        ids = [self.rng.randint(1, 10**6) for _ in range(self.rng.randint(1, 5))]
        deleted = {
            "business_connection_id": f"fz-bc-{user.user_id}",
            "chat": self.pick_user().chat,
            "message_ids": ids,
        }
        return {"deleted_business_messages": deleted}

    def _k_purchased_paid_media(self, user: FuzzUser) -> JsonDict:
        return {
            "purchased_paid_media": {
                "from": user.user,
                "paid_media_payload": self.text(length=self.rng.randint(0, 128)),
            }
        }

    def _k_managed_bot(self, user: FuzzUser) -> JsonDict:
        other = {
            "id": self.rng.randint(10**9, 10**10),
            "is_bot": True,
            "first_name": self._name(20),
            "username": "SomeOtherBot",
        }
        return {"managed_bot": {"user": user.user, "bot": other}}

    def _k_guest_message(self, user: FuzzUser) -> JsonDict:
        private = self._chance(0.4)
        chat = user.chat if private else self.rng.choice(self.groups)
        text = f"@{BOT_USERNAME} " + (self._command_text() if self._chance(0.3) else self.text())
        message = {
            "message_id": user.message_id() if private else self.rng.randint(1, 10**6),
            "date": self._now(),
            "chat": chat,
            "from": user.user,
            "text": text,
            "guest_query_id": str(next(self._ids)),
        }
        return {"guest_message": message}

    # --- helpers ----------------------------------------------------------------------------

    def _some_bot_message(self, chat_id: int) -> JsonDict | None:
        messages = self.bot_messages.get(chat_id)
        return self.rng.choice(messages) if messages else None


def _buttons(message: JsonDict) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


def _private_ids(update: JsonDict) -> set[int]:
    """Private chats (= users) an update could make the bot write to."""
    body = update[kind_of(update)]
    found: set[int] = set()
    if not isinstance(body, dict):
        return found
    for key in ("from", "user"):
        user = body.get(key)
        if isinstance(user, dict) and not user.get("is_bot"):
            found.add(int(user["id"]))
    chat = body.get("chat") or (body.get("message") or {}).get("chat")
    if isinstance(chat, dict) and chat.get("type") == "private":
        found.add(int(chat["id"]))
    if "user_chat_id" in body:
        found.add(int(body["user_chat_id"]))
    return found


# --- driving the Application ----------------------------------------------------------------


def _await_chain(coro: Any) -> list[Any]:
    """The frames of a coroutine and of everything it awaits, outermost first."""
    frames = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return frames


def _where(error: BaseException) -> str:
    """The frames of our code an exception went through: the outermost and the innermost."""
    root = Path(__file__).resolve().parent.parent
    frames = [
        f"{Path(f.filename).resolve().relative_to(root)}:{f.lineno} {f.name}"
        for f in traceback.extract_tb(error.__traceback__)
        if Path(f.filename).resolve().is_relative_to(root)
        and "/site-packages/" not in f.filename
        and "/tests/" not in f.filename
    ]
    if not frames:
        return "?"
    return frames[0] if len(frames) == 1 else f"{frames[0]} -> {frames[-1]}"


def _ours(frame: Any) -> bool:
    name = frame.f_code.co_filename
    return "/site-packages/" not in name and "/lib/python3" not in name


@dataclass
class ErrorSeen:
    update_id: int | None
    kind: str | None
    error: str
    traceback: str
    raw: JsonDict | None  # the update as pushed: the reproduction
    where: str = ""  # our outermost and innermost frames: "handlers/x.py:12 f -> storage/..."

    @property
    def signature(self) -> str:
        """What tells one bug from another: the exception's type and where it was raised."""
        return f"{self.error.split(':', 1)[0]} at {self.where}"


class FloodCounter:
    """Wraps the processor's FloodGate to count its verdicts (allow, notify, drop)."""

    def __init__(self, gate: Any) -> None:
        self.gate = gate
        self.verdicts: Counter[str] = Counter()

    def check(self, user_id: int) -> Any:
        verdict = self.gate.check(user_id)
        self.verdicts[verdict.value] += 1
        return verdict


class ErrorLogs(logging.Handler):
    """Records logged at ERROR or above (exceptions a handler caught and logged included)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Driver:
    """Pushes updates through a FakeBotAPI to the real Application and waits for them."""

    def __init__(
        self, api: Any, services: Any, application: Application, *, within: float = 120.0
    ) -> None:  # type: ignore[type-arg]
        self.api = api
        self.services = services
        self.application = application
        self.within = within
        processor = application.update_processor
        assert isinstance(processor, PerUserUpdateProcessor)
        self.processor = processor
        self.flood = FloodCounter(processor.flood)
        processor.flood = self.flood  # type: ignore[assignment]
        processor.listeners.append(self._handled)
        application.add_error_handler(self._error)
        self.next_id = 1_000_000  # above what a fixture pushed before (ids only grow)
        self.expected: Counter[int] = Counter()
        self.outstanding = 0
        self.unexpected = 0  # handled more often than pushed
        self.unexpected_ids: list[int] = []
        self.pushed: Counter[str] = Counter()  # per update type
        self.pushed_total = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.errors: list[ErrorSeen] = []
        self.raw: dict[int, JsonDict] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_pushed_id = 0

    def _handled(self, update: object) -> None:
        update_id = getattr(update, "update_id", None)
        if update_id is None:
            return
        if self.expected[update_id] > 0:
            self.expected[update_id] -= 1
            if not self.expected[update_id]:
                del self.expected[update_id]
            self.outstanding -= 1
            if not self.outstanding:
                self._idle.set()
        else:
            self.expected.pop(update_id, None)
            self.unexpected += 1
            self.unexpected_ids.append(update_id)

    async def _error(self, update: object, context: Any) -> None:
        error = context.error
        update_id = getattr(update, "update_id", None)
        raw = self.raw.get(update_id) if update_id is not None else None
        self.errors.append(
            ErrorSeen(
                update_id,
                kind_of(raw) if raw else None,
                f"{type(error).__name__}: {error}",
                "".join(traceback.format_exception(error)),
                copy.deepcopy(raw),
                _where(error),
            )
        )

    def push_now(self, updates: Iterable[JsonDict]) -> None:
        """Queue updates (their update_id set) at once, as one getUpdates batch would bring."""
        for update in updates:
            update_id = int(update["update_id"])
            if self.expected[update_id]:
                self.duplicates += 1  # the same update_id again, its first copy not yet handled
            elif update_id < self._last_pushed_id:
                self.out_of_order += 1
            self._last_pushed_id = max(self._last_pushed_id, update_id)
            self.raw[update_id] = update
            self.expected[update_id] += 1
            self.outstanding += 1
            self.pushed[kind_of(update)] += 1
            self.pushed_total += 1
            self._idle.clear()
            self.api.push_update(update)
        self.next_id = max(self.next_id, self._last_pushed_id + 1)

    async def settle(self) -> None:
        """Wait until every update pushed was handled or dropped, and nothing runs."""
        try:
            async with asyncio.timeout(self.within):
                await self._idle.wait()
                # The listener runs just before an update's task ends: let those finish.
                while self.processor.current_concurrent_updates:  # noqa: ASYNC110
                    await asyncio.sleep(0.002)
        except TimeoutError:
            raise TimeoutError(self._stuck_report()) from None

    def _stuck_report(self) -> str:
        """What was not handled (the updates, as pushed) and where the bot's tasks wait."""
        lines = [f"{self.outstanding} updates not handled within {self.within} s:"]
        for update_id in list(self.expected)[:5]:
            raw = self.raw.get(update_id)
            lines.append(json.dumps(raw, ensure_ascii=True)[:3000] if raw else str(update_id))
        for task in asyncio.all_tasks():
            frames = _await_chain(task.get_coro())
            if any(_ours(f) for f in frames):
                where = " -> ".join(
                    f"{Path(f.f_code.co_filename).name}:{f.f_lineno} {f.f_code.co_name}"
                    for f in frames
                    if _ours(f) or f is frames[-1]
                )
                lines.append(f"task {task.get_name()}: {where}")
        return "\n".join(lines)

    async def push(self, updates: list[JsonDict]) -> None:
        if len(updates) > MAX_BATCH:
            raise ValueError(f"{len(updates)} updates: getUpdates would cut them at {MAX_BATCH}")
        self.raw = {}
        self.push_now(updates)
        await self.settle()

    async def deliver(self, update: JsonDict) -> int:
        """One update, with the next id; waits until it was handled."""
        update = {**update, "update_id": self.next_id}
        self.raw = {}
        self.push_now([update])
        await self.settle()
        return int(update["update_id"])

    def recent_messages(self, chat_id: int, count: int = 12) -> list[JsonDict]:
        """The bot's newest messages in a chat (oldest first), as the chat shows them now;
        to read, not to change.

        Reads the fake's store directly (its `messages()` copies a whole chat, too slow for
        100,000 updates); falls back to the public method for any other fake.
        """
        store = getattr(self.api, "_messages", None)
        if isinstance(store, dict):
            # Not copied: read only (a press copies its message into the update).
            chat = store.get(chat_id) or {}
            return list(chat.values())[-count:]
        return self.api.messages(chat_id)[-count:]  # type: ignore[no-any-return]

    def find_button(
        self, chat_id: int, fmt: cb.CallbackFormat, **want: str
    ) -> tuple[JsonDict, str, dict[str, str]] | None:
        """The newest button of format `fmt` (with these values) in the chat."""
        for message in reversed(self.recent_messages(chat_id)):
            for data in _buttons(message):
                parsed = fmt.parse(data)
                if parsed is not None and all(parsed.get(k) == v for k, v in want.items()):
                    return message, data, parsed
        return None

    def observe(self, fuzzer: Fuzzer, chats: Iterable[int]) -> None:
        for chat_id in sorted(set(chats)):
            fuzzer.observe(chat_id, self.recent_messages(chat_id))

    async def delivered(self) -> None:
        await self.application.bot_data["dispatcher"].drained(within=self.within)


# --- legitimate flows, mixed in so the fuzz reaches deep states ------------------------------

KINGSMEAD, OLD_TOWN = "E05900002", "E05900011"
STAFF_FIRST_ID = 6_000_001
# chair, team member, the other ward's chair, three youth panel members
STAFF_LANGUAGES = ("pl", "zz", "en", "bn", "tr-TR", "en")
FLOW_WEIGHTS = {
    "concern": 5,
    "resident_vote": 3,
    "youth_vote": 2,
    "open_vote": 1.5,
    "close_vote": 0.7,
    "broadcast": 0.8,
    "respond": 1.5,
    "review": 1.5,
    "priority": 0.6,
    "meeting": 0.4,
    "tick": 1.0,
}
CONCERN_TEXTS = (
    "Loud music from the flat above until three in the morning, every night this week.",
    "Bins on Mill Lane have not been collected for three weeks and foxes get into them.",
    "Cars speed past the school gate at pick-up time; someone will get hurt.",
    "<b>Graffiti</b> on the bus shelter & the bench: 'tags' everywhere {name} %s",
    "Zbyt głośna muzyka w nocy — sąsiedzi z trzeciego piętra 🎵🎵",
    "\u202eGNIDEEPS\u202c cars on the high street \u200d every evening after 10pm",
)
VOTE_ITEMS = (
    "Bike racks at the school gate | so fewer bikes get stolen",
    "More street lights on Mill Lane",
    "Youth club open on Fridays | it shuts at 6 now",
    "<b>Bold</b> idea | a & b",
    "Skate park",
    "Football pitch lights | 🏟️",
    "Benches in the park",
)


class Scenario:
    """Scripted, legitimate flows between fuzz batches (best effort: a flow whose button
    did not come, say because the flood limiter dropped a step, is abandoned and counted)."""

    def __init__(self, driver: Driver, fuzzer: Fuzzer, seed: int) -> None:
        self.driver = driver
        self.fuzzer = fuzzer
        self.rng = random.Random(seed + 7919)
        self.flows: Counter[str] = Counter()
        self.abandoned: Counter[str] = Counter()
        # Staff speak several languages, one of them a tag the bot has neither a catalog nor
        # Babel locale data for (a modified client can send any language_code).
        staff = [
            fuzzer.staff_user(STAFF_FIRST_ID + n, language)
            for n, language in enumerate(STAFF_LANGUAGES)
        ]
        self.chair, self.team, self.other_chair = staff[:3]
        self.youth = staff[3:]
        self.staff = staff

    @property
    def services(self) -> Any:
        return self.driver.services

    async def say(self, user: FuzzUser, text: str) -> None:
        await self.driver.deliver(self.fuzzer.text_message(user, text))

    async def press(
        self, user: FuzzUser, fmt: cb.CallbackFormat, **want: str
    ) -> dict[str, str] | None:
        found = self.driver.find_button(user.user_id, fmt, **want)
        if found is None:
            return None
        message, data, parsed = found
        await self.driver.deliver(self.fuzzer.press(user, data, message))
        return parsed

    async def join(
        self, user: FuzzUser, ward: str, role: roles.Role, *, scope: str | None = None
    ) -> None:
        svc = self.services
        invite = await roles.create_invite(
            svc.db,
            svc.clock,
            svc.wards,
            svc.settings.admin_ids,
            by_user=None,
            scope=scope or ward,
            role=role,
        )
        await self.say(user, f"/start {ward}")
        await self.say(user, f"/join {invite.code}")

    async def setup(self) -> None:
        """Staff for two wards (and two fuzzed pool users as staff too), a coming meeting."""
        await self.join(self.chair, KINGSMEAD, roles.Role.PANEL_CHAIR)
        await self.join(self.team, KINGSMEAD, roles.Role.TEAM_MEMBER)
        await self.join(self.other_chair, OLD_TOWN, roles.Role.PANEL_CHAIR)
        for young in self.youth:
            await self.join(young, KINGSMEAD, roles.Role.YOUTH)
        # Pool users with roles get random traffic like everyone else: staff commands with
        # wrong arguments, staff buttons pressed at random.
        pool = self.fuzzer.pool
        await self.join(pool[1], KINGSMEAD, roles.Role.PANEL_MEMBER)
        await self.join(pool[6], OLD_TOWN, roles.Role.TEAM_MEMBER)
        await self.meeting(self.chair)
        await self.meeting(self.other_chair)
        # Residents of the ward before its votes open: the audience of a residents' vote.
        for user in pool[10:40]:
            await self.say(user, f"/start {KINGSMEAD}")
        await self.open_vote(self.chair, "residents")
        await self.open_vote(self.chair, "ward_youth")
        self.driver.observe(self.fuzzer, [u.user_id for u in (*self.staff, *pool[10:40])])
        # Every flow once, so each seed reaches every deep state at least once.
        for name in FLOW_WEIGHTS:
            await self.run(name)

    def _resident(self) -> FuzzUser | None:
        pool = self.fuzzer.pool[10:]  # not the busiest: the flood limiter would cut the flow
        for _ in range(10):
            user = self.rng.choice(pool)
            if user.user_id not in self.fuzzer.blocked:
                return user
        return None

    async def step(self) -> None:
        """One legitimate flow, drawn by FLOW_WEIGHTS."""
        name = self.rng.choices(list(FLOW_WEIGHTS), weights=list(FLOW_WEIGHTS.values()))[0]
        await self.run(name)

    async def run(self, name: str) -> None:
        try:
            done = await getattr(self, f"flow_{name}")()
        except TimeoutError:
            raise  # a hang: the driver's report says where
        except Exception as error:  # the schedules, say: recorded like an update's error
            self.driver.errors.append(
                ErrorSeen(
                    None,
                    f"flow {name}",
                    f"{type(error).__name__}: {error}",
                    "".join(traceback.format_exception(error)),
                    None,
                    _where(error),
                )
            )
            done = False
        (self.flows if done else self.abandoned)[name] += 1

    async def meeting(self, chair: FuzzUser) -> bool:
        now = self.services.clock.now().astimezone(self.services.settings.tz)
        day = (now + timedelta(days=self.rng.randint(5, 20))).strftime("%Y-%m-%d")
        await self.say(chair, f"/meeting {day} 19:00 | St Mark's Church Hall, Mill Lane | open")
        return True

    async def flow_meeting(self) -> bool:
        return await self.meeting(self.rng.choice((self.chair, self.other_chair)))

    async def flow_concern(self) -> bool:
        user = self._resident()
        if user is None:
            return False
        rng = self.rng
        await self.say(user, f"/start {rng.choice((KINGSMEAD, KINGSMEAD, OLD_TOWN))}")
        await self.say(user, "/concern")
        category = rng.choice(list(CATEGORIES))
        chosen = await self.press(user, cb.CONCERN_CATEGORY, category=category)
        if chosen is None:
            return False
        key = chosen["key"]
        await self.say(user, rng.choice(CONCERN_TEXTS))
        if rng.random() < 0.5:
            await self.driver.deliver(
                self.fuzzer.location_message(
                    user, rng.uniform(51.47, 51.51), rng.uniform(-0.17, -0.14)
                )
            )
        elif await self.press(user, cb.CONCERN_SKIP, key=key, step="place") is None:
            return False
        if rng.random() < 0.3:
            await self.driver.deliver(self.fuzzer.photo_message(user, "the bins"))
        elif await self.press(user, cb.CONCERN_SKIP, key=key, step="photo") is None:
            return False
        if rng.random() < 0.2 and await self.press(user, cb.CONCERN_ME_TOO, key=key) is not None:
            return True
        found = self.driver.find_button(user.user_id, cb.CONCERN_SEND, key=key)
        if found is None:
            return False
        message, data, _ = found
        presses = [
            self.fuzzer.press(user, data, message) for _ in range(2 if rng.random() < 0.3 else 1)
        ]
        first = self.driver.next_id
        self.driver.raw = {}
        self.driver.push_now([{**p, "update_id": first + n} for n, p in enumerate(presses)])
        await self.driver.settle()
        # The resident looks at what they raised, and opens one.
        await self.say(user, "/myconcerns")
        if rng.random() < 0.5:
            await self.press(user, cb.MY_CONCERN_OPEN)
        self.driver.observe(self.fuzzer, [user.user_id])
        return True

    async def open_vote(self, chair: FuzzUser, audience: str) -> int | None:
        rng = self.rng
        items = rng.sample(VOTE_ITEMS, rng.randint(2, 6))
        await self.say(chair, "/newvote\n" + "\n".join(items))
        found = self.driver.find_button(chair.user_id, cb.VOTE_OPEN)
        if found is None:
            return None
        vote_id = found[2]["id"]
        if audience != "ward_youth":
            await self.press(chair, cb.VOTE_SET, id=vote_id, setting="audience", value=audience)
        if rng.random() < 0.5:
            picks = str(rng.randint(1, len(items)))
            await self.press(chair, cb.VOTE_SET, id=vote_id, setting="picks", value=picks)
        if await self.press(chair, cb.VOTE_OPEN, id=vote_id) is None:
            return None
        await self.driver.delivered()
        return int(vote_id)

    async def flow_open_vote(self) -> bool:
        audience = self.rng.choice(("residents", "residents", "ward_youth", "borough_youth"))
        if await self.open_vote(self.chair, audience) is not None:
            return True
        await self.meeting(self.chair)  # time has passed: the ward needs a coming meeting
        return await self.open_vote(self.chair, audience) is not None

    async def _ballot_presses(self, users: Sequence[FuzzUser]) -> bool:
        pressed = False
        for user in users:
            self.driver.observe(self.fuzzer, [user.user_id])
            for _ in range(self.rng.randint(1, 3)):
                found = self.driver.find_button(user.user_id, cb.VOTE_PICK)
                if found is None:
                    break
                message, _, _ = found
                data = self.rng.choice([d for d in _buttons(message) if cb.VOTE_PICK.parse(d)])
                await self.driver.deliver(self.fuzzer.press(user, data, message))
                pressed = True
        return pressed

    async def flow_youth_vote(self) -> bool:
        return await self._ballot_presses(self.rng.sample(self.youth, 2))

    async def flow_resident_vote(self) -> bool:
        rows = await self.services.db.fetchall(
            "SELECT user_id FROM residents WHERE ward_code = ?", (KINGSMEAD,)
        )
        living = {row[0] for row in rows} - self.fuzzer.blocked
        users = [u for u in self.fuzzer.pool[10:] if u.user_id in living]
        return await self._ballot_presses(self.rng.sample(users, min(4, len(users))))

    async def flow_close_vote(self) -> bool:
        chair = self.chair
        await self.say(chair, "/newvote")
        asked = await self.press(chair, cb.VOTE_CLOSE_ASK)
        if asked is None:
            return False
        if await self.press(chair, cb.VOTE_CLOSE, id=asked["id"]) is None:
            return False
        await self.driver.delivered()
        if self.rng.random() < 0.3:
            await self.press(chair, cb.VOTE_CHART, id=asked["id"])
        return True

    async def flow_broadcast(self) -> bool:
        team = self.team
        await self.say(team, "/broadcast " + self.rng.choice(CONCERN_TEXTS))
        sent = await self.press(team, cb.BROADCAST_SEND)
        if sent is None:
            return False
        await self.driver.delivered()
        return True

    async def _refs(self, ward: str) -> list[str]:
        rows = await self.services.db.fetchall(
            "SELECT ref FROM concerns WHERE ward_code = ? ORDER BY id DESC LIMIT 20", (ward,)
        )
        return [row[0] for row in rows]

    async def flow_respond(self) -> bool:
        refs = await self._refs(KINGSMEAD)
        if not refs:
            return False
        ref = self.rng.choice(refs)
        if self.rng.random() < 0.6:
            await self.say(
                self.team,
                f"/respond {ref} We have asked the council to look at it. <b>Thanks</b> & regards",
            )
        else:
            await self.say(
                self.team, f"/wedid {ref} Extra patrols on Friday nights since last week."
            )
        await self.driver.delivered()
        return True

    async def flow_review(self) -> bool:
        """A chair walks the panel's buttons at random (reviewing, closing, hiding, linking)."""
        chair = self.rng.choice((self.chair, self.other_chair))
        await self.say(chair, "/panel")
        for _ in range(self.rng.randint(2, 6)):
            messages = [m for m in self.driver.recent_messages(chair.user_id, 4) if _buttons(m)]
            if not messages:
                return False
            message = self.rng.choice(messages)
            data = self.rng.choice(_buttons(message))
            await self.driver.deliver(self.fuzzer.press(chair, data, message))
        await self.driver.delivered()
        return True

    async def flow_priority(self) -> bool:
        category = self.rng.choice(list(CATEGORIES))
        await self.say(
            self.chair,
            f"/addpriority {category} Safer crossings near the school | "
            + self.rng.choice(CONCERN_TEXTS)[:200],
        )
        return True

    async def flow_tick(self) -> bool:
        """Time passes (a few hours) and the schedules run: votes close, reminders go out."""
        clock = self.services.clock
        if hasattr(clock, "advance"):
            clock.advance(hours=self.rng.uniform(0.5, 8))
        await run_due(self.services)
        await self.driver.delivered()
        return True


# --- the database afterwards ----------------------------------------------------------------

INVARIANTS: dict[str, str] = {
    # Each query returns the rows that break the rule (none when it holds).
    "ballot with more picks than the vote allows": """
        SELECT c.vote_id, c.user_id, count(*) AS n, v.picks FROM ballot_choices c
        JOIN votes v ON v.id = c.vote_id GROUP BY c.vote_id, c.user_id HAVING n > v.picks""",
    "ballot on a vote that never opened": """
        SELECT b.vote_id, b.user_id, v.state FROM ballots b JOIN votes v ON v.id = b.vote_id
        WHERE v.state IN ('draft', 'discarded') OR v.opened_at IS NULL""",
    "ballot changed after its vote closed": """
        SELECT b.vote_id, b.user_id, b.changed_at, v.closed_at FROM ballots b
        JOIN votes v ON v.id = b.vote_id WHERE v.state = 'closed' AND b.changed_at > v.closed_at""",
    "pick of an item the vote does not have": """
        SELECT c.* FROM ballot_choices c WHERE NOT EXISTS
        (SELECT 1 FROM vote_items i WHERE i.vote_id = c.vote_id AND i.position = c.position)""",
    "vote whose settings do not fit its items": """
        SELECT v.id, v.picks, v.places,
            (SELECT count(*) FROM vote_items i WHERE i.vote_id = v.id) AS n
        FROM votes v WHERE v.picks > n OR v.places >= n OR n < 2 OR n > 10""",
    "open vote without a closing time": """
        SELECT id FROM votes WHERE state = 'open' AND closes_at IS NULL""",
    "closed vote without frozen counts": """
        SELECT id FROM votes WHERE state = 'closed' AND (eligible IS NULL OR voters IS NULL)""",
    "agenda item from a vote that is not closed": """
        SELECT a.id, a.vote_id FROM agenda_items a JOIN votes v ON v.id = a.vote_id
        WHERE v.state != 'closed'""",
    "concern without a ward": """
        SELECT id, ward_code FROM concerns WHERE ward_code IS NULL
        OR ward_code NOT IN (SELECT code FROM wards)""",
    "concern with a malformed reference": """
        SELECT id, ref FROM concerns WHERE length(ref) != 8
        OR ref NOT GLOB 'WV-' || replace(hex(zeroblob(5)), '00', '[2-9A-HJKMNP-Z]')""",
    "resident in a ward that does not exist": """
        SELECT user_id, ward_code FROM residents WHERE ward_code IS NOT NULL
        AND ward_code NOT IN (SELECT code FROM wards)""",
    "role not granted through an invite": """
        SELECT r.user_id, r.scope, r.role FROM roles r WHERE NOT EXISTS (SELECT 1 FROM invites i
        WHERE i.used_by = r.user_id AND i.scope = r.scope AND i.role = r.role)""",
    "more than 5 active priorities in a ward": """
        SELECT ward_code, count(*) FROM priorities WHERE retired_at IS NULL
        GROUP BY ward_code HAVING count(*) > 5""",
    "outbox row left in 'sending'": """
        SELECT id, item_id, chat_id FROM outbox WHERE state = 'sending'""",
    "outbox row of a missing item": """
        SELECT id, item_id FROM outbox WHERE item_id NOT IN (SELECT id FROM outbox_items)""",
    "draft of someone who is not a resident": """
        SELECT user_id FROM concern_drafts WHERE user_id NOT IN (SELECT user_id FROM residents)""",
}
TABLES = (
    "residents",
    "concerns",
    "concern_supporters",
    "concern_events",
    "concern_drafts",
    "roles",
    "audit_log",
    "meetings",
    "priorities",
    "votes",
    "ballots",
    "ballot_choices",
    "agenda_items",
    "outbox_items",
    "outbox",
    "forget_requests",
)


@dataclass
class DatabaseReport:
    integrity_check: list[str]
    foreign_key_check: list[tuple[Any, ...]]
    broken: dict[str, list[tuple[Any, ...]]]
    rows: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.integrity_check == ["ok"] and not self.foreign_key_check and not self.broken


def check_database(path: Path, *, max_concerns_per_day: int = 5) -> DatabaseReport:
    """PRAGMA integrity_check and foreign_key_check, and the invariants above."""
    with closing(sqlite3.connect(path)) as conn:
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        foreign = [tuple(row) for row in conn.execute("PRAGMA foreign_key_check")]
        broken: dict[str, list[tuple[Any, ...]]] = {}
        for name, sql in INVARIANTS.items():
            rows = [tuple(row) for row in conn.execute(sql).fetchall()]
            if rows:
                broken[name] = rows[:5]
        # The daily limit, over any 24 hours (the schedules move the clock on).
        filed: dict[int, list[datetime]] = {}
        for user_id, created in conn.execute(
            "SELECT raised_by, created_at FROM concerns WHERE raised_by IS NOT NULL"
        ):
            filed.setdefault(user_id, []).append(datetime.fromisoformat(created))
        over = []
        for user_id, times in filed.items():
            times.sort()
            for n, when in enumerate(times):
                within = [t for t in times[n:] if t - when < timedelta(hours=24)]
                if len(within) > max_concerns_per_day:
                    over.append((user_id, len(within)))
                    break
        if over:
            broken["more concerns in 24 hours than the daily limit"] = over[:5]
        # Counted here, not with SQL: SQLite's length() stops at the first NUL.
        texts = conn.execute(
            "SELECT id, text FROM concerns WHERE hidden_at IS NULL AND raised_by IS NOT NULL"
        )
        odd = [(i, len(t)) for i, t in texts if not 10 <= len(t) <= 2000 or t != t.strip()]
        if odd:
            broken["concern text not 10 to 2,000 characters, trimmed"] = odd[:5]
        rows = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES
        }
    return DatabaseReport(integrity, foreign, broken, rows)
