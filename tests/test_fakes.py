"""The fakes speak the real libraries' protocols: PTB's Bot and Application, geopy's Nominatim.

If these pass, a failure in a bot test is about the bot, not about the stand-ins.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import geopy.adapters
import geopy.exc
import pytest
import telegram
from geopy.geocoders import Nominatim
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.bot_api import FakeBotAPI, TelegramLimits, parse_html
from tests.fakes.nominatim import FakeNominatim
from tests.fakes.users import SimUser

RESIDENT = 4242


@pytest.fixture
def api(fake_api: FakeBotAPI) -> FakeBotAPI:
    return fake_api


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(
        FakeBotAPI.TOKEN, base_url=api.base_url, base_file_url=api.base_file_url
    ) as real_bot:
        yield real_bot


@pytest.fixture
def nominatim(fake_nominatim: FakeNominatim) -> FakeNominatim:
    fake_nominatim.add(
        "Mill Road,  Cambridge", 52.1986, 0.1429, "Mill Road, Petersfield, Cambridge"
    )
    return fake_nominatim


def geocoder(fake: FakeNominatim, *, timeout: float = 2.0) -> Nominatim:
    return Nominatim(
        domain=fake.domain,
        scheme="http",
        user_agent="wardvoice-tests",
        adapter_factory=geopy.adapters.AioHTTPAdapter,
        timeout=timeout,
    )


# --- Bot API: the plain Bot ---------------------------------------------------------------


async def test_bot_learns_who_it_is_from_get_me(bot: telegram.Bot, api: FakeBotAPI) -> None:
    me = await bot.get_me()
    assert me.username == "WardVoiceTestBot"
    assert me.id == 123456
    assert bot.username == "WardVoiceTestBot"
    assert [c.method for c in api.calls] == ["getMe", "getMe"]  # initialize() asks once too


async def test_inline_keyboard_is_recorded_decoded(bot: telegram.Bot, api: FakeBotAPI) -> None:
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Yes", callback_data="vote:1"),
                InlineKeyboardButton("No", callback_data="vote:0"),
            ]
        ]
    )
    sent = await bot.send_message(RESIDENT, "Is the bin fixed?", reply_markup=markup)

    call = api.calls_to(RESIDENT, method="sendMessage")[-1]
    assert call.chat_id == RESIDENT
    assert call.text == "Is the bin fixed?"
    assert call.buttons == [
        [{"text": "Yes", "callback_data": "vote:1"}, {"text": "No", "callback_data": "vote:0"}]
    ]
    assert sent.reply_markup == markup
    assert sent.message_id == 1
    assert sent.from_user is not None and sent.from_user.is_bot
    assert api.messages(RESIDENT)[-1]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Yes"


async def test_text_that_looks_like_json_stays_a_string(bot: telegram.Bot, api: FakeBotAPI) -> None:
    await bot.send_message(RESIDENT, "42")
    await bot.send_message(RESIDENT, "null")
    assert [c.params["text"] for c in api.calls_to(RESIDENT)] == ["42", "null"]
    assert [m["text"] for m in api.messages(RESIDENT)] == ["42", "null"]


async def test_html_is_parsed_to_plain_text_and_entities(
    bot: telegram.Bot, api: FakeBotAPI
) -> None:
    sent = await bot.send_message(
        RESIDENT, "<b>Ward 7</b> &amp; O&#x27;Brien&#x27;s &lt;road&gt;", parse_mode=ParseMode.HTML
    )
    assert sent.text == "Ward 7 & O'Brien's <road>"
    assert sent.entities[0].type == "bold"
    assert (sent.entities[0].offset, sent.entities[0].length) == (0, 6)
    assert api.calls[-1].text == "<b>Ward 7</b> &amp; O&#x27;Brien&#x27;s &lt;road&gt;"


async def test_unescaped_user_text_in_html_is_rejected_like_telegram(bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match="parse entities"):
        await bot.send_message(RESIDENT, "Potholes <everywhere>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="parse entities"):
        await bot.send_message(RESIDENT, "<b>unclosed", parse_mode=ParseMode.HTML)


def test_html_entities_are_measured_in_utf16_like_telegram() -> None:
    text, entities = parse_html("🏠 <i>home</i>")
    assert text == "🏠 home"
    assert entities == [{"type": "italic", "offset": 3, "length": 4}]


async def test_over_long_text_and_callback_data_are_rejected(bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(RESIDENT, "x" * 4097)
    too_big = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(RESIDENT, "hi", reply_markup=too_big)


async def test_edit_changes_what_the_chat_shows(bot: telegram.Bot, api: FakeBotAPI) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Undo", callback_data="undo")]])
    sent = await bot.send_message(RESIDENT, "Saved", reply_markup=keyboard)

    edited = await bot.edit_message_text("Saved ✔", chat_id=RESIDENT, message_id=sent.message_id)

    assert isinstance(edited, telegram.Message)
    assert edited.text == "Saved ✔"
    assert edited.edit_date is not None
    [shown] = api.messages(RESIDENT)
    assert shown["text"] == "Saved ✔"
    assert "reply_markup" not in shown  # Telegram drops the keyboard unless it is re-sent
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("Saved ✔", chat_id=RESIDENT, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="not found"):
        await bot.edit_message_text("x", chat_id=RESIDENT, message_id=999)


async def test_keyboard_edits_and_deletes_update_the_chat(
    bot: telegram.Bot, api: FakeBotAPI
) -> None:
    sent = await bot.send_message(RESIDENT, "Pick one")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    await bot.edit_message_reply_markup(RESIDENT, sent.message_id, reply_markup=keyboard)
    assert api.messages(RESIDENT)[0]["reply_markup"] == keyboard.to_dict()

    assert await bot.delete_message(RESIDENT, sent.message_id) is True
    assert api.messages(RESIDENT) == []
    with pytest.raises(BadRequest, match="not found"):
        await bot.delete_message(RESIDENT, sent.message_id)


async def test_reply_keyboard_lives_on_the_chat_not_the_message(
    bot: telegram.Bot, api: FakeBotAPI
) -> None:
    share = ReplyKeyboardMarkup([[KeyboardButton("Share location", request_location=True)]])
    await bot.send_message(RESIDENT, "Where is it?", reply_markup=share)
    assert api.calls[-1].buttons == [[{"text": "Share location", "request_location": True}]]
    assert api.reply_keyboard(RESIDENT)[0][0]["text"] == "Share location"
    assert "reply_markup" not in api.messages(RESIDENT)[-1]

    await bot.send_message(RESIDENT, "Thanks", reply_markup=ReplyKeyboardRemove())
    assert api.reply_keyboard(RESIDENT) == []


async def test_photo_upload_records_file_name_and_size(bot: telegram.Bot, api: FakeBotAPI) -> None:
    picture = b"\x89PNG\r\n\x1a\n" + bytes(1000)
    sent = await bot.send_photo(RESIDENT, picture, caption="<i>Before</i>", parse_mode="HTML")

    call = api.calls[-1]
    assert call.method == "sendPhoto"
    assert call.params["photo"]["size"] == len(picture)
    assert call.params["photo"]["filename"]
    assert call.text == "<i>Before</i>"
    assert sent.caption == "Before"
    assert sent.photo[-1].file_size == len(picture)
    downloaded = await (await bot.get_file(sent.photo[-1].file_id)).download_as_bytearray()
    assert bytes(downloaded) == picture


async def test_documents_locations_and_polls_come_back_as_messages(
    bot: telegram.Bot, api: FakeBotAPI
) -> None:
    document = await bot.send_document(RESIDENT, b"ward,score\n7,3\n", filename="export.csv")
    assert document.document is not None and document.document.file_name == "export.csv"
    assert api.calls[-1].params["document"]["filename"] == "export.csv"

    location = await bot.send_location(RESIDENT, 52.2, 0.12)
    assert location.location is not None and location.location.latitude == 52.2

    poll_message = await bot.send_poll(
        RESIDENT, "Which first?", ["Bins", "Lights"], is_anonymous=False
    )
    assert poll_message.poll is not None and poll_message.poll.options[1].text == "Lights"
    assert api.calls[-1].params["options"] == [{"text": "Bins"}, {"text": "Lights"}]
    stopped = await bot.stop_poll(RESIDENT, poll_message.message_id)
    assert stopped.is_closed
    assert api.polls[stopped.id]["is_closed"]
    assert [m["message_id"] for m in api.messages(RESIDENT)] == [1, 2, 3]

    assert await bot.send_chat_action(RESIDENT, "typing") is True


async def test_commands_are_kept_per_scope_and_language(bot: telegram.Bot, api: FakeBotAPI) -> None:
    welsh = [BotCommand("dechrau", "Dechrau"), BotCommand("help", "Help")]
    scope = BotCommandScopeChat(RESIDENT)
    await bot.set_my_commands(welsh, scope=scope, language_code="cy")
    await bot.set_my_commands([BotCommand("start", "Start")])

    assert api.commands_for({"type": "chat", "chat_id": RESIDENT}, "cy")[0]["command"] == "dechrau"
    assert api.commands[(FakeBotAPI.scope_key(None), "")] == [
        {"command": "start", "description": "Start"}
    ]
    got = await bot.get_my_commands(scope=scope, language_code="cy")
    assert [c.command for c in got] == ["dechrau", "help"]
    assert await bot.get_my_commands(language_code="fr") == ()
    await bot.delete_my_commands(scope=scope, language_code="cy")
    assert api.commands_for({"type": "chat", "chat_id": RESIDENT}, "cy") == []
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])


async def test_profile_settings_are_accepted(bot: telegram.Bot, api: FakeBotAPI) -> None:
    assert await bot.set_my_description("Tell your ward panel", language_code="en")
    assert await bot.set_my_short_description("You said, we did")
    assert await bot.set_chat_menu_button(RESIDENT, telegram.MenuButtonCommands())
    assert (await bot.get_my_description(language_code="en")).description == "Tell your ward panel"
    assert api.menu_buttons[RESIDENT] == {"type": "commands"}
    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.log_out()


async def test_blocked_chat_gets_forbidden(bot: telegram.Bot, api: FakeBotAPI) -> None:
    api.blocked_chats.add(RESIDENT)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(RESIDENT, "Your digest")
    assert api.calls[-1].status == 403
    assert api.messages(RESIDENT) == []


async def test_flood_limit_raises_retry_after_with_its_seconds(
    bot: telegram.Bot, api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PTB_TIMEDELTA, constructing RetryAfter itself emits a PTBDeprecationWarning,
    # which this suite's filterwarnings=error turns into the exception instead.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    api.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 7", retry_after=7
    )

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(RESIDENT, "one")
    assert caught.value.retry_after.total_seconds() == 7  # type: ignore[union-attr]
    assert (await bot.send_message(RESIDENT, "two")).text == "two"  # only the next call fails
    assert [c.status for c in api.calls_to(RESIDENT)] == [429, 200]


async def test_server_error_raises_a_network_error(bot: telegram.Bot, api: FakeBotAPI) -> None:
    api.fail_next("sendMessage", status=500, description="Internal Server Error", times=2)
    for _ in range(2):
        with pytest.raises(NetworkError) as caught:
            await bot.send_message(RESIDENT, "x")
        assert not isinstance(caught.value, BadRequest)  # BadRequest is a NetworkError too
    await bot.send_message(RESIDENT, "x")


async def test_wrong_token_and_unknown_method_are_refused(
    bot: telegram.Bot, api: FakeBotAPI
) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": RESIDENT})
    other = telegram.Bot("999:WRONG", base_url=api.base_url)
    with pytest.raises(InvalidToken, match="rejected"):
        await other.initialize()  # not get_me(): shutdown() only closes an initialized Bot
    await other.shutdown()


async def test_latency_delays_every_answer(bot: telegram.Bot, api: FakeBotAPI) -> None:
    api.latency = 0.2
    started = time.monotonic()
    await bot.send_message(RESIDENT, "slow")
    assert time.monotonic() - started >= 0.2


# --- getUpdates ---------------------------------------------------------------------------


async def test_get_updates_hands_out_updates_until_acknowledged(
    bot: telegram.Bot, api: FakeBotAPI
) -> None:
    sam = SimUser(RESIDENT)
    first = api.push_update(sam.message("hello"))
    second = api.push_update(sam.message("again"))
    assert second == first + 1

    updates = await bot.get_updates(offset=0, timeout=0)
    assert [u.update_id for u in updates] == [first, second]
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first, second]

    assert await bot.get_updates(offset=second + 1, timeout=0) == ()
    assert api.confirmed_offset == second + 1
    assert api.pending_updates() == []


async def test_long_poll_wakes_as_soon_as_an_update_is_pushed(
    bot: telegram.Bot, api: FakeBotAPI
) -> None:
    sam = SimUser(RESIDENT)
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.sleep(0.05)
    assert not poll.done()
    started = time.monotonic()
    api.push_update(sam.message("hi"))
    updates = await asyncio.wait_for(poll, 1)
    assert time.monotonic() - started < 0.5
    assert updates[0].message is not None and updates[0].message.text == "hi"


async def test_long_poll_gives_up_after_the_capped_timeout(bot: telegram.Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=30) == ()
    assert 0.9 < time.monotonic() - started < 2.0


async def test_a_second_poller_terminates_the_first_with_conflict(
    bot: telegram.Bot, api: FakeBotAPI
) -> None:
    # A second Bot: one Bot's getUpdates connection pool holds a single connection, so its
    # own calls queue behind each other instead of overlapping.
    async with telegram.Bot(FakeBotAPI.TOKEN, base_url=api.base_url) as second_instance:
        first = asyncio.create_task(bot.get_updates(timeout=30))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(second_instance.get_updates(timeout=30))
        with pytest.raises(Conflict, match="only one bot instance"):
            await first
        api.push_update(SimUser(RESIDENT).message("hi"))
        assert len(await second) == 1


async def test_updates_outside_allowed_updates_are_not_delivered(
    bot: telegram.Bot, api: FakeBotAPI
) -> None:
    sam = SimUser(RESIDENT)
    api.push_update(sam.callback("x", message={"message_id": 1, "date": 0, "chat": sam.chat}))
    wanted = api.push_update(sam.message("hi"))
    updates = await bot.get_updates(timeout=0, allowed_updates=["message"])
    assert [u.update_id for u in updates] == [wanted]


async def test_a_callback_query_can_be_answered_once(bot: telegram.Bot, api: FakeBotAPI) -> None:
    press = SimUser(RESIDENT).callback(
        "x", message={"message_id": 1, "date": 0, "chat": {"id": RESIDENT, "type": "private"}}
    )
    api.push_update(press)
    query_id = press["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id, "Thanks")
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)
    assert api.answered_callbacks[query_id]["text"] == "Thanks"


async def test_blocking_the_bot_marks_the_chat_blocked(api: FakeBotAPI) -> None:
    sam = SimUser(RESIDENT)
    api.push_update(sam.my_chat_member(blocked=True))
    assert RESIDENT in api.blocked_chats
    api.push_update(sam.my_chat_member(blocked=False))
    assert RESIDENT not in api.blocked_chats


# --- simulated users ----------------------------------------------------------------------

BUILDERS: dict[str, tuple[Callable[[SimUser], dict], Callable[[Update], object]]] = {
    "message": (lambda u: u.message("Bins not collected"), lambda up: up.message.text),
    "location": (lambda u: u.location(52.2, 0.12), lambda up: up.message.location),
    "sticker": (lambda u: u.sticker(), lambda up: up.message.sticker),
    "photo": (lambda u: u.photo("broken lamp"), lambda up: up.message.photo),
    "document": (lambda u: u.document(), lambda up: up.message.document),
    "voice": (lambda u: u.voice(), lambda up: up.message.voice),
    "contact": (lambda u: u.contact(), lambda up: up.message.contact),
    "edited": (lambda u: u.edited_message("fixed typo"), lambda up: up.edited_message.edit_date),
    "poll_answer": (lambda u: u.poll_answer("77", [1]), lambda up: up.poll_answer.option_ids),
    "blocked": (
        lambda u: u.my_chat_member(blocked=True),
        lambda up: up.my_chat_member.new_chat_member.status == "kicked",
    ),
    "unblocked": (
        lambda u: u.my_chat_member(blocked=False),
        lambda up: up.my_chat_member.new_chat_member.status == "member",
    ),
}


@pytest.mark.parametrize("kind", list(BUILDERS))
async def test_every_simulated_update_parses_as_its_kind(bot: telegram.Bot, kind: str) -> None:
    build, payload = BUILDERS[kind]
    sam = SimUser(RESIDENT, first_name="Sam", language_code="cy", clock=lambda: 1_700_000_000.0)
    update = Update.de_json({"update_id": 1, **build(sam)}, bot)
    assert payload(update)
    assert update.effective_user is not None and update.effective_user.id == RESIDENT
    assert update.effective_user.language_code == "cy"
    if update.effective_message is not None:
        assert update.effective_message.message_id >= 10_000
        assert update.effective_message.date.timestamp() == 1_700_000_000
        assert update.effective_chat is not None and update.effective_chat.type == "private"


async def test_a_command_carries_its_bot_command_entity(bot: telegram.Bot) -> None:
    update = Update.de_json(
        {"update_id": 1, **SimUser(RESIDENT).message("/report@WardVoiceTestBot bins")}, bot
    )
    assert update.message is not None
    assert update.message.parse_entities(["bot_command"]) == {
        update.message.entities[0]: "/report@WardVoiceTestBot"
    }


async def test_a_button_press_parses_with_the_pressed_message(
    bot: telegram.Bot, api: FakeBotAPI
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    await bot.send_message(RESIDENT, "Sure?", reply_markup=markup)
    sam = SimUser(RESIDENT)
    first = sam.callback("yes", message=api.messages(RESIDENT)[-1])
    second = sam.callback("yes", message=api.messages(RESIDENT)[-1])
    assert first["callback_query"]["id"] != second["callback_query"]["id"]
    query = Update.de_json({"update_id": 1, **first}, bot).callback_query
    assert query is not None and query.data == "yes"
    assert query.message is not None and query.message.text == "Sure?"


# --- a real Application -------------------------------------------------------------------


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


async def press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("Noted")
    await query.edit_message_text(f"You chose {query.data}")


async def test_application_answers_a_resident_and_stops_quickly(api: FakeBotAPI) -> None:
    errors: list[object] = []

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    app = (
        ApplicationBuilder()
        .token(FakeBotAPI.TOKEN)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(press))
    app.add_error_handler(on_error)
    sam = SimUser(RESIDENT)

    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        mark = len(api.calls)
        api.push_update(sam.message("The streetlight is out"))
        reply = await api.wait_for_call(RESIDENT, method="sendMessage", since=mark)
        assert reply.text == "The streetlight is out"

        await app.bot.send_message(
            RESIDENT, "Which?", reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("Lights", callback_data="lights")]]
            )
        )  # fmt: skip
        mark = len(api.calls)
        api.push_update(sam.callback("lights", message=api.messages(RESIDENT)[-1]))
        await api.wait_for_call(RESIDENT, method="editMessageText", since=mark)
        assert api.messages(RESIDENT)[-1]["text"] == "You chose lights"
        assert next(iter(api.answered_callbacks.values()))["text"] == "Noted"
    finally:
        started = time.monotonic()
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        stopping = time.monotonic() - started
    assert stopping < 2
    assert errors == []
    assert api.pending_updates() == []  # the shutdown getUpdates acknowledged everything


# --- Nominatim ----------------------------------------------------------------------------


async def test_geopy_finds_a_known_place(nominatim: FakeNominatim) -> None:
    async with geocoder(nominatim) as geo:
        place = await geo.geocode("  mill road,   CAMBRIDGE ", country_codes="gb")
    assert place is not None
    assert (place.latitude, place.longitude) == (52.1986, 0.1429)
    assert place.address == "Mill Road, Petersfield, Cambridge"
    assert nominatim.requests[-1]["q"] == "  mill road,   CAMBRIDGE "
    assert nominatim.requests[-1]["countrycodes"] == "gb"


async def test_geopy_gets_none_for_an_unknown_place(nominatim: FakeNominatim) -> None:
    async with geocoder(nominatim) as geo:
        assert await geo.geocode("Atlantis") is None
        assert await geo.reverse((52.2, 0.12)) is None


async def test_geopy_raises_a_service_error_when_nominatim_fails(
    nominatim: FakeNominatim,
) -> None:
    nominatim.fail_with = 500
    async with geocoder(nominatim) as geo:
        with pytest.raises(geopy.exc.GeocoderServiceError):
            await geo.geocode("Mill Road Cambridge")
    nominatim.fail_with = 429
    async with geocoder(nominatim) as geo:
        with pytest.raises(geopy.exc.GeocoderRateLimited):
            await geo.geocode("Mill Road Cambridge")


async def test_geopy_times_out_on_a_slow_nominatim(nominatim: FakeNominatim) -> None:
    nominatim.delay = 0.5
    async with geocoder(nominatim, timeout=0.1) as geo:
        with pytest.raises(geopy.exc.GeocoderTimedOut):
            await geo.geocode("Mill Road Cambridge")


# --- Bot API: Telegram's flood limits and the benchmark counters ---------------------------
# Raw aiohttp POSTs (form fields, as PTB sends them) keep these fast and exact about timing.


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def limited() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI(limits=TelegramLimits())
    await server.start()
    yield server
    await server.stop()


async def call_api(
    http: aiohttp.ClientSession, api: FakeBotAPI, method: str, **params: Any
) -> tuple[int, dict]:
    """POST one Bot API call as form fields; (HTTP status, decoded answer)."""
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    async with http.post(f"{api.base_url}{FakeBotAPI.TOKEN}/{method}", data=form) as response:
        return response.status, await response.json()


async def send(
    http: aiohttp.ClientSession, api: FakeBotAPI, chat_id: int, text: str = "hi"
) -> tuple[int, dict]:
    return await call_api(http, api, "sendMessage", chat_id=chat_id, text=text, parse_mode="HTML")


async def fill_the_second(http: aiohttp.ClientSession, api: FakeBotAPI) -> dict:
    """30 sends to 30 chats, then a 31st within the same second; the 31st's answer."""
    started = time.monotonic()
    for chat in range(1, 31):
        assert (await send(http, api, chat))[0] == 200
    status, body = await send(http, api, 31)
    assert time.monotonic() - started < 1.0, "too slow to test the one-second window"
    assert status == 429
    return body


