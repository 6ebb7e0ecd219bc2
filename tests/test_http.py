"""AiohttpRequest behaves like PTB's HTTPXRequest, driven through the real telegram.Bot.

Everything goes to the fake Bot API (or a socket of our own) on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.constants import ParseMode
from telegram.error import Forbidden, NetworkError, RetryAfter, TimedOut

from bot.http import AiohttpRequest
from bot.updates import (
    POLL_BUSY_FROM,
    POLL_PAUSE_MAX,
    POLL_PAUSE_PER_UPDATE,
    PacedPolling,
)
from tests.fakes.bot_api import FakeBotAPI

CHAT = 4242

BotFactory = Callable[..., Awaitable[telegram.Bot]]


@pytest.fixture
async def make_bot(fake_api: FakeBotAPI) -> AsyncIterator[BotFactory]:
    """Bots on AiohttpRequest against the fake (initialised) or `base_url` (not); closed after."""
    requests: list[AiohttpRequest] = []

    async def make(base_url: str | None = None, **request_args: Any) -> telegram.Bot:
        request = AiohttpRequest(**request_args)
        updates_request = AiohttpRequest()
        requests.extend((request, updates_request))
        bot = telegram.Bot(
            FakeBotAPI.TOKEN,
            base_url=base_url or fake_api.base_url,
            request=request,
            get_updates_request=updates_request,
        )
        if base_url is None:
            await bot.initialize()  # calls getMe
        return bot

    yield make
    # Bot.shutdown() skips bots never initialised, so close the requests themselves.
    for request in requests:
        await request.shutdown()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_get_me_works(make_bot: BotFactory, fake_api: FakeBotAPI) -> None:
    bot = await make_bot()
    me = await bot.get_me()
    assert me.username == "WardVoiceTestBot"
    assert me.id == 123456


async def test_send_message_with_html_and_inline_keyboard_round_trips(
    make_bot: BotFactory, fake_api: FakeBotAPI
) -> None:
    bot = await make_bot()
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Yes ✅", callback_data="c:yes")],
            [InlineKeyboardButton("No", callback_data="c:no")],
        ]
    )
    text = "<b>Ward 7</b> &amp; friends: “quotes”, émoji 🏛️, a+b=c&d"

    message = await bot.send_message(CHAT, text, parse_mode=ParseMode.HTML, reply_markup=keyboard)

    call = fake_api.calls[-1]
    assert call.method == "sendMessage" and call.ok
    assert call.text == text
    assert call.params["parse_mode"] == "HTML"
    assert call.params["chat_id"] == CHAT
    assert call.buttons == [
        [{"text": "Yes ✅", "callback_data": "c:yes"}],
        [{"text": "No", "callback_data": "c:no"}],
    ]
    assert message.text == "Ward 7 & friends: “quotes”, émoji 🏛️, a+b=c&d"
    assert message.entities[0].type == "bold"
    assert message.reply_markup == keyboard


async def test_send_photo_bytes_goes_multipart_with_its_caption(
    make_bot: BotFactory, fake_api: FakeBotAPI
) -> None:
    bot = await make_bot()
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40

    message = await bot.send_photo(
        CHAT, photo, caption="<i>Fly-tipping</i> on Elm Road", parse_mode=ParseMode.HTML
    )

    call = fake_api.calls[-1]
    assert call.method == "sendPhoto" and call.ok
    assert call.params["caption"] == "<i>Fly-tipping</i> on Elm Road"
    assert call.params["chat_id"] == CHAT
    assert call.params["photo"]["size"] == len(photo)
    assert call.params["photo"].content == photo
    assert message.caption == "Fly-tipping on Elm Road"
    assert message.photo[-1].file_size == len(photo)


async def test_send_document_from_a_file(
    make_bot: BotFactory, fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    bot = await make_bot()
    path = tmp_path / "Ward report é.csv"
    content = b"ward,concerns\nE05900002,12\n" * 1000
    path.write_bytes(content)

    message = await bot.send_document(CHAT, path, caption="Weekly figures")

    upload = fake_api.calls[-1].params["document"]
    assert upload.content == content
    assert upload["filename"] == "Ward report é.csv"
    assert upload["content_type"] == "text/csv"
    assert message.document.file_name == "Ward report é.csv"
    assert message.caption == "Weekly figures"


async def test_send_document_streams_an_open_file_handle(
    make_bot: BotFactory, fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    bot = await make_bot()
    path = tmp_path / "minutes.pdf"
    content = b"%PDF-1.7 " + b"x" * 300_000
    path.write_bytes(content)

    with path.open("rb") as handle:
        document = InputFile(handle, read_file_handle=False)
        await bot.send_document(CHAT, document, caption="Minutes")

    call = fake_api.calls[-1]
    assert call.params["document"].content == content
    assert call.params["document"]["filename"] == "minutes.pdf"
    assert call.params["caption"] == "Minutes"


async def test_429_raises_retry_after_with_its_seconds(
    make_bot: BotFactory, fake_api: FakeBotAPI
) -> None:
    bot = await make_bot()
    fake_api.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 7", retry_after=7
    )

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "hello")

    assert caught.value.retry_after.total_seconds() == 7  # type: ignore[union-attr]


async def test_403_raises_forbidden(make_bot: BotFactory, fake_api: FakeBotAPI) -> None:
    bot = await make_bot()
    fake_api.fail_next(
        "sendMessage", status=403, description="Forbidden: bot was blocked by the user"
    )

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "hello")


async def test_500_raises_network_error(make_bot: BotFactory, fake_api: FakeBotAPI) -> None:
    bot = await make_bot()
    fake_api.fail_next("sendMessage", status=500, description="Internal Server Error")

    with pytest.raises(NetworkError, match="Internal Server Error") as caught:
        await bot.send_message(CHAT, "hello")

    assert not isinstance(caught.value, TimedOut)
    assert (await bot.send_message(CHAT, "again")).text == "again"


async def test_a_slow_answer_past_the_read_timeout_raises_timed_out(
    make_bot: BotFactory, fake_api: FakeBotAPI
) -> None:
    bot = await make_bot(read_timeout=0.2)
    fake_api.latency = 1.0

    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "hello")

    # A per-call read timeout overrides the default, as with HTTPXRequest.
    fake_api.latency = 0.4
    message = await bot.send_message(CHAT, "patient", read_timeout=3)
    assert message.text == "patient"


async def test_get_updates_long_poll_is_not_cut_by_the_read_timeout(
    fake_api: FakeBotAPI,
) -> None:
    bot = telegram.Bot(
        FakeBotAPI.TOKEN,
        base_url=fake_api.base_url,
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(read_timeout=0.3),
    )
    loop = asyncio.get_running_loop()
    async with bot:
        started = loop.time()
        # The fake holds an empty poll for up to a second; PTB adds the poll timeout to the
        # request's read timeout, so this must not time out.
        updates = await bot.get_updates(timeout=1)

    assert updates == ()
    assert loop.time() - started >= 0.5


async def test_a_closed_port_raises_network_error(make_bot: BotFactory) -> None:
    port = closed_port()
    bot = await make_bot(base_url=f"http://127.0.0.1:{port}/bot")

    with pytest.raises(NetworkError) as caught:
        await bot.get_me()

    assert not isinstance(caught.value, TimedOut)
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectionError)
    assert FakeBotAPI.TOKEN not in str(caught.value)


async def test_error_messages_do_not_show_the_token(make_bot: BotFactory) -> None:
    bot = await make_bot(base_url="http://127.0.0.1:99999/bot")  # invalid port: nothing is sent

    with pytest.raises(NetworkError) as caught:
        await bot.get_me()

    assert isinstance(caught.value.__cause__, aiohttp.InvalidURL)
    assert FakeBotAPI.TOKEN in str(caught.value.__cause__)
    assert FakeBotAPI.TOKEN not in str(caught.value)
    assert "<redacted>" in str(caught.value)


async def test_a_full_pool_raises_timed_out_after_the_pool_timeout(
    make_bot: BotFactory, fake_api: FakeBotAPI
) -> None:
    bot = await make_bot(connection_pool_size=1, pool_timeout=0.1)
    fake_api.latency = 0.5

    results = await asyncio.gather(
        bot.send_message(CHAT, "first"), bot.send_message(CHAT, "second"), return_exceptions=True
    )

    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1
    assert isinstance(failures[0], TimedOut)
    assert "Pool timeout" in str(failures[0])
    assert [c.text for c in fake_api.calls if c.method == "sendMessage"] == ["first"]


class _NeverReads(asyncio.Protocol):
    """A peer that accepts connections and never reads: uploads to it stall."""

    def __init__(self, transports: list[asyncio.BaseTransport]) -> None:
        self.transports = transports

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        self.transports.append(transport)


@pytest.mark.skipif(not hasattr(aiohttp, "UploadTracker"), reason="needs aiohttp >= 3.14")
async def test_a_stalled_upload_raises_timed_out_after_the_write_timeout(
    make_bot: BotFactory,
) -> None:
    loop = asyncio.get_running_loop()
    transports: list[asyncio.BaseTransport] = []
    server = await loop.create_server(lambda: _NeverReads(transports), "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        bot = await make_bot(base_url=f"http://127.0.0.1:{port}/bot", read_timeout=30)
        started = loop.time()

        # Far more than the kernel buffers on both ends take in, so the upload must stall.
        with pytest.raises(TimedOut):
            await bot.send_document(CHAT, b"x" * 64_000_000, filename="big.bin", write_timeout=0.3)

        assert loop.time() - started < 10
    finally:
        for transport in transports:
            transport.close()
        server.close()
        await server.wait_closed()


async def test_shutdown_twice_is_fine_and_initialize_reopens(
    make_bot: BotFactory, fake_api: FakeBotAPI
) -> None:
    request = AiohttpRequest()
    await request.shutdown()  # never used: nothing to close
    await request.initialize()
    bot = telegram.Bot(FakeBotAPI.TOKEN, base_url=fake_api.base_url, request=request)
    assert (await bot.get_me()).username == "WardVoiceTestBot"

    await request.shutdown()
    await request.shutdown()

    with pytest.raises(NetworkError, match="not initialized"):
        await bot.get_me()
    await request.initialize()
    assert (await bot.get_me()).username == "WardVoiceTestBot"
    await request.shutdown()


async def test_default_timeouts_match_httpx_request() -> None:
    request = AiohttpRequest()
    assert request.read_timeout == 5.0
    assert AiohttpRequest(read_timeout=None).read_timeout is None
    await request.shutdown()


async def test_200_concurrent_sends_share_a_pool_of_8(
    make_bot: BotFactory, fake_api: FakeBotAPI
) -> None:
    # A generous pool timeout: the point is that 8 connections serve 200 callers, not how
    # long the last one waits on a loaded machine.
    bot = await make_bot(connection_pool_size=8, pool_timeout=30)
    fake_api.latency = 0.01

    messages = await asyncio.gather(
        *(bot.send_message(CHAT + i % 20, f"message {i}") for i in range(200))
    )

    assert sorted(m.text for m in messages) == sorted(f"message {i}" for i in range(200))
    sends = [c for c in fake_api.calls if c.method == "sendMessage"]
    assert len(sends) == 200 and all(c.ok for c in sends)


async def test_polling_asks_at_once_when_idle_and_a_moment_later_when_busy(
    fake_api: FakeBotAPI,
) -> None:
    """bot/updates.PacedPolling: under a rush each getUpdates brings a batch, not one."""
    in_hand = 0
    polling = PacedPolling(lambda: in_hand, connection_pool_size=1)
    assert polling.pause() == 0.0
    in_hand = POLL_BUSY_FROM - 1
    assert polling.pause() == 0.0, "a few updates in hand: no wait"
    in_hand = 20
    assert polling.pause() == pytest.approx(20 * POLL_PAUSE_PER_UPDATE)
    in_hand = 10_000
    assert polling.pause() == POLL_PAUSE_MAX

    bot = telegram.Bot(
        FakeBotAPI.TOKEN,
        base_url=fake_api.base_url,
        request=AiohttpRequest(),
        get_updates_request=polling,
    )
    loop = asyncio.get_running_loop()
    async with bot:
        started = loop.time()
        assert await bot.get_updates(timeout=0) == ()
        assert loop.time() - started >= POLL_PAUSE_MAX
