"""Ward posters: an A4 page with the ward, its next meeting and a QR code of the deep link,
from the shell (`wardvoice poster`) and for staff in the bot (/poster).

The QR codes are read back with a real decoder (zxing-cpp): from the PNG as drawn, and
from the PDF rendered by PDFium, as a phone camera would see the printed page.
"""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image

from bot import poster
from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.domain.roles import Role
from bot.geo.index import Ward
from storage import meetings as meeting_store
from storage.db import Database
from storage.meetings import Meeting
from tests.conftest import Reply, World
from tests.fakes.bot_api import FakeBotAPI, Upload
from tests.staffing import audit_actions, join_as, refusals
from tests.synthetic import synthetic_wards_geojson

KINGSMEAD, OLD_TOWN = "E05900002", "E05900011"
BOT = "WardVoiceTestBot"  # the fake Bot API's getMe username
LINK = f"https://t.me/{BOT}?start={KINGSMEAD}"
LONDON = ZoneInfo("Europe/London")
WARD = Ward(KINGSMEAD, "Kingsmead", "E09900001", "Northbank")
MEETING = Meeting(
    7, KINGSMEAD, "2026-12-03T19:00:00+00:00", "St Mark's Church Hall", True, None, None
)


def decoded(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image)]


def png_codes(content: bytes) -> list[str]:
    return decoded(Image.open(io.BytesIO(content)))


def pdf_page(content: bytes) -> tuple[int, tuple[float, float], str, list[str]]:
    """Pages, the first page's size in points, its text, and the QR codes on it at 100 dpi."""
    document = pdfium.PdfDocument(content)
    try:
        page = document[0]
        text = page.get_textpage().get_text_range()
        image = page.render(scale=100 / 72).to_pil()
        return len(document), page.get_size(), text, decoded(image)
    finally:
        document.close()


def test_the_poster_says_when_and_where_the_next_meeting_is() -> None:
    text = poster.compose("en", WARD, MEETING, LONDON, LINK)
    assert text.ward == "Kingsmead" and text.borough == "A ward in Northbank"
    assert text.meeting == (
        "Thursday, 3 December 2026, 19:00",
        "Where: St Mark's Church Hall",
        "Open to the public: all welcome.",
    )
    assert len(text.about) == 3 and text.link == LINK

    closed = Meeting(
        8, KINGSMEAD, "2027-06-10T17:30:00+00:00", "Library", False, "https://x.y", None
    )
    lines = poster.compose("en", WARD, closed, LONDON, LINK).meeting
    assert lines[0] == "Thursday, 10 June 2027, 18:30", "summer time"
    assert "Closed meeting: for panel members only." in lines
    assert "You can join online too: the link is in the bot." in lines

    none = poster.compose("en", WARD, None, LONDON, LINK)
    assert none.meeting == ("No meeting scheduled yet: scan the code to hear when it is.",)


def test_the_deep_link_is_the_one_start_takes() -> None:
    assert poster.deep_link("@WardVoiceBot", "E05013806") == (
        "https://t.me/WardVoiceBot?start=E05013806"
    )


def test_png_poster_is_a4_at_300_dpi_and_its_qr_code_reads_back_the_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from matplotlib.axes import Axes

    drawn: list[str] = []
    original = Axes.text

    def spy(self: Axes, x: float, y: float, s: str, *args: object, **kwargs: object) -> object:
        drawn.append(s)
        return original(self, x, y, s, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Axes, "text", spy)
    text = poster.compose("en", WARD, MEETING, LONDON, LINK)
    content = poster.draw(text, "png")
    image = Image.open(io.BytesIO(content))
    assert image.size == (2480, 3507)  # 210 × 297 mm at 300 dpi
    assert round(image.info["dpi"][0]) == 300
    assert decoded(image) == [LINK]
    for line in (text.ward, text.headline, *text.meeting, *text.about, LINK):
        assert line in drawn, line
    assert "matplotlib.pyplot" not in sys.modules


