"""Errors that carry their HTTP answer, so one handler (web/problems.py) serves every type.

Domain modules raise subclasses of LocatorError without knowing Flask: each class names the
status and title of the problem+json answer it becomes, and `problem()` adds its extra members
(the parameter at fault, row errors, the current version). Modelled on pygeoapi's provider errors.
"""

from __future__ import annotations

from typing import Any


class LocatorError(Exception):
    """Base of the service's errors: `http_status` and `title` say how the web layer answers.

    `str(error)` is the English `detail` for developers; `detail_zh`, when set, is what a Chinese
    reader sees (pages show it; problem+json carries it beside `detail`).
    """

    http_status: int = 500
    title: str = "Internal Server Error"
    detail_zh: str | None = None

    def problem(self) -> dict[str, Any]:
        """Extra members of the problem+json answer (none by default)."""
        return {}


class BadParameter(LocatorError, ValueError):
    """A request parameter that cannot be used; the answer names it."""

    http_status = 400
    title = "Invalid parameter"

    def __init__(self, parameter: str, detail: str, detail_zh: str | None = None):
        self.parameter = parameter
        self.detail_zh = detail_zh
        super().__init__(f"{parameter}: {detail}")

    def problem(self) -> dict[str, Any]:
        """The parameter at fault."""
        return {"parameter": self.parameter}
