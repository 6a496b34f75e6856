"""What the ``gameapi`` command prints: the games table and its one-line and JSON errors."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from .._errors import ApiError, GameApiError
from .._models import Game

__all__ = ["error_json", "error_line", "games_table"]


def _columns(text: str) -> int:
    """Terminal columns ``text`` takes: CJK and emoji take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(char)
        else 2 if unicodedata.east_asian_width(char) in ("W", "F")
        else 1
        for char in text
    )


def games_table(games: Sequence[Game]) -> str:
    """A plain-text table of games, one row each, aligned as a terminal shows it."""
    rows = [("ID", "TITLE", "BRAND", "DEMO")]
    rows += [(str(g.id), g.title, g.brand, "yes" if g.demo else "no") for g in games]
    widths = [max(_columns(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell + " " * (w - _columns(cell))
                       for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    return "\n".join(lines)


def error_line(error: GameApiError) -> str:
    """One line that says what failed, with the code, HTTP status and request id."""
    if isinstance(error, ApiError):
        return f"error: {error}"
    return f"error: {type(error).__name__}: {error}"


def error_json(error: GameApiError) -> dict[str, Any]:
    """The error as ``--json`` prints it: ``{"error": {...}}`` with ``null`` where n/a."""
    return {
        "error": {
            "type": type(error).__name__,
            "code": getattr(error, "code", None),
            "message": error.message,
            "http_status": error.http_status,
            "request_id": error.request_id,
            "field": getattr(error, "field", None),
        }
    }
