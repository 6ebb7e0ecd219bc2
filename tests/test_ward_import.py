"""Importing boundaries and postcodes: counts, re-imports that keep residents, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.domain.imports import PostcodeFileError, import_postcodes, import_wards
from bot.geo.boundaries import BoundaryFileError
from storage import postcodes as postcode_store
from storage import residents as resident_store
from storage import wards as ward_store
from storage.db import Database
from tests.conftest import FakeClock, Person
from tests.fakes.users import SimUser
from tests.synthetic import SYNTHETIC_POINTS, synthetic_wards_geojson


async def _resident(
    db: Database, user_id: int, code: str, lat: float | None, lon: float | None
) -> None:
    await resident_store.get_or_create(db, user_id, "en", "2026-01-01T00:00:00+00:00")
    await resident_store.set_ward(
        db, user_id, code, "location", lat, lon, "2026-01-01T00:00:00+00:00"
    )


def _redrawn(source: Path, target: Path, *, drop: set[str], year: str = "24") -> Path:
    """The same file with some wards gone (boundaries redrawn) and another year's keys."""
    doc = json.loads(source.read_text())
    features = []
    for feature in doc["features"]:
        props = feature["properties"]
        if props["WD22CD"] in drop:
            continue
        feature["properties"] = {k.replace("22", year): v for k, v in props.items()}
        features.append(feature)
    doc["features"] = features
    target.write_text(json.dumps(doc))
    return target


async def test_first_import_counts_wards_and_boroughs(db: Database, tmp_path: Path) -> None:
    lines: list[str] = []
    result = await import_wards(
        db, synthetic_wards_geojson(tmp_path / "w.geojson"), FakeClock(), lines.append
    )
    c = result.counts
    assert (c.wards, c.boroughs, c.added, c.updated, c.unchanged, c.retired) == (12, 2, 12, 0, 0, 0)
    assert result.year == "22"
    assert await ward_store.count_active(db) == 12
    assert lines, "progress is reported while it works"


async def test_reimport_keeps_residents_and_replaces_those_whose_ward_vanished(
    db: Database, tmp_path: Path
) -> None:
    original = synthetic_wards_geojson(tmp_path / "w.geojson")
    await import_wards(db, original, FakeClock())
    kingsmead = SYNTHETIC_POINTS["inside_kingsmead"]
    await _resident(db, 1, "E05900002", kingsmead[0], kingsmead[1])  # Kingsmead: stays
    # Marsh Lane will vanish; this resident's point is 78 m from Kingsmere.
    river = SYNTHETIC_POINTS["river_near_kingsmere"]
    await _resident(db, 2, "E05900008", river[0], river[1])
    await _resident(db, 3, "E05900008", None, None)  # Marsh Lane, chose by name: ask again

    redrawn = _redrawn(original, tmp_path / "w24.geojson", drop={"E05900008"})
    result = await import_wards(db, redrawn, FakeClock())
    c = result.counts
    assert result.year == "24"
    assert (c.wards, c.added, c.unchanged, c.retired) == (11, 0, 11, 1)
    assert (c.residents_kept, c.residents_replaced, c.residents_to_ask) == (1, 1, 1)

    kept, replaced, asked = [await resident_store.get(db, i) for i in (1, 2, 3)]
    assert kept is not None and kept.ward_code == "E05900002"
    assert replaced is not None and replaced.ward_code == "E05900005"
    assert asked is not None and asked.ward_code is None and asked.ward_lost and asked.finding_ward


async def test_resident_whose_ward_vanished_is_asked_again_at_their_next_message(
    make_world,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    template = tmp_path / "template.db"
    original = synthetic_wards_geojson(tmp_path / "w.geojson")
    db = await Database.open(template)
    await import_wards(db, original, FakeClock())
    await _resident(db, 5000, "E05900008", None, None)
    await import_wards(
        db, _redrawn(original, tmp_path / "w24.geojson", drop={"E05900008"}), FakeClock()
    )
    await db.close()

    world = await make_world(template)
    resident = Person(world, SimUser(5000))
    reply = await resident.says("/priorities")
    assert "Ward boundaries have been redrawn" in reply.text
    assert reply.text.count("Where do you live?") == 1
    again = await resident.says("/help")
    assert "redrawn" not in again.text, "told once, not at every message"
    lat, lon, _ = SYNTHETIC_POINTS["inside_kingsmead"]
    placed = await resident.shares_location(lat, lon)
    assert "Kingsmead ward" in placed.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("this is not json", "not"),
        ('{"type": "Feature"}', "FeatureCollection"),
        ('{"type": "FeatureCollection", "features": []}', "no features"),
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", '
            '"properties": {"name": "x"}, "geometry": {"type": "Point", "coordinates": [0, 51]}}]}',
            "WD",
        ),
    ],
)
async def test_bad_boundary_file_is_refused_and_nothing_is_written(
    db: Database, tmp_path: Path, content: str, message: str
) -> None:
    await import_wards(db, synthetic_wards_geojson(tmp_path / "w.geojson"), FakeClock())
    bad = tmp_path / "bad.geojson"
    bad.write_text(content)
    with pytest.raises(BoundaryFileError, match=message):
        await import_wards(db, bad, FakeClock())
    assert await ward_store.count_active(db) == 12
    assert await db.fetchval("SELECT count(*) FROM ward_imports") == 1


async def test_postcodes_are_normalised_and_bad_rows_skipped(db: Database, tmp_path: Path) -> None:
    csv_file = tmp_path / "pc.csv"
    csv_file.write_text(
        "pcds,lat,long,osward\n"
        "nb11aa,51.463,-0.185,E05900004\n"
        " SB2  3DE ,51.41,-0.155,\n"
        "NOT A POSTCODE,51.4,-0.1,E05900004\n"
        "NB3 3ZZ,99.999999,0.000000,\n"
        "NB4 4ZZ,,,\n"
    )
    counts = await import_postcodes(db, csv_file)
    assert (counts.rows, counts.imported, counts.with_ward) == (5, 2, 1)
    assert (counts.skipped_bad_postcode, counts.skipped_no_point) == (1, 2)
    found = await postcode_store.find(db, "NB1 1AA")
    assert found is not None and found.ward_code == "E05900004"
    assert await postcode_store.find(db, "SB2 3DE") is not None


async def test_postcode_file_without_the_columns_writes_nothing(
    db: Database, tmp_path: Path
) -> None:
    csv_file = tmp_path / "pc.csv"
    csv_file.write_text("code,x,y\nNB1 1AA,1,2\n")
    with pytest.raises(PostcodeFileError, match="needs columns"):
        await import_postcodes(db, csv_file)
    assert await postcode_store.count(db) == 0
