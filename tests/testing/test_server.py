"""The fake platform itself, probed with raw HTTP and a hand-built signer (not the SDK's)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gameapi_async import ApiError, Game, GameApiClient, RetryPolicy
from gameapi_async._errors import is_transient
from gameapi_async.testing import DEFAULT_GAMES, FakePlatform, Faults, ScriptedResponse

TOKEN = "fake-secret"
LINK_PARAMS = {
    "game_id": 1,
    "player_id": "p1",
    "player_username": "john",
    "language": "en",
    "currency": "USD",
    "home_url": "https://casino.example",
    "agent_session_id": "s1",
    "ip": "10.1.2.3",
}
DEMO_PARAMS = {k: v for k, v in LINK_PARAMS.items() if k != "agent_session_id"}


def php_body(data: dict[str, Any]) -> bytes:
    """The PHP recipe written out by hand: sorted keys, no spaces, slashes escaped."""
    text = json.dumps(dict(sorted(data.items())), separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode()


def signed(data: dict[str, Any], token: str = TOKEN) -> tuple[bytes, dict[str, str]]:
    body = php_body(data)
    signature = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Signature": signature}


@pytest.fixture
async def fake() -> AsyncIterator[FakePlatform]:
    async with FakePlatform(
        agents={1: TOKEN, 2: "other", 3: None},
        unavailable_games={5},
        seed=1,
    ) as platform:
        yield platform


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, fake: FakePlatform, path: str, data: dict[str, Any],
    token: str = TOKEN,
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    body, headers = signed(data, token)
    async with http.post(fake.base_url + path, data=body, headers=headers) as response:
        return response.status, await response.json(), response


def now() -> int:
    return int(time.time())


async def test_success_envelope_has_the_documented_shape(
    fake: FakePlatform, http: aiohttp.ClientSession
) -> None:
    status, payload, response = await post(
        http, fake, "/api/games/list", {"agent_id": 1, "timestamp": now()}
    )
    assert status == 200
    assert set(payload) == {"status", "timestamp", "request_id", "content"}
    assert payload["status"] == "success"
    assert payload["timestamp"].endswith("Z")
    assert len(payload["timestamp"]) == 24
    assert len(payload["request_id"]) == 36
    assert response.headers["Date"].endswith("GMT")
    assert payload["content"]["total"] == len(DEFAULT_GAMES) - 1  # game 5 is unavailable
    assert len(DEFAULT_GAMES) >= 20
    assert {g.demo for g in DEFAULT_GAMES} == {True, False}


@pytest.mark.parametrize(
    ("path", "data", "status", "code"),
    [
        ("/api/games/list", {"agent_id": 99}, 404, "agent_not_found"),
        ("/api/games/list", {"agent_id": 3}, 404, "api_token_not_found"),
        ("/api/games/get_game_link", {**LINK_PARAMS, "game_id": 999}, 404, "game_not_found"),
        ("/api/games/get_game_link", {**LINK_PARAMS, "game_id": 5}, 403, "game_not_available"),
        ("/api/games/get_game_link_demo", {**DEMO_PARAMS, "game_id": 2}, 404,
         "game_provider_not_found"),
        ("/api/games/get_game_link", {**LINK_PARAMS, "ip": "nope"}, 422, "validation_error"),
        ("/api/games/get_game_link", {**LINK_PARAMS, "game_id": "1"}, 422, "validation_error"),
        ("/api/games/get_game_link",
         {k: v for k, v in LINK_PARAMS.items() if k != "currency"}, 422, "validation_error"),
    ],
)
async def test_error_codes(
    fake: FakePlatform, http: aiohttp.ClientSession, path: str, data: dict[str, Any],
    status: int, code: str,
) -> None:
    data = {"agent_id": 1, "timestamp": now(), **data}
    got_status, payload, response = await post(http, fake, path, data)
    assert (got_status, payload["error"]) == (status, code)
    assert payload["status"] == "error"
    assert payload["message"]
    assert "Date" in response.headers
    assert fake.requests[-1].outcome == code


async def test_validation_error_names_the_field(
    fake: FakePlatform, http: aiohttp.ClientSession
) -> None:
    data = {"agent_id": 1, "timestamp": now(), **LINK_PARAMS, "home_url": "not a url"}
    _, payload, _ = await post(http, fake, "/api/games/get_game_link", data)
    assert payload["message"].startswith("home_url:")


async def test_missing_signature_is_401(fake: FakePlatform, http: aiohttp.ClientSession) -> None:
    body, _ = signed({"agent_id": 1, "timestamp": now()})
    async with http.post(fake.base_url + "/api/games/list", data=body) as response:
        assert response.status == 401
        assert (await response.json())["error"] == "signature_required"


async def test_wrong_token_is_403(fake: FakePlatform, http: aiohttp.ClientSession) -> None:
    status, payload, _ = await post(
        http, fake, "/api/games/list", {"agent_id": 1, "timestamp": now()}, token="wrong"
    )
    assert (status, payload["error"]) == (403, "invalid_signature")


async def test_unescaped_slash_signed_as_sent_is_still_refused(
    fake: FakePlatform, http: aiohttp.ClientSession
) -> None:
    # Valid JSON, honestly signed, but not the bytes PHP would re-encode: refused as in prod.
    data = {"agent_id": 1, "timestamp": now(), **LINK_PARAMS}
    body = json.dumps(dict(sorted(data.items())), separators=(",", ":")).encode()
    assert b"https://" in body
    signature = hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
    async with http.post(fake.base_url + "/api/games/get_game_link", data=body,
                         headers={"X-Signature": signature}) as response:
        assert response.status == 403
        assert (await response.json())["error"] == "invalid_signature"


@pytest.mark.parametrize("offset", [-305, 305])
async def test_timestamp_beyond_300_seconds_is_expired(
    fake: FakePlatform, http: aiohttp.ClientSession, offset: int
) -> None:
    status, payload, _ = await post(
        http, fake, "/api/games/list", {"agent_id": 1, "timestamp": now() + offset}
    )
    assert (status, payload["error"]) == (400, "request_expired")


async def test_fake_clock_offset_moves_expiry_and_reported_time(
    fake: FakePlatform, http: aiohttp.ClientSession
) -> None:
    fake.faults.clock_offset = 3600
    status, payload, _ = await post(
        http, fake, "/api/games/list", {"agent_id": 1, "timestamp": now() + 3600}
    )
    assert status == 200
    reported = payload["timestamp"]
    assert reported > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 3500))


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_other_methods_on_a_known_path_are_405_with_allow_post(
    fake: FakePlatform, http: aiohttp.ClientSession, method: str
) -> None:
    async with http.request(method, fake.base_url + "/api/games/list") as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
        payload = await response.json()
    assert payload["error"] == "method_not_allowed"
    assert payload["message"] == "Unsupported HTTP method used"
    assert fake.requests[-1].outcome == "method_not_allowed"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/", "/api/games/nope", "/api/games/list/extra"])
async def test_unknown_paths_are_404_with_an_envelope_for_any_method(
    fake: FakePlatform, http: aiohttp.ClientSession, method: str, path: str
) -> None:
    body, headers = signed({"agent_id": 1, "timestamp": now()})
    async with http.request(method, fake.base_url + path, data=body,
                            headers=headers) as response:
        assert response.status == 404
        assert "Allow" not in response.headers
        payload = await response.json()
    assert set(payload) == {"status", "error", "message", "timestamp", "request_id"}
    assert (payload["status"], payload["error"]) == ("error", "not_found")
    assert fake.requests[-1].outcome == "not_found"


# The error table of api-methods.txt, plus game_provider_not_found from its demo-link section.
SPEC_ERRORS = {
    "signature_required": 401,
    "invalid_signature": 403,
    "agent_not_found": 404,
    "api_token_not_found": 404,
    "game_not_found": 404,
    "game_not_available": 403,
    "game_provider_not_found": 404,
    "method_not_allowed": 405,
    "validation_error": 422,
    "request_expired": 400,
}


@pytest.mark.parametrize(("code", "status"), sorted(SPEC_ERRORS.items()))
async def test_scripted_error_codes_get_the_spec_status_and_a_fresh_envelope(
    fake: FakePlatform, http: aiohttp.ClientSession, code: str, status: int
) -> None:
    fake.script(ScriptedResponse(error=code), ScriptedResponse(error=code))
    first = await post(http, fake, "/api/games/list", {"agent_id": 1, "timestamp": now()})
    second = await post(http, fake, "/api/games/list", {"agent_id": 1, "timestamp": now()})
    for got_status, payload, response in (first, second):
        assert (got_status, payload["error"], payload["status"]) == (status, code, "error")
        assert payload["message"]
        assert payload["timestamp"].endswith("Z")
        assert "Date" in response.headers
    assert first[1]["request_id"] != second[1]["request_id"]
    assert [r.outcome for r in fake.requests] == ["scripted", "scripted"]


async def test_scripted_error_status_and_message_can_be_overridden(
    fake: FakePlatform, http: aiohttp.ClientSession
) -> None:
    fake.script(ScriptedResponse(error="game_not_found", status=410, message="Gone for good"))
    status, payload, _ = await post(http, fake, "/api/games/list",
                                    {"agent_id": 1, "timestamp": now()})
    assert (status, payload["error"], payload["message"]) == (410, "game_not_found",
                                                              "Gone for good")


def test_scripted_response_is_keyword_only_and_checks_its_fields() -> None:
    with pytest.raises(TypeError):
        ScriptedResponse(503)  # type: ignore[misc]
    with pytest.raises(ValueError, match="only one of"):
        ScriptedResponse(error="game_not_found", json={})
    with pytest.raises(ValueError, match="give a status"):
        ScriptedResponse(error="brand_new_code")
    assert ScriptedResponse(error="brand_new_code", status=418).status == 418
    assert ScriptedResponse(error="rate_limited").status == 429
    assert ScriptedResponse().status == 200


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, "rate_limited"), (500, "internal_error"), (502, "bad_gateway"),
     (503, "service_unavailable"), (504, "gateway_timeout")],
)
async def test_injected_errors_look_like_the_platform_would_send_them(
    fake: FakePlatform, http: aiohttp.ClientSession, status: int, code: str
) -> None:
    fake.faults.error_rate = 1.0
    fake.faults.error_statuses = (status,)
    got, payload, response = await post(http, fake, "/api/games/list",
                                        {"agent_id": 1, "timestamp": now()})
    assert (got, payload["status"], payload["error"]) == (status, "error", code)
    assert payload["message"]
    assert "injected" not in payload["message"].lower()
    assert len(payload["request_id"]) == 36
    assert "Date" in response.headers
    assert fake.requests[-1].outcome == "injected"


async def test_injected_errors_reach_the_client_typed(fake: FakePlatform) -> None:
    fake.faults.error_rate = 1.0
    fake.faults.error_statuses = (429,)
    fake.faults.retry_after = "7"
    async with GameApiClient(base_url=fake.base_url, agent_id=1, api_token=TOKEN,
                             retry=RetryPolicy.disabled()) as client:
        with pytest.raises(ApiError) as caught:
            await client.list_games()
    error = caught.value
    assert (error.code, error.http_status, error.retry_after) == ("rate_limited", 429, 7.0)
    assert error.request_id is not None
    assert len(error.request_id) == 36
    assert is_transient(error)


@pytest.mark.parametrize("missing", ["agent_id", "timestamp"])
async def test_missing_common_fields_are_422_naming_the_field(
    fake: FakePlatform, http: aiohttp.ClientSession, missing: str
) -> None:
    data = {k: v for k, v in {"agent_id": 1, "timestamp": now()}.items() if k != missing}
    status, payload, _ = await post(http, fake, "/api/games/list", data)
    assert (status, payload["error"]) == (422, "validation_error")
    assert payload["message"] == f"{missing}: is required"


async def test_bodies_that_are_not_objects_are_422(
    fake: FakePlatform, http: aiohttp.ClientSession
) -> None:
    for body in (b"not json", b"[1]", b'{"agent_id": "1"}'):
        async with http.post(fake.base_url + "/api/games/list", data=body,
                             headers={"X-Signature": "x"}) as response:
            assert response.status == 422


async def test_links_are_unique_and_look_real(
    fake: FakePlatform, http: aiohttp.ClientSession
) -> None:
    urls = set()
    for _ in range(5):
        data = {"agent_id": 1, "timestamp": now(), **LINK_PARAMS}
        _, payload, _ = await post(http, fake, "/api/games/get_game_link", data)
        urls.add(payload["content"]["url"])
    assert len(urls) == 5
    assert all(u.startswith("https://") and "gameId=1" in u for u in urls)


async def test_scripted_answers_are_served_once_in_order(
    fake: FakePlatform, http: aiohttp.ClientSession
) -> None:
    fake.script(
        ScriptedResponse(status=503, body=b"<html>down</html>", headers={"Retry-After": "3"}),
        ScriptedResponse(status=200, json={"anything": True}, path="/api/games/list"),
    )
    data = {"agent_id": 1, "timestamp": now()}
    body, headers = signed(data)
    async with http.post(fake.base_url + "/api/games/list", data=body, headers=headers) as r:
        assert (r.status, r.headers["Retry-After"], await r.read()) == (503, "3",
                                                                       b"<html>down</html>")
    status, payload, _ = await post(http, fake, "/api/games/list", data)
    assert (status, payload) == (200, {"anything": True})
    status, payload, _ = await post(http, fake, "/api/games/list", data)
    assert payload["status"] == "success"
    assert [r.outcome for r in fake.requests] == ["scripted", "scripted", "success"]


async def test_dropped_connection_gives_no_answer(
    fake: FakePlatform, http: aiohttp.ClientSession
) -> None:
    fake.script(ScriptedResponse(drop=True))
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(http, fake, "/api/games/list", {"agent_id": 1, "timestamp": now()})
    assert fake.requests[-1].outcome == "dropped"


async def test_injected_faults_are_deterministic_under_a_seed() -> None:
    async def outcomes(seed: int) -> list[str]:
        faults = Faults(error_rate=0.3, drop_rate=0.1, error_statuses=(500, 503))
        async with FakePlatform(agent_id=1, api_token=TOKEN, faults=faults, seed=seed) as fake:
            async with aiohttp.ClientSession() as http:
                for _ in range(30):
                    with contextlib.suppress(aiohttp.ClientError):
                        await post(http, fake, "/api/games/list",
                                   {"agent_id": 1, "timestamp": now()})
            return [f"{r.outcome}:{r.status}" for r in fake.requests]

    first, again, other = await outcomes(7), await outcomes(7), await outcomes(8)
    assert first == again
    assert first != other
    assert {"injected:500", "injected:503", "dropped:0", "success:200"} <= set(first)


async def test_injected_errors_can_be_html_with_retry_after(
    fake: FakePlatform, http: aiohttp.ClientSession
) -> None:
    fake.faults.error_rate = 1.0
    fake.faults.error_html = True
    fake.faults.retry_after = "2"
    body, headers = signed({"agent_id": 1, "timestamp": now()})
    async with http.post(fake.base_url + "/api/games/list", data=body, headers=headers) as r:
        assert r.status in (500, 502, 503)
        assert r.headers["Retry-After"] == "2"
        assert r.content_type == "text/html"


async def test_request_log_keeps_raw_bytes(fake: FakePlatform, http: aiohttp.ClientSession) -> None:
    data = {"agent_id": 1, "timestamp": now()}
    await post(http, fake, "/api/games/list", data)
    (recorded,) = fake.requests_to("/api/games/list")
    assert recorded.body == php_body(data)
    assert recorded.json == data
    assert recorded.headers["X-Signature"] == signed(data)[1]["X-Signature"]


async def test_custom_catalogue_and_per_agent_availability(http: aiohttp.ClientSession) -> None:
    games = [Game(id=10, title="Only", brand="B", image_url="https://i/10.jpg", demo=False)]
    async with FakePlatform(agents={1: TOKEN, 2: TOKEN}, games=games) as fake:
        fake.set_unavailable(2, {10})
        _, one, _ = await post(http, fake, "/api/games/list", {"agent_id": 1, "timestamp": now()})
        _, two, _ = await post(http, fake, "/api/games/list", {"agent_id": 2, "timestamp": now()})
    assert [g["id"] for g in one["content"]["games"]] == [10]
    assert two["content"] == {"games": [], "total": 0}


async def test_lifecycle_errors_are_clear() -> None:
    fake = FakePlatform()
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.base_url
    await fake.start()
    with pytest.raises(RuntimeError, match="already running"):
        await fake.start()
    await fake.stop()
    await fake.stop()
    with pytest.raises(ValueError, match="error_rate"):
        FakePlatform(faults=Faults(error_rate=2))


async def test_a_taken_port_raises_oserror_and_leaves_nothing_open() -> None:
    async with FakePlatform() as first:
        port = int(first.base_url.rsplit(":", 1)[1])
        second = FakePlatform(port=port)
        with pytest.raises(OSError, match="address already in use"):
            await second.start()
        with pytest.raises(RuntimeError, match="not running"):
            _ = second.base_url
    with pytest.raises(ValueError, match="4xx or 5xx"):
        FakePlatform(faults=Faults(error_rate=0.5, error_statuses=(200,)))


@pytest.mark.parametrize("field", ["latency", "stall_seconds"])
def test_nan_delays_are_refused(field: str) -> None:
    # NaN passed "< 0" and would have reached asyncio.sleep.
    with pytest.raises(ValueError, match="must not be negative"):
        FakePlatform(faults=Faults(**{field: float("nan")}))
