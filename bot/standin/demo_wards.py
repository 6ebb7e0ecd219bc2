"""A small made-up ward set: the demo for `wardvoice try`, and the tests' geography.

Two boroughs either side of a "river" 0.002° (about 220 m) wide, south-west London-ish:

    lat 51.500 +-----------+-----------+----------------+
               | Northgate | Kingsmead | Bankside West  |   Northbank E09900001
    lat 51.475 +-----------+-----------+----------------+
               |   Abbey   | Kingsmere | St Mary's &    |
               |           |           | Riverside      |
    lat 51.451 +-----------+-----------+----------------+
                   ~~~~~~~~~~ river ~~~~~~~~~~  [island]
    lat 51.449 +-----------+-----------+----------------+
               |   Abbey   | Marsh Lane| Bankside East  |   Southbank E09900002
    lat 51.425 +-----------+-----------+----------------+   (+ the island)
               |Southfields| Old Town  | Riverside South|
    lat 51.400 +-----------+-----------+----------------+
            lon -0.20     -0.17       -0.14            -0.10

Everything is deterministic: the same file byte for byte on every run.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

NORTHBANK = ("E09900001", "Northbank")
SOUTHBANK = ("E09900002", "Southbank")

WEST, MID_WEST, MID_EAST, EAST = -0.20, -0.17, -0.14, -0.10
NORTH_TOP, NORTH_MID, NORTH_BANK = 51.500, 51.475, 51.451
SOUTH_BANK, SOUTH_MID, SOUTH_BOTTOM = 51.449, 51.425, 51.400
# A small island in the river belonging to Bankside East (makes it a MultiPolygon).
ISLAND = (-0.110, 51.4497, -0.106, 51.4503)


@dataclass(frozen=True)
class SyntheticWard:
    code: str
    name: str
    borough_code: str
    borough_name: str
    boxes: tuple[tuple[float, float, float, float], ...]  # (west, south, east, north) each

    @property
    def centre(self) -> tuple[float, float]:
        """(lat, lon) of the middle of the first box."""
        west, south, east, north = self.boxes[0]
        return ((south + north) / 2, (west + east) / 2)


Box = tuple[float, float, float, float]


def _ward(n: int, name: str, borough: tuple[str, str], *boxes: Box) -> SyntheticWard:
    return SyntheticWard(f"E0590{n:04d}", name, borough[0], borough[1], boxes)


SYNTHETIC_WARDS: tuple[SyntheticWard, ...] = (
    _ward(1, "Northgate", NORTHBANK, (WEST, NORTH_MID, MID_WEST, NORTH_TOP)),
    _ward(2, "Kingsmead", NORTHBANK, (MID_WEST, NORTH_MID, MID_EAST, NORTH_TOP)),
    _ward(3, "Bankside West", NORTHBANK, (MID_EAST, NORTH_MID, EAST, NORTH_TOP)),
    _ward(4, "Abbey", NORTHBANK, (WEST, NORTH_BANK, MID_WEST, NORTH_MID)),
    _ward(5, "Kingsmere", NORTHBANK, (MID_WEST, NORTH_BANK, MID_EAST, NORTH_MID)),
    _ward(6, "St Mary's & Riverside", NORTHBANK, (MID_EAST, NORTH_BANK, EAST, NORTH_MID)),
    _ward(7, "Abbey", SOUTHBANK, (WEST, SOUTH_MID, MID_WEST, SOUTH_BANK)),
    _ward(8, "Marsh Lane", SOUTHBANK, (MID_WEST, SOUTH_MID, MID_EAST, SOUTH_BANK)),
    _ward(9, "Bankside East", SOUTHBANK, (MID_EAST, SOUTH_MID, EAST, SOUTH_BANK), ISLAND),
    _ward(10, "Southfields", SOUTHBANK, (WEST, SOUTH_BOTTOM, MID_WEST, SOUTH_MID)),
    _ward(11, "Old Town", SOUTHBANK, (MID_WEST, SOUTH_BOTTOM, MID_EAST, SOUTH_MID)),
    _ward(12, "Riverside South", SOUTHBANK, (MID_EAST, SOUTH_BOTTOM, EAST, SOUTH_MID)),
)
SYNTHETIC_BY_NAME_BOROUGH = {(w.name, w.borough_name): w for w in SYNTHETIC_WARDS}

# Named points: (lat, lon, expected ward code or None).
# "river_near_*": in the river, within 250 m of that ward, which is the nearest.
SYNTHETIC_POINTS: dict[str, tuple[float, float, str | None]] = {
    "inside_abbey_north": (51.463, -0.185, "E05900004"),
    "inside_abbey_south": (51.437, -0.185, "E05900007"),
    "inside_kingsmead": (51.49, -0.155, "E05900002"),
    "inside_old_town": (51.41, -0.155, "E05900011"),
    "on_the_island": (51.4500, -0.108, "E05900009"),
    # 78 m south of Kingsmere, 145 m north of Marsh Lane.
    "river_near_kingsmere": (51.4503, -0.155, "E05900005"),
    # 33 m north of Abbey (Southbank), 189 m south of Abbey (Northbank).
    "river_near_abbey_south": (51.4493, -0.185, "E05900007"),
    # About 104 m west of Northgate's western edge.
    "west_of_northgate": (51.49, -0.2015, "E05900001"),
    # About 310 m west of Northgate: too far to be placed.
    "far_west_of_northgate": (51.49, -0.2045, None),
    # Manchester: nowhere near.
    "far_away": (53.4794, -2.2453, None),
}

# Made-up postcodes (valid UK shape, no real area) inside the synthetic wards.
SYNTHETIC_POSTCODES: tuple[tuple[str, float, float, str], ...] = (
    ("NB1 1AA", 51.463, -0.185, "E05900004"),
    ("NB1 2BD", 51.490, -0.155, "E05900002"),
    ("NB2 3EF", 51.460, -0.120, "E05900006"),
    ("SB1 4GH", 51.437, -0.185, "E05900007"),
    ("SB2 3DE", 51.410, -0.155, "E05900011"),
    ("SB3 5JL", 51.430, -0.120, "E05900009"),
    # In the river: no ward code in the table.
    ("SB9 9ZZ", 51.4500, -0.150, ""),
)


def synthetic_wards_geojson(path: Path, *, year: str = "22") -> Path:
    """Write the synthetic wards as an ONS-style FeatureCollection with WD{year}CD etc."""
    features = []
    for ward in SYNTHETIC_WARDS:
        polygons = [[[[w, s], [e, s], [e, n], [w, n], [w, s]]] for (w, s, e, n) in ward.boxes]
        geometry = (
            {"type": "Polygon", "coordinates": polygons[0]}
            if len(polygons) == 1
            else {"type": "MultiPolygon", "coordinates": polygons}
        )
        features.append(
            {
                "type": "Feature",
                "properties": {
                    f"WD{year}CD": ward.code,
                    f"WD{year}NM": ward.name,
                    f"LAD{year}CD": ward.borough_code,
                    f"LAD{year}NM": ward.borough_name,
                },
                "geometry": geometry,
            }
        )
    doc = {"type": "FeatureCollection", "name": "synthetic_wards", "features": features}
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def synthetic_postcodes_csv(path: Path) -> Path:
    """Write postcode,lat,lon,WD22CD rows for the synthetic wards (one without a ward)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["postcode", "lat", "lon", "WD22CD"])
        writer.writerows(SYNTHETIC_POSTCODES)
    return path
