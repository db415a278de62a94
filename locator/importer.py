"""Roster import with a preview: what a file would add, change, close or remove, then an all-or-nothing commit.

Plain Python (no Flask): the admin pages, the JSON API and the CLI all call preview() and commit().
A preview is bound to the exact file (SHA-256 of its bytes), its options, and the roster's data
version at preview time; commit() refuses when any of them differ, so what is written is what
the organizer saw.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from locator.accounts import User
from locator.coords import CRS
from locator.io import FileInvalid, ImportPlan, plan_import
from locator.roster import Roster
from locator.stations import FieldError, Station
from locator.store.base import Conflict, ReplaceSummary, StationQuery, station_fields_json


class StaleImport(Exception):
    """The file or the roster changed since the preview: preview again."""


class ImportHasErrors(Exception):
    """The file has row errors: nothing is imported."""

    def __init__(self, result: Preview):
        self.preview = result
        super().__init__(f"the file has {len(result.errors)} error(s): nothing was imported")


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
    added: list[Station] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    closed: list[Change] = field(default_factory=list)
    removed: list[Station] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    plan: ImportPlan | None = None

    @property
    def ok(self) -> bool:
        """True when the file can be committed."""
        return not self.errors

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
            },
            "added": [{"id": s.id, "name": s.name, "district": s.district} for s in self.added],
            "changed": [c.as_json() for c in self.changed],
            "closed": [c.as_json() for c in self.closed],
            "removed": [{"id": s.id, "name": s.name, "district": s.district} for s in self.removed],
            "errors": [{"row": e.row, "column": e.field, "message": e.message} for e in self.errors],
        }


def preview_token(data: bytes, fmt: str, crs: CRS, replace: bool, data_version: int) -> str:
    """Binds a preview to the file's bytes, the options and the roster version."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest}.{fmt}.{crs.value}.{int(replace)}.{data_version}"


def _diffs(old: Station, new: Station) -> dict[str, tuple[Any, Any]]:
    a, b = station_fields_json(old), station_fields_json(new)
    return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


def _scope(user: User, plan_ids: tuple[str, ...], replace: bool) -> StationQuery | None:
    if replace:
        return user.scope()
    return StationQuery(ids=plan_ids)


def preview(roster: Roster, data: bytes, fmt: str, crs: CRS, *, user: User, replace: bool) -> Preview:
    """Parse and validate the file and compare it with the roster; writes nothing."""
    if not data.strip():
        raise FileInvalid("the file is empty")
    version = roster.store.data_version()
    plan = plan_import(data, fmt, crs, roster.validate, {d.code: d.name for d in roster.districts.districts})
    result = Preview(preview_token(data, fmt, crs, replace, version), version, plan.rows, plan=plan)
    result.errors.extend(plan.errors)
    rows_by_id = {}
    for s in plan.stations:
        if not user.may_edit_district(s.district):
            result.errors.append(
                FieldError("district", f"station {s.name!r} lies in district {s.district}, outside your districts")
            )
        rows_by_id[s.id] = s
    ids = tuple(rows_by_id)
    existing = {s.id: s for s in roster.store.list(StationQuery(ids=ids))} if ids else {}
    for sid, old in existing.items():
        if not user.may_edit_district(old.district):
            result.errors.append(
                FieldError("id", f"station {sid!r} ({old.name}) belongs to district {old.district}, outside your scope")
            )
    for s in plan.stations:
        old = existing.get(s.id)
        if old is None:
            result.added.append(s)
            continue
        diffs = _diffs(old, s)
        if not diffs:
            result.unchanged.append(s.id)
        elif s.status != "open" and old.status == "open":
            result.closed.append(Change(s.id, s.name, diffs))
        else:
            result.changed.append(Change(s.id, s.name, diffs))
    if replace:
        scope = user.scope()
        for old in roster.store.list(scope or StationQuery()):
            if old.id not in rows_by_id:
                result.removed.append(old)
    result.errors.sort(key=lambda e: (e.row or 0, e.field))
    _remember((result.token, user), result)
    return result


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


def commit(
    roster: Roster,
    data: bytes,
    fmt: str,
    crs: CRS,
    *,
    user: User,
    replace: bool,
    token: str | None,
) -> ReplaceSummary:
    """Apply the file in one transaction if it still matches the preview `token` (None: no preview)."""
    current = preview_token(data, fmt, crs, replace, roster.store.data_version())
    if token is not None and token != current:
        raise StaleImport(
            "the file or the roster changed since the preview (someone else saved in between): preview again"
        )
    # Same file, options, user and roster version as a preview made in this process: reuse its result.
    checked = _recall((current, user)) or preview(roster, data, fmt, crs, user=user, replace=replace)
    if token is not None and token != checked.token:
        raise StaleImport(
            "the file or the roster changed since the preview (someone else saved in between): preview again"
        )
    if not checked.ok:
        raise ImportHasErrors(checked)
    assert checked.plan is not None
    stations = checked.plan.stations
    scope = _scope(user, tuple(s.id for s in stations), replace)
    try:
        return roster.store.replace_all(
            stations,
            actor=user.name,
            via="import",
            scope=scope,
            # Checked inside the write transaction: a save landing after the check above still
            # makes the commit refuse rather than overwrite it.
            expected_data_version=checked.data_version if token is not None else None,
        )
    except Conflict as exc:
        raise StaleImport(str(exc)) from None