def test_pdf_poster_is_one_vector_a4_page_whose_qr_code_reads_back_the_link() -> None:
    content = poster.draw(poster.compose("en", WARD, MEETING, LONDON, LINK), "pdf")
    assert content.startswith(b"%PDF")
    pages, size, text, codes = pdf_page(content)
    assert pages == 1
    assert (round(size[0]), round(size[1])) == (595, 842), "A4 MediaBox in points"
    assert codes == [LINK]
    assert b"/Subtype /Image" not in content, "the code is vector squares, not a picture"
    assert "Kingsmead" in text and "Thursday, 3 December 2026, 19:00" in text
    assert LINK in text


def test_long_names_and_odd_characters_still_fit_and_scan() -> None:
    ward = Ward("E05999998", "St Katharine's and Wapping West & $Riverside Marshes", "X", "Y")
    venue = "The Community Centre 🏠 " + "and its garden room " * 12
    meeting = Meeting(9, ward.code, MEETING.starts_at, venue, True, None, None)
    link = poster.deep_link(BOT, ward.code)
    content = poster.draw(poster.compose("en", ward, meeting, LONDON, link), "png")
    assert png_codes(content) == [link]
    lines, size = poster.fit(ward.name, 60, 178, 2, bold=True, smallest=30)
    assert len(lines) == 2 and 30 <= size < 60


def test_a_language_the_font_cannot_show_gets_an_english_poster() -> None:
    assert poster.shows("pl", LONDON) and poster.shows("tr", LONDON)
    assert poster.covers(["Zażółć gęślą jaźń, çığ ünü"])
    assert not poster.covers(["বাংলা"]), "DejaVu Sans has no Bengali script"
    assert not poster.shows("bn", LONDON), "Bengali dates at least"


async def test_make_poster_draws_in_english_when_the_font_lacks_the_script(
    world: World,
) -> None:
    svc = world.services
    made = await poster.make_poster(
        svc.db, svc.clock, svc.wards, "e05900002", username=BOT, language="bn", tz=LONDON
    )
    assert made.text.headline == "Your ward panel listens" and made.link == LINK
    assert made.filename == "poster-E05900002.pdf" and made.meeting is None


def test_bot_username_setting_takes_an_at_sign_and_refuses_nonsense(tmp_path: Path) -> None:
    none = tmp_path / "none.env"
    assert load_settings({"TELEGRAM_BOT_USERNAME": "@WardVoiceBot"}, none).bot_username == (
        "WardVoiceBot"
    )
    assert load_settings({}, none).bot_username is None
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_USERNAME"):
        load_settings({"TELEGRAM_BOT_USERNAME": "t.me/x"}, none)


# --- the command line --------------------------------------------------------------------


