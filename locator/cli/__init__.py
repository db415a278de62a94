"""`flask --app locator …` commands, one module per resource: roster, accounts, backup, coverage."""

from __future__ import annotations

from flask import Flask

from locator.cli import accounts, backup, coverage, roster


def init_app(app: Flask) -> None:
    """Register every command."""
    for module in (roster, accounts, backup, coverage):
        for command in module.COMMANDS:
            app.cli.add_command(command)
