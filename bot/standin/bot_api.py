"""A fake Telegram Bot API server on 127.0.0.1 for driving the real python-telegram-bot.

The tests run PTB's own `Application` and `Bot` unmodified, pointed at this server with
`base_url`, so everything between our handlers and the wire (request encoding, response
parsing, error mapping, polling) is the real library. The server keeps just enough state to
answer like Telegram: per-chat message ids, the current text and keyboard of every message
the bot sent, bot commands, and an update queue served through getUpdates long polling.

It is deliberately strict where Telegram is strict and bots commonly go wrong: HTML parse
mode is parsed (unsupported or unbalanced tags give Telegram's 400), texts over 4,096
characters, callback data over 64 bytes, edits that change nothing ("message is not
modified"), answering a callback query twice, and sends to a chat that blocked the bot.

With `limits=TelegramLimits()` it also enforces Telegram's flood limits on sending methods
(30 messages a second overall, about one a second per chat with short bursts) and answers
429 with retry_after, growing the penalty for a client that sends again before the wait it
was told about is over. Counters (`sent_total`, `delivered`, `rejected_429`, `violations`,
`max_sends_in_any_second()`) and GET /stats let a benchmark prove the bot kept to them;
`record=False` keeps the per-call bookkeeping of sendMessage out of a 10,000-message run.

Telegram's own bad days, for fault tests: `fail_next` fails the next few calls of one
method; `start_outage()` answers every call (getUpdates included, or only the methods
named) with a 5xx until `end_outage()`; `start_hanging()` answers nothing until
`end_outage()`, so the bot's read timeouts fire. `outage_calls` counts the calls an outage
or a hang took, per method, to show the bot backed off rather than hammering the server.
"""

from __future__ import annotations

import asyncio
import copy
import html
import itertools
import json
import math
import re
import time
from array import array
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

JsonDict = dict[str, Any]

# Parameters whose string value is taken verbatim, never JSON-decoded: user-visible text
# that could look like JSON ("42", "true", "null") and ids Telegram treats as opaque strings.
RAW_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "url",
        "description",
        "short_description",
        "language_code",
        # Not in the brief's list, but the same reasoning applies:
        "question",
        "explanation",
        "title",
        "inline_message_id",
        "action",
        "emoji",
    }
)

# Update kinds Telegram leaves out unless asked for by name in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_POLL_WAIT = 1.0  # seconds; caps getUpdates' timeout so tests and shutdown stay fast

# The calls Telegram's flood limits apply to: everything that puts or changes a message in
# a chat. Reading (getUpdates, getMe), answerCallbackQuery and bot settings are not limited.
SENDING_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendLocation",
        "sendPoll",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "copyMessage",
        "forwardMessage",
    }
)
MAX_RETRY_AFTER = 30  # seconds; the cap of the growing penalty for ignoring retry_after
# A send this much before the told time still counts as waiting: asyncio timers and the
# round trip make an honest client arrive a hair early or late, never a whole interval.
RETRY_AFTER_TOLERANCE = 0.005


@dataclass(frozen=True)
class TelegramLimits:
    """Telegram's flood limits for a bot, as the fake enforces them on sending methods."""

    overall_per_second: int = 30  # accepted sends in any sliding second, all chats together
    per_chat_per_second: float = 1.0  # the sustained rate one chat may receive
    per_chat_burst: int = 3  # Telegram tolerates short bursts in a private chat
    retry_after: int = 1  # seconds told in a 429 (more if the window needs longer to clear)

    @property
    def per_chat_window(self) -> float:
        """Seconds in which a chat may receive at most `per_chat_burst` messages."""
        return self.per_chat_burst / self.per_chat_per_second


