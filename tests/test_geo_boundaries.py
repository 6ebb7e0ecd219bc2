"""An operator imports an ONS ward file; the importer reads it or says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shapely

from bot.geo.boundaries import BoundaryFileError, parse_ward_geojson
from tests import realdata
from tests.realdata import LONDON_WARDS, england_wales_wards, london_wards, shared_file
from tests.synthetic import SYNTHETIC_WARDS, synthetic_wards_geojson


def _write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _square(west: float, south: float, size: float = 0.01) -> dict[str, Any]:
    e, n = west + size, south + size
    return {
        "type": "Polygon",
        "coordinates": [[[west, south], [e, south], [e, n], [west, n], [west, south]]],
    }


def _feature(code: str, geometry: Any, year: str = "22", **extra: str) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {
            f"WD{year}CD": code,
            f"WD{year}NM": f"Ward {code}",
            f"LAD{year}CD": "E09900001",
            f"LAD{year}NM": "Northbank",
            **extra,
        },
        "geometry": geometry,
    }


def _collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


# ------------------------------------------------------------------ synthetic


def test_the_synthetic_ward_file_imports_as_twelve_valid_wards(tmp_path: Path) -> None:
    parsed = parse_ward_geojson(synthetic_wards_geojson(tmp_path / "wards.geojson"))
    assert parsed.year == "22"
    assert parsed.merged_duplicates == 0
    assert [w.code for w in parsed.wards] == [w.code for w in SYNTHETIC_WARDS]
    by_code = {w.code: w for w in parsed.wards}
    st_marys = by_code["E05900006"]
    assert (st_marys.name, st_marys.borough_code, st_marys.borough_name) == (
        "St Mary's & Riverside",
        "E09900001",
        "Northbank",
    )
    assert all(shapely.is_valid(w.geometry) for w in parsed.wards)
    assert by_code["E05900009"].geometry.geom_type == "MultiPolygon"  # ward with an island
    assert by_code["E05900001"].geometry.geom_type == "Polygon"
    assert by_code["E05900001"].geometry.area == pytest.approx(0.03 * 0.025)
    assert st_marys.ward.code == "E05900006"


@pytest.mark.parametrize("year", ["24", "11", "99"])
def test_a_file_from_another_year_is_recognised_by_its_property_names(
    tmp_path: Path, year: str
) -> None:
    parsed = parse_ward_geojson(synthetic_wards_geojson(tmp_path / "w.geojson", year=year))
    assert parsed.year == year
    assert len(parsed.wards) == len(SYNTHETIC_WARDS)


def test_lower_case_property_names_are_accepted(tmp_path: Path) -> None:
    feature = {
        "type": "Feature",
        "properties": {
            "wd24cd": "E05900001",
            "wd24nm": "Abbey",
            "lad24cd": "E09900001",
            "lad24nm": "Northbank",
            "objectid": 1,
        },
        "geometry": _square(-0.2, 51.4),
    }
    parsed = parse_ward_geojson(_write(tmp_path / "lower.geojson", _collection(feature)))
    assert parsed.year == "24"
    assert (parsed.wards[0].code, parsed.wards[0].name) == ("E05900001", "Abbey")


def test_when_several_years_are_present_the_newest_complete_one_is_used(tmp_path: Path) -> None:
    feature = _feature(
        "E05000001",
        _square(-0.2, 51.4),
        year="22",
        WD24CD="E05100001",
        WD24NM="Newer",
        LAD24CD="E09100001",
        LAD24NM="Newborough",
        WD25CD="E05200001",  # 2025 is incomplete: only a code
    )
    parsed = parse_ward_geojson(_write(tmp_path / "years.geojson", _collection(feature)))
    assert parsed.year == "24"
    assert (parsed.wards[0].code, parsed.wards[0].borough_name) == ("E05100001", "Newborough")


def test_a_ward_split_across_two_boroughs_becomes_one_ward_in_the_larger_part(
    tmp_path: Path,
) -> None:
    small = _feature("E05000009", _square(-0.20, 51.40, size=0.01))
    large = _feature("E05000009", _square(-0.19, 51.40, size=0.02))
    large["properties"]["LAD22CD"], large["properties"]["LAD22NM"] = "E09900002", "Southbank"
    other = _feature("E05000010", _square(-0.10, 51.40))
    path = _write(tmp_path / "dup.geojson", _collection(small, other, large))

    parsed = parse_ward_geojson(path)

    assert parsed.merged_duplicates == 1
    assert [w.code for w in parsed.wards] == ["E05000009", "E05000010"]
    merged = parsed.wards[0]
    assert merged.borough_name == "Southbank"
    assert merged.geometry.area == pytest.approx(0.01**2 + 0.02**2)
    assert merged.geometry.contains(shapely.Point(-0.195, 51.405))  # the small part
    assert shapely.is_valid(merged.geometry)


def test_progress_is_reported_about_every_thousand_features(tmp_path: Path) -> None:
    features = [
        _feature(f"E05{i:06d}", _square(-0.2 + (i % 50) * 0.01, 51.0 + (i // 50) * 0.01))
        for i in range(2500)
    ]
    lines: list[str] = []
    parse_ward_geojson(_write(tmp_path / "many.geojson", _collection(*features)), lines.append)
    assert lines == [
        "parsed 1000 of 2500 features",
        "parsed 2000 of 2500 features",
        "parsed 2500 of 2500 features",
    ]


def test_a_self_crossing_polygon_is_repaired_not_rejected(tmp_path: Path) -> None:
    bow_tie = {
        "type": "Polygon",
        "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
    }
    parsed = parse_ward_geojson(
        _write(tmp_path / "bowtie.geojson", _collection(_feature("E05000001", bow_tie)))
    )
    geometry = parsed.wards[0].geometry
    assert shapely.is_valid(geometry)
    assert geometry.geom_type in ("Polygon", "MultiPolygon")
    assert geometry.area == pytest.approx(0.5)


def test_coordinates_with_heights_are_read_as_flat_lon_lat(tmp_path: Path) -> None:
    with_z = {
        "type": "Polygon",
        "coordinates": [[[0, 0, 5], [1, 0, 5], [1, 1, 5], [0, 1, 5], [0, 0, 5]]],
    }
    parsed = parse_ward_geojson(
        _write(tmp_path / "z.geojson", _collection(_feature("E05000001", with_z)))
    )
    assert shapely.get_coordinate_dimension(parsed.wards[0].geometry) == 2
    assert parsed.wards[0].geometry.area == pytest.approx(1.0)


# --------------------------------------------------------------- bad files


def _error_for(tmp_path: Path, content: str | Any) -> str:
    path = tmp_path / "bad.geojson"
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    with pytest.raises(BoundaryFileError) as caught:
        parse_ward_geojson(path)
    return str(caught.value)


def test_a_file_that_is_not_json_is_refused_naming_the_file(tmp_path: Path) -> None:
    message = _error_for(tmp_path, "WD22CD,WD22NM\nE05000001,Abbey\n")
    assert "bad.geojson" in message
    assert "not a JSON file" in message


def test_a_missing_file_is_refused_with_an_operator_message(tmp_path: Path) -> None:
    with pytest.raises(BoundaryFileError, match=r"nowhere\.geojson: cannot read"):
        parse_ward_geojson(tmp_path / "nowhere.geojson")


@pytest.mark.parametrize(
    ("doc", "found"),
    [
        ({"type": "Feature", "properties": {}, "geometry": None}, "'Feature'"),
        ([1, 2, 3], "'list'"),
        ({"type": "Topology", "objects": {}}, "'Topology'"),
    ],
)
def test_json_that_is_not_a_feature_collection_is_refused(
    tmp_path: Path, doc: Any, found: str
) -> None:
    message = _error_for(tmp_path, doc)
    assert "expected a GeoJSON FeatureCollection" in message
    assert found in message


def test_a_collection_without_features_is_refused(tmp_path: Path) -> None:
    assert "has no features" in _error_for(tmp_path, _collection())


def test_missing_ward_properties_are_refused_listing_what_was_found(tmp_path: Path) -> None:
    feature = {
        "type": "Feature",
        "properties": {"WD22CD": "E05000001", "WD22NM": "Abbey", "ward_name": "Abbey"},
        "geometry": _square(0, 0),
    }
    message = _error_for(tmp_path, _collection(feature))
    assert "WDyyCD, WDyyNM, LADyyCD and LADyyNM" in message
    assert "properties found: WD22CD, WD22NM, ward_name" in message


def test_properties_from_different_years_do_not_make_a_set(tmp_path: Path) -> None:
    feature = {
        "type": "Feature",
        "properties": {"WD22CD": "E1", "WD22NM": "A", "LAD21CD": "E9", "LAD21NM": "B"},
        "geometry": _square(0, 0),
    }
    assert "same two-digit year" in _error_for(tmp_path, _collection(feature))


def test_a_point_geometry_is_refused_naming_the_feature(tmp_path: Path) -> None:
    point = {"type": "Point", "coordinates": [-0.1, 51.5]}
    doc = _collection(_feature("E05000001", _square(0, 0)), _feature("E05000002", point))
    message = _error_for(tmp_path, doc)
    assert "feature 1 (E05000002) has a Point geometry" in message
    assert "expected Polygon or MultiPolygon" in message


def test_a_feature_without_geometry_is_refused_naming_the_feature(tmp_path: Path) -> None:
    message = _error_for(tmp_path, _collection(_feature("E05000007", None)))
    assert "feature 0 (E05000007) has no geometry" in message


def test_unreadable_coordinates_are_refused_naming_the_feature(tmp_path: Path) -> None:
    broken = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}
    message = _error_for(tmp_path, _collection(_feature("E05000003", broken)))
    assert "feature 0 (E05000003)" in message


@pytest.mark.parametrize("field", ["WD22CD", "LAD22CD"])
def test_an_empty_code_is_refused(tmp_path: Path, field: str) -> None:
    feature = _feature("E05000001", _square(0, 0))
    feature["properties"][field] = "  "
    message = _error_for(tmp_path, _collection(feature))
    assert f"empty {field}" in message
    assert "feature 0" in message


# ------------------------------------------------------------------ real data


def test_the_england_and_wales_file_gives_7665_wards_with_one_merged_duplicate() -> None:
    parsed = england_wales_wards()
    assert parsed.year == "22"
    assert len(parsed.wards) == 7665
    assert parsed.merged_duplicates == 1
    codes = [w.code for w in parsed.wards]
    assert len(set(codes)) == len(codes)
    assert sum(1 for c in codes if c.startswith("W05")) == 762
    split = next(w for w in parsed.wards if w.code == "E05014284")
    assert split.name == "Hunmanby & Sherburn (part Scarborough)"
    assert split.borough_name in ("Scarborough", "Ryedale")
    assert all(shapely.is_valid(w.geometry) for w in parsed.wards)
    assert len({w.borough_code for w in parsed.wards}) == 331


def test_the_merged_duplicate_covers_both_of_its_source_parts() -> None:
    path = shared_file("england_wales_wards_2022_bsc.geojson")
    parts = [
        shapely.geometry.shape(f["geometry"])
        for f in json.loads(path.read_text("utf-8"))["features"]
        if f["properties"]["WD22CD"] == "E05014284"
    ]
    assert len(parts) == 2
    merged = next(w for w in england_wales_wards().wards if w.code == "E05014284")
    assert merged.geometry.area == pytest.approx(shapely.union_all(parts).area)
    assert all(merged.geometry.covers(shapely.point_on_surface(p)) for p in parts)


def test_the_london_file_gives_704_wards_in_33_boroughs() -> None:
    parsed = london_wards()
    assert (len(parsed.wards), parsed.year, parsed.merged_duplicates) == (704, "22", 0)
    assert len({w.borough_code for w in parsed.wards}) == 33
    st_james = next(w for w in parsed.wards if w.code == "E05013806")
    assert (st_james.name, st_james.borough_name) == ("St James's", "Westminster")


def test_the_london_file_renamed_to_2024_properties_is_still_imported(tmp_path: Path) -> None:
    text = shared_file(LONDON_WARDS).read_text("utf-8")
    for key in ("WD22CD", "WD22NM", "LAD22CD", "LAD22NM"):
        text = text.replace(f'"{key}"', f'"{key.replace("22", "24").lower()}"')
    parsed = parse_ward_geojson(_write_text(tmp_path / "london24.geojson", text))
    assert parsed.year == "24"
    assert len(parsed.wards) == 704
    assert [w.code for w in parsed.wards] == [w.code for w in london_wards().wards]


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------- missing shared data


def test_without_the_shared_data_real_data_tests_skip_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(realdata, "SHARED_DATA", tmp_path / "absent")
    monkeypatch.delenv(realdata.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"real ward data not found at .*absent"):
        realdata.require_shared_data()


def test_when_shared_data_is_required_its_absence_fails_the_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(realdata, "SHARED_DATA", tmp_path / "absent")
    monkeypatch.setenv(realdata.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="WARDVOICE_REQUIRE_SHARED_DATA=1 requires"):
        realdata.require_shared_data()


def test_the_shared_data_directory_is_found_beside_the_repository() -> None:
    assert realdata.SHARED_DATA == (realdata.REPO.parent / "shared" / "data").resolve()
    assert (realdata.REPO / "pyproject.toml").is_file()


def test_a_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = synthetic_wards_geojson(tmp_path / "bom.geojson")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert len(parse_ward_geojson(path).wards) == len(SYNTHETIC_WARDS)
