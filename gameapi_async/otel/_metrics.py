"""The SDK's metric instruments, created once per :class:`~gameapi_async.otel.Telemetry`."""

from __future__ import annotations

from typing import Final

from opentelemetry.metrics import Meter

from ._names import (
    ATTEMPTS_METRIC,
    CACHE_LOOKUPS_METRIC,
    CALL_DURATION_METRIC,
    CIRCUIT_CHANGES_METRIC,
    CIRCUIT_STATE_METRIC,
    CLOCK_OFFSET_METRIC,
    RETRIES_METRIC,
    RETRIES_REFUSED_METRIC,
)

__all__ = ["Instruments"]

# The boundaries OpenTelemetry's HTTP conventions advise for request durations, in seconds.
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0,
)


class Instruments:
    """Synchronous instruments only: several ``Telemetry`` objects on one meter provider get
    the same instruments back and all keep reporting (a second observable gauge of the same
    name would be returned without its callback, and go silent)."""

    __slots__ = (
        "attempts",
        "call_duration",
        "circuit_changes",
        "circuit_state",
        "clock_offset",
        "lookups",
        "retries",
        "retries_refused",
    )

    def __init__(self, meter: Meter) -> None:
        self.call_duration = meter.create_histogram(
            CALL_DURATION_METRIC,
            unit="s",
            description="Duration of platform calls, first attempt to final answer or error, "
            "retries and waits included",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.attempts = meter.create_counter(
            ATTEMPTS_METRIC,
            unit="{attempt}",
            description="HTTP attempts made to the platform, retries and clock re-sends included",
        )
        self.retries = meter.create_counter(
            RETRIES_METRIC,
            unit="{retry}",
            description="Retries scheduled after a transient failure (each spent a token of "
            "the retry budget)",
        )
        self.retries_refused = meter.create_counter(
            RETRIES_REFUSED_METRIC,
            unit="{retry}",
            description="Retries refused because the retry budget was spent",
        )
        self.circuit_state = meter.create_gauge(
            CIRCUIT_STATE_METRIC,
            unit="1",
            description="The circuit breaker's state: 0 closed, 1 half open, 2 open",
        )
        self.circuit_changes = meter.create_counter(
            CIRCUIT_CHANGES_METRIC,
            unit="{change}",
            description="Changes of the circuit breaker's state, by new state and reason",
        )
        self.lookups = meter.create_counter(
            CACHE_LOOKUPS_METRIC,
            unit="{lookup}",
            description="list_games() answers by cache outcome: hit, stale, join or miss",
        )
        self.clock_offset = meter.create_gauge(
            CLOCK_OFFSET_METRIC,
            unit="s",
            description="The platform's clock minus this host's, as learned from its answers",
        )
