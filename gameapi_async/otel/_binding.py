"""One client's telemetry: the span of each platform call, attempt events, cache lookups.

Four pieces, each at a seam the client already has:

- ``wrap_handler``: the outermost layer of the pipeline (around the caller's own middlewares),
  so the CLIENT span covers the whole logical call (every attempt, retry wait and clock
  re-send) and the caller's middlewares can open spans inside it. It also records the call
  duration and attempt count metrics;
- ``wrap_attempt``: around each signed attempt, an event on the call's span (number, status,
  error, duration, request id, clock offset). When the call's span is not recording it hands
  the attempt straight through, without a frame of its own;
- ``on_event``: an ``on_event`` hook for the rare events, retries and clock resyncs;
- ``wrap_games`` and ``on_cache_lookup``: an INTERNAL span per ``list_games()`` with the cache's
  outcome. A hit, a stale answer or a join makes no request, so it makes no CLIENT span; a
  miss's fetch is a CLIENT span inside it; a background refresh starts a trace of its own,
  linked to the lookup that served the stale list (its caller is long gone when it ends).

The event hook and the attempt layer find the call they belong to through a context variable
the call's layer sets, only while its span is recording. With only the API (no SDK), the
tracing gate keeps spans from being started at all: a call costs the gate's check, two clock
reads and two metric updates that do nothing; a cached ``list_games()`` costs the check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from contextvars import ContextVar
from time import perf_counter
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from .._cache import Fetch
from .._errors import GameApiError
from .._events import CircuitChanged, ClockResynced, Event, RetryRefused, RetryScheduled
from .._models import GameList
from .._pipeline import Call, Handler, Reply
from .._protocol import Endpoint
from .._telemetry import GamesGetter
from ._gate import TracingGate
from ._metrics import Instruments
from ._names import (
    AGENT_ID,
    ATTEMPT_DURATION,
    ATTEMPT_EVENT,
    ATTEMPT_NUMBER,
    ATTEMPTS,
    CACHE_OUTCOME,
    CANCELLED,
    CIRCUIT_REASON,
    CIRCUIT_STATE,
    CIRCUIT_STATE_VALUES,
    CLOCK_OFFSET,
    CLOCK_PREVIOUS_OFFSET,
    CLOCK_RESYNC_EVENT,
    CLOCK_RESYNC_REASON,
    ENDPOINT,
    ERROR,
    ERROR_TYPE,
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    LOOKUP_SPAN,
    OUTCOME,
    REQUEST_ID,
    RETRY_EVENT,
    RETRY_WAIT,
    SERVER_ADDRESS,
    SERVER_PORT,
    SUCCESS,
    URL_FULL,
    URL_TEMPLATE,
    describe,
    error_type,
    full_url,
    server_of,
)

__all__ = ["ClientTelemetry"]

Attributes = Mapping[str, AttributeValue]

_MAX_ATTRIBUTE_SETS: Final = 512  # cached metric attribute sets per client (codes are open-ended)


class _CallRecord:
    """The recording span of the platform call in progress, for the event hook."""

    __slots__ = ("clock_offset", "span")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.clock_offset: float | None = None


class _Lookup:
    """The recording span of a ``list_games()`` lookup and the cache's answer to it."""

    __slots__ = ("outcome", "span")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.outcome: str | None = None


_CALL: ContextVar[_CallRecord | None] = ContextVar("gameapi_async.otel.call", default=None)
_LOOKUP: ContextVar[_Lookup | None] = ContextVar("gameapi_async.otel.lookup", default=None)