async def test_the_31st_send_in_a_second_gets_429_with_retry_after(
    http: aiohttp.ClientSession, limited: FakeBotAPI
) -> None:
    body = await fill_the_second(http, limited)

    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    assert limited.rejected_429 == 1
    assert limited.violations == 0
    assert (limited.calls[-1].method, limited.calls[-1].status) == ("sendMessage", 429)
    assert limited.sent_total == 30
    assert 31 not in limited.delivered


async def test_calls_that_send_nothing_are_not_limited(
    http: aiohttp.ClientSession, limited: FakeBotAPI
) -> None:
    await fill_the_second(http, limited)
    for _ in range(5):
        assert (await call_api(http, limited, "getMe"))[0] == 200
        assert (await call_api(http, limited, "sendChatAction", chat_id=1, action="typing"))[
            0
        ] == 200
    assert limited.violations == 0


async def test_a_client_that_waits_retry_after_is_accepted(
    http: aiohttp.ClientSession, limited: FakeBotAPI
) -> None:
    body = await fill_the_second(http, limited)
    await asyncio.sleep(body["parameters"]["retry_after"])

    assert (await send(http, limited, 31))[0] == 200
    assert limited.violations == 0
    assert limited.rejected_429 == 1
    assert limited.max_sends_in_any_second() == 30


