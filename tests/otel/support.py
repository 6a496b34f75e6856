"""Shared by the OpenTelemetry tests: what a test reads back from the SDK's in-memory exporters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

TOKEN = "otel-SECRET-token-5d1c9e"
IP = "203.0.113.77"
PLAYER: dict[str, Any] = {
    "player_id": "player-4711",
    "player_username": "ada_lovelace",
    "language": "en",
    "currency": "EUR",
    "home_url": "https://casino.example/lobby",
    "ip": IP,
}


def client_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]


def lookup_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.INTERNAL
            and s.name == "list_games"]


def only(spans: list[ReadableSpan]) -> ReadableSpan:
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def events(span: ReadableSpan, name: str) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == name]


def children(exporter: InMemorySpanExporter, parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in exporter.get_finished_spans()
            if s.parent is not None and s.parent.span_id == parent.context.span_id]


def points(reader: InMemoryMetricReader, name: str) -> list[tuple[dict[str, Any], Any]]:
    """``(attributes, data point)`` of every data point of metric ``name`` (cumulative)."""
    data = reader.get_metrics_data()
    found = []
    for resource_metrics in (data.resource_metrics if data is not None else ()):
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    found.extend(
                        (dict(point.attributes or {}), point) for point in metric.data.data_points
                    )
    return found


def all_metric_points(reader: InMemoryMetricReader) -> Iterator[tuple[str, dict[str, Any]]]:
    data = reader.get_metrics_data()
    for resource_metrics in (data.resource_metrics if data is not None else ()):
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    yield metric.name, dict(point.attributes or {})
