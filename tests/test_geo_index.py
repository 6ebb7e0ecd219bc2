"""A resident shares a location; the bot must say which ward that is, quickly and right."""

from __future__ import annotations

import asyncio
import csv
import math
import time

import numpy as np
import pytest
import shapely
from geopy.distance import geodesic

from bot.geo.boundaries import parse_ward_geojson
from bot.geo.index import NEAREST_WITHIN_M, Placement, Ward, WardIndex
from tests.realdata import (
    LONDON_POSTCODES,
    england_wales_index,
    england_wales_wards,
    london_index,
    shared_file,
)
from tests.synthetic import SYNTHETIC_POINTS, WEST, synthetic_wards_geojson

# ------------------------------------------------------------------ synthetic


@pytest.fixture(scope="module")
def synthetic(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[Ward], list[shapely.Geometry]]:
    path = synthetic_wards_geojson(tmp_path_factory.mktemp("geo") / "wards.geojson")
    parsed = parse_ward_geojson(path)
    return [w.ward for w in parsed.wards], [w.geometry for w in parsed.wards]


def _index(synthetic: tuple[list[Ward], list[shapely.Geometry]], lazy: bool) -> WardIndex:
    return WardIndex.build(*synthetic, lazy=lazy)


def _lattice(
    west: float, south: float, east: float, north: float, n: int
) -> list[tuple[float, float]]:
    return [
        (lat, lon) for lat in np.linspace(south, north, n) for lon in np.linspace(west, east, n)
    ]


@pytest.mark.parametrize("lazy", [False, True], ids=["grid", "strtree"])
@pytest.mark.parametrize("name", sorted(SYNTHETIC_POINTS))
def test_every_named_point_lands_where_expected_with_and_without_the_grid(
    synthetic: tuple[list[Ward], list[shapely.Geometry]], lazy: bool, name: str
) -> None:
    index = _index(synthetic, lazy)
    assert index.grid_ready is not lazy
    lat, lon, expected = SYNTHETIC_POINTS[name]
    placement = index.locate(lat, lon)
    assert (placement.ward.code if placement else None) == expected


def test_a_point_inside_a_ward_is_at_distance_zero(
    synthetic: tuple[list[Ward], list[shapely.Geometry]],
) -> None:
    lat, lon, code = SYNTHETIC_POINTS["inside_kingsmead"]
    placement = _index(synthetic, lazy=False).locate(lat, lon)
    assert placement is not None
    assert (placement.ward.code, placement.ward.name, placement.distance_m) == (
        code,
        "Kingsmead",
        0.0,
    )
    assert placement.ward.borough_name == "Northbank"


def test_a_point_in_the_river_gets_the_nearest_bank_ward_with_its_geodesic_distance(
    synthetic: tuple[list[Ward], list[shapely.Geometry]],
) -> None:
    index = _index(synthetic, lazy=False)
    lat, lon, code = SYNTHETIC_POINTS["river_near_kingsmere"]
    placement = index.locate(lat, lon)
    assert placement is not None and placement.ward.code == code
    # Kingsmere's southern edge is at latitude 51.451, straight north of the point.
    assert placement.distance_m == pytest.approx(
        geodesic((lat, lon), (51.451, lon)).meters, abs=0.5
    )
    lat, lon, code = SYNTHETIC_POINTS["river_near_abbey_south"]
    placement = index.locate(lat, lon)
    assert placement is not None and placement.ward.code == code
    assert placement.distance_m == pytest.approx(
        geodesic((lat, lon), (51.449, lon)).meters, abs=0.5
    )


@pytest.mark.parametrize("lazy", [False, True], ids=["grid", "strtree"])
def test_a_point_just_within_250_m_of_a_ward_is_placed_and_just_beyond_is_not(
    synthetic: tuple[list[Ward], list[shapely.Geometry]], lazy: bool
) -> None:
    index = _index(synthetic, lazy)
    lat = 51.49  # beside Northgate's western edge (longitude WEST)
    near = geodesic(meters=NEAREST_WITHIN_M - 5).destination((lat, WEST), bearing=270)
    far = geodesic(meters=NEAREST_WITHIN_M + 5).destination((lat, WEST), bearing=270)
    placed = index.locate(near.latitude, near.longitude)
    assert placed is not None and placed.ward.name == "Northgate"
    assert placed.distance_m == pytest.approx(NEAREST_WITHIN_M - 5, abs=1.0)
    assert index.locate(far.latitude, far.longitude) is None