async def test_a_client_that_ignores_retry_after_waits_twice_as_long(
    http: aiohttp.ClientSession, limited: FakeBotAPI
) -> None:
    await fill_the_second(http, limited)

    status, body = await send(http, limited, 32)  # to another chat: the limit is the bot's
    assert status == 429
    assert body["parameters"] == {"retry_after": 2}
    assert body["description"] == "Too Many Requests: retry after 2"
    assert limited.violations == 1
    assert limited.rejected_429 == 2
    status, body = await send(http, limited, 33)
    assert (status, body["parameters"]["retry_after"], limited.violations) == (429, 4, 2)


async def test_the_doubled_wait_is_capped_at_30_seconds(
    http: aiohttp.ClientSession, limited: FakeBotAPI
) -> None:
    await fill_the_second(http, limited)
    waits = [(await send(http, limited, 40))[1]["parameters"]["retry_after"] for _ in range(6)]
    assert waits == [2, 4, 8, 16, 30, 30]
    assert limited.violations == 6


async def test_a_send_already_on_its_way_is_refused_without_a_penalty(
    http: aiohttp.ClientSession, limited: FakeBotAPI
) -> None:
    limited.latency = 0.3  # all 32 reach the server before the 31st is answered 429
    answers = await asyncio.gather(*(send(http, limited, chat) for chat in range(1, 33)))
    limited.latency = 0.0

    assert sorted(status for status, _ in answers) == [200] * 30 + [429] * 2
    assert all(
        body["parameters"] == {"retry_after": 1} for status, body in answers if status != 200
    )
    assert (limited.violations, limited.rejected_429) == (0, 2)
    status, body = await send(http, limited, 33)  # sent after the 429 it got: ignores it
    assert (status, body["parameters"], limited.violations) == (429, {"retry_after": 2}, 1)


