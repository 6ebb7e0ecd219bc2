"""Headless Chromium for tests that look at pages as a person would.

Debian's `chromium` (/usr/bin/chromium), installed with apt-get when it is missing, driven
by Playwright's Python API with `executable_path` (Playwright downloads no browser). The
sync API runs in one worker thread that owns the browser for the whole session; tests,
async ones included, hand it pages to look at. Pages are served by a plain HTTP server on
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import itertools
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.realdata import REQUIRE_ENV

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_TIMEOUT = 900  # seconds: apt-get update and the chromium package on a slow mirror
# As the workplace's own probe starts it: no sandbox (we are root), no network of its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PHONE = {"width": 375, "height": 740}

# Run in the page by the test (the pages themselves carry no script): what a person sees
# and what an accessibility check looks at.
_LOOK = """() => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = getComputedStyle(el).backgroundColor;
      const p = parse(c);
      if (p.length && (p.length < 4 || p[3] > 0)) return p;
    }
    return [255, 255, 255];
  };
  let worst = 21, worstText = "";
  for (const el of document.body.querySelectorAll("*")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.offsetParent && el !== document.body) continue;
    const a = lum(parse(getComputedStyle(el).color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < worst) { worst = ratio; worstText = el.textContent.trim().slice(0, 60); }
  }
  return {
    lang: document.documentElement.lang,
    title: document.title,
    headings: [...document.querySelectorAll("h1,h2,h3,h4,h5,h6")].map(
      (h) => [Number(h.tagName[1]), h.textContent.trim()]),
    imagesWithoutAlt: [...document.images].filter((i) => !i.hasAttribute("alt")).length,
    images: document.images.length,
    scripts: document.scripts.length,
    viewport: !!document.querySelector('meta[name="viewport"]'),
    main: document.querySelectorAll("main").length,
    skipTarget: !!document.querySelector('a[href="#main"]') && !!document.getElementById("main"),
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    fontSize: parseFloat(getComputedStyle(document.body).fontSize),
    worstContrast: worst,
    worstContrastText: worstText,
    times: [...document.querySelectorAll("time")].filter((t) => !t.dateTime).length,
  };
}"""


@dataclass
class PageView:
    """One page as Chromium showed it, at a phone's width."""

    url: str
    status: int
    text: str  # the visible text of <body> (innerText)
    text_without_js: str  # the same page in a context with JavaScript disabled
    console_errors: list[str] = field(default_factory=list)
    look: dict[str, Any] = field(default_factory=dict)


def _apt_available() -> bool:
    return shutil.which("apt-get") is not None and os.geteuid() == 0


def ensure_chromium() -> Path:
    """/usr/bin/chromium, installed from Debian's package if missing. Without apt (or root),
    skips with the reason, or fails when WARDVOICE_REQUIRE_SHARED_DATA=1 asks for it all."""
    if CHROMIUM.exists():
        return CHROMIUM
    if not _apt_available():
        reason = f"{CHROMIUM} is missing and apt-get (as root) is not available to install it"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires the browser tests")
        pytest.skip(f"{reason} (set {REQUIRE_ENV}=1 to make this a failure)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
    ):
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
        if done.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    if not CHROMIUM.exists():
        pytest.fail(f"apt-get installed chromium but {CHROMIUM} is not there")
    return CHROMIUM


class Browser:
    """One headless Chromium for the session, owned by one thread (Playwright's sync API)."""

    def __init__(self, executable: Path) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self._pool.submit(self._start, executable).result()

    def _start(self, executable: Path) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS, headless=True
        )
        self._context = self._browser.new_context(viewport=PHONE)
        self._no_js = self._browser.new_context(viewport=PHONE, java_script_enabled=False)
        # One tab each, reused page after page (a new tab costs about 0.1 s).
        self._errors: list[str] = []
        errors = self._errors
        page = self._page = self._context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: errors.append(f"failed: {r.url} {r.failure}"))
        page.on(
            "response",
            lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
        )
        self._quiet = self._no_js.new_page()

    def _view(self, url: str, full: bool = True) -> PageView:
        self._errors.clear()
        response = self._page.goto(url, wait_until="load")
        status = response.status if response is not None else 0
        text = self._page.inner_text("body")
        if not full:
            return PageView(url, status, text, text, list(self._errors))
        look = self._page.evaluate(_LOOK)
        self._quiet.goto(url, wait_until="load")
        text_without_js = self._quiet.inner_text("body")
        return PageView(url, status, text, text_without_js, list(self._errors), look)

    def view(self, url: str, *, full: bool = True) -> PageView:
        """The page as a person sees it; `full=False` only loads it and reads its text
        and console (no accessibility look, no second load without JavaScript)."""
        return self._pool.submit(self._view, url, full).result()

    async def aview(self, url: str) -> PageView:
        """From async tests: the event loop keeps running while Chromium works."""
        return await asyncio.wrap_future(self._pool.submit(self._view, url))

    def _stop(self) -> None:
        self._quiet.close()
        self._page.close()
        self._no_js.close()
        self._context.close()
        self._browser.close()
        self._playwright.stop()

    def close(self) -> None:
        try:
            self._pool.submit(self._stop).result()
        finally:
            self._pool.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 (the base class declares it this way)
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".atom": "application/atom+xml",
        ".ics": "text/calendar",
        ".json": "application/json",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def accessibility_problems(view: PageView) -> list[str]:
    """What a person using a phone, a screen reader or no JavaScript would trip over."""
    look = view.look
    problems = []
    if look["lang"] != "en":
        problems.append(f"lang is {look['lang']!r}")
    levels = [level for level, _ in look["headings"]]
    if levels.count(1) != 1 or not levels or levels[0] != 1:
        problems.append(f"one <h1>, first: {look['headings']}")
    for before, after in itertools.pairwise(levels):
        if after > before + 1:
            problems.append(f"heading jumps from h{before} to h{after}")
    if look["imagesWithoutAlt"]:
        problems.append(f"{look['imagesWithoutAlt']} images without alt text")
    if look["scripts"]:
        problems.append(f"{look['scripts']} <script> elements")
    if not look["viewport"]:
        problems.append("no <meta name=viewport>")
    if look["main"] != 1:
        problems.append(f"{look['main']} <main> elements")
    if not look["skipTarget"]:
        problems.append("no skip link to #main")
    if look["overflow"] > 0:
        problems.append(f"{look['overflow']} px wider than a {PHONE['width']} px phone")
    if look["fontSize"] < 16:
        problems.append(f"body text {look['fontSize']} px")
    if look["worstContrast"] < 4.5:
        problems.append(
            f"contrast {look['worstContrast']:.2f} < 4.5 at {look['worstContrastText']!r}"
        )
    if look["times"]:
        problems.append(f"{look['times']} <time> without datetime")
    if view.text.strip() != view.text_without_js.strip():
        problems.append("the page reads differently without JavaScript")
    return problems