def test_a_point_on_a_shared_boundary_goes_to_the_same_ward_on_both_paths(
    synthetic: tuple[list[Ward], list[shapely.Geometry]],
) -> None:
    corner = (51.475, -0.17)  # where Northgate, Kingsmead, Abbey and Kingsmere meet
    edge = (51.48, -0.17)  # between Northgate and Kingsmead
    for lat, lon in (corner, edge):
        with_grid = _index(synthetic, lazy=False).locate(lat, lon)
        without = _index(synthetic, lazy=True).locate(lat, lon)
        assert with_grid == without
        assert with_grid is not None
        assert (with_grid.ward.name, with_grid.distance_m) == ("Northgate", 0.0)


async def test_warming_the_grid_changes_no_answer(
    synthetic: tuple[list[Ward], list[shapely.Geometry]],
) -> None:
    index = _index(synthetic, lazy=True)
    # A lattice over the wards, the river and 400 m around, with exact cell edges on it.
    points = _lattice(-0.206, 51.396, -0.094, 51.504, 57)
    points += [(51.40 + k * 0.01, -0.20 + j * 0.01) for k in range(11) for j in range(11)]
    before = [index.locate(lat, lon) for lat, lon in points]
    await index.warm()
    assert index.grid_ready
    after = [index.locate(lat, lon) for lat, lon in points]
    assert after == before
    assert sum(p is None for p in before) > 0
    assert sum(p is not None and p.distance_m > 0 for p in before) > 0
    await index.warm()  # a second warm is a no-op
    assert [index.locate(lat, lon) for lat, lon in points] == before


def test_locate_and_the_plain_scan_agree_on_who_contains_a_point(
    synthetic: tuple[list[Ward], list[shapely.Geometry]],
) -> None:
    index = _index(synthetic, lazy=False)
    for lat, lon in _lattice(-0.21, 51.39, -0.09, 51.51, 41):
        placement = index.locate(lat, lon)
        inside = placement.ward if placement and placement.distance_m == 0.0 else None
        assert inside == index.scan_locate(lat, lon), (lat, lon)


async def test_an_empty_index_places_nobody() -> None:
    index = WardIndex.empty()
    assert len(index) == 0
    assert index.locate(51.46, -0.15) is None
    assert index.scan_locate(51.46, -0.15) is None
    assert index.ward("E05900001") is None
    assert list(index.wards()) == []
    await index.warm()
    assert index.locate(51.46, -0.15) is None


def test_wards_can_be_looked_up_by_code(
    synthetic: tuple[list[Ward], list[shapely.Geometry]],
) -> None:
    index = _index(synthetic, lazy=False)
    assert len(index) == 12
    ward = index.ward("E05900006")
    assert ward is not None and ward.name == "St Mary's & Riverside"
    assert index.ward("E05999999") is None
    assert [w.code for w in index.wards()][:2] == ["E05900001", "E05900002"]


@pytest.mark.parametrize(
    ("lat", "lon"), [(91.0, 0.0), (0.0, 181.0), (math.nan, 0.0), (0.0, math.inf)]
)
@pytest.mark.parametrize("lazy", [False, True], ids=["grid", "strtree"])
def test_a_coordinate_that_is_not_on_earth_is_refused(
    synthetic: tuple[list[Ward], list[shapely.Geometry]], lat: float, lon: float, lazy: bool
) -> None:
    with pytest.raises(ValueError, match="not a WGS84 coordinate"):
        _index(synthetic, lazy).locate(lat, lon)


def test_building_refuses_inconsistent_input() -> None:
    ward = Ward("E1", "A", "B1", "B")
    box = shapely.box(0, 0, 1, 1)
    with pytest.raises(ValueError, match="1 wards but 2 geometries"):
        WardIndex.build([ward], [box, box])
    with pytest.raises(ValueError, match="E1 appears twice"):
        WardIndex.build([ward, ward], [box, box])
    with pytest.raises(ValueError, match="E1 has a Point geometry"):
        WardIndex.build([ward], [shapely.Point(0, 0)])


@pytest.mark.parametrize("lazy", [False, True], ids=["grid", "strtree"])
def test_wards_near_the_poles_and_the_date_line_are_found_within_250_m(lazy: bool) -> None:
    index = WardIndex.build(
        [
            Ward("N1", "Polar", "B1", "Arctic"),
            Ward("S1", "Austral", "B2", "Antarctic"),
            Ward("D1", "Dateline", "B3", "Pacific"),
        ],
        [
            shapely.box(-10, 89.99, 10, 89.995),
            shapely.box(-10, -89.995, 10, -89.99),
            shapely.box(179.99, 0.0, 180.0, 0.01),
        ],
        lazy=lazy,
    )
    inside = index.locate(89.9925, 5.0)
    assert inside is not None and (inside.ward.code, inside.distance_m) == ("N1", 0.0)
    beyond_the_top = index.locate(89.996, 0.0)  # 0.001° of latitude: about 112 m
    assert beyond_the_top is not None and beyond_the_top.ward.code == "N1"
    assert beyond_the_top.distance_m == pytest.approx(111.7, abs=0.5)
    assert index.locate(89.996, 180.0) is None  # across the pole: about 1 km
    assert index.locate(90.0, 0.0) is None  # the pole is 556 m from the ward
    south = index.locate(-89.996, 3.0)
    assert south is not None and south.ward.code == "S1"
    # Just west of the date line, the ward is east of it: 0.001° of longitude, 111 m.
    wrapped = index.locate(0.005, -179.999)
    assert wrapped is not None and wrapped.ward.code == "D1"
    assert wrapped.distance_m == pytest.approx(111.3, abs=0.5)
    assert index.locate(0.005, -179.99) is None


