"""A printable A4 poster per ward: its name, the next meeting, and a QR code of the deep link.

    compose(language, ward, meeting, tz, link) ─▶ PosterText (every line, translated)
    draw(text, fmt="pdf" | "png")              ─▶ bytes of a one-page A4 PDF, or a 300 dpi PNG

The QR code holds `https://t.me/<bot>?start=<ward code>`, which `/start` takes straight to
that ward. It is a segno matrix (error correction Q, so a crease or a smudge still scans)
drawn as one filled vector path of square modules with its 4-module quiet zone kept clear.

Drawn like `bot/charts.py`: a matplotlib `Figure` on an explicit Agg canvas (the PDF canvas
for PDF output), never pyplot, so it is safe in a worker thread. `draw` is CPU-bound: async
code calls it through `asyncio.to_thread` (`make_poster` does).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from functools import lru_cache
from typing import Literal

from bot.clock import Clock
from bot.config import ConfigError, Settings
from bot.domain import meetings as meeting_domain
from bot.domain.directory import WardDirectory
from bot.domain.errors import RuleError
from bot.geo.index import Ward
from bot.i18n import DEFAULT_LANGUAGE, N_, label
from bot.meeting_text import when_text
from storage.db import Database
from storage.meetings import Meeting

Format = Literal["pdf", "png"]
FORMATS: tuple[Format, ...] = ("pdf", "png")

PAGE_W, PAGE_H = 210.0, 297.0  # A4 portrait, millimetres
MM = 72 / 25.4  # points per millimetre
PNG_DPI = 300
QR_ERROR = "q"  # recovers about 25 % of the code
QR_BORDER = 4  # modules of quiet zone, as ISO/IEC 18004 asks
QR_MAX, QR_MIN = 115.0, 55.0  # side of the code with its quiet zone, millimetres
MARGIN = 16.0

SANS = "DejaVu Sans"  # shipped with matplotlib: the same glyphs on every machine
MONO = "DejaVu Sans Mono"
BAND = "#1f4e79"  # dark blue header band: white on it is easy to read from across a room
INK = "#1a1a1a"
MUTED = "#4a4a4a"

HEADLINE = N_("Your ward panel listens")
ABOUT = (
    N_("Raise a concern about your streets, in a minute."),
    N_("See what the panel is working on, and when it meets."),
    N_("Hear back what was done: you said, we did."),
)


def deep_link(username: str, ward_code: str) -> str:
    """The link `/start` takes straight to the ward: `https://t.me/<bot>?start=<code>`."""
    return f"https://t.me/{username.removeprefix('@')}?start={ward_code}"


@dataclass(frozen=True)
class PosterText:
    """Every line on the poster, already translated, top to bottom."""

    headline: str
    ward: str
    borough: str
    meeting_title: str
    meeting: tuple[str, ...]
    about_title: str
    about: tuple[str, ...]
    scan: str
    link: str
    footer: str

    def lines(self) -> list[str]:
        return [
            self.headline,
            self.ward,
            self.borough,
            self.meeting_title,
            *self.meeting,
            self.about_title,
            *self.about,
            self.scan,
            self.link,
            self.footer,
        ]


def compose(
    language: str, ward: Ward, meeting: Meeting | None, tz: tzinfo, link: str
) -> PosterText:
    """The poster's lines in `language`: the ward, its next meeting (or that none is set
    yet), what the bot does, and the link the QR code holds."""
    if meeting is None:
        when: tuple[str, ...] = (
            label(language, "No meeting scheduled yet: scan the code to hear when it is."),
        )
    else:
        when = (
            when_text(language, meeting.starts_at, tz),
            label(language, "Where: {venue}", venue=meeting.venue),
            label(language, "Open to the public: all welcome.")
            if meeting.open_to_public
            else label(language, "Closed meeting: for panel members only."),
        )
        if meeting.online_link:
            when += (label(language, "You can join online too: the link is in the bot."),)
    return PosterText(
        headline=label(language, HEADLINE),
        ward=ward.name,
        borough=label(language, "A ward in {borough}", borough=ward.borough_name),
        meeting_title=label(language, "Next panel meeting"),
        meeting=when,
        about_title=label(language, "On Telegram, WardVoice lets you:"),
        about=tuple(label(language, line) for line in ABOUT),
        scan=label(language, "Scan with your phone's camera, or open:"),
        link=link,
        footer=label(language, "The panel sees what you raise, never your name."),
    )


@lru_cache(maxsize=4)
def _charmap(family: str) -> frozenset[int]:
    from matplotlib.font_manager import FontProperties, findfont, get_font

    return frozenset(get_font(findfont(FontProperties(family=family))).get_charmap())


def covers(texts: Iterable[str], family: str = SANS) -> bool:
    """Whether the poster's font has every character (DejaVu has no Bengali, for one)."""
    glyphs = _charmap(family)
    return all(ord(ch) in glyphs for text in texts for ch in text if not ch.isspace())


