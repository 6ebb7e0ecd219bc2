"""Import ONS ward boundary files (GeoJSON).

Operators drop in whatever ONS "Wards (December 20yy)" file is current, at whatever
resolution, so the importer finds the `WDyyCD`/`WDyyNM`/`LADyyCD`/`LADyyNM` properties
for any year and explains in plain words what is wrong with a file it cannot use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from bot.geo.index import Ward, WardIndex

PROGRESS_EVERY = 1000

_KEY = re.compile(r"^(WD|LAD)(\d{2})(CD|NM)$", re.IGNORECASE)
_POLYGONAL = ("Polygon", "MultiPolygon")


@dataclass(frozen=True)
class WardRecord:
    """One ward as read from a boundary file, geometry included."""

    code: str
    name: str
    borough_code: str
    borough_name: str
    geometry: shapely.Geometry

    @property
    def ward(self) -> Ward:
        return Ward(self.code, self.name, self.borough_code, self.borough_name)


class BoundaryFileError(ValueError):
    """A file that cannot be imported; message is for the operator."""


@dataclass(frozen=True)
class ParsedBoundaries:
    """The wards of one file, plus what the operator should be told about it."""

    wards: list[WardRecord]
    year: str
    merged_duplicates: int

    def build_index(self) -> WardIndex:
        """Index these wards for point lookup (the grid follows on `warm()`)."""
        return WardIndex.build([r.ward for r in self.wards], [r.geometry for r in self.wards])


@dataclass(frozen=True)
class _Keys:
    year: str
    code: str
    name: str
    borough_code: str
    borough_name: str


def parse_ward_geojson(
    path: str | Path, progress: Callable[[str], None] | None = None
) -> ParsedBoundaries:
    """Read an ONS ward GeoJSON file into valid ward records.

    Synchronous and CPU-bound (about half a second for all of England and Wales):
    call it from a worker thread.
    """
    path = Path(path)
    label = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BoundaryFileError(f"{label}: cannot read the file ({exc.strerror or exc})") from exc
    if raw.startswith(b"\xef\xbb\xbf"):  # some GIS tools write a UTF-8 byte-order mark
        raw = raw[3:]
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoundaryFileError(f"{label}: not a JSON file ({exc})") from exc
    del raw

    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        found = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise BoundaryFileError(f"{label}: expected a GeoJSON FeatureCollection, found {found!r}")
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise BoundaryFileError(f"{label}: the FeatureCollection has no features")

    keys = _detect_keys(label, features)
    total = len(features)
    codes: list[str] = []
    names: list[str] = []
    borough_codes: list[str] = []
    borough_names: list[str] = []
    for i, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            raise BoundaryFileError(f"{label}: feature {i} has no properties")
        code = _text(props, keys.code)
        borough_code = _text(props, keys.borough_code)
        if not code:
            raise BoundaryFileError(f"{label}: feature {i} has an empty {keys.code}")
        if not borough_code:
            raise BoundaryFileError(
                f"{label}: feature {i} ({code}) has an empty {keys.borough_code}"
            )
        codes.append(code)
        names.append(_text(props, keys.name))
        borough_codes.append(borough_code)
        borough_names.append(_text(props, keys.borough_name))
        if progress is not None and (i + 1) % PROGRESS_EVERY == 0:
            progress(f"parsed {i + 1} of {total} features")

    geometries = _geometries(label, features, codes)
    del doc, features
    if progress is not None and total % PROGRESS_EVERY:
        progress(f"parsed {total} of {total} features")

    # Features sharing a ward code are one ward split across boroughs in the source;
    # the resident still lives in one ward, so merge them.
    first: dict[str, int] = {}
    groups: dict[str, list[int]] = {}
    for i, code in enumerate(codes):
        if code in first:
            groups.setdefault(code, [first[code]]).append(i)
        else:
            first[code] = i
    records: list[WardRecord] = []
    for code, i in first.items():
        parts = groups.get(code)
        if parts is None:
            geometry = geometries[i]
        else:
            largest = parts[int(np.argmax(shapely.area(geometries[parts])))]
            i = largest  # name and borough come from the larger part
            geometry = _polygonal(shapely.union_all(geometries[parts]))
        records.append(WardRecord(code, names[i], borough_codes[i], borough_names[i], geometry))
    return ParsedBoundaries(
        wards=records, year=keys.year, merged_duplicates=len(codes) - len(first)
    )


def _detect_keys(label: str, features: list[Any]) -> _Keys:
    """Find the newest year whose four ONS properties are all present."""
    props = features[0].get("properties") if isinstance(features[0], dict) else None
    found = list(props) if isinstance(props, dict) else []
    by_year: dict[str, dict[str, str]] = {}
    for key in found:
        m = _KEY.match(key)
        if m:
            kind = (m.group(1) + m.group(3)).upper()  # WDCD, WDNM, LADCD, LADNM
            by_year.setdefault(m.group(2), {})[kind] = key
    complete = [yy for yy, kinds in by_year.items() if len(kinds) == 4]
    if not complete:
        shown = ", ".join(found[:20]) if found else "none"
        raise BoundaryFileError(
            f"{label}: the features lack the ONS ward properties WDyyCD, WDyyNM, LADyyCD "
            f"and LADyyNM (all four, same two-digit year yy); properties found: {shown}"
        )
    yy = max(complete)
    kinds = by_year[yy]
    return _Keys(yy, kinds["WDCD"], kinds["WDNM"], kinds["LADCD"], kinds["LADNM"])


def _text(props: dict[str, Any], key: str) -> str:
    value = props.get(key)
    return "" if value is None else str(value).strip()


def _geometries(label: str, features: list[Any], codes: list[str]) -> np.ndarray:
    """Build all geometries at once from flat coordinate arrays.

    About three times faster than `shapely.geometry.shape` per feature on the
    England and Wales file; any oddity falls back to per-feature parsing, which
    also names the offending feature.
    """
    coords: list[Any] = []
    ring_sizes: list[int] = []
    ring_polygon: list[int] = []
    polygon_feature: list[int] = []
    single: list[int] = []
    fast = True
    for i, feature in enumerate(features):
        geometry = feature.get("geometry")
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if kind not in _POLYGONAL:
            what = "no geometry" if kind is None else f"a {kind} geometry"
            raise BoundaryFileError(
                f"{label}: feature {i} ({codes[i]}) has {what}; expected Polygon or MultiPolygon"
            )
        if not fast:
            continue
        rings_of = geometry.get("coordinates")
        polygons = [rings_of] if kind == "Polygon" else rings_of
        if kind == "Polygon":
            single.append(i)
        if not isinstance(polygons, list) or not polygons:
            fast = False
            continue
        for rings in polygons:
            if not isinstance(rings, list) or not rings:
                fast = False
                break
            for ring in rings:
                if not isinstance(ring, list) or len(ring) < 3:
                    fast = False
                    break
                coords.extend(ring)
                ring_sizes.append(len(ring))
                ring_polygon.append(len(polygon_feature))
            polygon_feature.append(i)

    if fast:
        try:
            xy = np.asarray(coords, dtype=np.float64)
            if xy.ndim != 2 or xy.shape[1] < 2:
                raise ValueError("coordinates are not [lon, lat] pairs")
            rings = shapely.linearrings(
                xy[:, :2], indices=np.repeat(np.arange(len(ring_sizes)), ring_sizes)
            )
            polys = shapely.polygons(rings, indices=np.asarray(ring_polygon))
            geoms = shapely.multipolygons(polys, indices=np.asarray(polygon_feature))
            if len(geoms) != len(features):
                raise ValueError("feature count changed")
            idx = np.asarray(single, dtype=np.int64)
            geoms[idx] = shapely.get_geometry(geoms[idx], 0)
        except (ValueError, TypeError, shapely.errors.GEOSException):
            fast = False
    if not fast:
        geoms = np.empty(len(features), dtype=object)
        for i, feature in enumerate(features):
            geoms[i] = _one_geometry(label, i, codes[i], feature["geometry"])

    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    for i in invalid.tolist():
        repaired = _polygonal(shapely.make_valid(geoms[i]))
        if repaired.is_empty:
            raise BoundaryFileError(
                f"{label}: feature {i} ({codes[i]}) has a geometry with no area"
            )
        geoms[i] = repaired
    empty = np.flatnonzero(shapely.is_empty(geoms))
    if len(empty):
        i = int(empty[0])
        raise BoundaryFileError(f"{label}: feature {i} ({codes[i]}) has an empty geometry")
    return geoms


def _one_geometry(label: str, i: int, code: str, geometry: dict[str, Any]) -> shapely.Geometry:
    try:
        geom = shapely.geometry.shape(geometry)
    except Exception as exc:  # shapely raises several types for bad coordinates
        raise BoundaryFileError(
            f"{label}: feature {i} ({code}) has unreadable {geometry.get('type')} "
            f"coordinates ({exc})"
        ) from exc
    if shapely.get_coordinate_dimension(geom) > 2:
        geom = shapely.force_2d(geom)
    return geom


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep only the areas of a geometry (make_valid/union may add stray lines)."""
    if geom.geom_type in _POLYGONAL:
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL and not p.is_empty]
    if not parts:
        return shapely.MultiPolygon()
    merged = shapely.union_all(parts)
    if merged.geom_type in _POLYGONAL:
        return merged
    polygons = [p for p in shapely.get_parts(merged) if p.geom_type == "Polygon"]
    return shapely.MultiPolygon(polygons)