# ------------------------------------------------------------------ real data

# README "Verification": landmark → (ward, borough). Romford station is a few metres
# outside St Alban's in the generalised file, so the point sits 50 m into it.
LANDMARKS: dict[str, tuple[float, float, str | None, str | None]] = {
    "Trafalgar Square": (51.5080, -0.1281, "St James's", "Westminster"),
    "Brixton tube": (51.4627, -0.1145, "Brixton Windrush", "Lambeth"),
    "Big Ben": (51.5007, -0.1246, "St James's", "Westminster"),
    "Bank junction": (51.5133, -0.0890, "Walbrook", "City of London"),
    "Tower of London": (51.5081, -0.0759, "St Katharine's & Wapping", "Tower Hamlets"),
    "Wembley Stadium": (51.5560, -0.2796, "Wembley Park", "Brent"),
    "Heathrow T5": (51.4700, -0.4880, "Heathrow Villages", "Hillingdon"),
    "Royal Observatory": (51.4769, -0.0005, "Greenwich Park", "Greenwich"),
    "Kew Gardens": (51.4787, -0.2956, "Kew", "Richmond upon Thames"),
    "London Stadium": (51.5387, -0.0166, "Stratford Olympic Park", "Newham"),
    "East Croydon": (51.3755, -0.0925, "Fairfield", "Croydon"),
    "Romford station": (51.5745, 0.1835, "St Alban's", "Havering"),
    "Camden Town": (51.5392, -0.1426, "Camden Town", "Camden"),
    "Manchester": (53.4808, -2.2426, None, None),
}


@pytest.mark.parametrize("landmark", list(LANDMARKS))
def test_london_landmarks_are_in_their_known_wards(landmark: str) -> None:
    lat, lon, ward, borough = LANDMARKS[landmark]
    placement = london_index().locate(lat, lon)
    if ward is None:
        assert placement is None
    else:
        assert placement is not None
        assert (placement.ward.name, placement.ward.borough_name, placement.distance_m) == (
            ward,
            borough,
            0.0,
        )


def test_manchester_and_cardiff_landmarks_are_found_in_england_and_wales() -> None:
    index = england_wales_index()
    town_hall = index.locate(53.4794, -2.2446)
    castle = index.locate(51.4822, -3.1812)
    assert town_hall is not None and (town_hall.ward.name, town_hall.ward.borough_name) == (
        "Deansgate",
        "Manchester",
    )
    assert castle is not None and (castle.ward.name, castle.ward.borough_name) == (
        "Cathays",
        "Cardiff",
    )


def test_sample_postcodes_located_by_their_coordinates_get_their_ward() -> None:
    index = london_index()
    with shared_file(LONDON_POSTCODES).open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    misses = []
    for row in rows:
        placement = index.locate(float(row["lat"]), float(row["lon"]))
        got = placement.ward.code if placement else None
        if got != row["WD22CD"]:
            misses.append((row["postcode"], row["WD22CD"], got))
    share = 1 - len(misses) / len(rows)
    assert share >= 0.995, f"{len(misses)} of {len(rows)} postcodes missed: {misses[:20]}"


def _points_inside_random_wards(n: int, seed: int) -> list[tuple[float, float, int]]:
    """n points, each inside a randomly chosen ward (rejection sampling in its bounds)."""
    wards = england_wales_wards().wards
    rng = np.random.default_rng(seed)
    geoms = np.array([w.geometry for w in wards], dtype=object)
    picks = rng.integers(0, len(wards), n)
    bounds = shapely.bounds(geoms[picks])
    out: list[tuple[float, float, int]] = []
    for k, i in enumerate(picks.tolist()):
        west, south, east, north = bounds[k]
        while True:
            lon, lat = rng.uniform(west, east, 32), rng.uniform(south, north, 32)
            hit = np.flatnonzero(shapely.contains_xy(geoms[i], lon, lat))
            if len(hit):
                out.append((float(lat[hit[0]]), float(lon[hit[0]]), i))
                break
    return out


