"""What views and commands import to reach the app's resources (flaskr's get_db, for this app).

create_app() puts the roster and the account store in `app.extensions`; everything else asks here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from locator.roster import Roster
    from locator.store.accounts import AccountStore


def current_roster() -> Roster:
    """The Roster of the app handling this request or CLI command."""
    return current_app.extensions["roster"]


def current_accounts() -> AccountStore:
    """The account store of the app handling this request or CLI command."""
    return current_app.extensions["accounts"]
