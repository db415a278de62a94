"""Roster import: plan → preview → commit. Plain Python (no Flask).

Every way in (the CLI `import`, the admin pages, the token API) takes the same three steps:

1. **plan**: read the file with its Format, convert coordinates from the declared system to
   WGS-84 (once, here), validate every row; nothing is written.
2. **preview**: compare the plan with the roster: what would be added, changed, closed, removed,
   every row error, and every row warning (a location on the water: worth checking, but it
   imports). A preview is bound to the exact file (SHA-256 of its bytes), its options and the
   roster's data version (its token).
3. **commit**: apply a preview in one transaction, all or nothing, and only while the roster is
   still at the previewed version.

The admin pages keep an uploaded file between preview and commit in an UploadStaging folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locator.accounts import User
from locator.coords import CRS, to_wgs84
from locator.errors import LocatorError
from locator.formats import FORMATS, FileInvalid, Format
from locator.formats.base import MAX_ROWS, canonical_row, too_many_rows  # MAX_ROWS: with the other file limits
from locator.roster import Roster
from locator.stations import STATUSES, FieldError, FieldWarning, Station, StationInvalid
from locator.store.base import Conflict, ReplaceSummary, StationQuery, unclaimed


class StaleImport(LocatorError):
    """The file or the roster changed since the preview: preview again."""

    http_status = 409
    title = "Conflict"


class ImportHasErrors(LocatorError):
    """The file has row errors: nothing is imported."""

    http_status = 422
    title = "Invalid file"

    def __init__(self, result: Preview):
        self.preview = result
        super().__init__(f"the file has {len(result.errors)} error(s): nothing was imported")

    def problem(self) -> dict[str, Any]:
        """Every row error."""
        return {"errors": self.preview.as_json()["errors"]}


# -- plan ---------------------------------------------------------------------------------------


@dataclass
class ImportPlan:
    """What a file holds: valid stations, and every error by row and field."""

    stations: list[Station] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    rows: int = 0
    row_of: dict[str, int] = field(default_factory=dict)  # station id -> its row in the file
    # Ids of the rows that say whether their location is confirmed (the column may be absent).
    confirmation_given: set[str] = field(default_factory=set)


def station_id_for_name(name: str) -> str:
    """A stable id for a row that has none: the same name always gives the same id."""
    return "n-" + hashlib.sha256(name.strip().encode("utf-8")).hexdigest()[:12]


def _float_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def plan(roster: Roster, data: bytes, fmt: Format, crs: CRS, layer: str | None = None) -> ImportPlan:
    """Read and validate a roster file (coordinates in `crs`; `layer` of a GeoPackage); nothing is written.

    Coordinate headers that name their system (经度(GCJ-02), as CSV/XLSX exports write them) win over `crs`.
    """
    result = ImportPlan()
    seen: dict[str, int] = {}
    names_to_code = {d.name: d.code for d in roster.districts.districts}
    status_labels = {t.zh: t.key for t in STATUSES.values()}
    if fmt.precheck is not None:
        # A file beyond the row limit is refused in a second, not after minutes of validating 200,000 rows.
        fmt.precheck(data)
    for number, raw in fmt.read(data, layer):
        result.rows += 1
        if result.rows > MAX_ROWS:
            raise too_many_rows(number)
        if "__error__" in raw:
            result.errors.append(FieldError(raw.get("__field__", "geometry"), raw["__error__"], row=number))
            continue
        row, _unknown = canonical_row(raw)
        row_crs = row.pop("crs", None) or crs
        if isinstance(row.get("district"), str) and row["district"] in names_to_code:
            row["district"] = names_to_code[row["district"]]
        if isinstance(row.get("status"), str) and row["status"] in status_labels:
            row["status"] = status_labels[row["status"]]
        if not row.get("id") and isinstance(row.get("name"), str) and row["name"].strip():
            # A row without an id gets one derived from its name: importing the file again
            # matches the same stations instead of adding copies.
            row["id"] = station_id_for_name(row["name"])
        x, y = _float_or_none(row.get("lng")), _float_or_none(row.get("lat"))
        if x is not None and y is not None and row_crs is not CRS.WGS84 and -180 <= x <= 180 and -90 <= y <= 90:
            row["lng"], row["lat"] = to_wgs84(x, y, row_crs)
        try:
            station = roster.validate(row, row=number, provenance="import")
        except StationInvalid as exc:
            result.errors.extend(exc.errors)
            continue
        if station.id in seen:
            message = f"duplicate station {station.id!r} ({station.name}): first on row {seen[station.id]}"
            result.errors.append(FieldError("id", message, row=number))
            continue
        seen[station.id] = number
        result.row_of[station.id] = number
        if row.get("location_confirmed") not in (None, ""):
            result.confirmation_given.add(station.id)
        result.stations.append(station)
    if result.rows == 0:
        raise FileInvalid("the file holds no stations")
    return result


# -- preview ------------------------------------------------------------------------------------


@dataclass
class Change:
    """One station the import would change, with its field differences (old, new)."""

    station_id: str
    name: str
    diffs: dict[str, tuple[Any, Any]]

    def as_json(self) -> dict[str, Any]:
        """For the JSON API."""
        return {
            "id": self.station_id,
            "name": self.name,
            "diffs": {k: {"old": o, "new": n} for k, (o, n) in self.diffs.items()},
        }


@dataclass
class Preview:
    """What committing the file would do, and every row error."""

    token: str
    data_version: int
    rows: int
    replace: bool
    added: list[Station] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    closed: list[Change] = field(default_factory=list)
    removed: list[Station] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldWarning] = field(default_factory=list)  # worth checking; they do not stop the import
    stations: list[Station] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file can be committed (warnings do not stop it)."""
        return not self.errors

    def report(self) -> list[str]:
        """One line per error: row, field, message."""
        return [f"row {e.row}: {e.field}: {e.message}" for e in self.errors]

    def warning_report(self) -> list[str]:
        """One line per warning: row, field, message."""
        return [f"row {w.row}: {w.field}: {w.message}" for w in self.warnings]

    def as_json(self) -> dict[str, Any]:
        """The preview as the API returns it."""
        return {
            "ok": self.ok,
            "preview_token": self.token,
            "data_version": self.data_version,
            "rows": self.rows,
            "counts": {
                "added": len(self.added),
                "changed": len(self.changed),
                "closed": len(self.closed),
                "removed": len(self.removed),
                "unchanged": len(self.unchanged),
                "errors": len(self.errors),
                "warnings": len(self.warnings),
            },
            "added": [{"id": s.id, "name": s.name, "district": s.district} for s in self.added],
            "changed": [c.as_json() for c in self.changed],
            "closed": [c.as_json() for c in self.closed],
            "removed": [{"id": s.id, "name": s.name, "district": s.district} for s in self.removed],
            "errors": [{"row": e.row, "column": e.field, "message": e.message} for e in self.errors],
            "warnings": [
                {"row": w.row, "column": w.field, "message": w.message, "code": w.code} for w in self.warnings
            ],
        }


