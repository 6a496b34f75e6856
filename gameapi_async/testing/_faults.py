"""Fault injection for the fake platform: what goes wrong, how often, decided by a seeded RNG."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = ["Faults", "ScriptedResponse"]


@attrs.define
class Faults:
    """Faults applied to requests; change the fields at any time on a running fake.

    Rates are shares of requests (0.0 to 1.0), drawn from the fake's seeded RNG in arrival
    order, so the same seed and the same request order give the same faults.
    """

    latency: float = 0.0  # seconds added before every answer
    error_rate: float = 0.0  # share answered with an injected server error
    error_statuses: tuple[int, ...] = (500, 502, 503)  # chosen among for injected errors
    error_html: bool = False  # injected errors as an HTML page instead of a JSON envelope
    retry_after: str | None = None  # Retry-After header on injected errors, verbatim
    drop_rate: float = 0.0  # share whose connection is closed with no answer
    stall_rate: float = 0.0  # share that hang for ``stall_seconds`` before answering
    stall_seconds: float = 30.0
    clock_offset: float = 0.0  # seconds the fake's clock runs ahead (+) or behind (-)

    def validate(self) -> None:
        for name in ("error_rate", "drop_rate", "stall_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.latency < 0 or self.stall_seconds < 0:
            raise ValueError("latency and stall_seconds must not be negative")
        if not self.error_statuses:
            raise ValueError("error_statuses must not be empty")


@attrs.frozen
class ScriptedResponse:
    """One canned answer for the next matching request, served instead of the real logic.

    Give ``json`` (serialised as is) or ``body`` (raw bytes); ``drop=True`` closes the
    connection instead of answering; ``path`` limits it to one endpoint.
    """

    status: int = 200
    json: object = None
    body: bytes | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    delay: float = 0.0
    drop: bool = False
    path: str | None = None