class ClientTelemetry:
    """Spans and metrics of one client (and its ``with_options`` views)."""

    def __init__(
        self, *, tracer: Tracer, tracing: TracingGate, instruments: Instruments, base_url: str,
        agent_id: int,
    ) -> None:
        address, port = server_of(base_url)
        self._tracer = tracer
        self._tracing = tracing
        self._instruments = instruments
        self._base_url = base_url
        self._server: Attributes = {SERVER_ADDRESS: address, SERVER_PORT: port}
        self._agent_id = agent_id
        self._spans: dict[str, tuple[str, Attributes]] = {}  # by endpoint path
        self._metric_sets: dict[tuple[object, ...], Attributes] = {}
        self._success_sets: dict[tuple[str, int], Attributes] = {}  # the common case, quicker
        self._lookup_attributes: Attributes = {ENDPOINT: "list_games", AGENT_ID: agent_id}
        self._lookup_sets: dict[str, Attributes] = {}  # metric attributes by cache outcome
        instruments.clock_offset.set(0.0, self._server)

    # -- the platform call ----------------------------------------------------------------

    def wrap_handler(self, handler: Handler) -> Handler:
        # A closure over what every call reads: with no SDK this layer is all that telemetry
        # costs, so it does as few lookups and calls as it can.
        tracing, start = self._tracing, self._start_call_span
        success_sets = self._success_sets
        call_duration, attempts = self._instruments.call_duration, self._instruments.attempts
        count_success, count_failure = self._count_success, self._count_failure
        recorded = self._recorded_call

        async def traced(call: Call) -> Reply:
            endpoint = call.endpoint
            if tracing():
                span = start(endpoint)
                if span.is_recording() or span.get_span_context().is_valid:
                    return await recorded(handler, call, span, perf_counter())
            # Nothing records this call's span (no SDK): metrics only.
            started = perf_counter()
            try:
                reply = await handler(call)
            except BaseException as error:
                count_failure(endpoint, error, perf_counter() - started)
                raise
            duration = perf_counter() - started
            measured = success_sets.get((endpoint.name, reply.envelope.http_status))
            if measured is None:
                count_success(endpoint, reply, duration)
            else:
                call_duration.record(duration, measured)
                attempts.add(reply.attempt, measured)
            return reply

        return traced

    def _start_call_span(self, endpoint: Endpoint) -> Span:
        name, attributes = self._spans.get(endpoint.path) or self._span_of(endpoint)
        lookup = _LOOKUP.get()
        if lookup is not None and lookup.outcome == "stale":
            # A background refresh: a trace of its own, linked to the lookup that started it
            # (that caller has its list and is gone).
            return self._tracer.start_span(
                name, trace.set_span_in_context(INVALID_SPAN), SpanKind.CLIENT, attributes,
                (Link(lookup.span.get_span_context()),),
            )
        return self._tracer.start_span(name, None, SpanKind.CLIENT, attributes)

    async def _recorded_call(
        self, handler: Handler, call: Call, span: Span, started: float
    ) -> Reply:
        endpoint = call.endpoint
        record = call_token = None
        if span.is_recording():
            record = _CallRecord(span)
            call_token = _CALL.set(record)
        # Attached even when sampled out, so spans below inherit the sampling decision.
        context_token = otel_context.attach(trace.set_span_in_context(span))
        try:
            reply = await handler(call)
        except BaseException as error:
            kind = self._count_failure(endpoint, error, perf_counter() - started)
            if record is not None:
                self._end_failed(record, error, kind)
            raise
        finally:
            otel_context.detach(context_token)
            if call_token is not None:
                _CALL.reset(call_token)
        self._count_success(endpoint, reply, perf_counter() - started)
        if record is not None:
            self._end_succeeded(record, reply)
        return reply

    def _span_of(self, endpoint: Endpoint) -> tuple[str, Attributes]:
        found = self._spans.get(endpoint.path)
        if found is None:
            found = self._spans[endpoint.path] = (
                f"POST {endpoint.path}",
                {
                    HTTP_REQUEST_METHOD: "POST",
                    **self._server,
                    URL_FULL: full_url(self._base_url, endpoint.path),
                    URL_TEMPLATE: endpoint.path,
                    ENDPOINT: endpoint.name,
                    AGENT_ID: self._agent_id,
                },
            )
        return found

    def _metric_set(
        self, endpoint: str, outcome: str, error: str | None, status: int | None
    ) -> Attributes:
        """The attributes of a call measurement, built once per combination."""
        key = (endpoint, outcome, error, status)
        found = self._metric_sets.get(key)
        if found is None:
            if len(self._metric_sets) >= _MAX_ATTRIBUTE_SETS:
                self._metric_sets.clear()
            built: dict[str, AttributeValue] = {**self._server, ENDPOINT: endpoint,
                                                OUTCOME: outcome}
            if error is not None:
                built[ERROR_TYPE] = error
            if status is not None:
                built[HTTP_RESPONSE_STATUS_CODE] = status
            found = self._metric_sets[key] = built
        return found

    def _count_success(self, endpoint: Endpoint, reply: Reply, duration: float) -> None:
        status = reply.envelope.http_status
        attributes = self._metric_set(endpoint.name, SUCCESS, None, status)
        self._success_sets[(endpoint.name, status)] = attributes
        instruments = self._instruments
        instruments.call_duration.record(duration, attributes)
        instruments.attempts.add(reply.attempt, attributes)

    def _count_failure(self, endpoint: Endpoint, error: BaseException, duration: float) -> str:
        kind = error_type(error)
        if isinstance(error, GameApiError):
            status, attempts = error.http_status, error.attempts
        else:  # cancelled, or a bug in a middleware: how many attempts were made is unknown
            status, attempts = None, 0
        attributes = self._metric_set(
            endpoint.name, CANCELLED if kind == CANCELLED else ERROR, kind, status
        )
        self._instruments.call_duration.record(duration, attributes)
        if attempts:
            self._instruments.attempts.add(attempts, attributes)
        return kind

    @staticmethod
    def _end_succeeded(record: _CallRecord, reply: Reply) -> None:
        span = record.span
        envelope = reply.envelope
        span.set_attribute(HTTP_RESPONSE_STATUS_CODE, envelope.http_status)
        span.set_attribute(ATTEMPTS, reply.attempt)
        if envelope.request_id is not None:
            span.set_attribute(REQUEST_ID, envelope.request_id)
        if record.clock_offset is not None:
            span.set_attribute(CLOCK_OFFSET, record.clock_offset)
        span.end()

    @staticmethod
    def _end_failed(record: _CallRecord, error: BaseException, kind: str) -> None:
        span = record.span
        span.set_attribute(ERROR_TYPE, kind)
        if isinstance(error, GameApiError):
            if error.http_status is not None:
                span.set_attribute(HTTP_RESPONSE_STATUS_CODE, error.http_status)
            span.set_attribute(ATTEMPTS, error.attempts)
            if error.request_id is not None:
                span.set_attribute(REQUEST_ID, error.request_id)
        if record.clock_offset is not None:
            span.set_attribute(CLOCK_OFFSET, record.clock_offset)
        span.set_status(Status(StatusCode.ERROR, describe(error)))
        span.end()

    # -- each attempt: an event on the call's span ----------------------------------------

    def wrap_attempt(self, send: Handler) -> Handler:
        get_record, timed = _CALL.get, self._timed_attempt

        def attempt(call: Call) -> Awaitable[Reply]:
            record = get_record()
            if record is None:
                return send(call)  # the call is not recorded: no frame of our own
            return timed(send, call, record)

        return attempt

    async def _timed_attempt(self, send: Handler, call: Call, record: _CallRecord) -> Reply:
        record.clock_offset = call.clock_offset
        details: dict[str, AttributeValue] = {
            ATTEMPT_NUMBER: call.attempt, CLOCK_OFFSET: call.clock_offset,
        }
        started = perf_counter()
        try:
            reply = await send(call)
        except Exception as error:
            details[ATTEMPT_DURATION] = perf_counter() - started
            details[ERROR_TYPE] = error_type(error)
            if isinstance(error, GameApiError):
                if error.http_status is not None:
                    details[HTTP_RESPONSE_STATUS_CODE] = error.http_status
                if error.request_id is not None:
                    details[REQUEST_ID] = error.request_id
            record.span.add_event(ATTEMPT_EVENT, details)
            raise
        envelope = reply.envelope
        details[ATTEMPT_DURATION] = perf_counter() - started
        details[HTTP_RESPONSE_STATUS_CODE] = envelope.http_status
        if envelope.request_id is not None:
            details[REQUEST_ID] = envelope.request_id
        record.span.add_event(ATTEMPT_EVENT, details)
        return reply

    # -- retries and clock resyncs: the on_event hook -------------------------------------

    def on_event(self, event: Event) -> None:
        """Retries and clock resyncs (rare: emitted only when they happen). Attempts are timed
        by :meth:`wrap_attempt` instead: an attempt hook would make the client build an event
        per attempt even when nothing records."""
        if type(event) is RetryScheduled:
            kind = error_type(event.error)
            self._instruments.retries.add(
                1, self._metric_set(event.endpoint, ERROR, kind, event.error.http_status)
            )
            record = _CALL.get()
            if record is not None:
                record.span.add_event(RETRY_EVENT, {
                    ATTEMPT_NUMBER: event.attempt, RETRY_WAIT: event.wait, ERROR_TYPE: kind,
                })
        elif type(event) is RetryRefused:
            kind = error_type(event.error)
            self._instruments.retries_refused.add(
                1, self._metric_set(event.endpoint, ERROR, kind, event.error.http_status)
            )
        elif type(event) is CircuitChanged:
            self._instruments.circuit_state.set(CIRCUIT_STATE_VALUES[event.state], self._server)
            self._instruments.circuit_changes.add(
                1, {**self._server, CIRCUIT_STATE: event.state, CIRCUIT_REASON: event.reason}
            )
        elif type(event) is ClockResynced:
            self._instruments.clock_offset.set(event.offset, self._server)
            record = _CALL.get()
            if record is not None:
                record.span.add_event(CLOCK_RESYNC_EVENT, {
                    CLOCK_OFFSET: event.offset,
                    CLOCK_PREVIOUS_OFFSET: event.previous,
                    CLOCK_RESYNC_REASON: event.reason,
                })

    # -- list_games(): the cache lookup ---------------------------------------------------

    def wrap_games(self, get: GamesGetter) -> GamesGetter:
        tracing, traced = self._tracing, self._traced_lookup

        def lookup(fetch: Fetch, *, refresh: bool = False) -> Awaitable[GameList]:
            if not tracing():
                return get(fetch, refresh=refresh)  # no SDK: no span, no frame of our own
            return traced(get, fetch, refresh)

        return lookup

    async def _traced_lookup(self, get: GamesGetter, fetch: Fetch, refresh: bool) -> GameList:
        span = self._tracer.start_span(
            LOOKUP_SPAN, kind=SpanKind.INTERNAL, attributes=self._lookup_attributes
        )
        lookup_token = context_token = None
        recording = span.is_recording()
        if recording:
            lookup_token = _LOOKUP.set(_Lookup(span))
        if span.get_span_context().is_valid:
            context_token = otel_context.attach(trace.set_span_in_context(span))
        try:
            return await get(fetch, refresh=refresh)
        except BaseException as error:
            if recording:
                span.set_attribute(ERROR_TYPE, error_type(error))
                span.set_status(Status(StatusCode.ERROR, describe(error)))
            raise
        finally:
            if context_token is not None:
                otel_context.detach(context_token)
            if lookup_token is not None:
                _LOOKUP.reset(lookup_token)
            span.end()

    def on_cache_lookup(self, outcome: str) -> None:
        attributes = self._lookup_sets.get(outcome)
        if attributes is None:
            attributes = self._lookup_sets[outcome] = {**self._server, CACHE_OUTCOME: outcome}
        self._instruments.lookups.add(1, attributes)
        lookup = _LOOKUP.get()
        if lookup is not None:
            lookup.outcome = outcome
            lookup.span.set_attribute(CACHE_OUTCOME, outcome)