async def test_a_chat_gets_a_short_burst_then_429(
    http: aiohttp.ClientSession, limited: FakeBotAPI
) -> None:
    for text in ("one", "two", "three"):
        assert (await send(http, limited, RESIDENT, text))[0] == 200
    status, body = await send(http, limited, RESIDENT, "four")
    # Three sends may take up to three seconds at one a second: the wait told covers that.
    assert (status, body["parameters"]) == (429, {"retry_after": 3})
    edit = await call_api(
        http, limited, "editMessageText", chat_id=RESIDENT, message_id=1, text="uno"
    )
    assert edit[0] == 429  # edits are sends too, and this one ignored the wait
    assert limited.violations == 1
    assert (await send(http, limited, RESIDENT + 1))[0] == 200  # other chats are not held
    assert limited.delivered[RESIDENT] == 3


async def test_a_chat_that_waits_out_its_burst_is_accepted(
    http: aiohttp.ClientSession, limited: FakeBotAPI
) -> None:
    limited.limits = TelegramLimits(per_chat_per_second=3.0, per_chat_burst=3)  # 3 per second
    for _ in range(3):
        assert (await send(http, limited, RESIDENT))[0] == 200
    status, body = await send(http, limited, RESIDENT)
    assert (status, body["parameters"]) == (429, {"retry_after": 1})
    await asyncio.sleep(1)
    assert (await send(http, limited, RESIDENT))[0] == 200
    assert (limited.violations, limited.rejected_429, limited.sent_total) == (0, 1, 4)