def preview_token(
    data: bytes, fmt: Format, crs: CRS, replace: bool, data_version: int, layer: str | None = None
) -> str:
    """Binds a preview to the file's bytes, the options (layer included) and the roster version."""
    digest = hashlib.sha256(data).hexdigest()
    token = f"{digest}.{fmt.name}.{crs.value}.{int(replace)}.{data_version}"
    if layer:
        token += "." + hashlib.sha256(layer.encode("utf-8")).hexdigest()[:12]
    return token


def _user_scope(user: User) -> StationQuery | None:
    """The part of the roster a replacing import by `user` covers (None: all of it)."""
    districts = user.scope_districts
    return None if districts is None else StationQuery(districts=districts)


def _diffs(old: Station, new: Station) -> dict[str, tuple[Any, Any]]:
    a, b = old.record(), new.record()
    return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


def preview(
    roster: Roster, data: bytes, fmt: Format, crs: CRS, *, user: User, replace: bool, layer: str | None = None
) -> Preview:
    """Plan the file and compare it with the roster (within the user's scope); writes nothing."""
    if not data.strip():
        raise FileInvalid("the file is empty")
    version = roster.store.data_version()
    planned = plan(roster, data, fmt, crs, layer)
    result = Preview(preview_token(data, fmt, crs, replace, version, layer), version, planned.rows, replace)
    result.errors.extend(planned.errors)
    rows_by_id = {}
    for s in planned.stations:
        if not user.may_edit_district(s.district):
            result.errors.append(
                FieldError("district", f"station {s.name!r} lies in district {s.district}, outside your districts")
            )
        rows_by_id[s.id] = s
    ids = tuple(rows_by_id)
    existing = {s.id: s for s in roster.store.list(StationQuery(ids=ids))} if ids else {}
    # A file without the confirmation column keeps an organizer's confirmation of an unmoved station.
    result.stations = [_keep_confirmation(s, existing.get(s.id), planned.confirmation_given) for s in planned.stations]
    for s in result.stations:
        result.warnings.extend(roster.warnings(s, row=planned.row_of.get(s.id)))
    for sid, old in existing.items():
        if not user.may_edit_district(old.district):
            result.errors.append(
                FieldError("id", f"station {sid!r} ({old.name}) belongs to district {old.district}, outside your scope")
            )
    for s in result.stations:
        old = existing.get(s.id)
        if old is None:
            result.added.append(s)
            continue
        # A row that claims no check (no 核实时间, or the exported one untouched) is compared on its other
        # fields; committed, a change is stamped with the import's time (store/base.py).
        diffs = _diffs(old, unclaimed(s, old))
        if not diffs:
            result.unchanged.append(s.id)
        elif s.status != "open" and old.status == "open":
            result.closed.append(Change(s.id, s.name, diffs))
        else:
            result.changed.append(Change(s.id, s.name, diffs))
    if replace:
        for old in roster.store.list(_user_scope(user) or StationQuery()):
            if old.id not in rows_by_id:
                result.removed.append(old)
    result.errors.sort(key=lambda e: (e.row or 0, e.field))
    result.warnings.sort(key=lambda w: (w.row or 0, w.field))
    _remember((result.token, user), result)
    return result


