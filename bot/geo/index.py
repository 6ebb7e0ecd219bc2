"""Point → ward lookup.

A resident shares a location; we must say which ward they are in, fast, for every
update. Two paths give the same answers:

* the STRtree path, ready as soon as the index is built (about 10-15 µs a point);
* a uniform grid kept in two int32 NumPy arrays, built by `warm()` in a worker
  thread (about 3-4 µs a point). A cell lying wholly inside one ward holds that
  ward; any other cell points at a short run of candidate wards, each tested with
  a prepared `intersects_xy`. Python call overhead, not geometry, dominates a single
  lookup, so the grid makes the common case a couple of array reads.

Points just outside every ward (in the Thames, on a generalised coastline) get the
nearest ward within `NEAREST_WITHIN_M`, measured geodesically.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from geopy.distance import geodesic

NEAREST_WITHIN_M = 250.0

# Lower bounds of metres per degree on the WGS84 ellipsoid: latitude (at the equator)
# and longitude-per-cos(lat) (the equatorial radius). Lower bounds make the search
# envelope err on the large side.
_M_PER_DEG_LAT_MIN = 110_574.0
_M_PER_DEG_LON_AT_EQUATOR = 111_319.0
# Mean metres per degree, for ranking candidates before the exact geodesic.
_M_PER_DEG_MEAN = 111_195.0
# `shapely.intersects_xy` is a thin Python wrapper around this ufunc that also
# prepares its geometry on every call (a no-op here: the index prepares all polygons
# once); calling the ufunc directly halves the cost of the hot path's geometry test.
_intersects_xy = getattr(shapely.lib, "intersects_xy", shapely.intersects_xy)
_ENVELOPE_MARGIN = 1.1
# Boxes are grown by this much so that a point on a cell edge (or a float rounding
# away from it) still sees every ward touching that edge.
_CELL_EPS = 1e-9

# Grid cells of 0.0075°: about 830 m north-south by 510 m east-west in England.
# Measured over all England and Wales wards: 0.01° gives ~3-4 µs a lookup (3 MB of
# grid), 0.0075° ~2.6 µs (5 MB, 1 s to build), 0.005° ~2.1 µs (10 MB, 2.5 s).
DEFAULT_CELL_DEG = 0.0075
# Grids up to this many cells build in a few milliseconds: build them at once.
_EAGER_GRID_MAX_CELLS = 50_000
_GRID_CHUNK = 2048
# About 16 MB of grid at most: wards spread over a continent get coarser cells.
_MAX_GRID_CELLS = 2_000_000


@dataclass(frozen=True)
class Ward:
    """A ward as the rest of the bot sees it: identity and borough, no geometry."""

    code: str
    name: str
    borough_code: str
    borough_name: str


@dataclass(frozen=True)
class Placement:
    """Where a point landed: the ward, and how far outside it (0.0 when inside)."""

    ward: Ward
    distance_m: float


@dataclass(frozen=True)
class GridStats:
    """What the grid costs, so the operator can see memory and build time."""

    cell_deg: float
    nx: int
    ny: int
    candidate_pairs: int
    covered_cells: int
    nbytes: int
    build_s: float


@dataclass(frozen=True)
class _Grid:
    x0: float
    y0: float
    inv_cell: float
    nx: int
    ny: int
    # cell_info[c] >= 0: every point of cell c lies in that ward and in no other.
    # cell_info[c] < 0: the candidates of cell c start at candidates[-cell_info[c] - 1]
    # and run, ascending, up to the next -1 (candidates[0] is the -1 of empty cells).
    cell_info: np.ndarray
    candidates: np.ndarray
    # Memoryviews of the two arrays: indexing one gives a Python int in a third of
    # the time a NumPy scalar read takes, with no copy of the data.
    info: memoryview
    cands: memoryview
    stats: GridStats


class WardIndex:
    """Immutable set of wards with fast point lookup."""

    def __init__(
        self,
        wards: Sequence[Ward],
        geometries: Sequence[shapely.Geometry],
        *,
        cell_deg: float = DEFAULT_CELL_DEG,
    ) -> None:
        """Prefer `build()`/`empty()`; this only validates and indexes with the STRtree."""
        if len(wards) != len(geometries):
            raise ValueError(f"{len(wards)} wards but {len(geometries)} geometries")
        if not cell_deg > 0:
            raise ValueError("cell_deg must be positive")
        self._wards: tuple[Ward, ...] = tuple(wards)
        self._by_code: dict[str, int] = {}
        for i, ward in enumerate(self._wards):
            if ward.code in self._by_code:
                raise ValueError(f"ward code {ward.code} appears twice")
            self._by_code[ward.code] = i
        geoms = np.empty(len(geometries), dtype=object)
        geoms[:] = list(geometries)
        if len(geoms):
            kinds = shapely.get_type_id(geoms)
            polygonal = (kinds == shapely.GeometryType.POLYGON) | (
                kinds == shapely.GeometryType.MULTIPOLYGON
            )
            if not polygonal.all():
                bad = int(np.flatnonzero(~polygonal)[0])
                kind = getattr(geoms[bad], "geom_type", "missing")
                raise ValueError(
                    f"ward {self._wards[bad].code} has a {kind} geometry; "
                    "only Polygon and MultiPolygon are supported"
                )
        shapely.prepare(geoms)
        self._geoms = geoms
        self._geom_list = list(geoms)  # list indexing is the cheapest in the hot path
        self._plain_geoms: np.ndarray | None = None
        self._tree = shapely.STRtree(geoms)
        # GEOS builds the tree on its first query: pay that here, not on a user's update.
        self._tree.query(shapely.Point(0.0, 0.0))
        # Placements of points inside a ward are shared: they are frozen.
        self._inside = tuple(Placement(ward, 0.0) for ward in self._wards)
        self._cell_deg = cell_deg
        self._grid: _Grid | None = None
        self._grid_lock = threading.Lock()

    @classmethod
    def build(
        cls,
        wards: Sequence[Ward],
        geometries: Sequence[shapely.Geometry],
        *,
        cell_deg: float = DEFAULT_CELL_DEG,
        lazy: bool | None = None,
    ) -> WardIndex:
        """Index wards; small sets get their grid now, large ones on `warm()`.

        Returns in milliseconds even for all of England and Wales (whose grid takes
        about a second), so the bot answers straight away through the STRtree while
        `warm()` builds the grid. `lazy` forces the choice (tests, benchmarks).
        """
        index = cls(wards, geometries, cell_deg=cell_deg)
        if lazy is None:
            lazy = index._grid_cells() > _EAGER_GRID_MAX_CELLS
        if not lazy:
            index.build_grid()
        return index

    @classmethod
    def empty(cls) -> WardIndex:
        """An index with no wards: every lookup is None (before boundaries are imported)."""
        return cls([], [])

    def __len__(self) -> int:
        return len(self._wards)

    def ward(self, code: str) -> Ward | None:
        """The ward with this ONS code, if it is in force (codes come from callbacks)."""
        i = self._by_code.get(code)
        return None if i is None else self._wards[i]

    def wards(self) -> Sequence[Ward]:
        """All wards, in the order that breaks ties on shared boundaries."""
        return self._wards

    def geometry(self, code: str) -> shapely.Geometry | None:
        """The ward's polygon, for tests and maps."""
        i = self._by_code.get(code)
        return None if i is None else self._geoms[i]

    @property
    def grid_ready(self) -> bool:
        """Whether lookups use the grid yet (answers are the same either way)."""
        return self._grid is not None

    @property
    def grid_stats(self) -> GridStats | None:
        """Size and build time of the grid, for start-up logs; None before warm()."""
        grid = self._grid
        return None if grid is None else grid.stats

    @property
    def nbytes(self) -> int:
        """Bytes held in the grid arrays (geometries and STRtree not included)."""
        grid = self._grid
        return 0 if grid is None else grid.stats.nbytes

    async def warm(self) -> None:
        """Build the grid in a worker thread so the event loop never blocks."""
        if self._grid is None:
            await asyncio.to_thread(self.build_grid)

    def build_grid(self) -> GridStats | None:
        """Build the lookup grid (synchronous; idempotent; safe from several threads)."""
        with self._grid_lock:
            if self._grid is None and len(self._wards):
                self._grid = self._make_grid()
        return self.grid_stats

    # ---------------------------------------------------------------- lookups

    def locate(self, lat: float, lon: float) -> Placement | None:
        """The ward containing the point, else the nearest within 250 m, else None.

        A point on a boundary shared by several wards goes to the first of them in
        index order, on both the STRtree and the grid path.
        """
        grid = self._grid
        if grid is not None:
            fx = (lon - grid.x0) * grid.inv_cell
            fy = (lat - grid.y0) * grid.inv_cell
            if 0.0 <= fx < grid.nx and 0.0 <= fy < grid.ny:
                info = grid.info[int(fy) * grid.nx + int(fx)]
                if info >= 0:
                    return self._inside[info]
                k = -info - 1
                ward = grid.cands[k]
                geoms = self._geom_list
                while ward >= 0:
                    if _intersects_xy(geoms[ward], lon, lat):
                        return self._inside[ward]
                    k += 1
                    ward = grid.cands[k]
                return self._nearest(lat, lon)
            if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
                _check_coordinates(lat, lon)
            return self._nearest(lat, lon)
        _check_coordinates(lat, lon)
        if not self._wards:
            return None
        hits = self._tree.query(shapely.Point(lon, lat), predicate="intersects")
        if len(hits):
            return self._inside[int(hits.min())]
        return self._nearest(lat, lon)

    def scan_locate(self, lat: float, lon: float) -> Ward | None:
        """Containing ward by testing every polygon: the no-index baseline for benchmarks.

        "No index" includes GEOS's prepared-geometry indexes, so the scan runs over
        unprepared copies, made on first use (the bot itself never calls this).
        """
        _check_coordinates(lat, lon)
        if not self._wards:
            return None
        if self._plain_geoms is None:
            self._plain_geoms = shapely.from_wkb(shapely.to_wkb(self._geoms))
        hits = np.flatnonzero(shapely.intersects_xy(self._plain_geoms, lon, lat))
        return self._wards[int(hits[0])] if len(hits) else None

    # -------------------------------------------------------------- internals

    def _nearest(self, lat: float, lon: float) -> Placement | None:
        """Nearest ward within NEAREST_WITHIN_M, searched through the STRtree only."""
        if not self._wards:
            return None
        dlat = NEAREST_WITHIN_M / _M_PER_DEG_LAT_MIN * _ENVELOPE_MARGIN
        south = max(lat - dlat, -90.0)
        north = min(lat + dlat, 90.0)
        # Longitude degrees shrink towards the poles: size the envelope for the
        # latitude in it nearest a pole; at a pole every longitude is in reach.
        cos_edge = math.cos(math.radians(max(abs(south), abs(north))))
        if cos_edge * _M_PER_DEG_LON_AT_EQUATOR * 180.0 <= NEAREST_WITHIN_M * _ENVELOPE_MARGIN:
            windows = [(-180.0, 180.0, 0.0)]
        else:
            dlon = NEAREST_WITHIN_M * _ENVELOPE_MARGIN / (_M_PER_DEG_LON_AT_EQUATOR * cos_edge)
            west, east = lon - dlon, lon + dlon
            windows = [(max(west, -180.0), min(east, 180.0), 0.0)]
            # Across the antimeridian: search the wrapped part with the point shifted
            # into that side's longitudes.
            if west < -180.0:
                windows.append((west + 360.0, 180.0, 360.0))
            if east > 180.0:
                windows.append((-180.0, east - 360.0, -360.0))

        # Rank candidates in a local equirectangular frame (metres-ish), then confirm
        # the closest few with the exact geodesic.
        cos_lat = max(math.cos(math.radians(lat)), 1e-12)
        ranked: list[tuple[float, int, float, float]] = []  # (approx_m, index, lat, lon)
        for west, east, shift in windows:
            box = shapely.box(west, south, east, north)
            found = self._tree.query(box, predicate="intersects")
            if not len(found):
                continue
            found.sort()
            plon = lon + shift
            pieces = shapely.clip_by_rect(self._geoms[found], west, south, east, north)

            def to_local(xy: np.ndarray, plon: float = plon) -> np.ndarray:
                out = np.empty_like(xy)
                out[:, 0] = (xy[:, 0] - plon) * cos_lat
                out[:, 1] = xy[:, 1] - lat
                return out

            local = shapely.transform(pieces, to_local)
            lines = shapely.shortest_line(shapely.Point(0.0, 0.0), local)
            for i, piece, line in zip(found.tolist(), local, lines, strict=True):
                if line is None or shapely.is_empty(piece):
                    continue
                (_, _), (nx_, ny_) = shapely.get_coordinates(line).tolist()
                approx_m = math.hypot(nx_, ny_) * _M_PER_DEG_MEAN
                ranked.append((approx_m, i, ny_ + lat, nx_ / cos_lat + plon - shift))
        if not ranked:
            return None
        ranked.sort()
        best_approx = ranked[0][0]
        if best_approx > NEAREST_WITHIN_M * 1.02 + 1.0:
            return None
        best: tuple[float, int] | None = None
        for approx_m, i, qlat, qlon in ranked:
            if approx_m > best_approx * 1.02 + 1.0:
                break
            dist = 0.0 if approx_m == 0.0 else _geodesic_m(lat, lon, qlat, qlon)
            if best is None or (dist, i) < best:
                best = (dist, i)
        assert best is not None
        dist, i = best
        if dist > NEAREST_WITHIN_M:
            return None
        if dist == 0.0:
            return self._inside[i]
        return Placement(self._wards[i], dist)

    def _bounds(self) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = shapely.total_bounds(self._geoms).tolist()
        return x0, y0, x1, y1

    def _grid_shape(self) -> tuple[float, int, int]:
        """Cell size and columns/rows; cells grow if the wards spread unusually far."""
        x0, y0, x1, y1 = self._bounds()
        cell = self._cell_deg
        while True:
            nx = int((x1 - x0) / cell) + 1
            ny = int((y1 - y0) / cell) + 1
            if nx * ny <= _MAX_GRID_CELLS:
                return cell, nx, ny
            cell *= 2.0

    def _grid_cells(self) -> int:
        if not self._wards:
            return 0
        _, nx, ny = self._grid_shape()
        return nx * ny

    def _make_grid(self) -> _Grid:
        """Fill the grid with vectorised STRtree queries over chunks of cells.

        Memory matters as much as time (the bot has 250 MB in all): temporaries are
        int32 and per chunk, and only cells that need a test keep candidates.
        """
        started = time.perf_counter()
        x0, y0, _, _ = self._bounds()
        cell, nx, ny = self._grid_shape()
        ncells = nx * ny

        # Cells that some ward's bounding box reaches: only those get a box geometry
        # (most of the extent is sea). One slice per ward, not a loop over cells.
        b = shapely.bounds(self._geoms)
        pad = 2 * _CELL_EPS
        i0 = np.clip(np.floor((b[:, 0] - x0 - pad) / cell), 0, nx - 1).astype(np.int64)
        i1 = np.clip(np.floor((b[:, 2] - x0 + pad) / cell), 0, nx - 1).astype(np.int64)
        j0 = np.clip(np.floor((b[:, 1] - y0 - pad) / cell), 0, ny - 1).astype(np.int64)
        j1 = np.clip(np.floor((b[:, 3] - y0 + pad) / cell), 0, ny - 1).astype(np.int64)
        reached = np.zeros((ny, nx), dtype=bool)
        for w0, w1, s0, s1 in zip(i0.tolist(), i1.tolist(), j0.tolist(), j1.tolist(), strict=True):
            reached[s0 : s1 + 1, w0 : w1 + 1] = True
        cells = np.flatnonzero(reached).astype(np.int32)
        del reached

        # Ward outlines, unprepared: GEOS tests a rectangle against a line quickly
        # anyway, and prepared outlines would cost tens of MB while the grid builds.
        rims = shapely.boundary(self._geoms)
        cell_info = np.full(ncells, -1, dtype=np.int32)
        mixed_cells: list[np.ndarray] = []
        mixed_wards: list[np.ndarray] = []
        # Chunks keep each GIL-holding step (creating boxes, the tree query) to a
        # few milliseconds, so the event loop keeps answering while warm() runs.
        for lo in range(0, len(cells), _GRID_CHUNK):
            chunk = cells[lo : lo + _GRID_CHUNK]
            ci = (chunk % nx).astype(np.float64)
            cj = (chunk // nx).astype(np.float64)
            boxes = shapely.box(
                x0 + ci * cell - _CELL_EPS,
                y0 + cj * cell - _CELL_EPS,
                x0 + (ci + 1) * cell + _CELL_EPS,
                y0 + (cj + 1) * cell + _CELL_EPS,
            )
            box_pos, ward_idx = self._tree.query(boxes, predicate="intersects")
            order = np.lexsort((ward_idx, box_pos))
            box_pos, ward_idx = box_pos[order], ward_idx[order]
            # A cell touched by one ward only, whose boundary does not cross the
            # cell, lies wholly inside that ward: it holds the answer itself.
            per_box = np.bincount(box_pos, minlength=len(chunk))
            single = np.flatnonzero(per_box == 1)
            covered = np.zeros(len(chunk), dtype=bool)
            if len(single):
                single_ward = ward_idx[np.searchsorted(box_pos, single)]
                inside = ~shapely.intersects(boxes[single], rims[single_ward])
                covered[single[inside]] = True
                cell_info[chunk[single[inside]]] = single_ward[inside]
            keep = ~covered[box_pos]
            mixed_cells.append(chunk[box_pos[keep]])
            mixed_wards.append(ward_idx[keep].astype(np.int32))
            del boxes

        # Candidates of the remaining cells, ascending, each run closed by a -1;
        # slot 0 is a lone -1 shared by cells with no candidate at all.
        pair_cell = np.concatenate(mixed_cells) if mixed_cells else np.empty(0, np.int32)
        pair_ward = np.concatenate(mixed_wards) if mixed_wards else np.empty(0, np.int32)
        del mixed_cells, mixed_wards
        runs, run_of_pair, run_len = np.unique(pair_cell, return_inverse=True, return_counts=True)
        run_start = 1 + np.cumsum(run_len + 1) - (run_len + 1)
        rank = np.arange(len(pair_cell)) - (np.cumsum(run_len) - run_len)[run_of_pair]
        candidates = np.full(1 + len(pair_cell) + len(runs), -1, dtype=np.int32)
        candidates[run_start[run_of_pair] + rank] = pair_ward
        cell_info[runs] = -(run_start + 1)

        stats = GridStats(
            cell_deg=cell,
            nx=nx,
            ny=ny,
            candidate_pairs=len(pair_cell),
            covered_cells=int((cell_info >= 0).sum()),
            nbytes=cell_info.nbytes + candidates.nbytes,
            build_s=time.perf_counter() - started,
        )
        return _Grid(
            x0=x0,
            y0=y0,
            inv_cell=1.0 / cell,
            nx=nx,
            ny=ny,
            cell_info=cell_info,
            candidates=candidates,
            info=memoryview(cell_info),
            cands=memoryview(candidates),
            stats=stats,
        )


def _check_coordinates(lat: float, lon: float) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError(f"not a WGS84 coordinate: lat={lat!r}, lon={lon!r}")


def _geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    lat2 = min(max(lat2, -90.0), 90.0)
    lon2 = (lon2 + 180.0) % 360.0 - 180.0
    return float(geodesic((lat1, lon1), (lat2, lon2)).meters)
