"""Importing ward boundaries and the offline postcode table from files the operator names.

File parsing and geometry work run in threads (`asyncio.to_thread`) so the event loop
stays free; the database writes go through the repositories in `storage/`.
"""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import shapely

from bot.clock import Clock, to_iso
from bot.geo.boundaries import parse_ward_geojson
from bot.geo.index import Ward, WardIndex
from bot.geo.postcodes import normalise_postcode
from storage import postcodes as postcode_store
from storage import wards as ward_store
from storage.db import Database
from storage.wards import ImportCounts, WardRow

Progress = Callable[[str], None]
POSTCODE_BATCH = 10_000


def _quiet(_line: str) -> None:
    return None


def _prepare_wards(path: Path, progress: Progress) -> tuple[list[WardRow], str, int, WardIndex]:
    parsed = parse_ward_geojson(path, progress)
    geometries = [w.geometry for w in parsed.wards]
    wkbs = shapely.to_wkb(geometries)
    rows = [
        WardRow(w.code, w.name, w.borough_code, w.borough_name, bytes(wkb))
        for w, wkb in zip(parsed.wards, wkbs, strict=True)
    ]
    index = WardIndex.build(
        [Ward(w.code, w.name, w.borough_code, w.borough_name) for w in parsed.wards], geometries
    )
    return rows, parsed.year, parsed.merged_duplicates, index


@dataclass(frozen=True)
class WardImportResult:
    counts: ImportCounts
    year: str
    merged_duplicates: int


async def import_wards(
    db: Database, path: Path, clock: Clock, progress: Progress = _quiet
) -> WardImportResult:
    """Replace the wards in force with those in `path` (see `storage.wards.replace_boundaries`)."""
    rows, year, merged, index = await asyncio.to_thread(_prepare_wards, path, progress)
    progress(f"read {len(rows)} wards (year 20{year}); writing to the database")

    def relocate(lat: float, lon: float) -> str | None:
        placement = index.locate(lat, lon)
        return None if placement is None else placement.ward.code

    counts = await ward_store.replace_boundaries(
        db,
        rows,
        source=str(path),
        year=year,
        now=to_iso(clock.now()),
        relocate=relocate,
        progress=progress,
    )
    return WardImportResult(counts, year, merged)


class PostcodeFileError(ValueError):
    """A postcode file that cannot be imported; the message is for the operator."""


@dataclass(frozen=True)
class PostcodeImportCounts:
    rows: int
    imported: int
    with_ward: int
    skipped_bad_postcode: int
    skipped_no_point: int


_POSTCODE_COLUMNS = ("postcode", "pcds", "pcd", "pcd7", "pcd8", "post_code")
_LAT_COLUMNS = ("lat", "latitude")
_LON_COLUMNS = ("lon", "long", "lng", "longitude")
_WARD_COLUMN = re.compile(r"^(wd\d{2}cd|ward_code|wardcode|osward)$", re.IGNORECASE)


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


@dataclass(frozen=True)
class _Columns:
    postcode: int
    lat: int
    lon: int
    ward: int | None


def _detect_columns(path: Path, header: list[str] | None) -> _Columns:
    if not header:
        raise PostcodeFileError(f"{path} is empty: expected a CSV with a header row")
    postcode, lat, lon = (
        _column(header, _POSTCODE_COLUMNS),
        _column(header, _LAT_COLUMNS),
        _column(header, _LON_COLUMNS),
    )
    if postcode is None or lat is None or lon is None:
        raise PostcodeFileError(
            f"{path} needs columns for the postcode ({'/'.join(_POSTCODE_COLUMNS)}), latitude "
            f"({'/'.join(_LAT_COLUMNS)}) and longitude ({'/'.join(_LON_COLUMNS)}); "
            f"it has: {', '.join(header[:20])}"
        )
    ward = next((i for i, h in enumerate(header) if _WARD_COLUMN.match(h.strip())), None)
    return _Columns(postcode, lat, lon, ward)


Row = tuple[str, float, float, str | None]


def _parse_row(record: list[str], columns: _Columns) -> Row | str:
    """A clean row, or the reason it is skipped ("postcode" or "point")."""
    try:
        postcode = normalise_postcode(record[columns.postcode])
        lat, lon = float(record[columns.lat]), float(record[columns.lon])
    except (IndexError, ValueError):
        return "point"
    if postcode is None:
        return "postcode"
    # NSPL marks postcodes without a grid reference with lat 99.999999.
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return "point"
    ward = None
    if columns.ward is not None and columns.ward < len(record):
        ward = record[columns.ward].strip() or None
    return (postcode, lat, lon, ward)


def _open_rows(path: Path) -> tuple[Iterator[list[str]], _Columns, Callable[[], None]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as err:
        raise PostcodeFileError(f"cannot read {path}: {err.strerror}") from err
    reader = csv.reader(handle)
    try:
        columns = _detect_columns(path, next(reader, None))
    except (PostcodeFileError, csv.Error, UnicodeDecodeError) as err:
        handle.close()
        if isinstance(err, PostcodeFileError):
            raise
        raise PostcodeFileError(f"{path} is not a readable CSV file: {err}") from err
    return reader, columns, handle.close


def _next_batch(
    reader: Iterator[list[str]], columns: _Columns, size: int
) -> tuple[list[Row], int, int, int]:
    batch: list[Row] = []
    seen = bad_postcode = no_point = 0
    for record in reader:
        seen += 1
        parsed = _parse_row(record, columns)
        if parsed == "postcode":
            bad_postcode += 1
        elif isinstance(parsed, str):
            no_point += 1
        else:
            batch.append(parsed)
        if seen >= size:
            break
    return batch, seen, bad_postcode, no_point


async def import_postcodes(
    db: Database, path: Path, progress: Progress = _quiet
) -> PostcodeImportCounts:
    """Add or update postcodes from a CSV, in batches so a running bot is never blocked long.

    A file whose header lacks the needed columns writes nothing; rows without a usable
    postcode or point are skipped and counted.
    """
    reader, columns, close = await asyncio.to_thread(_open_rows, path)
    rows = imported = with_ward = bad_postcode = no_point = 0
    try:
        while True:
            try:
                batch, seen, bad, missing = await asyncio.to_thread(
                    _next_batch, reader, columns, POSTCODE_BATCH
                )
            except (csv.Error, UnicodeDecodeError) as err:
                raise PostcodeFileError(f"{path}, after row {rows}: {err}") from err
            if not seen:
                break
            rows += seen
            bad_postcode += bad
            no_point += missing
            if batch:
                await postcode_store.upsert_many(db, batch)
                imported += len(batch)
                with_ward += sum(1 for row in batch if row[3])
            progress(f"{rows} rows read, {imported} postcodes imported")
    finally:
        await asyncio.to_thread(close)
    return PostcodeImportCounts(rows, imported, with_ward, bad_postcode, no_point)
