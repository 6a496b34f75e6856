"""The seam between the client and a telemetry backend, free of any OpenTelemetry import.

The client only knows this shape; ``gameapi_async.otel.Telemetry`` implements it. A client
built without ``telemetry=`` never imports this module's counterpart, so OpenTelemetry stays
unimported and the call path stays exactly as it is without telemetry.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from ._cache import Fetch
from ._errors import InvalidParameterError
from ._events import Event
from ._models import GameList
from ._pipeline import Handler

__all__ = ["GamesGetter", "TelemetryHooks", "bind_telemetry"]


class GamesGetter(Protocol):
    """``GameListCache.get``: what ``list_games()`` awaits."""

    def __call__(self, fetch: Fetch, *, refresh: bool = False) -> Awaitable[GameList]: ...


class TelemetryHooks(Protocol):
    """What one client gets from its telemetry: its hooks into the call path."""

    def on_event(self, event: Event) -> None:
        """An ``on_event`` hook for retries and clock resyncs (given to the retry and clock
        middlewares only, so the attempt observer keeps its fast path)."""

    def on_cache_lookup(self, outcome: str) -> None:
        """The game-list cache's observer: ``"hit"``, ``"stale"``, ``"join"`` or ``"miss"``."""

    def wrap_handler(self, handler: Handler) -> Handler:
        """The pipeline inside the span of one logical platform call (outermost layer)."""

    def wrap_attempt(self, send: Handler) -> Handler:
        """One signed attempt, reported on the call's span (innermost layer)."""

    def wrap_games(self, get: GamesGetter) -> GamesGetter:
        """``list_games()``'s cache lookup inside a span of its own."""


def bind_telemetry(telemetry: object, *, base_url: str, agent_id: int) -> TelemetryHooks:
    """The hooks ``telemetry`` gives one client; refuses anything that is not a telemetry."""
    bind = getattr(telemetry, "_bind_client", None)
    if not callable(bind):
        raise InvalidParameterError(
            "telemetry",
            f"must be a gameapi_async.otel.Telemetry, got {type(telemetry).__name__}",
        )
    instruments: TelemetryHooks = bind(base_url=base_url, agent_id=agent_id)
    return instruments
