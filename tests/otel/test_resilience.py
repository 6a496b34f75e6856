"""Metrics of the retry budget and the circuit breaker: retries refused, circuit state."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import gameapi_async as ga
from gameapi_async import CircuitBreaker, GameApiClient, RetryBudget, RetryPolicy
from gameapi_async.testing import FakePlatform

from .support import PLAYER, points


async def fail(client: GameApiClient) -> ga.GameApiError:
    with pytest.raises(ga.GameApiError) as raised:
        await client.get_game_link_demo(game_id=1, **PLAYER)
    return raised.value


async def test_refused_retries_are_counted(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    reader: InMemoryMetricReader,
) -> None:
    budget = RetryBudget(share=0, per_second=0, max_tokens=1)
    client = otel_client(retry=RetryPolicy(wait_initial=0, budget=budget))
    fake.go_down()
    for _ in range(3):
        await fail(client)
    (retried,) = points(reader, "gameapi.client.retries")
    assert retried[1].value == 1  # the one token
    (refused,) = points(reader, "gameapi.client.retries.refused")
    attributes, point = refused
    assert point.value == 3  # the first call's second retry, and the first of the others
    assert attributes["gameapi.endpoint"] == "get_game_link_demo"
    assert attributes["http.response.status_code"] == 503


async def test_the_circuit_state_is_a_gauge_and_its_changes_are_counted(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    reader: InMemoryMetricReader,
) -> None:
    client = otel_client(retry=RetryPolicy.disabled(),
                         breaker=CircuitBreaker(failure_threshold=2, cool_down=60, hold=0))
    fake.go_down()
    for _ in range(2):
        await fail(client)
    assert isinstance(await fail(client), ga.CircuitOpenError)
    (state,) = points(reader, "gameapi.client.circuit.state")
    assert state[1].value == 2  # open
    changes = {(a["gameapi.circuit.state"], a["gameapi.circuit.reason"]): p.value
               for a, p in points(reader, "gameapi.client.circuit.changes")}
    assert changes == {("open", "failures"): 1}
