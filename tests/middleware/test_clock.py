"""Clock skew: a host clock an hour or a day off costs at most one round trip."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

import gameapi_async as ga
from gameapi_async import GameApiClient
from gameapi_async._pipeline import Call, Handler, Reply
from gameapi_async.testing import FakePlatform

from ..support import BASE_URL, FakeClock, failure, success

LIST_URL = f"{BASE_URL}/api/games/list"
MakeClient = Callable[..., GameApiClient]


def stamps(mock: aioresponses) -> list[int]:
    return [json.loads(r.kwargs["data"])["timestamp"]
            for r in mock.requests.get(("POST", URL(LIST_URL)), [])]


def empty(server_time: float) -> dict[str, Any]:
    return success({"games": [], "total": 0}, server_time=server_time)


@pytest.mark.parametrize("skew", [3600.0, -3600.0, 86400.0, -86400.0])
async def test_expired_request_resyncs_and_is_resent_once(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock, skew: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = clock.wall + skew
    mock.post(LIST_URL, status=400, payload=failure("request_expired", server_time=server))
    mock.post(LIST_URL, payload=empty(server))
    mock.post(LIST_URL, payload=empty(server))
    client = make_client(games_ttl=0)
    with caplog.at_level(logging.WARNING, logger="gameapi_async"):
        await client.list_games()
        await client.list_games()
    assert client.clock_offset == pytest.approx(skew)
    first, resent, later = stamps(mock)
    assert first == int(clock.wall)
    assert resent == later == int(server)
    warnings = [r for r in caplog.records if "clock" in r.getMessage()]
    assert len(warnings) == 1


async def test_resync_happens_at_most_once_per_call(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    for _ in range(3):
        mock.post(LIST_URL, status=400,
                  payload=failure("request_expired", server_time=clock.wall + 999))
    with pytest.raises(ga.RequestExpiredError):
        await make_client().list_games()
    assert len(stamps(mock)) == 2


async def test_the_resend_has_a_retry_budget_of_its_own(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    server = clock.wall + 3600
    mock.post(LIST_URL, status=400, payload=failure("request_expired", server_time=server))
    for _ in range(3):
        mock.post(LIST_URL, status=503, payload=failure("busy"))
    mock.post(LIST_URL, payload=empty(server))
    await make_client().list_games()
    assert len(stamps(mock)) == 5


async def test_expired_without_server_time_is_raised(
    mock: aioresponses, make_client: MakeClient
) -> None:
    mock.post(LIST_URL, status=400, payload=failure("request_expired"))
    with pytest.raises(ga.RequestExpiredError):
        await make_client().list_games()
    assert len(stamps(mock)) == 1


async def test_offset_is_learned_from_successful_answers(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, payload=empty(clock.wall + 120))
    mock.post(LIST_URL, payload=empty(clock.wall + 120))
    client = make_client(games_ttl=0)
    await client.list_games()
    assert client.clock_offset == pytest.approx(120)
    await client.list_games()
    assert stamps(mock)[1] == int(clock.wall + 120)


@pytest.mark.parametrize("reported", [2.0, -3.0, 4000.0])
async def test_noise_and_impossible_times_are_ignored(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock, reported: float
) -> None:
    mock.post(LIST_URL, payload=empty(clock.wall + reported))
    client = make_client()
    await client.list_games()
    assert client.clock_offset == 0.0


async def test_date_header_is_used_when_the_envelope_has_no_time(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    from email.utils import formatdate

    mock.post(LIST_URL, payload=success({"games": [], "total": 0}),
              headers={"Date": formatdate(clock.wall - 200, usegmt=True)})
    client = make_client()
    await client.list_games()
    assert client.clock_offset == pytest.approx(-200, abs=1)


@pytest.mark.parametrize("offset", [3600.0, -86400.0])
async def test_against_the_fake_platform_one_round_trip_is_lost(offset: float) -> None:
    async with FakePlatform(agent_id=1, api_token="t") as fake:
        fake.faults.clock_offset = offset
        async with GameApiClient(base_url=fake.base_url, agent_id=1, api_token="t") as client:
            await client.list_games()
            await client.list_games(refresh=True)
            assert client.clock_offset == pytest.approx(offset, abs=2)
    assert [r.outcome for r in fake.requests] == ["request_expired", "success", "success"]


def busy(seconds: int = 1) -> dict[str, Any]:
    return {"status": 503, "payload": failure("busy", request_id="rid-busy"),
            "headers": {"Retry-After": str(seconds)}}


async def test_the_resend_shares_the_deadline_and_the_attempt_count(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    server = clock.wall + 3600
    mock.post(LIST_URL, **busy(10))
    mock.post(LIST_URL, **busy(10))
    mock.post(LIST_URL, status=400,
              payload=failure("request_expired", server_time=server + 20))
    for _ in range(4):
        mock.post(LIST_URL, **busy(10))
    policy = ga.RetryPolicy(attempts=4, deadline=30)
    with pytest.raises(ga.ApiError) as caught:
        await make_client(retry=policy).list_games()
    # 10 s + 10 s of Retry-After, then the re-send at t=20 s: another 10 s would reach the
    # deadline, so the call gives up there; a fresh deadline would have slept 20 s more.
    assert clock.sleeps == [10.0, 10.0]
    assert len(stamps(mock)) == 4
    assert caught.value.attempts == 4
    assert (caught.value.http_status, caught.value.request_id) == (503, "rid-busy")


async def test_the_resend_does_not_use_up_the_budget_of_attempts_already_made(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    server = clock.wall + 3600
    mock.post(LIST_URL, **busy(1))
    mock.post(LIST_URL, status=400, payload=failure("request_expired", server_time=server))
    for _ in range(5):
        mock.post(LIST_URL, **busy(1))
    with pytest.raises(ga.ApiError) as caught:
        await make_client(retry=ga.RetryPolicy(attempts=3, deadline=None)).list_games()
    # Budget 3: the 503 and two more after the re-send; the expired attempt is free.
    assert len(stamps(mock)) == 4
    assert caught.value.attempts == 4


async def test_no_resend_once_the_deadline_has_passed(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    def slow_expiry(url: URL, **kwargs: Any) -> CallbackResult:
        clock.advance(2)  # the answer took 2 s: the 10 s deadline is now behind us
        return CallbackResult(status=400, payload=failure(
            "request_expired", server_time=clock.wall + 3600))

    mock.post(LIST_URL, **busy(9))
    mock.post(LIST_URL, callback=slow_expiry)
    mock.post(LIST_URL, payload=empty(clock.wall + 3600))
    client = make_client(retry=ga.RetryPolicy(deadline=10))
    with pytest.raises(ga.RequestExpiredError) as caught:
        await client.list_games()
    assert len(stamps(mock)) == 2
    assert caught.value.attempts == 2
    assert client.clock_offset == 0.0


@pytest.mark.parametrize("where", ["envelope", "date-header"])
async def test_an_absurd_server_time_on_an_expiry_never_poisons_the_clock(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock, where: str
) -> None:
    if where == "envelope":
        mock.post(LIST_URL, status=400,
                  payload=failure("request_expired", server_time=clock.wall + 1e11))
    else:
        mock.post(LIST_URL, status=400, payload=failure("request_expired"),
                  headers={"Date": "Fri, 31 Dec 9999 23:59:59 GMT"})
    mock.post(LIST_URL, payload=empty(clock.wall))
    client = make_client(games_ttl=0)
    # A server time outside 2020-2100 is not believed: no re-send on it, the expiry is raised.
    with pytest.raises(ga.RequestExpiredError) as caught:
        await client.list_games()
    assert caught.value.attempts == 1
    assert client.clock_offset == 0.0
    await client.list_games()
    assert len(stamps(mock)) == 2
    assert stamps(mock)[-1] == int(clock.wall)


async def test_an_offset_from_an_expiry_is_kept_only_once_the_resend_is_accepted(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    events: list[Any] = []
    mock.post(LIST_URL, status=400,
              payload=failure("request_expired", server_time=clock.wall + 3600))
    mock.post(LIST_URL, status=503, payload=failure("busy"), repeat=True)
    client = make_client(games_ttl=0, retry=ga.RetryPolicy(attempts=2, deadline=None),
                         on_event=[events.append])
    with pytest.raises(ga.ApiError) as caught:
        await client.list_games()
    assert caught.value.http_status == 503
    assert caught.value.attempts == 3
    assert client.clock_offset == 0.0
    assert not [e for e in events if isinstance(e, ga.ClockResynced)]


async def test_an_expiry_whose_server_time_agrees_with_ours_is_not_resent(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, status=400,
              payload=failure("request_expired", server_time=clock.wall + 1))
    mock.post(LIST_URL, payload=empty(clock.wall))
    with pytest.raises(ga.RequestExpiredError):
        await make_client().list_games()
    assert len(stamps(mock)) == 1


@pytest.mark.parametrize("date", [
    "Fri, 31 Dec 99999 23:59:59 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT", "not a date", "Mon, 32 Foo 2024 99:99:99 GMT",
])
async def test_a_hostile_date_header_on_a_success_is_harmless(
    mock: aioresponses, make_client: MakeClient, date: str
) -> None:
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}),
              headers={"Date": date, "Retry-After": date})
    client = make_client()
    assert (await client.list_games()).total == 0
    assert client.clock_offset == 0.0


async def test_with_retry_disabled_the_resend_is_still_counted(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    for _ in range(2):
        mock.post(LIST_URL, status=400,
                  payload=failure("request_expired", server_time=clock.wall + 3600))
    with pytest.raises(ga.RequestExpiredError) as caught:
        await make_client(retry=ga.RetryPolicy.disabled()).list_games()
    assert len(stamps(mock)) == 2
    assert caught.value.attempts == 2


def test_restamping_a_call_keeps_every_other_field() -> None:
    # The middleware rebuilds a Call by hand (cheaper than attrs.evolve): it must stay in step
    # with the class, field for field.
    import attrs

    from gameapi_async._pipeline import Call, CallOptions
    from gameapi_async._protocol import GET_GAME_LINK
    from gameapi_async.middleware.clock import _with_offset

    assert [f.name for f in attrs.fields(Call)] == [
        "endpoint", "params", "options", "attempt", "clock_offset", "deadline"
    ]
    call = Call(GET_GAME_LINK, {"game_id": 1}, CallOptions(timeout=3.0), 4, 12.5, 99.0)
    assert _with_offset(call, -7.0) == attrs.evolve(call, clock_offset=-7.0)


# -- thresholds, a re-send's offset and time, what the warning and events say ------------
# Each case pins a line that mutation testing (docs/testing.md) showed free.

# The bounds of a believable server time: 2020-01-01 and 2100-01-01 UTC, both included.
YEAR_2020 = 1_577_836_800.0
YEAR_2100 = 4_102_444_800.0


def requests(mock: aioresponses) -> list[Any]:
    return mock.requests.get(("POST", URL(LIST_URL)), [])


def expired(server_time: float) -> dict[str, Any]:
    return {"status": 400, "payload": failure("request_expired", server_time=server_time)}


# -- what is believed from a successful answer --------------------------------------------

@pytest.mark.parametrize("skew", [5.0, -5.0])
async def test_a_sample_exactly_at_the_noise_threshold_is_ignored(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock, skew: float
) -> None:
    mock.post(LIST_URL, payload=empty(clock.wall + skew))
    client = make_client()
    await client.list_games()
    assert client.clock_offset == 0.0


async def test_noise_is_measured_from_the_offset_in_use_not_from_zero(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    events: list[ga.Event] = []
    mock.post(LIST_URL, payload=empty(clock.wall + 120))
    mock.post(LIST_URL, payload=empty(clock.wall + 122))  # 2 s from the learned offset: noise
    client = make_client(games_ttl=0, on_event=[events.append])
    await client.list_games()
    await client.list_games()
    assert client.clock_offset == 120.0
    assert [e.offset for e in events if isinstance(e, ga.ClockResynced)] == [120.0]


async def test_the_impossible_skew_allows_for_the_round_trip(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    # Sent at t, answered at t + 2 s: the platform's clock was read somewhere in between, so a
    # sample up to 300 s + 2 s from our midpoint is still possible.
    def slow_answer(url: URL, **kwargs: Any) -> CallbackResult:
        clock.advance(2)
        return CallbackResult(payload=empty(clock.wall - 1 + 301))

    mock.post(LIST_URL, callback=slow_answer)
    client = make_client()
    await client.list_games()
    assert client.clock_offset == 301.0


@pytest.mark.parametrize("server_time", [YEAR_2020, YEAR_2100])
async def test_a_server_time_on_the_plausible_bounds_is_believed(
    mock: aioresponses, make_client: MakeClient, server_time: float
) -> None:
    local = FakeClock(wall=server_time - 120)
    mock.post(LIST_URL, payload=empty(server_time))
    client = make_client(clock=local)
    await client.list_games()
    assert client.clock_offset == 120.0


# -- when an expiry is re-sent, and on which clock ----------------------------------------

@pytest.mark.parametrize("server_time", [YEAR_2020, YEAR_2100])
async def test_an_expiry_with_a_server_time_on_the_plausible_bounds_is_resent(
    mock: aioresponses, make_client: MakeClient, server_time: float
) -> None:
    local = FakeClock(wall=server_time - 3600)
    mock.post(LIST_URL, **expired(server_time))
    mock.post(LIST_URL, payload=empty(server_time))
    client = make_client(clock=local)
    await client.list_games()
    assert stamps(mock) == [int(local.wall), int(server_time)]
    assert client.clock_offset == 3600.0


async def test_an_expiry_exactly_at_the_noise_threshold_is_not_resent(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, **expired(clock.wall + 5))
    mock.post(LIST_URL, payload=empty(clock.wall))
    with pytest.raises(ga.RequestExpiredError):
        await make_client().list_games()
    assert len(requests(mock)) == 1


async def test_an_expiry_agreeing_with_a_learned_offset_is_not_resent(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, payload=empty(clock.wall + 120))
    mock.post(LIST_URL, **expired(clock.wall + 121))  # the clock we signed on agrees
    mock.post(LIST_URL, payload=empty(clock.wall + 121))
    client = make_client(games_ttl=0)
    await client.list_games()
    with pytest.raises(ga.RequestExpiredError):
        await client.list_games()
    assert stamps(mock) == [int(clock.wall), int(clock.wall + 120)]


async def test_an_expiry_back_to_the_local_clock_is_resent_on_it(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    # The learned offset went stale (the host's clock was fixed): the re-send drops it.
    mock.post(LIST_URL, payload=empty(clock.wall + 120))
    mock.post(LIST_URL, **expired(clock.wall))
    mock.post(LIST_URL, payload=empty(clock.wall))
    client = make_client(games_ttl=0)
    await client.list_games()
    await client.list_games()
    assert stamps(mock) == [int(clock.wall), int(clock.wall + 120), int(clock.wall)]
    assert client.clock_offset == 0.0


# -- the re-send continues the call: budget, deadline, timeout ----------------------------

async def test_with_retry_disabled_a_failing_resend_is_not_retried(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, **expired(clock.wall + 3600))
    mock.post(LIST_URL, **busy(), repeat=True)
    with pytest.raises(ga.ApiError) as caught:
        await make_client(retry=ga.RetryPolicy.disabled()).list_games()
    assert caught.value.http_status == 503
    assert len(requests(mock)) == 2


async def test_an_expiry_on_the_last_attempt_of_the_budget_leaves_one_resend(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, **busy())
    mock.post(LIST_URL, **busy())
    mock.post(LIST_URL, **expired(clock.wall + 3600))
    mock.post(LIST_URL, **busy(), repeat=True)
    with pytest.raises(ga.ApiError) as caught:
        await make_client(retry=ga.RetryPolicy(attempts=3, deadline=None)).list_games()
    # Two 503s and the re-send count against the budget of 3; the expired attempt is free.
    assert len(requests(mock)) == 4
    assert caught.value.attempts == 4


def slow_expiry(clock: FakeClock, took: float) -> Callable[..., CallbackResult]:
    def answer(url: URL, **kwargs: Any) -> CallbackResult:
        clock.advance(took)
        return CallbackResult(status=400, payload=failure(
            "request_expired", server_time=clock.wall + 3600))
    return answer


async def test_an_expiry_answered_exactly_at_the_deadline_is_not_resent(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, **busy(9))
    mock.post(LIST_URL, callback=slow_expiry(clock, 1))  # answered at t = 10 s, the deadline
    mock.post(LIST_URL, payload=empty(clock.wall + 3600))
    with pytest.raises(ga.RequestExpiredError):
        await make_client(retry=ga.RetryPolicy(deadline=10)).list_games()
    assert len(requests(mock)) == 2


async def test_an_expiry_with_half_a_second_left_is_resent_within_it(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, **busy(9))
    mock.post(LIST_URL, callback=slow_expiry(clock, 0.5))
    mock.post(LIST_URL, payload=empty(clock.wall + 3600))
    await make_client(timeout=10, retry=ga.RetryPolicy(deadline=10)).list_games()
    resent = requests(mock)[2]
    assert resent.kwargs["timeout"].total == pytest.approx(0.5)


@pytest.mark.parametrize("call_timeout", [10.0, None])
async def test_the_resend_gets_no_more_time_than_the_deadline_leaves(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock, call_timeout: float | None
) -> None:
    mock.post(LIST_URL, **busy(26))
    mock.post(LIST_URL, **expired(clock.wall + 26 + 3600))
    mock.post(LIST_URL, payload=empty(clock.wall + 26 + 3600))
    await make_client(timeout=call_timeout, retry=ga.RetryPolicy(deadline=30)).list_games()
    assert requests(mock)[2].kwargs["timeout"].total == pytest.approx(4)


async def test_the_resend_keeps_a_timeout_shorter_than_the_time_left(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, **expired(clock.wall + 3600))
    mock.post(LIST_URL, payload=empty(clock.wall + 3600))
    await make_client(timeout=2, retry=ga.RetryPolicy(deadline=30)).list_games()
    assert [r.kwargs["timeout"].total for r in requests(mock)] == [2, 2]


# -- what the application is told ---------------------------------------------------------

def clock_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "gameapi_async" and r.levelno == logging.WARNING
            and "clock" in r.getMessage()]


@pytest.mark.parametrize(("skew", "direction"), [(3600.0, "behind"), (-3600.0, "ahead of")])
async def test_the_warning_says_which_way_the_local_clock_is_off(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock,
    caplog: pytest.LogCaptureFixture, skew: float, direction: str,
) -> None:
    mock.post(LIST_URL, **expired(clock.wall + skew))
    mock.post(LIST_URL, payload=empty(clock.wall + skew))
    with caplog.at_level(logging.WARNING, logger="gameapi_async"):
        await make_client().list_games()
    assert clock_warnings(caplog) == [
        f"the local clock is 3600 s {direction} the platform's; signing on the platform's "
        "clock (fix the host's time sync)"
    ]


async def test_an_offset_of_exactly_thirty_seconds_is_not_warned_about(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mock.post(LIST_URL, payload=empty(clock.wall + 30))
    client = make_client()
    with caplog.at_level(logging.WARNING, logger="gameapi_async"):
        await client.list_games()
    assert client.clock_offset == 30.0
    assert clock_warnings(caplog) == []


async def test_the_warning_is_logged_once_however_often_the_offset_moves(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for skew in (100.0, 200.0, 300.0):
        mock.post(LIST_URL, payload=empty(clock.wall + skew))
    client = make_client(games_ttl=0)
    with caplog.at_level(logging.WARNING, logger="gameapi_async"):
        for _ in range(3):
            await client.list_games()
    assert client.clock_offset == 300.0
    assert len(clock_warnings(caplog)) == 1


async def test_each_resync_event_names_the_offset_it_replaced(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    events: list[ga.Event] = []
    mock.post(LIST_URL, payload=empty(clock.wall + 120))
    mock.post(LIST_URL, **expired(clock.wall + 3600))
    mock.post(LIST_URL, payload=empty(clock.wall + 3600))
    client = make_client(games_ttl=0, on_event=[events.append])
    await client.list_games()
    await client.list_games()
    assert [e for e in events if isinstance(e, ga.ClockResynced)] == [
        ga.ClockResynced(offset=120.0, previous=0.0, reason="observed"),
        ga.ClockResynced(offset=3600.0, previous=120.0, reason="request_expired"),
    ]


# -- a middleware may hand down its own kind of Call ---------------------------------------

@attrs.frozen
class TaggedCall(Call):
    tag: str = "mine"


async def test_a_call_subclass_from_a_user_middleware_is_stamped_on_the_learned_clock(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    seen: list[Call] = []

    async def tagging(call: Call, call_next: Handler) -> Reply:
        tagged = TaggedCall(call.endpoint, call.params, call.options, call.attempt,
                            call.clock_offset)
        seen.append(tagged)
        return await call_next(tagged)

    mock.post(LIST_URL, payload=empty(clock.wall + 120))
    mock.post(LIST_URL, payload=empty(clock.wall + 120))
    client = make_client(games_ttl=0, middlewares=[tagging])
    await client.list_games()
    await client.list_games()
    assert stamps(mock) == [int(clock.wall), int(clock.wall + 120)]
    assert all(type(call) is TaggedCall for call in seen)