async def test_limits_can_be_switched_off_and_on_while_serving(
    http: aiohttp.ClientSession, api: FakeBotAPI
) -> None:
    for _ in range(5):
        assert (await send(http, api, RESIDENT))[0] == 200  # no limits by default
    api.limits = TelegramLimits()
    assert (await send(http, api, RESIDENT + 1))[0] == 200
    assert (await send(http, api, 7))[0] == 200
    api.limits = TelegramLimits(overall_per_second=7)  # the 5 + 2 sends of this second count
    assert (await send(http, api, 8))[0] == 429
    api.limits = None
    assert (await send(http, api, 8))[0] == 200
    assert api.rejected_429 == 1


async def test_max_sends_in_any_second_uses_a_sliding_window(
    http: aiohttp.ClientSession, api: FakeBotAPI
) -> None:
    assert api.max_sends_in_any_second() == 0
    for chat in range(4):
        await send(http, api, chat)
    await asyncio.sleep(0.6)
    for chat in range(3):
        await send(http, api, chat)
    await asyncio.sleep(0.6)  # the first four are out of any second with the last two
    for chat in range(2):
        await send(http, api, chat)
    await call_api(http, api, "getMe")  # not a send
    await send(http, api, 1, "<b>unclosed")  # refused with 400: not accepted

    assert api.max_sends_in_any_second() == 7
    assert api.sent_total == 9


