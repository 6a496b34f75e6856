"""OpenTelemetry traces and metrics for ``GameApiClient`` (needs the ``otel`` extra).

>>> from gameapi_async import GameApiClient
>>> from gameapi_async.otel import Telemetry
>>> client = GameApiClient(..., telemetry=Telemetry())  # the global tracer and meter providers

Only ``opentelemetry-api`` is required: the application brings the SDK and its exporters.
Without an SDK the API's no-op providers are used and the client records nothing, at the cost
of a check and two no-op metric updates per call. A client built without ``telemetry=`` never
imports this package, nor OpenTelemetry.

See docs/observability.md for every span, event, attribute and metric.
"""

from __future__ import annotations

from opentelemetry import metrics, trace

from .._errors import InvalidParameterError
from .._version import __version__
from ._binding import ClientTelemetry
from ._gate import TracingGate
from ._metrics import Instruments

__all__ = ["Telemetry"]

_SCOPE = "gameapi_async"


class Telemetry:
    """Where a client's spans and metrics go: ``GameApiClient(..., telemetry=Telemetry())``.

    Parameters (keyword-only):
        tracer_provider: an ``opentelemetry.trace.TracerProvider``; default the global one
            (``trace.set_tracer_provider``), which may be set after the client is built: it
            is used from the next call on, or within a second if calls were made before.
        meter_provider: an ``opentelemetry.metrics.MeterProvider``; default the global one,
            likewise.

    One ``Telemetry`` may serve any number of clients; each client's spans and metrics carry
    its platform's ``server.address`` and ``server.port``.
    """

    __slots__ = ("_instruments", "_meter_provider", "_tracer", "_tracer_provider", "_tracing")

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        if tracer_provider is not None and not isinstance(tracer_provider, trace.TracerProvider):
            raise InvalidParameterError(
                "tracer_provider",
                f"must be an opentelemetry TracerProvider, got {type(tracer_provider).__name__}",
            )
        if meter_provider is not None and not isinstance(meter_provider, metrics.MeterProvider):
            raise InvalidParameterError(
                "meter_provider",
                f"must be an opentelemetry MeterProvider, got {type(meter_provider).__name__}",
            )
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider)
        self._tracing = TracingGate(tracer_provider)
        self._instruments = Instruments(metrics.get_meter(_SCOPE, __version__, meter_provider))

    def __repr__(self) -> str:
        def name(provider: object) -> str:
            return "global" if provider is None else type(provider).__name__

        return (
            f"Telemetry(tracer_provider={name(self._tracer_provider)}, "
            f"meter_provider={name(self._meter_provider)})"
        )

    def _bind_client(self, *, base_url: str, agent_id: int) -> ClientTelemetry:
        """The hooks one client installs (called by ``GameApiClient``)."""
        return ClientTelemetry(
            tracer=self._tracer, tracing=self._tracing, instruments=self._instruments,
            base_url=base_url, agent_id=agent_id,
        )
