"""What views and commands import to reach the app's resources (flaskr's get_db, for this app).

create_app() puts the roster and the account store in `app.extensions`; everything else asks here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from locator.importing import UploadStaging
    from locator.reports import ConfirmationLog
    from locator.roster import Roster
    from locator.store.accounts import AccountStore
    from locator.store.demand import DemandStore
    from locator.store.reports import FeedbackStore
    from locator.store.shared import SharedUploadStaging


def current_roster() -> Roster:
    """The Roster of the app handling this request or CLI command."""
    return current_app.extensions["roster"]


def current_accounts() -> AccountStore:
    """The account store of the app handling this request or CLI command."""
    return current_app.extensions["accounts"]


def current_staging() -> UploadStaging | SharedUploadStaging:
    """Where uploaded files wait between an import preview and its commit (instance folder, or PostgreSQL)."""
    return current_app.extensions["staging"]


def current_demand() -> DemandStore:
    """Demand layers, search counts and coverage jobs of the app handling this request or command."""
    return current_app.extensions["demand"]


def current_feedback() -> FeedbackStore:
    """Riders' reports and confirmation counts of the app handling this request or command."""
    return current_app.extensions["feedback"]


def current_confirmations() -> ConfirmationLog:
    """The in-memory "这里可用" counters of this process (written in batches)."""
    return current_app.extensions["confirmations"]