def test_max_sends_in_any_second_counts_a_window_of_under_one_second() -> None:
    api = FakeBotAPI()
    api._send_times.extend([0.0, 0.5, 0.999, 1.0, 1.4, 1.5, 1.9, 3.0])
    # (0.0, 1.0] excludes 0.0: 0.5..1.4 and 1.0..1.9 each hold 4; 0.5..1.5 holds 5.
    assert api.max_sends_in_any_second() == 5


async def test_without_record_only_the_counters_are_kept(http: aiohttp.ClientSession) -> None:
    api = FakeBotAPI(record=False)
    await api.start()
    try:
        ids = [
            (await send(http, api, RESIDENT, f"n{i}"))[1]["result"]["message_id"] for i in range(3)
        ]
        await send(http, api, RESIDENT + 1)
        status, _ = await send(http, api, RESIDENT, "<i>oops")
        # A bot edits and replies to messages it sent: still accepted, though not kept.
        async with telegram.Bot(FakeBotAPI.TOKEN, base_url=api.base_url) as bot:
            edited = await bot.edit_message_text("n1, edited", RESIDENT, ids[1])
            reply = await bot.send_message(RESIDENT, "re", reply_to_message_id=ids[0])
            with pytest.raises(BadRequest, match="essage to edit not found"):
                await bot.edit_message_text("never sent", RESIDENT, 99)
    finally:
        await api.stop()

    assert ids == [1, 2, 3]
    assert status == 400
    assert edited.text == "n1, edited"  # type: ignore[union-attr]
    assert reply.message_id == 4
    assert api.delivered == {RESIDENT: 4, RESIDENT + 1: 1}
    assert api.sent_total == 5
    # Only failures of sendMessage are recorded (the bad HTML); the Bot's own calls are.
    assert [(c.method, c.status) for c in api.calls if c.method == "sendMessage"] == [
        ("sendMessage", 400)
    ]
    assert "editMessageText" in [c.method for c in api.calls]
    assert [m["message_id"] for m in api.messages(RESIDENT)] == [2]  # only the edited one