def test_random_points_inside_random_england_and_wales_wards_get_that_ward() -> None:
    index = england_wales_index()
    wards = england_wales_wards().wards
    wrong = []
    for lat, lon, i in _points_inside_random_wards(3000, seed=20220505):
        placement = index.locate(lat, lon)
        if placement is None or placement.ward.code != wards[i].code or placement.distance_m:
            wrong.append((lat, lon, wards[i].code, placement))
    assert wrong == []


def test_locate_agrees_with_the_plain_scan_across_england_and_wales() -> None:
    index = england_wales_index()
    rng = np.random.default_rng(7)
    west, south, east, north = -6.4, 49.9, 1.8, 55.8  # includes plenty of sea
    points = list(zip(rng.uniform(south, north, 1500), rng.uniform(west, east, 1500), strict=True))
    points += [(lat, lon) for lat, lon, _ in _points_inside_random_wards(1500, seed=11)]
    disagree = []
    for lat, lon in points:
        placement = index.locate(lat, lon)
        inside = placement.ward if placement and placement.distance_m == 0.0 else None
        if inside != index.scan_locate(lat, lon):
            disagree.append((lat, lon))
    assert disagree == []


def _brute_force_nearest(lat: float, lon: float) -> tuple[str, float]:
    """Nearest ward by great-circle distance to its boundary densified to about 1 m."""
    best = ("", math.inf)
    point = shapely.Point(lon, lat)
    for ward in england_wales_wards().wards:
        if ward.geometry.distance(point) > 0.02:  # over a kilometre away
            continue
        rim = shapely.segmentize(ward.geometry.boundary, 0.00001)
        xy = np.radians(shapely.get_coordinates(rim))
        dlat, dlon = xy[:, 1] - math.radians(lat), xy[:, 0] - math.radians(lon)
        h = (
            np.sin(dlat / 2) ** 2
            + math.cos(math.radians(lat)) * np.cos(xy[:, 1]) * np.sin(dlon / 2) ** 2
        )
        metres = float((2 * 6_371_008.8 * np.arcsin(np.sqrt(h))).min())
        best = min(best, (ward.code, metres), key=lambda t: t[1])
    return best


@pytest.mark.parametrize(
    ("place", "lat", "lon", "expected"),
    [
        ("Thames at Westminster Bridge", 51.5008, -0.1218, "St James's"),
        ("Thames at Blackfriars", 51.5090, -0.1040, "Borough & Bankside"),
        ("Thames at London Bridge", 51.5079, -0.0877, "Bridge"),
    ],
)
def test_a_point_in_the_thames_gets_the_nearest_ward_within_250_m(
    place: str, lat: float, lon: float, expected: str
) -> None:
    index = england_wales_index()
    assert index.scan_locate(lat, lon) is None, f"{place} should be in the river"
    placement = index.locate(lat, lon)
    assert placement is not None
    assert placement.ward.name == expected
    code, metres = _brute_force_nearest(lat, lon)
    assert placement.ward.code == code
    assert placement.distance_m == pytest.approx(metres, rel=0.01)
    assert 0 < placement.distance_m <= NEAREST_WITHIN_M


@pytest.mark.parametrize(
    ("place", "lat", "lon"),
    [
        ("English Channel", 50.5, -1.0),
        ("1 km off Brighton", 50.80, -0.14),
        ("Irish Sea", 53.8, -4.5),
    ],
)
def test_a_point_in_the_sea_is_in_no_ward(place: str, lat: float, lon: float) -> None:
    assert england_wales_index().locate(lat, lon) is None


async def test_the_index_is_usable_at_once_and_warming_it_keeps_the_event_loop_free() -> None:
    parsed = england_wales_wards()
    started = time.perf_counter()
    index = parsed.build_index()
    built_s = time.perf_counter() - started
    assert built_s < 1.0, f"building took {built_s:.2f} s"
    points = [(lat, lon) for lat, lon, _ in _points_inside_random_wards(400, seed=3)]
    points += [(51.5008, -0.1218), (50.5, -1.0)]
    before = [index.locate(lat, lon) for lat, lon in points]

    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await index.warm()
    done.set()
    await ticking
    assert index.grid_ready
    assert max(gaps) < 0.25, f"event loop blocked for {max(gaps) * 1000:.0f} ms"
    assert [index.locate(lat, lon) for lat, lon in points] == before
    assert index.nbytes < 16_000_000


def test_placements_are_plain_values() -> None:
    ward = Ward("E05900001", "Abbey", "E09900001", "Northbank")
    assert Placement(ward, 0.0) == Placement(
        Ward("E05900001", "Abbey", "E09900001", "Northbank"), 0.0
    )
    with pytest.raises(AttributeError):
        ward.name = "Other"  # type: ignore[misc]