@pytest.fixture
def operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An operator in an empty directory with the synthetic wards imported."""
    monkeypatch.chdir(tmp_path)
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "TELEGRAM_BOT_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WARDVOICE_DB", str(tmp_path / "wardvoice.db"))
    monkeypatch.setenv("WARDVOICE_GEOCODER", "none")
    assert main(["import-wards", str(synthetic_wards_geojson(tmp_path / "wards.geojson"))]) == 0
    return tmp_path


def _add_meeting(db_path: Path, ward_code: str) -> None:
    async def add() -> None:
        db = await Database.open(db_path)
        try:
            await meeting_store.add(
                db,
                ward_code,
                "2099-03-05T19:00:00+00:00",
                "Kingsmead Library, Mill Lane",
                False,
                None,
                by="cli",
                now="2026-11-23T10:00:00+00:00",
            )
        finally:
            await db.close()

    asyncio.run(add())


def test_operator_makes_a_pdf_poster_with_the_next_meeting(
    operator: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", f"@{BOT}")
    _add_meeting(operator / "wardvoice.db", KINGSMEAD)
    capsys.readouterr()
    assert main(["poster", KINGSMEAD.lower()]) == 0
    out = capsys.readouterr().out
    assert "Wrote poster-E05900002.pdf: an A4 poster for Kingsmead ward (Northbank)." in out
    assert LINK in out
    pages, size, text, codes = pdf_page((operator / "poster-E05900002.pdf").read_bytes())
    assert (pages, round(size[0]), round(size[1]), codes) == (1, 595, 842, [LINK])
    assert "Thursday, 5 March 2099, 19:00" in text
    assert "Where: Kingsmead Library, Mill Lane" in text
    assert "Closed meeting: for panel members only." in text

    assert main(["poster", OLD_TOWN, "--out", "old-town.png"]) == 0
    assert png_codes((operator / "old-town.png").read_bytes()) == [
        f"https://t.me/{BOT}?start={OLD_TOWN}"
    ]
    assert main(["poster", OLD_TOWN, "--format", "png", "--out", "print/old-town"]) == 1
    assert "wardvoice: cannot write print/old-town" in capsys.readouterr().err


def test_operator_gets_clear_errors_for_an_unknown_ward_or_no_bot_name(
    operator: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["poster", "E05999999"]) == 1
    assert "wardvoice: there is no ward with the code E05999999" in capsys.readouterr().err
    assert main(["poster", KINGSMEAD]) == 1
    err = capsys.readouterr().err
    assert "TELEGRAM_BOT_USERNAME" in err and "TELEGRAM_BOT_TOKEN" in err
    assert "Traceback" not in err
    assert not list(operator.glob("poster-*"))


async def test_without_a_username_the_cli_asks_telegram_who_the_bot_is(
    operator: Path, monkeypatch: pytest.MonkeyPatch, fake_api: FakeBotAPI
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", FakeBotAPI.TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake_api.base_url)
    # main() runs its own event loop: in a thread, while the fake API serves on this one.
    assert await asyncio.to_thread(main, ["poster", KINGSMEAD, "--format", "png"]) == 0
    assert [c.method for c in fake_api.calls] == ["getMe"]
    assert png_codes((operator / "poster-E05900002.png").read_bytes()) == [LINK]


# --- the bot -----------------------------------------------------------------------------


def _documents(reply: Reply) -> list[tuple[Upload, str]]:
    found = []
    for call in reply.calls:
        if call.method == "sendDocument" and call.ok:
            upload = call.params["document"]
            assert isinstance(upload, Upload)
            found.append((upload, call.text or ""))
    return found


async def test_panel_member_gets_a_pdf_poster_of_their_ward(world: World) -> None:
    await meeting_store.add(
        world.db,
        KINGSMEAD,
        "2026-12-03T19:00:00+00:00",
        "St Mark's Church Hall, Mill Lane",
        True,
        None,
        by="tg:1",
        now="2026-11-23T10:00:00+00:00",
    )
    member = await join_as(world, KINGSMEAD, Role.PANEL_MEMBER)
    reply = await member.says("/poster")
    [(document, caption)] = _documents(reply)
    assert document.content.startswith(b"%PDF")
    assert document["filename"] == "poster-E05900002.pdf"
    assert "A poster for Kingsmead ward, to print on A4." in caption and LINK in caption
    pages, _size, text, codes = pdf_page(document.content)
    assert pages == 1 and codes == [LINK]
    assert "Thursday, 3 December 2026, 19:00" in text
    assert "Open to the public: all welcome." in text
    assert "No meeting is scheduled yet" not in reply.text
    assert "poster" in await audit_actions(world, "done")


async def test_team_member_gets_a_png_and_hears_when_no_meeting_is_set(world: World) -> None:
    team = await join_as(world, OLD_TOWN, Role.TEAM_MEMBER)
    reply = await team.says("/poster png")
    [(document, _caption)] = _documents(reply)
    assert document["filename"] == "poster-E05900011.png"
    assert png_codes(document.content) == [f"https://t.me/{BOT}?start={OLD_TOWN}"]
    assert "No meeting is scheduled yet" in reply.text

    wrong = await team.says("/poster jpeg")
    assert "Usage: /poster" in wrong.text and not _documents(wrong)


async def test_resident_or_youth_member_asking_for_a_poster_is_refused(world: World) -> None:
    resident = world.person()
    await resident.says(f"/start {KINGSMEAD}")
    youth = await join_as(world, KINGSMEAD, Role.YOUTH)
    refused = await refusals(world)
    for person in (resident, youth):
        reply = await person.says("/poster")
        assert "Sorry, you can't do that for this ward." in reply.text
        assert not _documents(reply)
    assert await refusals(world) == refused + 2
    assert (await audit_actions(world, "refused"))[:2] == ["poster", "poster"]