def _keep_confirmation(new: Station, old: Station | None, given: set[str]) -> Station:
    """`new`, confirmed if the file is silent about it and `old` was confirmed at the same place."""
    if old is None or new.id in given or new.location_confirmed or not old.location_confirmed:
        return new
    if (old.lng, old.lat) != (new.lng, new.lat):
        return new  # moved: the confirmation was for the old place
    return dataclasses.replace(new, location_confirmed=True)


_RECENT: OrderedDict[tuple, Preview] = OrderedDict()  # last previews, so a commit need not re-validate
_RECENT_MAX = 4
_RECENT_LOCK = threading.Lock()


def _remember(key: tuple, result: Preview) -> None:
    with _RECENT_LOCK:
        _RECENT[key] = result
        while len(_RECENT) > _RECENT_MAX:
            _RECENT.popitem(last=False)


def _recall(key: tuple) -> Preview | None:
    with _RECENT_LOCK:
        return _RECENT.get(key)


# -- commit -------------------------------------------------------------------------------------


def apply(roster: Roster, checked: Preview, *, user: User, bound: bool = True) -> ReplaceSummary:
    """Write a preview in one transaction (ImportHasErrors if it has errors).

    With `bound`, the write refuses (StaleImport) if the roster moved past the previewed version.
    """
    if not checked.ok:
        raise ImportHasErrors(checked)
    stations = checked.stations
    scope = _user_scope(user) if checked.replace else StationQuery(ids=tuple(s.id for s in stations))
    try:
        return roster.store.replace_all(
            stations,
            actor=user.name,
            via="import",
            scope=scope,
            # Checked inside the write transaction: a save landing after the preview makes the
            # commit refuse rather than overwrite it.
            expected_data_version=checked.data_version if bound else None,
        )
    except Conflict as exc:
        raise StaleImport(str(exc)) from None


