"""python-telegram-bot's HTTP backend on aiohttp instead of httpx.

PTB's default `HTTPXRequest` spends milliseconds of CPU on every Bot API call, which caps the
bot at a few hundred sends/s on two cores; the outbox dispatcher has to reach 1,000 sends/s
when Telegram's limits allow it. `AiohttpRequest` does the same job on aiohttp (already a
dependency) for a fraction of the CPU: against the fake Bot API, about 0.2 ms of client CPU
per sendMessage instead of 1.2-1.7 ms, and several times the sends per second.

It mirrors `telegram.request.HTTPXRequest`: the same constructor defaults, the same timeout
semantics (including `BaseRequest.DEFAULT_NONE`), the same request encoding, and the same
mapping of failures to `TimedOut` and `NetworkError`.

Use it as `Application.builder().request(AiohttpRequest()).get_updates_request(
AiohttpRequest())` or `telegram.Bot(token, request=AiohttpRequest())`.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode, urlsplit

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

_LOGGER = logging.getLogger(__name__)

# HTTPXRequest tests `isinstance(value, DefaultValue)`; the class is private to PTB, so take it
# from the public sentinel.
_DefaultValue: Final = type(BaseRequest.DEFAULT_NONE)

# aiohttp >= 3.14 reports upload progress; write timeouts need it (see _send_upload).
_UploadTracker: Final = getattr(aiohttp, "UploadTracker", None)

_FORM: Final = "application/x-www-form-urlencoded"

_POOL_TIMEOUT_MESSAGE: Final = (
    "Pool timeout: All connections in the connection pool are occupied. "
    "Request was *not* sent to Telegram. Consider adjusting the connection "
    "pool size or the pool timeout."
)


class AiohttpRequest(BaseRequest):
    """A `telegram.request.BaseRequest` on aiohttp, a drop-in for `HTTPXRequest`.

    Args:
        connection_pool_size: Most connections open at once; a request beyond that waits up to
            `pool_timeout` for one to come free, then fails with `TimedOut` without being sent.
        read_timeout: Seconds to wait for the server's answer (between received chunks);
            `None` waits for ever.
        write_timeout: Seconds a request body may stall while being sent; `None` waits for
            ever. Bodies without files are small enough to go out at once, so this only
            watches uploads, and only on aiohttp >= 3.14 (older versions cannot report upload
            progress).
        connect_timeout: Seconds to wait for a TCP (and TLS) connection.
        pool_timeout: Seconds to wait for a free connection from the pool.
        media_write_timeout: Like `write_timeout`, but the default for requests that upload
            files (as in `HTTPXRequest`).

    The timeouts given here are the defaults; a Bot method's `read_timeout=...` etc. overrides
    them for one call, and `BaseRequest.DEFAULT_NONE` means "use the default".

    Differences from `HTTPXRequest`: no HTTP/2, proxy, or socket option arguments, and proxies
    from the environment (HTTPS_PROXY) are not used. aiohttp closes a file handle it uploaded
    (`InputFile(..., read_file_handle=False)`) once the request is done.
    """

    __slots__ = (
        "_closed",
        "_connect_timeout",
        "_default_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_slots",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._default_timeout = aiohttp.ClientTimeout(
            sock_read=read_timeout, sock_connect=connect_timeout
        )
        # Both are created in the running event loop (initialize() or the first request).
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds, as passed to the constructor."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the connection pool; after `shutdown()` this opens a new one."""
        self._closed = False
        self._open_session()

    async def shutdown(self) -> None:
        """Close the connection pool. Safe to call more than once."""
        self._closed = True
        session, self._session, self._slots = self._session, None, None
        if session is None or session.closed:
            _LOGGER.debug("This AiohttpRequest is already shut down. Returning.")
            return
        await session.close()

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # keepalive_timeout: idle connections are dropped after 5 s, as httpx does.
            connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=5.0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._default_timeout,
                headers={"User-Agent": self.USER_AGENT},
                # The Bot API sets no cookies; skipping the jar saves work on every call.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            # aiohttp's own pool wait has no timeout of its own (ClientTimeout.connect also
            # covers connecting), so the pool limit with its timeout is enforced here; the
            # connector's equal limit is then never waited on.
            self._slots = asyncio.Semaphore(self._pool_size)
        return self._session

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; return its HTTP status and body, whatever the status.

        Raises `TimedOut` for timeouts (pool, connect, write, read) and `NetworkError` for
        other transport failures. See `BaseRequest.do_request`.
        """
        if self._closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        session = self._open_session()
        slots = self._slots
        assert slots is not None

        # DEFAULT_NONE (not passed) means this instance's default, as in HTTPXRequest.
        has_files = request_data is not None and request_data.contains_files
        pool_wait = self._pool_timeout if isinstance(pool_timeout, _DefaultValue) else pool_timeout
        if isinstance(write_timeout, _DefaultValue):
            write_timeout = self._media_write_timeout if has_files else self._write_timeout
        if isinstance(read_timeout, _DefaultValue) and isinstance(connect_timeout, _DefaultValue):
            timeout = self._default_timeout  # the common case: no new object per call
        else:
            if isinstance(read_timeout, _DefaultValue):
                read_timeout = self._read_timeout
            if isinstance(connect_timeout, _DefaultValue):
                connect_timeout = self._connect_timeout
            timeout = aiohttp.ClientTimeout(sock_read=read_timeout, sock_connect=connect_timeout)

        body = _encode(request_data)
        try:
            await _acquire(slots, pool_wait)
        except TimeoutError as err:
            raise TimedOut(message=_POOL_TIMEOUT_MESSAGE) from err
        try:
            if has_files and write_timeout is not None and _UploadTracker is not None:
                return await _send_upload(session, method, url, body, timeout, write_timeout)
            async with session.request(
                method, url, data=body, timeout=timeout, allow_redirects=False
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:  # aiohttp's ServerTimeoutError is a TimeoutError too
            raise TimedOut from err
        except aiohttp.ClientError as err:
            # The class name helps when the message is empty; the URL holds the bot token.
            detail = _redact(f"aiohttp.{err.__class__.__name__}: {err}", url)
            raise NetworkError(detail) from err
        finally:
            slots.release()


async def _acquire(slots: asyncio.Semaphore, pool_timeout: float | None) -> None:
    if not slots.locked():
        await slots.acquire()  # returns at once
        return
    async with asyncio.timeout(pool_timeout):
        await slots.acquire()


def _encode(request_data: RequestData | None) -> Any:
    """The request body as HTTPXRequest sends it: none, multipart with files, or a form."""
    if request_data is None:
        return None
    if not request_data.contains_files:
        # The form aiohttp would make of the dict, made directly: aiohttp's FormData builds
        # a multipart writer (and a uuid4 boundary) for every request even when it then
        # sends a plain form, a good part of a small request's cost.
        form = urlencode(request_data.json_parameters, encoding="utf-8")
        return aiohttp.payload.BytesPayload(form.encode(), content_type=_FORM)
    # quote_fields=False writes file names as UTF-8 (as httpx does) instead of %-encoding them,
    # which Telegram would show literally.
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        # aiohttp warns about bytes over 1 MB (they would be written in one go); a BytesIO
        # is sent in chunks, yielding to the event loop in between.
        value = io.BytesIO(content) if isinstance(content, bytes) else content
        form.add_field(name, value, filename=filename, content_type=mime_type)
    return form


async def _send_upload(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any,
    client_timeout: aiohttp.ClientTimeout,
    write_timeout: float,
) -> tuple[int, bytes]:
    """Send a request with files, failing if its upload makes no progress for write_timeout.

    aiohttp has no write timeout, and its read timeout only starts once the body is sent, so
    a stalled upload would otherwise hang until the OS gives up on the connection. Like
    httpx's per-write timeout, this watches for progress rather than bounding the whole
    upload, so a large file on a slow but moving link still goes through.
    """
    assert _UploadTracker is not None
    loop = asyncio.get_running_loop()
    tracker = _UploadTracker()
    last_written = 0

    async with asyncio.timeout(None) as deadline:

        def check() -> None:
            nonlocal last_written, handle
            if tracker.upload_complete.done():
                return  # the read timeout takes over
            written = tracker.bytes_written
            if written > 0 and written == last_written:
                deadline.reschedule(loop.time())  # stalled: expire now
                return
            last_written = written
            handle = loop.call_later(write_timeout, check)

        handle = loop.call_later(write_timeout, check)
        try:
            async with session.request(
                method,
                url,
                data=body,
                timeout=client_timeout,
                allow_redirects=False,
                upload_tracker=tracker,
            ) as response:
                return response.status, await response.read()
        finally:
            handle.cancel()


def _redact(text: str, url: str) -> str:
    """`text` without the URL's path, which holds the bot token."""
    path = urlsplit(url).path
    return text.replace(path, "/<redacted>") if len(path) > 1 else text