async def test_recording_keeps_calls_and_counts_delivered(
    http: aiohttp.ClientSession, api: FakeBotAPI
) -> None:
    await send(http, api, RESIDENT)
    await send(http, api, RESIDENT)
    assert api.delivered == {RESIDENT: 2}
    assert len(api.calls_to(RESIDENT, method="sendMessage")) == 2
    assert len(api.messages(RESIDENT)) == 2


async def test_stats_and_reset_over_http(http: aiohttp.ClientSession, limited: FakeBotAPI) -> None:
    for chat in [5, 5, *range(6, 34)]:  # 30 sends, chat 5 twice
        await send(http, limited, chat)
    assert (await send(http, limited, 40))[0] == 429
    assert (await send(http, limited, 40))[0] == 429  # a violation
    root = limited.base_url.removesuffix("/bot")

    async with http.get(f"{root}/stats") as response:
        assert response.status == 200
        stats = await response.json()
    assert stats == limited.stats()
    assert {k: stats[k] for k in ("sent_total", "rejected_429", "violations")} == {
        "sent_total": 30,
        "rejected_429": 2,
        "violations": 1,
    }
    assert stats["max_sends_in_any_second"] == 30
    assert (stats["duplicates"], stats["chats"]) == (1, 29)
    assert stats["limits"] == {
        "overall_per_second": 30,
        "per_chat_per_second": 1.0,
        "per_chat_burst": 3,
        "retry_after": 1,
    }

    async with http.post(f"{root}/reset") as response:
        assert response.status == 200
    async with http.get(f"{root}/stats") as response:
        stats = await response.json()
    assert {k: v for k, v in stats.items() if k != "limits"} == dict.fromkeys(
        (
            "sent_total",
            "rejected_429",
            "violations",
            "max_sends_in_any_second",
            "duplicates",
            "chats",
            "sends_accepted",
            "span_seconds",
        ),
        0,
    )
    assert limited.delivered == {}
    assert (await send(http, limited, 5))[0] == 200  # the old penalty is forgotten too


async def test_ptb_sees_the_limits_429_as_retry_after(
    bot: telegram.Bot, api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    api.limits = TelegramLimits(per_chat_burst=1)
    await bot.send_message(RESIDENT, "one")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(RESIDENT, "two")
    assert caught.value.retry_after.total_seconds() == 1  # type: ignore[union-attr]