def commit(
    roster: Roster,
    data: bytes,
    fmt: Format,
    crs: CRS,
    *,
    user: User,
    replace: bool,
    token: str | None,
    layer: str | None = None,
) -> ReplaceSummary:
    """Apply the file if it still matches the preview `token` (None: no preview was shown)."""
    return commit_checked(roster, data, fmt, crs, user=user, replace=replace, token=token, layer=layer)[0]


def commit_checked(
    roster: Roster,
    data: bytes,
    fmt: Format,
    crs: CRS,
    *,
    user: User,
    replace: bool,
    token: str | None,
    layer: str | None = None,
) -> tuple[ReplaceSummary, Preview]:
    """commit(), also returning the preview it applied (its warnings, for the answer)."""
    stale = "the file or the roster changed since the preview (someone else saved in between): preview again"
    current = preview_token(data, fmt, crs, replace, roster.store.data_version(), layer)
    if token is not None and token != current:
        raise StaleImport(stale)
    # Same file, options, user and roster version as a preview made in this process: reuse its result.
    checked = _recall((current, user)) or preview(roster, data, fmt, crs, user=user, replace=replace, layer=layer)
    if token is not None and token != checked.token:
        raise StaleImport(stale)
    return apply(roster, checked, user=user, bound=token is not None), checked


# -- upload staging -----------------------------------------------------------------------------


class UploadStaging:
    """Uploaded files kept between a preview page and its commit, named by their SHA-256.

    Only previews that may be committed are kept. Files older than a day go, and the folder
    never holds more than MAX_BYTES: the oldest files are evicted first (their preview then
    asks for the file again).
    """

    KEEP_S = 24 * 3600  # previews never committed are kept for a day
    MAX_BYTES = 200 * 1024 * 1024

    def __init__(self, directory: str | Path, max_bytes: int | None = None):
        self.directory = Path(directory)
        self.max_bytes = self.MAX_BYTES if max_bytes is None else max_bytes

    def _path(self, digest: str, fmt: str) -> Path | None:
        if fmt not in FORMATS or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            return None
        return self.directory / f"{digest}.{fmt}"

    def _kept(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every kept file, oldest first (files removed meanwhile are skipped)."""
        found = []
        for path in self.directory.iterdir():
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            found.append((st.st_mtime, st.st_size, path))
        return sorted(found)

    def save(self, data: bytes, fmt: Format) -> str:
        """Keep an uploaded file; returns its digest. Expired files go, then the oldest beyond the cap."""
        self.directory.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - self.KEEP_S
        kept = []
        for mtime, size, path in self._kept():
            if mtime < cutoff:
                path.unlink(missing_ok=True)
            else:
                kept.append((mtime, size, path))
        digest = hashlib.sha256(data).hexdigest()
        target = self.directory / f"{digest}.{fmt.name}"
        kept = [k for k in kept if k[2] != target]
        total = sum(size for _, size, _ in kept) + len(data)
        for _, size, path in kept:  # oldest first
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
        tmp = target.with_name(f".{target.name}.{threading.get_ident()}")
        tmp.write_bytes(data)
        tmp.replace(target)  # a concurrent load() never reads half a file
        return digest

    def load(self, digest: str, fmt: str) -> bytes | None:
        """The kept file, or None if it expired, was evicted, never existed or changed on disk."""
        path = self._path(digest, fmt)
        if path is None or not path.exists():
            return None
        data = path.read_bytes()
        return data if hashlib.sha256(data).hexdigest() == digest else None

    def discard(self, digest: str, fmt: str) -> None:
        """Forget a kept file (after its commit)."""
        path = self._path(digest, fmt)
        if path is not None:
            path.unlink(missing_ok=True)
