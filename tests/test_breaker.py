"""CircuitBreaker: after a run of transient failures, fail at once; a probe closes or reopens."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

import gameapi_async as ga
from gameapi_async import CircuitBreaker, GameApiClient, RetryPolicy
from gameapi_async._protocol import RawResponse
from gameapi_async.testing import MockTransport

from .support import BASE_URL, PLAYER, FakeClock, Script, failure, success

DEMO_URL = f"{BASE_URL}/api/games/get_game_link_demo"
LINK = success({"url": "https://play.example/x"})
SINGLE = RetryPolicy.disabled()

MakeClient = Callable[..., GameApiClient]


def json_body(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope).encode()


class HeldScript(Script):
    """Tells when a request reaches the gate."""

    def __init__(self, *answers: ga.GameApiError) -> None:
        super().__init__(RawResponse(200, json_body(LINK)))
        self.answers.extend(answers)
        self.held = asyncio.Event()

    async def __call__(self, request: Any) -> RawResponse:
        if self.gate is not None:
            self.held.set()
        return await super().__call__(request)


class HeldTransport(MockTransport):
    """A MockTransport answering from a HeldScript, its gate and held event at hand."""

    def __init__(self, *answers: ga.GameApiError) -> None:
        self.script = HeldScript(*answers)
        super().__init__(self.script)
        self.held = self.script.held

    @property
    def gate(self) -> asyncio.Event | None:
        return self.script.gate

    @gate.setter
    def gate(self, gate: asyncio.Event | None) -> None:
        self.script.gate = gate


def sent(mock: aioresponses) -> int:
    return len(mock.requests.get(("POST", URL(DEMO_URL)), []))


async def fail(client: GameApiClient, times: int = 1) -> list[ga.GameApiError]:
    errors = []
    for _ in range(times):
        with pytest.raises(ga.GameApiError) as raised:
            await client.get_game_link_demo(**PLAYER)
        errors.append(raised.value)
    return errors


def breaking(make_client: MakeClient, **overrides: Any) -> tuple[GameApiClient, list[ga.Event]]:
    events: list[ga.Event] = []
    settings: dict[str, Any] = {
        # hold=0: a refused call fails at once (the waits for a probe are tested below).
        "breaker": CircuitBreaker(failure_threshold=3, cool_down=5.0, hold=0),
        "retry": SINGLE, "games_ttl": 0, "on_event": events.append,
    }
    return make_client(**(settings | overrides)), events


def changes(events: list[ga.Event]) -> list[tuple[str, str]]:
    return [(e.state, e.reason) for e in events if isinstance(e, ga.CircuitChanged)]


async def test_a_run_of_transient_failures_opens_the_circuit(
    mock: aioresponses, make_client: MakeClient
) -> None:
    client, events = breaking(make_client)
    mock.post(DEMO_URL, status=503, payload=failure("down"), repeat=True)
    assert all(e.http_status == 503 for e in await fail(client, 3))
    (refused,) = await fail(client)
    assert isinstance(refused, ga.CircuitOpenError)
    assert isinstance(refused, ga.TransportError)
    assert ga._errors.is_transient(refused)
    assert refused.next_probe_in == 5.0
    assert sent(mock) == 3  # the refused call sent nothing
    assert changes(events) == [("open", "failures")]


async def test_after_the_cool_down_one_probe_closes_it(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    client, events = breaking(make_client)
    for _ in range(3):
        mock.post(DEMO_URL, status=503, payload=failure("down"))
    mock.post(DEMO_URL, payload=LINK, repeat=True)
    await fail(client, 3)
    clock.advance(4.0)
    (refused,) = await fail(client)
    assert isinstance(refused, ga.CircuitOpenError)
    assert refused.next_probe_in == pytest.approx(1.0)
    clock.advance(1.0)
    for _ in range(3):
        await client.get_game_link_demo(**PLAYER)
    assert sent(mock) == 6
    assert changes(events) == [
        ("open", "failures"), ("half_open", "cool_down"), ("closed", "probe_succeeded"),
    ]


async def test_a_failed_probe_opens_it_for_another_cool_down(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    client, events = breaking(make_client)
    mock.post(DEMO_URL, status=503, payload=failure("down"), repeat=True)
    await fail(client, 3)
    clock.advance(5.0)
    (probe,) = await fail(client)
    assert probe.http_status == 503  # the probe was sent and failed
    (refused,) = await fail(client)
    assert isinstance(refused, ga.CircuitOpenError)
    assert refused.next_probe_in == 5.0
    assert sent(mock) == 4
    assert changes(events) == [
        ("open", "failures"), ("half_open", "cool_down"), ("open", "probe_failed"),
    ]


@pytest.mark.parametrize(("status", "code"), [
    (403, "invalid_signature"), (404, "game_not_found"), (422, "validation_error"),
])
async def test_a_definite_answer_never_opens_it(
    mock: aioresponses, make_client: MakeClient, status: int, code: str
) -> None:
    client, events = breaking(make_client)
    mock.post(DEMO_URL, status=status, payload=failure(code), repeat=True)
    errors = await fail(client, 10)
    assert not any(isinstance(e, ga.CircuitOpenError) for e in errors)
    assert sent(mock) == 10
    assert changes(events) == []


async def test_an_answer_breaks_the_run(mock: aioresponses, make_client: MakeClient) -> None:
    client, events = breaking(make_client)
    for _ in range(5):
        mock.post(DEMO_URL, status=503, payload=failure("down"))
        mock.post(DEMO_URL, status=503, payload=failure("down"))
        mock.post(DEMO_URL, status=404, payload=failure("game_not_found"))
    errors = await fail(client, 15)
    assert not any(isinstance(e, ga.CircuitOpenError) for e in errors)
    assert changes(events) == []


async def test_the_retry_of_a_call_counts_and_stops_at_an_open_circuit(
    mock: aioresponses, make_client: MakeClient
) -> None:
    client, _ = breaking(make_client, retry=RetryPolicy(attempts=4))
    mock.post(DEMO_URL, status=503, payload=failure("down"), repeat=True)
    (error,) = await fail(client)
    assert isinstance(error, ga.CircuitOpenError)  # the fourth attempt was refused
    assert sent(mock) == 3
    (again,) = await fail(client)
    assert isinstance(again, ga.CircuitOpenError)
    assert sent(mock) == 3  # not retried: nothing sent


async def test_while_the_probe_is_out_the_others_are_refused(clock: FakeClock) -> None:
    down = ga.NetworkError("refused")
    transport = HeldTransport(down, down, down)
    client = GameApiClient(base_url=BASE_URL, agent_id=1, api_token="t", clock=clock,
                           transport=transport, retry=SINGLE, games_ttl=0,
                           breaker=CircuitBreaker(failure_threshold=3, cool_down=5.0, hold=0))
    async with client:
        await fail(client, 3)
        clock.advance(5.0)
        transport.gate = asyncio.Event()
        probe = asyncio.create_task(client.get_game_link_demo(**PLAYER))
        await asyncio.wait_for(transport.held.wait(), 30)
        clock.sleeps.clear()
        (refused,) = await fail(client)
        assert isinstance(refused, ga.CircuitOpenError)
        assert refused.next_probe_in == 0.0
        assert clock.sleeps == []  # hold=0: refused at once, no wait for the probe's outcome
        transport.gate.set()
        assert (await probe).url == "https://play.example/x"
        await client.get_game_link_demo(**PLAYER)
        assert len(transport.requests) == 5


async def test_a_cancelled_probe_hands_the_turn_on(clock: FakeClock) -> None:
    down = ga.NetworkError("refused")
    transport = HeldTransport(down, down)
    client = GameApiClient(base_url=BASE_URL, agent_id=1, api_token="t", clock=clock,
                           transport=transport, retry=SINGLE, games_ttl=0,
                           breaker=CircuitBreaker(failure_threshold=2, cool_down=5.0, hold=0))
    async with client:
        await fail(client, 2)
        clock.advance(5.0)
        transport.gate = asyncio.Event()
        probe = asyncio.create_task(client.get_game_link_demo(**PLAYER))
        await asyncio.wait_for(transport.held.wait(), 30)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        transport.gate.set()
        assert (await client.get_game_link_demo(**PLAYER)).url == "https://play.example/x"


# -- hold: a refused call waits for the next probe ----------------------------------------


def holding(clock: FakeClock, transport: HeldTransport, **breaker: Any) -> GameApiClient:
    return GameApiClient(base_url=BASE_URL, agent_id=1, api_token="t", clock=clock,
                         transport=transport, retry=SINGLE, games_ttl=0,
                         breaker=CircuitBreaker(failure_threshold=3, **breaker))


async def test_a_call_waits_for_a_probe_due_within_its_hold_and_goes_on(clock: FakeClock) -> None:
    down = ga.NetworkError("refused")
    transport = HeldTransport(down, down, down)
    async with holding(clock, transport, cool_down=5.0) as client:
        await fail(client, 3)
        clock.advance(1.0)
        clock.sleeps.clear()
        # The platform is back; the next probe is 4 s away, within the hold (the cool-down).
        assert (await client.get_game_link_demo(**PLAYER)).url == "https://play.example/x"
        assert clock.sleeps == [4.0]  # it waited for the probe's turn, and was the probe
        assert len(transport.requests) == 4


async def test_a_call_fails_at_once_when_the_next_probe_is_beyond_its_hold(
    clock: FakeClock,
) -> None:
    down = ga.NetworkError("refused")
    transport = HeldTransport(down, down, down)
    async with holding(clock, transport, cool_down=5.0, hold=1.0) as client:
        await fail(client, 3)
        clock.advance(3.5)
        clock.sleeps.clear()
        (refused,) = await fail(client)
        assert isinstance(refused, ga.CircuitOpenError)
        assert refused.next_probe_in == pytest.approx(1.5)
        assert clock.sleeps == []  # at once
        clock.advance(0.6)  # now 0.9 s from the probe: within the hold
        assert (await client.get_game_link_demo(**PLAYER)).url == "https://play.example/x"
        assert clock.sleeps == [pytest.approx(0.9)]
        assert len(transport.requests) == 4


@pytest.mark.parametrize("answered", [True, False])
async def test_the_calls_waiting_on_a_probe_share_its_outcome(
    clock: FakeClock, answered: bool
) -> None:
    down = ga.NetworkError("refused")
    transport = HeldTransport(down, down, down, *([] if answered else [down]))
    events: list[ga.Event] = []
    client = GameApiClient(base_url=BASE_URL, agent_id=1, api_token="t", clock=clock,
                           transport=transport, retry=SINGLE, games_ttl=0,
                           on_event=events.append,
                           breaker=CircuitBreaker(failure_threshold=3, cool_down=5.0))
    async with client:
        await fail(client, 3)
        clock.advance(5.0)
        transport.gate = asyncio.Event()
        probe = asyncio.create_task(client.get_game_link_demo(**PLAYER))
        await asyncio.wait_for(transport.held.wait(), 30)
        # No timeout: they wait for the probe's outcome however long it takes.
        patient = client.with_options(timeout=None)
        waiting = [asyncio.create_task(patient.get_game_link_demo(**PLAYER)) for _ in range(3)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert not any(task.done() for task in waiting)
        assert len(transport.requests) == 4  # only the probe is out
        transport.gate.set()
        outcomes = await asyncio.gather(probe, *waiting, return_exceptions=True)
    assert clock.sleeps == []
    if answered:
        assert all(isinstance(o, ga.GameLink) for o in outcomes)
        assert len(transport.requests) == 7  # the probe, then the three that waited
    else:
        probe_error, *refused = outcomes
        assert isinstance(probe_error, ga.NetworkError)
        assert all(isinstance(o, ga.CircuitOpenError) for o in refused)
        assert all(o.next_probe_in == 5.0 for o in refused)  # type: ignore[union-attr]
        assert len(transport.requests) == 4  # they failed with it, sending nothing
    assert changes(events)[-1] == (("closed", "probe_succeeded") if answered
                                   else ("open", "probe_failed"))


async def test_a_wait_for_the_probe_never_outlives_the_attempt_timeout(
    clock: FakeClock,
) -> None:
    down = ga.NetworkError("refused")
    transport = HeldTransport(down, down, down)
    async with holding(clock, transport, cool_down=5.0) as client:
        await fail(client, 3)
        clock.advance(5.0)
        transport.gate = asyncio.Event()
        probe = asyncio.create_task(client.get_game_link_demo(**PLAYER))
        await asyncio.wait_for(transport.held.wait(), 30)
        clock.sleeps.clear()
        with pytest.raises(ga.CircuitOpenError) as raised:
            await client.with_options(timeout=2.0).get_game_link_demo(**PLAYER)
        assert raised.value.next_probe_in == 0.0  # the probe is still out
        assert clock.sleeps == [2.0]
        transport.gate.set()
        await probe


async def test_a_cancelled_wait_sends_nothing_and_leaves_the_circuit_usable(
    clock: FakeClock,
) -> None:
    down = ga.NetworkError("refused")
    transport = HeldTransport(down, down, down)
    async with holding(clock, transport, cool_down=5.0) as client:
        await fail(client, 3)
        clock.advance(5.0)
        transport.gate = asyncio.Event()
        probe = asyncio.create_task(client.get_game_link_demo(**PLAYER))
        await asyncio.wait_for(transport.held.wait(), 30)
        waiter = asyncio.create_task(
            client.with_options(timeout=None).get_game_link_demo(**PLAYER))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        transport.gate.set()
        await probe
        await client.get_game_link_demo(**PLAYER)
        assert len(transport.requests) == 5


async def test_closing_the_client_releases_the_calls_waiting_for_a_probe(
    clock: FakeClock,
) -> None:
    down = ga.NetworkError("refused")
    transport = HeldTransport(down, down, down)
    client = holding(clock, transport, cool_down=5.0)
    await fail(client, 3)
    clock.advance(5.0)
    transport.gate = asyncio.Event()
    probe = asyncio.create_task(client.get_game_link_demo(**PLAYER))
    await asyncio.wait_for(transport.held.wait(), 30)
    waiter = asyncio.create_task(client.with_options(timeout=None).get_game_link_demo(**PLAYER))
    await asyncio.sleep(0)
    assert not waiter.done()
    await client.close()
    with pytest.raises(ga.ClientClosedError):
        await asyncio.wait_for(waiter, 30)  # at once, not when a probe would have told it
    assert len(transport.requests) == 4  # the waiter sent nothing
    transport.gate.set()  # (this stand-in transport still answers the probe)
    await probe


async def test_one_log_line_per_change_not_per_call(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, _ = breaking(make_client)
    mock.post(DEMO_URL, status=503, payload=failure("down"), repeat=True)
    with caplog.at_level(logging.INFO, logger="gameapi_async"):
        await fail(client, 50)
    lines = [r for r in caplog.records if "circuit" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING


@pytest.mark.parametrize(("field", "value"), [
    ("failure_threshold", 0), ("failure_threshold", 2.0), ("failure_threshold", True),
    ("cool_down", 0), ("cool_down", -1), ("cool_down", float("nan")), ("cool_down", "5"),
    ("hold", -1), ("hold", 3601), ("hold", float("nan")), ("hold", "1"), ("hold", True),
])
def test_bad_parameters_are_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ga.InvalidParameterError) as raised:
        CircuitBreaker(**{field: value})
    assert raised.value.field == f"breaker.{field}"


def test_the_client_refuses_anything_but_a_breaker() -> None:
    with pytest.raises(ga.InvalidParameterError) as raised:
        GameApiClient(base_url=BASE_URL, agent_id=1, api_token="t", breaker=20)  # type: ignore[arg-type]
    assert raised.value.field == "breaker"


def test_the_error_pickles_with_its_wait() -> None:
    error = ga.CircuitOpenError("open", next_probe_in=2.5)
    again = pickle.loads(pickle.dumps(error))
    assert again.next_probe_in == 2.5
    assert str(again) == "open"



async def test_off_by_default(mock: aioresponses, make_client: MakeClient) -> None:
    assert CircuitBreaker() == CircuitBreaker(failure_threshold=20, cool_down=2.0, hold=2.0)
    assert CircuitBreaker(cool_down=7).hold == 7  # a call waits for the next probe by default
    client = make_client(retry=SINGLE, games_ttl=0)
    mock.post(DEMO_URL, status=503, payload=failure("down"), repeat=True)
    errors = await fail(client, 30)
    assert not any(isinstance(e, ga.CircuitOpenError) for e in errors)
    assert sent(mock) == 30


async def test_a_refused_attempt_is_not_retried(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    client, _ = breaking(make_client, retry=RetryPolicy(attempts=8))
    mock.post(DEMO_URL, status=503, payload=failure("down"), repeat=True)
    (error,) = await fail(client)
    assert isinstance(error, ga.CircuitOpenError)
    assert len(clock.sleeps) == 3  # the waits before attempts 2, 3 and the refused 4th: no more


async def test_a_failed_probe_is_not_retried(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    client, _ = breaking(make_client, retry=RetryPolicy(attempts=4))
    mock.post(DEMO_URL, status=503, payload=failure("down"), repeat=True)
    await fail(client)  # three attempts open the circuit
    clock.advance(5.0)
    clock.sleeps.clear()
    (probe,) = await fail(client)
    assert isinstance(probe, ga.ApiError)
    assert probe.http_status == 503
    assert probe.attempts == 1  # the circuit reopened: no retry waits for the next probe
    assert clock.sleeps == []
    assert sent(mock) == 4


async def test_a_success_breaks_the_run(mock: aioresponses, make_client: MakeClient) -> None:
    client, events = breaking(make_client)
    for _ in range(4):
        mock.post(DEMO_URL, status=503, payload=failure("down"))
        mock.post(DEMO_URL, status=503, payload=failure("down"))
        mock.post(DEMO_URL, payload=LINK)
    for _ in range(4):
        await fail(client, 2)
        await client.get_game_link_demo(**PLAYER)
    assert changes(events) == []
    assert sent(mock) == 12
