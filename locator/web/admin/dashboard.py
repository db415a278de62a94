"""The organizers' start page /admin/: counts by district, type and status, 待核实, sample stations left, links.

A district organizer sees their districts. Every count links to the station list filtered the
same way (locator.catalogue.status_masks and stale_mask: one definition for both pages).
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, g, redirect, render_template, request, url_for

from locator.catalogue import STALE_AFTER_DAYS, STATUS_ORDER, roster_overview
from locator.context import current_roster
from locator.formats import FORMATS
from locator.hours import TZ
from locator.stations import STATION_TYPES, STATUSES
from locator.web.admin.labels import CRS_CHOICES

bp = Blueprint("dashboard", __name__)


def scope_of_user() -> tuple[str, ...] | None:
    """The districts a user looks after (None: the whole city)."""
    user = g.user
    return tuple(user.districts) if user.role != "city_admin" and user.districts else None


@bp.get("/")
def index():
    """The dashboard (old links to the list with ?district= or ?type= go to /admin/stations)."""
    if request.args.get("district") or request.args.get("type"):
        return redirect(url_for("admin.stations.index", **request.args.to_dict(flat=False)), code=301)
    roster = current_roster()
    scope = scope_of_user()
    snap = roster.snapshot()
    overview = roster_overview(snap, roster.districts, datetime.now(TZ), scope)
    return render_template(
        "admin/dashboard.html",
        overview=overview,
        statuses=STATUSES,
        status_order=STATUS_ORDER,
        types=STATION_TYPES,
        stale_days=STALE_AFTER_DAYS,
        scope=scope,
        crs_labels=CRS_CHOICES,
        formats={name: f.label for name, f in FORMATS.items()},
        choice={},
        sample_data=snap.sample_count > 0,
    )