class ApiError(Exception):
    """A Telegram-shaped failure answer: HTTP status, description, optional parameters."""

    def __init__(self, status: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = {k: v for k, v in parameters.items() if v is not None}

    def body(self) -> JsonDict:
        data: JsonDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            data["parameters"] = self.parameters
        return data


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


@dataclass
class ApiCall:
    """One Bot API call the bot made, with its parameters decoded to Python values."""

    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when the request arrived
    status: int | None = None  # HTTP status answered; None while still being answered
    description: str | None = None  # the error description, for failed calls

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return value if isinstance(value, int) else None

    @property
    def text(self) -> str | None:
        """The text or caption as sent (raw, markup included)."""
        value = self.params.get("text", self.params.get("caption"))
        return value if isinstance(value, str) else None

    @property
    def buttons(self) -> list[list[dict]]:
        """Inline keyboard rows, or reply keyboard rows as dicts; [] without a keyboard."""
        return keyboard_rows(self.params.get("reply_markup"))


def keyboard_rows(markup: Any) -> list[list[dict]]:
    """The rows of an inline or reply keyboard as lists of dicts."""
    if not isinstance(markup, dict):
        return []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    return [[{"text": b} if isinstance(b, str) else dict(b) for b in row] for row in rows]


def default_bot_user(token: str, username: str) -> JsonDict:
    """The getMe answer for a token: Telegram's bot id is the token's numeric prefix."""
    return {
        "id": int(token.split(":", 1)[0]),
        "is_bot": True,
        "first_name": "WardVoice Test",
        "username": username,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def utf16_len(text: str) -> int:
    """Telegram measures offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


# --- Telegram HTML parse mode -------------------------------------------------------------

_TAG_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)"
    r"((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*>"
)
_ATTR_RE = re.compile(r"([a-zA-Z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>\"']+)))?")
_ENTITY_RE = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);")
_MARKUP_RE = re.compile(r"[<&]")  # where a run of plain text ends
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


def parse_html(source: str) -> tuple[str, list[JsonDict]]:
    """Telegram's HTML parse mode: plain text plus entities, or the 400 Telegram answers.

    Strict about what Telegram rejects (unknown tags, a bare `<`, unbalanced tags), so a test
    catches user text that reached HTML unescaped.
    """
    out: list[str] = []
    pos16 = 0  # UTF-16 offset of the plain text so far
    stack: list[tuple[str, dict[str, str], int]] = []
    entities: list[JsonDict] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch not in "<&":
            # A run of plain text up to the next tag or entity, taken whole.
            markup = _MARKUP_RE.search(source, i)
            end = markup.start() if markup is not None else len(source)
            run = source[i:end]
            out.append(run)
            pos16 += utf16_len(run)
            i = end
            continue
        if ch == "<":
            match = _TAG_RE.match(source, i)
            offset = len(source[:i].encode())
            if match is None:
                raise bad_request(
                    f"can't parse entities: Unsupported start tag at byte offset {offset}"
                )
            closing, name, attr_text = match.group(1), match.group(2).lower(), match.group(3)
            if name not in _TAG_ENTITY:
                raise bad_request(
                    f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
                )
            if closing:
                if not stack or stack[-1][0] != name:
                    expected = f'"</{stack[-1][0]}>"' if stack else "no end tag"
                    raise bad_request(
                        f"can't parse entities: Unmatched end tag at byte offset {offset}, "
                        f'expected {expected}, found "</{name}>"'
                    )
                tag, attrs, start = stack.pop()
                if pos16 > start:
                    entities.append(_html_entity(tag, attrs, start, pos16 - start))
            else:
                attrs = {
                    m.group(1).lower(): next((g for g in m.group(2, 3, 4) if g is not None), "")
                    for m in _ATTR_RE.finditer(attr_text)
                }
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise bad_request(
                        f'can\'t parse entities: Tag "span" must have class "tg-spoiler" at '
                        f"byte offset {offset}"
                    )
                stack.append((name, attrs, pos16))
            i = match.end()
            continue
        if ch == "&":
            match = _ENTITY_RE.match(source, i)
            if match is not None:
                ref = match.group(1)
                decoded = (
                    html.unescape(match.group(0))
                    if ref.startswith("#")
                    else _NAMED_ENTITIES.get(ref.lower())
                )
                if decoded is not None:
                    out.append(decoded)
                    pos16 += utf16_len(decoded)
                    i = match.end()
                    continue
        out.append(ch)
        pos16 += utf16_len(ch)
        i += 1
    if stack:
        raise bad_request(
            "can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1][0]}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _html_entity(tag: str, attrs: dict[str, str], offset: int, length: int) -> JsonDict:
    entity: JsonDict = {"type": _TAG_ENTITY[tag], "offset": offset, "length": length}
    if tag == "a":
        entity["url"] = attrs.get("href", "")
    elif tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    elif tag == "code" and attrs.get("class", "").startswith("language-"):
        entity["language"] = attrs["class"].removeprefix("language-")
    return entity


# --- the server ---------------------------------------------------------------------------


class Upload(dict):
    """An uploaded file in ApiCall.params: {"filename", "size", "content_type"}; bytes in .content.

    The bytes stay off the dict so recorded params compare and print cleanly.
    """

    content: bytes = b""


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None
    times: int


Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class FakeBotAPI:
    """A Bot API server on 127.0.0.1 that records calls and serves pushed updates."""

    TOKEN = "123456:TEST-TOKEN"

    def __init__(
        self,
        *,
        bot_username: str = "WardVoiceTestBot",
        clock: Callable[[], float] = time.time,
        limits: TelegramLimits | None = None,
        record: bool = True,
    ) -> None:
        self.bot_user: JsonDict = default_bot_user(self.TOKEN, bot_username)
        self.clock = clock
        self.calls: list[ApiCall] = []
        # Flood limits on sending methods; None (the default) accepts any rate. Settable at
        # any time, also while serving.
        self.limits: TelegramLimits | None = limits
        # False: successful sendMessage calls stay out of `calls` and their messages are not
        # kept per chat (edits and replies to them are still accepted); only the counters.
        self.record = record
        self.delivered: Counter[int] = Counter()  # chat_id -> accepted sendMessage calls
        self.sent_total = 0  # accepted sendMessage calls
        self.rejected_429 = 0  # sends refused by `limits` (violations included)
        self.violations = 0  # sends that came before a told retry_after was over
        self._send_times = array("d")  # monotonic times of every accepted send, in order
        self._recent_sends: deque[float] = deque()  # accepted sends of the last second
        # Per chat, accepted sends within its burst window; kept only while limits are on.
        self._chat_sends: dict[int, deque[float]] = {}
        # Scope (a chat id, or None for the bot as a whole) -> the last 429 the limits gave
        # for it: (when it was given, until when to wait, its retry_after).
        self._told: dict[int | None, tuple[float, float, int]] = {}
        self.confirmed_offset = 0
        self.latency = 0.0
        self.blocked_chats: set[int] = set()
        self.commands: dict[tuple[str, str], list[dict]] = {}
        self.menu_buttons: dict[int | None, JsonDict] = {}
        self.descriptions: dict[tuple[str, str], str] = {}  # (kind, language_code) -> text
        self.polls: dict[str, JsonDict] = {}  # poll id -> Poll dict
        self.files: dict[str, bytes] = {}  # file_id -> content of files the bot uploaded
        self.answered_callbacks: dict[str, dict[str, Any]] = {}
        self.allowed_updates: list[str] | None = None  # as last set through getUpdates
        self._updates: deque[JsonDict] = deque()
        self._next_update_id = 1
        self._wakeup = asyncio.Event()
        self._poll_generation = 0
        self._calls_changed = asyncio.Event()
        self._failures: dict[str, deque[_Failure]] = {}
        # An outage: every call of `_outage_methods` (None: all) gets this error.
        self._outage: ApiError | None = None
        self._outage_methods: frozenset[str] | None = None
        # A hang: calls of `_hang_methods` (None: all) wait for this event, then get a 504.
        self._hang: asyncio.Event | None = None
        self._hang_methods: frozenset[str] | None = None
        self.outage_calls: Counter[str] = Counter()  # method -> calls an outage or hang took
        self._messages: dict[int, dict[int, JsonDict]] = {}  # bot's messages per chat
        self._incoming: dict[int, dict[int, JsonDict]] = {}  # users' messages per chat
        self._next_message_id: dict[int, int] = {}
        self._reply_keyboards: dict[int, JsonDict] = {}
        self._chats: dict[int, JsonDict] = {}
        self._pending_callbacks: set[str] = set()
        self._poll_by_message: dict[tuple[int, int], str] = {}
        self._file_ids = itertools.count(1)
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "logOut": self._true,
            "close": self._true,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "setMyDescription": self._set_description("description"),
            "setMyShortDescription": self._set_description("short_description"),
            "getMyDescription": self._get_description("description"),
            "getMyShortDescription": self._get_description("short_description"),
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendLocation": self._send_location,
            "sendPoll": self._send_poll,
            "stopPoll": self._stop_poll,
            "getFile": self._get_file,
        }
        self._by_lower = {name.lower(): name for name in self._handlers}

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a random free port of 127.0.0.1."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        app.router.add_get("/stats", self._stats_route)
        app.router.add_post("/reset", self._reset_route)
        self._closing = False
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Release waiting long polls and hung calls at once, then close the server."""
        self._closing = True
        self._pulse_updates()
        self.end_outage()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._require_port()}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self._require_port()}/file/bot"

    def _require_port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeBotAPI.start() has not been awaited")
        return self._port

    # --- what tests drive and inspect ---------------------------------------------------

    def push_update(self, update: dict) -> int:
        """Queue an update for getUpdates, remembering what Telegram would know from it."""
        update = copy.deepcopy(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        update_id = int(update["update_id"])
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self._observe(update)
        self._updates.append(update)
        self._pulse_updates()
        return update_id

    def pending_updates(self) -> list[dict]:
        """Updates not yet acknowledged by the bot (fetched or not)."""
        return copy.deepcopy(list(self._updates))

    def calls_to(self, chat_id: int, *, since: int = 0, method: str | None = None) -> list[ApiCall]:
        """Calls addressed to one chat, from index `since` of `calls` on."""
        return [
            call
            for call in self.calls[since:]
            if call.chat_id == chat_id and (method is None or call.method == method)
        ]

    def messages(self, chat_id: int) -> list[dict]:
        """What the chat shows now: every message the bot sent there, after edits/deletes."""
        return [copy.deepcopy(m) for _, m in sorted(self._messages.get(chat_id, {}).items())]

    def reply_keyboard(self, chat_id: int) -> list[list[dict]]:
        """The reply keyboard the chat currently shows ([] if none or removed)."""
        return keyboard_rows(self._reply_keyboards.get(chat_id))

    def commands_for(self, scope: dict | None = None, language_code: str = "") -> list[dict]:
        """The commands set for a scope (default scope when None) and language."""
        return copy.deepcopy(self.commands.get((self.scope_key(scope), language_code), []))

    @staticmethod
    def scope_key(scope: dict | None) -> str:
        """The key `commands` uses for a scope: canonical JSON, default scope when None."""
        return json.dumps(scope or {"type": "default"}, sort_keys=True, separators=(",", ":"))

    async def wait_for_call(
        self,
        chat_id: int | None = None,
        *,
        method: str | None = None,
        since: int = 0,
        within: float = 2.0,
    ) -> ApiCall:
        """The first answered call (from index `since`) matching chat and method; waits.

        Handlers run asynchronously after an update is fetched, so tests wait for the reply
        rather than sleeping.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for call in self.calls[since:]:
                if (
                    call.status is not None
                    and (chat_id is None or call.chat_id == chat_id)
                    and (method is None or call.method == method)
                ):
                    return call
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [(c.method, c.chat_id) for c in self.calls[since:]]
                raise TimeoutError(
                    f"no {method or 'call'} to chat {chat_id} within {within}s; saw {seen}"
                )
            event = self._calls_changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail with this Telegram error."""
        name = self._by_lower.get(method.lower(), method)
        self._failures.setdefault(name, deque()).append(
            _Failure(status, description, retry_after, times)
        )

    def _methods(self, methods: Iterable[str] | None) -> frozenset[str] | None:
        if methods is None:
            return None
        return frozenset(self._by_lower.get(m.lower(), m) for m in methods)

    def start_outage(
        self,
        *,
        status: int = 502,
        description: str = "Bad Gateway",
        methods: Iterable[str] | None = None,
    ) -> None:
        """From now on every call (or every call of `methods`) fails with this HTTP status,
        as Telegram's front end does when its servers are down, until `end_outage()`.

        getUpdates fails too, so updates pushed meanwhile wait unconfirmed and are served
        once it ends, as Telegram keeps what users wrote during its outage."""
        self._outage = ApiError(status, description)
        self._outage_methods = self._methods(methods)

    def start_hanging(self, *, methods: Iterable[str] | None = None) -> None:
        """From now on calls (or calls of `methods`) get no answer until `end_outage()`: the
        bot's read timeout fires. The calls that hung are then answered 504 Gateway Timeout
        without being carried out, so nothing the bot gave up on arrives late."""
        if self._hang is None:
            self._hang = asyncio.Event()
        self._hang_methods = self._methods(methods)

    def end_outage(self) -> None:
        """Telegram is back: calls are answered again, and the calls that hung get a 504."""
        self._outage = None
        self._outage_methods = None
        hang, self._hang = self._hang, None
        if hang is not None:
            hang.set()

    @staticmethod
    def _affects(methods: frozenset[str] | None, method: str) -> bool:
        return methods is None or method in methods

    # --- flood limits and counters -----------------------------------------------------

    def max_sends_in_any_second(self) -> int:
        """The most accepted sends (all sending methods) in any sliding 1.0 s window."""
        times = self._send_times
        best = first = 0
        for last, at in enumerate(times):
            while at - times[first] >= 1.0:
                first += 1
            best = max(best, last - first + 1)
        return best

    def stats(self) -> JsonDict:
        """The counters a benchmark reads (GET /stats serves this as JSON)."""
        return {
            "sent_total": self.sent_total,
            "rejected_429": self.rejected_429,
            "violations": self.violations,
            "max_sends_in_any_second": self.max_sends_in_any_second(),
            "duplicates": sum(1 for n in self.delivered.values() if n > 1),
            "chats": len(self.delivered),
            "sends_accepted": len(self._send_times),  # all sending methods, edits included
            # From the first accepted send to the last: the sustained rate's denominator.
            "span_seconds": (
                self._send_times[-1] - self._send_times[0] if len(self._send_times) > 1 else 0.0
            ),
            "limits": None if self.limits is None else asdict(self.limits),
        }

    def reset_counters(self) -> None:
        """Zero the counters and forget the limits' windows and penalties (POST /reset).

        Calls, messages and chats stay as they are.
        """
        self.delivered.clear()
        self.sent_total = self.rejected_429 = self.violations = 0
        del self._send_times[:]
        self._recent_sends.clear()
        self._chat_sends.clear()
        self._told.clear()

    def _check_limits(
        self, limits: TelegramLimits, chat_id: int | None, arrived: float, now: float
    ) -> None:
        """Raise Telegram's 429 if a send now would break the limits; accept nothing yet.

        `arrived` is when the request reached the server (before any `latency`), `now` when
        it is handled. The windows are the sliding second for the bot as a whole and
        `per_chat_window` for the chat; a 429 scopes its wait to the limit that was hit.
        """
        for scope in (None, chat_id) if chat_id is not None else (None,):
            told = self._told.get(scope)
            if told is None:
                continue
            given, until, retry_after = told
            if given <= arrived < until - RETRY_AFTER_TOLERANCE:
                # Sent during a wait it had been told about: Telegram doubles the wait.
                self.violations += 1
                self._refuse(scope, now, min(retry_after * 2, MAX_RETRY_AFTER))
            if arrived < given and now < until:
                # On its way before the 429 was given: refused, but it ignored nothing.
                self._refuse(scope, now, max(math.ceil(until - now), 1), keep=True)
        recent = self._recent_sends
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) >= limits.overall_per_second:
            oldest = recent[-limits.overall_per_second]
            self._refuse(None, now, self._retry_after(limits, oldest + 1.0 - now))
        if chat_id is None:
            return
        window = limits.per_chat_window
        sends = self._chat_sends.get(chat_id)
        if sends is None:
            return
        while sends and sends[0] <= now - window:
            sends.popleft()
        if len(sends) >= limits.per_chat_burst:
            oldest = sends[-limits.per_chat_burst]
            self._refuse(chat_id, now, self._retry_after(limits, oldest + window - now))

    @staticmethod
    def _retry_after(limits: TelegramLimits, needed: float) -> int:
        """The configured wait, or longer if the window needs longer to admit a send."""
        return min(max(limits.retry_after, math.ceil(needed)), MAX_RETRY_AFTER)

    def _refuse(
        self, scope: int | None, now: float, retry_after: int, *, keep: bool = False
    ) -> None:
        """Answer 429; unless `keep`, it is the wait a later send is judged against."""
        if not keep:
            self._told[scope] = (now, now + retry_after, retry_after)
        self.rejected_429 += 1
        raise ApiError(
            429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
        )

    def _accept_send(self, method: str, chat_id: int | None, now: float) -> None:
        self._send_times.append(now)
        recent = self._recent_sends
        recent.append(now)
        while recent[0] <= now - 1.0:
            recent.popleft()
        if self.limits is not None and chat_id is not None:
            self._chat_sends.setdefault(chat_id, deque()).append(now)
        if method == "sendMessage" and chat_id is not None:
            self.delivered[chat_id] += 1
            self.sent_total += 1

    async def _stats_route(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _reset_route(self, request: web.Request) -> web.Response:
        self.reset_counters()
        return web.json_response({"ok": True})

    # --- HTTP plumbing ------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.TOKEN:
            return _json(ApiError(401, "Unauthorized").body(), 401)
        method = self._by_lower.get(request.match_info["method"].lower())
        params = await _decode_params(request)
        if method is None:
            error = ApiError(404, "Not Found: method not found")
            return _json(error.body(), 404)
        call = ApiCall(method=method, params=params, at=time.monotonic())
        # Without record, a sendMessage call is kept only if it fails (see below).
        recorded = method != "getUpdates" and (self.record or method != "sendMessage")
        if recorded:
            self.calls.append(call)
        hang = self._hang
        if hang is not None and self._affects(self._hang_methods, method):
            self.outage_calls[method] += 1
            await hang.wait()
            return self._failed(call, ApiError(504, "Gateway Timeout"), recorded)
        outage = self._outage
        if outage is not None and self._affects(self._outage_methods, method):
            self.outage_calls[method] += 1
            return self._failed(call, outage, recorded)
        if method != "getUpdates" and self.latency > 0:
            await asyncio.sleep(self.latency)
        sending = method in SENDING_METHODS
        chat_id = params.get("chat_id") if sending else None
        if not isinstance(chat_id, int):
            chat_id = None
        try:
            now = time.monotonic()
            limits = self.limits
            if sending and limits is not None:
                self._check_limits(limits, chat_id, call.at, now)
            self._inject_failure(method)
            result = await self._handlers[method](params)
        except ApiError as error:
            return self._failed(call, error, recorded)
        if sending:
            self._accept_send(method, chat_id, now)
        call.status = 200
        if recorded:
            self._pulse_calls()
        return _json({"ok": True, "result": result}, 200)

    def _failed(self, call: ApiCall, error: ApiError, recorded: bool) -> web.Response:
        call.status, call.description = error.status, error.description
        if not recorded and call.method != "getUpdates":
            self.calls.append(call)
        self._pulse_calls()
        return _json(error.body(), error.status)

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.TOKEN:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        return web.Response(body=self.files.get(file_id, b"fake file " + file_id.encode()))

    def _inject_failure(self, method: str) -> None:
        queue = self._failures.get(method)
        if not queue:
            return
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        raise ApiError(failure.status, failure.description, retry_after=failure.retry_after)

    def _pulse_updates(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _pulse_calls(self) -> None:
        self._calls_changed.set()
        self._calls_changed = asyncio.Event()

    def _observe(self, update: JsonDict) -> None:
        """Learn chats, user messages, callback ids and blocks from an incoming update."""
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            message = update.get(key)
            if isinstance(message, dict) and "chat" in message:
                chat = message["chat"]
                self._chats[chat["id"]] = chat
                self._incoming.setdefault(chat["id"], {})[message["message_id"]] = message
        query = update.get("callback_query")
        if isinstance(query, dict):
            self._pending_callbacks.add(str(query["id"]))
        member = update.get("my_chat_member")
        if isinstance(member, dict) and member["chat"].get("type") == "private":
            chat_id = member["chat"]["id"]
            self._chats[chat_id] = member["chat"]
            if member["new_chat_member"]["status"] == "kicked":
                self.blocked_chats.add(chat_id)
            else:
                self.blocked_chats.discard(chat_id)

    # --- getUpdates and webhooks --------------------------------------------------------

    async def _get_updates(self, params: dict[str, Any]) -> list[JsonDict]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(float(params.get("timeout") or 0), MAX_POLL_WAIT)
        if isinstance(params.get("allowed_updates"), list):
            self.allowed_updates = params["allowed_updates"] or None
        if offset < 0:
            keep = list(self._updates)[offset:]
            self._updates = deque(keep)
            if keep:
                self.confirmed_offset = max(self.confirmed_offset, keep[0]["update_id"])
        elif offset > 0:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
            self.confirmed_offset = max(self.confirmed_offset, offset)

        self._poll_generation += 1
        generation = self._poll_generation
        self._pulse_updates()  # an older long poll still waiting gets 409, as on Telegram
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            ready = [u for u in self._updates if u["update_id"] >= offset and self._wanted(u)]
            if ready or self._closing:
                return copy.deepcopy(ready[:limit])
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            wakeup = self._wakeup
            try:
                await asyncio.wait_for(wakeup.wait(), remaining)
            except TimeoutError:
                pass
            if self._poll_generation != generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )

    def _wanted(self, update: JsonDict) -> bool:
        kind = next((k for k in update if k != "update_id"), None)
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in _OPT_IN_UPDATES

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> JsonDict:
        pending = len(self._updates)
        return {"url": "", "has_custom_certificate": False, "pending_update_count": pending}

    # --- bot settings -------------------------------------------------------------------

    async def _get_me(self, params: dict[str, Any]) -> JsonDict:
        return copy.deepcopy(self.bot_user)

    async def _true(self, params: dict[str, Any]) -> bool:
        return True

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH" if commands else "commands must be a list")
        for command in commands:
            name, description = command.get("command", ""), command.get("description", "")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[JsonDict]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope")
        return self.scope_key(scope if isinstance(scope, dict) else None), str(
            params.get("language_code") or ""
        )

    async def _set_chat_menu_button(self, params: dict[str, Any]) -> bool:
        chat_id = params.get("chat_id")
        self.menu_buttons[chat_id if isinstance(chat_id, int) else None] = params.get(
            "menu_button"
        ) or {"type": "default"}
        return True

    async def _get_chat_menu_button(self, params: dict[str, Any]) -> JsonDict:
        chat_id = params.get("chat_id")
        key = chat_id if isinstance(chat_id, int) else None
        button = self.menu_buttons.get(key) or self.menu_buttons.get(None)
        return copy.deepcopy(button or {"type": "commands"})

    def _set_description(self, kind: str) -> Handler:
        async def handler(params: dict[str, Any]) -> bool:
            self.descriptions[(kind, str(params.get("language_code") or ""))] = str(
                params.get(kind) or ""
            )
            return True

        return handler

    def _get_description(self, kind: str) -> Handler:
        async def handler(params: dict[str, Any]) -> JsonDict:
            return {kind: self.descriptions.get((kind, str(params.get("language_code") or "")), "")}

        return handler

    # --- sending ------------------------------------------------------------------------

    def _target_chat(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise bad_request("chat not found")
        if chat_id in self.blocked_chats:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _chat(self, chat_id: int) -> JsonDict:
        if chat_id in self._chats:
            return copy.deepcopy(self._chats[chat_id])
        if chat_id < 0:
            return {"id": chat_id, "type": "group", "title": "Test group"}
        return {"id": chat_id, "type": "private", "first_name": "Resident"}

    def _new_message(self, chat_id: int, params: dict[str, Any]) -> JsonDict:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        message: JsonDict = {
            "message_id": message_id,
            "date": int(self.clock()),
            "chat": self._chat(chat_id),
            "from": {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")},
        }
        reply_to = self._reply_to(chat_id, params)
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        self._apply_markup(chat_id, message, params.get("reply_markup"))
        return message

    def _store(self, chat_id: int, message: JsonDict) -> JsonDict:
        self._messages.setdefault(chat_id, {})[message["message_id"]] = message
        return copy.deepcopy(message)

    def _reply_to(self, chat_id: int, params: dict[str, Any]) -> JsonDict | None:
        reply = params.get("reply_parameters")
        message_id = reply.get("message_id") if isinstance(reply, dict) else None
        message_id = message_id or params.get("reply_to_message_id")
        if not isinstance(message_id, int):
            return None
        for store in (self._messages, self._incoming):
            original = store.get(chat_id, {}).get(message_id)
            if original is not None:
                original = copy.deepcopy(original)
                original.pop("reply_to_message", None)  # Telegram nests only one level
                return original
        if isinstance(reply, dict) and reply.get("allow_sending_without_reply"):
            return None
        if self._unrecorded(chat_id, message_id):
            return None  # sent with record=False: it exists, its content is not known
        raise bad_request("message to be replied not found")

    def _unrecorded(self, chat_id: int, message_id: Any) -> bool:
        """A message the bot did send but record=False did not keep."""
        return (
            not self.record
            and isinstance(message_id, int)
            and 1 <= message_id < self._next_message_id.get(chat_id, 1)
            and message_id not in self._messages.get(chat_id, {})
            and message_id not in self._incoming.get(chat_id, {})
        )

    def _apply_markup(self, chat_id: int, message: JsonDict, markup: Any) -> None:
        """Inline keyboards live on the message; reply keyboards on the chat."""
        if not isinstance(markup, dict):
            return
        if "inline_keyboard" in markup:
            for row in markup["inline_keyboard"]:
                for button in row:
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode()) <= (
                        MAX_CALLBACK_DATA_BYTES
                    ):
                        raise bad_request("BUTTON_DATA_INVALID")
            message["reply_markup"] = copy.deepcopy(markup)
        elif "keyboard" in markup:
            self._reply_keyboards[chat_id] = copy.deepcopy(markup)
        elif markup.get("remove_keyboard"):
            self._reply_keyboards.pop(chat_id, None)

    def _formatted(
        self, params: dict[str, Any], key: str, limit: int, *, required: bool
    ) -> tuple[str, list[JsonDict]] | None:
        """The plain text and entities Telegram would store for a text or caption."""
        raw = params.get(key)
        if raw is None or raw == "":
            if required:
                raise bad_request("message text is empty")
            return None
        raw = str(raw)
        if params.get("parse_mode") == "HTML":
            text, entities = parse_html(raw)
        else:
            text = raw
            given = params.get(f"{'caption_' if key == 'caption' else ''}entities")
            entities = given if isinstance(given, list) else []
        if not text.strip():
            raise bad_request("message text is empty" if key == "text" else "caption is empty")
        if utf16_len(text) > limit:
            raise bad_request(
                "message is too long" if key == "text" else "message caption is too long"
            )
        return text, entities

    def _put_text(self, message: JsonDict, key: str, formatted: tuple[str, list] | None) -> None:
        if formatted is None:
            return
        text, entities = formatted
        message[key] = text
        if entities:
            message["entities" if key == "text" else "caption_entities"] = entities

    async def _send_message(self, params: dict[str, Any]) -> JsonDict:
        chat_id = self._target_chat(params)
        formatted = self._formatted(params, "text", MAX_TEXT_LENGTH, required=True)
        message = self._new_message(chat_id, params)
        self._put_text(message, "text", formatted)
        if not self.record:
            return message  # not kept, so nobody else holds it: no copy needed
        return self._store(chat_id, message)

    def _file(self, kind: str, value: Any) -> tuple[str, str, int]:
        """A (file_id, file_unique_id, size) for an uploaded file or a file_id/URL reused."""
        n = next(self._file_ids)
        if isinstance(value, Upload):
            file_id = f"fake-{kind}-{n}"
            self.files[file_id] = value.content
            return file_id, f"u-{kind}-{n}", value["size"]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return f"fake-{kind}-{n}", f"u-{kind}-{n}", 0
        if isinstance(value, str) and value:
            return value, f"u-{value}", len(self.files.get(value, b""))
        raise bad_request(f"there is no {kind} in the request")

    async def _send_photo(self, params: dict[str, Any]) -> JsonDict:
        chat_id = self._target_chat(params)
        file_id, unique_id, size = self._file("photo", params.get("photo"))
        formatted = self._formatted(params, "caption", MAX_CAPTION_LENGTH, required=False)
        message = self._new_message(chat_id, params)
        message["photo"] = [
            {
                "file_id": f"{file_id}-s",
                "file_unique_id": f"{unique_id}-s",
                "width": 90,
                "height": 67,
                "file_size": max(size // 10, 1),
            },
            {
                "file_id": file_id,
                "file_unique_id": unique_id,
                "width": 800,
                "height": 600,
                "file_size": size,
            },
        ]
        self._put_text(message, "caption", formatted)
        return self._store(chat_id, message)

    async def _send_document(self, params: dict[str, Any]) -> JsonDict:
        chat_id = self._target_chat(params)
        upload = params.get("document")
        name = upload.get("filename") if isinstance(upload, dict) else None
        file_id, unique_id, size = self._file("document", upload)
        formatted = self._formatted(params, "caption", MAX_CAPTION_LENGTH, required=False)
        message = self._new_message(chat_id, params)
        message["document"] = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_name": name or "document",
            "file_size": size,
        }
        if isinstance(upload, dict) and upload.get("content_type"):
            message["document"]["mime_type"] = upload["content_type"]
        self._put_text(message, "caption", formatted)
        return self._store(chat_id, message)

    async def _send_location(self, params: dict[str, Any]) -> JsonDict:
        chat_id = self._target_chat(params)
        lat, lon = params.get("latitude"), params.get("longitude")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            raise bad_request("wrong latitude or longitude")
        message = self._new_message(chat_id, params)
        message["location"] = {"latitude": float(lat), "longitude": float(lon)}
        return self._store(chat_id, message)

    async def _send_poll(self, params: dict[str, Any]) -> JsonDict:
        chat_id = self._target_chat(params)
        question = str(params.get("question") or "")
        options = params.get("options")
        if not 1 <= len(question) <= 300:
            raise bad_request(
                "POLL_QUESTION_INVALID" if question else "poll question must be non-empty"
            )
        if not isinstance(options, list) or len(options) < 2:
            raise bad_request("poll must have at least 2 option")
        if len(options) > 12:
            raise bad_request("poll can't have more than 12 options")
        texts = [o.get("text", "") if isinstance(o, dict) else str(o) for o in options]
        if any(not 1 <= len(t) <= 100 for t in texts):
            raise bad_request("POLL_OPTION_INVALID")
        message = self._new_message(chat_id, params)
        poll_id = str(5_000_000_000 + next(self._file_ids))
        poll: JsonDict = {
            "id": poll_id,
            "question": question,
            "options": [
                {"text": t, "voter_count": 0, "persistent_id": str(i)} for i, t in enumerate(texts)
            ],
            "total_voter_count": 0,
            "is_closed": bool(params.get("is_closed", False)),
            "is_anonymous": bool(params.get("is_anonymous", True)),
            "type": params.get("type") or "regular",
            "allows_multiple_answers": bool(params.get("allows_multiple_answers", False)),
            "allows_revoting": bool(params.get("allows_revoting", True)),
            "members_only": bool(params.get("members_only", False)),
        }
        message["poll"] = poll
        self.polls[poll_id] = poll
        self._poll_by_message[(chat_id, message["message_id"])] = poll_id
        self._store(chat_id, message)
        return copy.deepcopy(message)

    async def _stop_poll(self, params: dict[str, Any]) -> JsonDict:
        chat_id = self._target_chat(params)
        poll_id = self._poll_by_message.get((chat_id, params.get("message_id")))  # type: ignore[arg-type]
        if poll_id is None:
            raise bad_request("poll not found")
        poll = self.polls[poll_id]
        if poll["is_closed"]:
            raise bad_request("poll has already been closed")
        poll["is_closed"] = True
        message = self._messages[chat_id][params["message_id"]]
        message["poll"] = poll
        if "reply_markup" in params:
            message.pop("reply_markup", None)
            self._apply_markup(chat_id, message, params["reply_markup"])
        return copy.deepcopy(poll)

    async def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self._target_chat(params)
        return True

    # --- editing ------------------------------------------------------------------------

    def _editable(self, params: dict[str, Any]) -> tuple[int, JsonDict] | None:
        """The stored message an edit targets; None for inline messages (answer True)."""
        if params.get("inline_message_id"):
            return None
        chat_id = self._target_chat(params)
        message = self._messages.get(chat_id, {}).get(params.get("message_id"))  # type: ignore[arg-type]
        if message is None and self._unrecorded(chat_id, params.get("message_id")):
            # Sent with record=False: edit a stand-in text message; it is kept from now on,
            # and "not modified" can only be told from the second edit on.
            message = self._new_message(chat_id, {})
            self._next_message_id[chat_id] -= 1
            message["message_id"] = params["message_id"]
            message["text"] = "\u200b"  # unknown content; differs from any real edit
            self._messages.setdefault(chat_id, {})[params["message_id"]] = message
        if message is None:
            if params.get("message_id") in self._incoming.get(chat_id, {}):
                raise bad_request("message can't be edited")
            raise bad_request("message to edit not found")
        return chat_id, message

    def _finish_edit(self, chat_id: int, message: JsonDict, edited: JsonDict) -> JsonDict:
        if edited == message:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        edited["edit_date"] = int(self.clock())
        self._messages[chat_id][message["message_id"]] = edited
        return copy.deepcopy(edited)

    def _with_markup(self, chat_id: int, message: JsonDict, params: dict[str, Any]) -> JsonDict:
        """A copy of the message with the edit's markup; no markup removes the keyboard."""
        edited = copy.deepcopy(message)
        edited.pop("edit_date", None)
        edited.pop("reply_markup", None)
        self._apply_markup(chat_id, edited, params.get("reply_markup"))
        return edited

    async def _edit_message_text(self, params: dict[str, Any]) -> JsonDict | bool:
        target = self._editable(params)
        formatted = self._formatted(params, "text", MAX_TEXT_LENGTH, required=True)
        if target is None:
            return True
        chat_id, message = target
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        edited = self._with_markup(chat_id, message, params)
        edited.pop("entities", None)
        self._put_text(edited, "text", formatted)
        return self._finish_edit(chat_id, self._comparable(message), edited)

    async def _edit_message_caption(self, params: dict[str, Any]) -> JsonDict | bool:
        target = self._editable(params)
        formatted = self._formatted(params, "caption", MAX_CAPTION_LENGTH, required=False)
        if target is None:
            return True
        chat_id, message = target
        if "text" in message:
            raise bad_request("there is no caption in the message to edit")
        edited = self._with_markup(chat_id, message, params)
        edited.pop("caption", None)
        edited.pop("caption_entities", None)
        self._put_text(edited, "caption", formatted)
        return self._finish_edit(chat_id, self._comparable(message), edited)

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> JsonDict | bool:
        target = self._editable(params)
        if target is None:
            return True
        chat_id, message = target
        edited = self._with_markup(chat_id, message, params)
        return self._finish_edit(chat_id, self._comparable(message), edited)

    @staticmethod
    def _comparable(message: JsonDict) -> JsonDict:
        stored = copy.deepcopy(message)
        stored.pop("edit_date", None)
        return stored

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        chat_id = self._target_chat(params)
        message_id = params.get("message_id")
        for store in (self._messages, self._incoming):
            if store.get(chat_id, {}).pop(message_id, None) is not None:  # type: ignore[arg-type]
                return True
        raise bad_request("message to delete not found")

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._pending_callbacks:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._pending_callbacks.discard(query_id)
        self.answered_callbacks[query_id] = dict(params)
        return True

    async def _get_file(self, params: dict[str, Any]) -> JsonDict:
        file_id = str(params.get("file_id") or "")
        if not file_id:
            raise bad_request("file_id is empty")
        content = self.files.get(file_id, b"fake file " + file_id.encode())
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(content),
            "file_path": f"files/{file_id}",
        }


async def _decode_params(request: web.Request) -> dict[str, Any]:
    """Decode PTB's form fields (or a JSON body) back into Python values."""
    fields: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            fields.update(body)
    elif request.can_read_body:
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                content = value.file.read()
                fields[name] = Upload(
                    filename=value.filename, size=len(content), content_type=value.content_type
                )
                fields[name].content = content
            else:
                fields[name] = value
    params: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, str) and name not in RAW_STRING_PARAMS:
            try:
                value = json.loads(value)
            except ValueError:
                pass
        params[name] = value
    return params


def _json(body: JsonDict, status: int) -> web.Response:
    return web.json_response(body, status=status)
