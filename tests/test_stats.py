"""Stats for staff: figures and a weekly chart per ward or borough, CSV exports for the
minutes, and refusals for everyone else."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain import stats as stats_domain
from bot.domain.roles import Role
from handlers import stats as stats_handlers
from storage import concerns as concern_store
from storage import outcomes as outcome_store
from storage import residents as resident_store
from storage.stats import ConcernFigure
from tests.conftest import Reply, World
from tests.fakes.bot_api import Upload
from tests.staffing import audit_actions, join_as, refusals

KINGSMEAD, NORTHGATE, OLD_TOWN = "E05900002", "E05900001", "E05900011"
NORTHBANK = "E09900001"
RAISER = 777_001  # a resident id that must never appear in an export
LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class Filed:
    id: int
    ref: str


async def _concern(
    world: World,
    ward: str,
    category: str,
    created: datetime,
    *,
    answered_after: timedelta | None = None,
    supporters: int = 0,
) -> Filed:
    db = world.db
    now = created.isoformat()
    await resident_store.get_or_create(db, RAISER, "en", now)
    concern, _ = await concern_store.file(
        db,
        draft_key=f"K{created.timestamp():.0f}{ward}",
        user_id=RAISER,
        ward_code=ward,
        category=category,
        text="Something happened near the shops",
        lat=None,
        lon=None,
        photo_file_id=None,
        now=now,
        day_ago="9999",  # no daily limit here
        daily_limit=1000,
        make_ref=lambda: f"WV-{ward[-2:]}{int(created.timestamp()) % 997:03d}",
    )
    for n in range(supporters):
        await resident_store.get_or_create(db, RAISER + 1 + n, "en", now)
        await concern_store.add_supporter(db, concern.id, RAISER + 1 + n, now)
    if answered_after is not None:
        for later in (answered_after, answered_after * 2):  # only the first one counts
            await concern_store.add_response(
                db, concern.id, "We are on it", by="tg:1", now=(created + later).isoformat()
            )
    return Filed(concern.id, concern.ref)


def _at(day: int, hour: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


async def _kingsmead_year(world: World) -> dict[str, Filed]:
    """Four Kingsmead concerns (three in November), one in Old Town, one entry linked to
    the first (which makes it "action taken"); the noise concern has been reviewed."""
    filed = {
        "early_asb": await _concern(
            world, KINGSMEAD, "asb", _at(2, 9), answered_after=timedelta(hours=24), supporters=2
        ),
        "late_asb": await _concern(
            world, KINGSMEAD, "asb", _at(10, 12), answered_after=timedelta(hours=6)
        ),
        "noise": await _concern(world, KINGSMEAD, "noise", _at(20, 8)),
        "october": await _concern(
            world, KINGSMEAD, "roads", _at(1, 10, month=10), answered_after=timedelta(hours=48)
        ),
        "old_town": await _concern(world, OLD_TOWN, "asb", _at(5, 9)),
    }
    await concern_store.change_status(
        world.db,
        filed["noise"].id,
        "reviewed",
        by="tg:1",
        now=_at(21, 9).isoformat(),
        allowed=lambda current, wanted: True,
    )
    await outcome_store.add(
        world.db,
        KINGSMEAD,
        None,
        '=HYPERLINK("http://evil.example")',
        "Extra patrols by the shops, Friday nights",
        "2026-11-15",
        by="tg:1",
        now=_at(15, 12).isoformat(),
        concern_ids=[filed["early_asb"].id],
    )
    return filed


def _uploads(reply: Reply, method: str) -> list[tuple[Upload, str]]:
    found = []
    for call in reply.calls:
        if call.method == method and call.ok:
            upload = call.params["photo" if method == "sendPhoto" else "document"]
            assert isinstance(upload, Upload)
            found.append((upload, call.text or ""))
    return found


def _table(upload: Upload) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(upload.content.decode("utf-8-sig"))))


async def test_panel_member_sees_their_wards_figures_and_a_weekly_chart(world: World) -> None:
    await _kingsmead_year(world)
    member = await join_as(world, KINGSMEAD, Role.PANEL_MEMBER)
    reply = await member.says("/stats")
    text = reply.text
    assert "Figures for Kingsmead ward" in text
    assert "Concerns raised since 7 September 2026: 4" in text, "12 weeks, this one included"
    assert "· Anti-social behaviour: 2" in text and "· Road safety: 1" in text
    assert "Median time to a first response: 1 day (3 of 4 answered)" in text
    assert "· Received: 2\n· Reviewed by the panel: 1\n· Action taken: 1" in text
    assert "Satisfaction: no ratings in these weeks yet." in text
    assert "Subscribers: 0 at once, 0 weekly." in text
    [(chart, caption)] = _uploads(reply, "sendPhoto")
    assert chart.content.startswith(b"\x89PNG\r\n\x1a\n") and chart["size"] > 5_000
    assert "Concerns by category, week by week" in caption
    assert "view_stats" in await audit_actions(world, "done")

    pressed = await member.presses(stats_handlers.STATS_SHOW.build(code=KINGSMEAD))
    assert "Figures for Kingsmead ward" in pressed.text and _uploads(pressed, "sendPhoto")


async def test_a_ward_with_no_concerns_gets_figures_but_no_empty_chart(world: World) -> None:
    team = await join_as(world, NORTHGATE, Role.TEAM_MEMBER)
    reply = await team.says("/stats")
    assert "Concerns raised since 7 September 2026: 0" in reply.text
    assert "No concerns have been raised here yet." in reply.text
    assert "Median time" not in reply.text
    assert not _uploads(reply, "sendPhoto")


async def test_export_sends_concerns_and_entries_as_csv_without_who_raised_them(
    world: World,
) -> None:
    filed = await _kingsmead_year(world)
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    reply = await chair.says("/export 2026-11-01 2026-11-30")
    (concerns, concerns_caption), (entries, entries_caption) = _uploads(reply, "sendDocument")

    assert concerns["filename"] == "concerns-E05900002-2026-11-01-2026-11-30.csv"
    assert "Concerns for Kingsmead ward, 1 November 2026 to 30 November 2026: 3" in (
        concerns_caption
    )
    rows = _table(concerns)
    assert list(rows[0]) == list(stats_domain.CONCERN_COLUMNS)
    assert [r["ref"] for r in rows] == [
        filed["early_asb"].ref,
        filed["late_asb"].ref,
        filed["noise"].ref,
    ]
    first = rows[0]
    assert (first["ward"], first["category"], first["status"]) == (
        "Kingsmead",
        "Anti-social behaviour",
        "Action taken",
    )
    assert (first["created"], first["first_response"]) == ("2026-11-02 09:00", "2026-11-03 09:00")
    assert [r["hours_to_first_response"] for r in rows] == ["24.0", "6.0", ""]
    assert [r["supporters"] for r in rows] == ["2", "0", "0"]
    assert str(RAISER).encode() not in concerns.content
    assert b"Something happened" not in concerns.content, "the text stays in the bot"

    assert entries["filename"] == "you-said-we-did-E05900002-2026-11-01-2026-11-30.csv"
    assert "entries for Kingsmead ward" in entries_caption
    [entry] = _table(entries)
    assert entry["you_said"].startswith("'="), "a formula is defused for spreadsheets"
    assert entry["we_did"] == "Extra patrols by the shops, Friday nights"
    assert (entry["date"], entry["concerns"]) == ("2026-11-15", filed["early_asb"].ref)
    assert "export_csv" in await audit_actions(world, "done")


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("/export", "Usage: /export FROM TO"),
        ("/export november", "Usage: /export FROM TO"),
        ("/export 2026-11-01", "Usage: /export FROM TO"),
        ("/export 2026-11-31 2026-12-01", "Usage: /export FROM TO"),
        ("/export 2026-11-30 2026-11-01", "must not be after"),
        ("/export 2025-01-01 2026-11-30", "at most 366 days"),
        ("/export 2027-01-01 2027-01-31", "in the future"),
    ],
)
async def test_export_refuses_malformed_ranges_with_a_clear_answer(
    world: World, command: str, answer: str
) -> None:
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    reply = await chair.says(command)
    assert answer in reply.text
    assert not _uploads(reply, "sendDocument")


async def test_stats_for_something_that_is_not_a_ward_explains_itself(world: World) -> None:
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    reply = await chair.says("/stats everything")
    assert "Usage: /stats, /stats borough, or /stats followed by a ward's code" in reply.text
    assert not _uploads(reply, "sendPhoto")


async def test_resident_typing_stats_commands_or_forging_the_button_is_refused(
    world: World,
) -> None:
    await _kingsmead_year(world)
    resident = world.person()
    await resident.says(f"/start {KINGSMEAD}")
    refused = await refusals(world)
    replies = [
        await resident.says("/stats"),
        await resident.says("/stats borough"),
        await resident.says("/export 2026-11-01 2026-11-30"),
        await resident.says("/export"),
    ]
    pressed = await resident.presses(stats_handlers.STATS_SHOW.build(code=KINGSMEAD))
    for reply in replies:
        assert "Sorry, you can't" in reply.text
    assert pressed.answers[0].params["text"] == "Sorry, you can't do that for this ward."
    for reply in [*replies, pressed]:
        assert [c.method for c in reply.calls if c.method.startswith("send")] in (
            [],
            ["sendMessage"],
        )
    assert await refusals(world) == refused + 5
    assert set((await audit_actions(world, "refused"))[:5]) == {"view_stats"}


async def test_staff_of_another_ward_cannot_see_this_wards_or_boroughs_figures(
    world: World,
) -> None:
    await _kingsmead_year(world)
    member = await join_as(world, OLD_TOWN, Role.PANEL_MEMBER)
    refused = await refusals(world)
    by_code = await member.says(f"/stats {KINGSMEAD}")
    export = await member.says(f"/export {KINGSMEAD} 2026-11-01 2026-11-30")
    borough = await member.says(f"/stats {NORTHBANK}")
    own_borough = await member.says("/stats borough")
    pressed = await member.presses(stats_handlers.STATS_SHOW.build(code=KINGSMEAD))
    assert "Sorry, you can't do that for this ward." in by_code.text
    assert "Sorry, you can't do that for this ward." in export.text
    for reply in (borough, own_borough):
        assert "Sorry, you can't see the figures for this borough." in reply.text
    assert pressed.answers[0].params["text"] == "Sorry, you can't do that for this ward."
    assert not _uploads(export, "sendDocument") and not _uploads(by_code, "sendPhoto")
    assert await refusals(world) == refused + 5

    own = await member.says("/stats")
    assert "Figures for Old Town ward" in own.text and "Concerns raised since" in own.text


async def test_admin_sees_a_whole_boroughs_figures_and_export(make_world, synthetic_db) -> None:  # type: ignore[no-untyped-def]
    world = await make_world(synthetic_db, admin_ids=frozenset({1001}))
    admin = world.person()
    await _kingsmead_year(world)
    await _concern(world, NORTHGATE, "drugs", _at(12, 22))
    await admin.says(f"/panel {KINGSMEAD}")
    reply = await admin.says("/stats borough")
    assert "Figures for Northbank (borough)" in reply.text
    assert "Concerns raised since 7 September 2026: 5" in reply.text, "Old Town is Southbank"
    assert "· Drugs: 1" in reply.text
    export = await admin.says(f"/export {NORTHBANK} 2026-11-01 2026-11-30")
    (concerns, _), _entries = _uploads(export, "sendDocument")
    assert {r["ward"] for r in _table(concerns)} == {"Kingsmead", "Northgate"}


def _figure(created: datetime, answered: timedelta | None, category: str = "asb") -> ConcernFigure:
    first = (created + answered).isoformat() if answered is not None else None
    return ConcernFigure("WV-22222", KINGSMEAD, category, "received", created.isoformat(), first, 0)


def test_median_counts_only_answered_concerns_and_weeks_are_local() -> None:
    monday = date(2026, 3, 23)  # the clocks go forward on Sunday 29 March
    figures = [
        _figure(datetime(2026, 3, 23, 0, 30, tzinfo=UTC), timedelta(hours=2)),
        _figure(datetime(2026, 3, 29, 23, 30, tzinfo=UTC), timedelta(hours=10), "noise"),
        _figure(datetime(2026, 3, 30, 9, 0, tzinfo=UTC), None, "noise"),
    ]
    assert stats_domain.median_response(figures) == timedelta(hours=6)
    assert stats_domain.median_response(figures[2:]) is None
    weekly = stats_domain.weekly_by_category(figures, monday, 2, LONDON)
    # 23:30 UTC on Sunday 29 March is 00:30 BST on Monday 30 March: the second week.
    assert weekly == {"noise": (0, 2), "asb": (1, 0)}


def test_a_one_day_range_is_that_whole_local_day() -> None:
    assert stats_domain.parse_range("2026-11-01", "2026-11-01", date(2026, 11, 23)) == (
        date(2026, 11, 1),
        date(2026, 11, 1),
    )


def test_chart_is_drawn_without_pyplot_and_dollars_are_not_maths() -> None:
    import sys

    from bot import charts

    png = charts.stacked_bars_png(
        ["1 Nov", "8 Nov"], [("$5 & <b>", [1, 2])], title="T", x_label="w", y_label="n"
    )
    assert png.startswith(b"\x89PNG") and "matplotlib.pyplot" not in sys.modules