def shows(language: str, tz: tzinfo) -> bool:
    """Whether a poster in `language` can be drawn: its words and its dates (DejaVu has no
    Bengali script, for one; such a poster is made in English)."""
    sample = when_text(language, "2026-12-03T19:00:00+00:00", tz)
    return covers([sample, *(label(language, line) for line in (HEADLINE, *ABOUT))])


def _printable(text: str, family: str = SANS) -> str:
    """A character the font lacks (an emoji in a venue) becomes `?`, not a warning."""
    glyphs = _charmap(family)
    return "".join(ch if ch.isspace() or ord(ch) in glyphs else "?" for ch in text)


def qr_modules(link: str) -> list[list[bool]]:
    """The QR code's modules, dark = True, with the quiet zone around them."""
    import segno

    code = segno.make(link, error=QR_ERROR, boost_error=False, micro=False)
    return [[bool(m) for m in row] for row in code.matrix_iter(scale=1, border=QR_BORDER)]


def _width(text: str, size: float, family: str, bold: bool) -> float:
    """Width of one line of `text` in millimetres."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(family=family, size=size, weight="bold" if bold else "normal")
    width, _, _ = TextToPath().get_text_width_height_descent(text, prop, ismath=False)
    return width / MM


def _wrap(text: str, size: float, width: float, family: str, bold: bool) -> tuple[list[str], bool]:
    """Greedy word wrap by measured width, and whether a word had to be broken to fit."""

    def fits(line: str) -> bool:
        return _width(line, size, family, bold) <= width

    lines: list[str] = []
    broken = False
    for word in text.split():
        if lines and fits(f"{lines[-1]} {word}"):
            lines[-1] = f"{lines[-1]} {word}"
            continue
        while not fits(word):  # a word wider than the page: as much as fits, then the rest
            cut = len(word) - 1
            while cut > 1 and not fits(word[:cut]):
                cut -= 1
            lines.append(word[:cut])
            word, broken = word[cut:], True
        lines.append(word)
    return lines or [""], broken


def fit(
    text: str,
    size: float,
    width: float,
    max_lines: int,
    *,
    family: str = SANS,
    bold: bool = False,
    smallest: float | None = None,
) -> tuple[list[str], float]:
    """Lines and a font size (points) that fit `width` mm in at most `max_lines` lines:
    the largest size down to `smallest`, then cut short with an ellipsis."""
    text = _printable(text, family)
    floor = smallest if smallest is not None else size * 0.8
    current = size
    while True:
        lines, broken = _wrap(text, current, width, family, bold)
        if len(lines) <= max_lines and not broken:
            return lines, current
        if current * 0.92 < floor:
            break
        current *= 0.92
    if len(lines) <= max_lines:
        return lines, current
    # Still too long at the smallest size: keep what fits and say that it goes on.
    kept = lines[:max_lines]
    last = kept[-1]
    while last and _width(f"{last} …", current, family, bold) > width:
        last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
    kept[-1] = f"{last} …"
    return kept, current


def draw(text: PosterText, fmt: Format = "pdf") -> bytes:
    """The poster as a one-page A4 PDF (vector) or a 300 dpi PNG.

    CPU-bound: call through `asyncio.to_thread` from async code.
    """
    if fmt not in FORMATS:
        raise ValueError(f"poster format must be one of {FORMATS}, not {fmt!r}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path

    figure = Figure(figsize=(PAGE_W / 25.4, PAGE_H / 25.4), dpi=PNG_DPI, facecolor="white")
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_xlim(0, PAGE_W)
    axes.set_ylim(0, PAGE_H)
    axes.set_axis_off()
    usable = PAGE_W - 2 * MARGIN

    def put(
        lines: Sequence[str],
        y: float,
        size: float,
        *,
        colour: str = INK,
        bold: bool = False,
        family: str = SANS,
        x: float = MARGIN,
        centre: bool = False,
        spacing: float = 1.22,
    ) -> float:
        """Write lines with their tops at `y` (mm); return the y under the last one."""
        step = size * spacing / MM
        for line in lines:
            axes.text(
                PAGE_W / 2 if centre else x,
                y,
                _printable(line, family),
                fontsize=size,
                fontfamily=family,
                fontweight="bold" if bold else "normal",
                color=colour,
                ha="center" if centre else "left",
                va="top",
                parse_math=False,
            )
            y -= step
        return y

    # The header band: headline, the ward's name as large as it fits, its borough.
    y = PAGE_H - 14.0
    headline, size = fit(text.headline, 24, usable, 2, bold=True)
    y = put(headline, y, size, colour="white", bold=True) - 3.0
    name, size = fit(text.ward, 60, usable, 2, bold=True, smallest=30)
    y = put(name, y, size, colour="white", bold=True, spacing=1.12) - 1.0
    borough, size = fit(text.borough, 20, usable, 1)
    y = put(borough, y, size, colour="white") - 6.0
    axes.add_patch(Rectangle((0, y), PAGE_W, PAGE_H - y, facecolor=BAND, edgecolor="none"))
    y -= 9.0

    # The next meeting.
    y = put([text.meeting_title], y, 18, colour=BAND, bold=True) - 1.0
    for number, line in enumerate(text.meeting):
        lines, size = fit(line, 15 if number == 0 else 13, usable, 3, bold=number == 0)
        y = put(lines, y, size, bold=number == 0) - 1.2
    y -= 5.0

    # What the bot does, in three short lines.
    y = put([text.about_title], y, 15, colour=BAND, bold=True) - 1.0
    for line in text.about:
        lines, size = fit(line, 12.5, usable - 6, 2)
        put(["•"], y, size)
        y = put(lines, y, size, x=MARGIN + 6) - 0.8

    # The bottom lines, from the foot of the page up; the code gets the space between.
    put([text.footer], 14.0, 9.5, colour=MUTED, centre=True)
    link, link_size = fit(text.link, 17, usable, 1, family=MONO, bold=True, smallest=9)
    put(link, 27.0, link_size, family=MONO, bold=True, centre=True)
    scan, scan_size = fit(text.scan, 12.5, usable, 1)
    put(scan, 35.0, scan_size, colour=MUTED, centre=True)

    modules = qr_modules(text.link)
    room = y - 4.0 - 37.0
    side = max(QR_MIN, min(QR_MAX, room))
    unit = side / len(modules)
    left, top = (PAGE_W - side) / 2, 37.0 + side + max(0.0, room - side) / 2
    vertices: list[tuple[float, float]] = []
    for row, dark in enumerate(modules):
        column = 0
        while column < len(dark):  # one rectangle per horizontal run of dark modules
            if not dark[column]:
                column += 1
                continue
            end = column
            while end < len(dark) and dark[end]:
                end += 1
            x0, x1 = left + column * unit, left + end * unit
            y1 = top - row * unit
            y0 = y1 - unit
            vertices += [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
            column = end
    codes = [Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY]
    path = Path(vertices, codes * (len(vertices) // 5))
    # Not antialiased: in the PNG every module edge falls on a pixel, crisp for the camera.
    axes.add_patch(
        PathPatch(path, facecolor="black", edgecolor="none", linewidth=0, antialiased=False)
    )

    buffer = io.BytesIO()
    if fmt == "pdf":
        figure.savefig(
            buffer,
            format="pdf",
            metadata={"Title": f"{text.ward}: {text.headline}", "Creator": "WardVoice"},
        )
    else:
        figure.savefig(buffer, format="png", dpi=PNG_DPI)
    return buffer.getvalue()


@dataclass(frozen=True)
class Poster:
    content: bytes
    filename: str
    link: str
    ward: Ward
    meeting: Meeting | None
    text: PosterText


async def make_poster(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    ward_code: str,
    *,
    username: str,
    language: str,
    tz: tzinfo,
    fmt: Format = "pdf",
) -> Poster:
    """The poster for a ward with its next meeting, drawn in a worker thread.

    No role check here: the bot's /poster authorises first, the shell is trusted.
    In a language the poster's font cannot show, the poster is in English.
    """
    ward = directory.ward(ward_code.strip().upper())
    if ward is None:
        raise RuleError(N_("There is no ward with the code {code}."), code=ward_code)
    coming = await meeting_domain.next_meetings(db, clock, ward.code)
    meeting = coming[0] if coming else None
    link = deep_link(username, ward.code)
    if not shows(language, tz):
        language = DEFAULT_LANGUAGE
    text = compose(language, ward, meeting, tz, link)
    content = await asyncio.to_thread(draw, text, fmt)
    return Poster(content, f"poster-{ward.code}.{fmt}", link, ward, meeting, text)


async def bot_username(settings: Settings) -> str:
    """The bot's username for the link: `TELEGRAM_BOT_USERNAME`, else Telegram's getMe."""
    if settings.bot_username:
        return settings.bot_username
    if not settings.token:
        raise ConfigError(
            "The poster's QR code links to the bot, so it needs the bot's username: set "
            "TELEGRAM_BOT_USERNAME (as @BotFather shows it), or TELEGRAM_BOT_TOKEN to ask "
            "Telegram for it."
        )
    from telegram import Bot

    from bot.http import AiohttpRequest

    options = {"base_url": settings.api_base_url} if settings.api_base_url else {}
    bot = Bot(settings.token, request=AiohttpRequest(connection_pool_size=1), **options)
    async with bot:  # initialize() asks getMe
        return bot.username
