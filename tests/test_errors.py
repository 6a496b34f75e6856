"""The exception tree: one class per platform code, readable messages, transient or not, and
every error intact through pickle and copy."""

from __future__ import annotations

import copy
import inspect
import pickle
from typing import Any

import pytest

import gameapi_async as ga
from gameapi_async._errors import ERROR_CLASSES, api_error_for, is_transient

CODES = {
    "signature_required": ga.SignatureRequiredError,
    "invalid_signature": ga.InvalidSignatureError,
    "agent_not_found": ga.AgentNotFoundError,
    "api_token_not_found": ga.ApiTokenNotFoundError,
    "game_not_found": ga.GameNotFoundError,
    "game_not_available": ga.GameNotAvailableError,
    "game_provider_not_found": ga.GameProviderNotFoundError,
    "method_not_allowed": ga.MethodNotAllowedError,
    "validation_error": ga.ValidationError,
    "request_expired": ga.RequestExpiredError,
}


def test_every_documented_code_has_its_own_class() -> None:
    assert ERROR_CLASSES == CODES
    for code, cls in CODES.items():
        assert api_error_for(code) is cls
        assert issubclass(cls, ga.ApiError)
        assert issubclass(cls, ga.GameApiError)


def test_unknown_code_maps_to_the_base_class() -> None:
    assert api_error_for("rate_limited") is ga.ApiError


def test_api_error_message_shows_code_status_and_request_id() -> None:
    error = ga.GameNotFoundError("Game not found", code="game_not_found", http_status=404,
                                 request_id="rid-1")
    assert str(error) == "[game_not_found] Game not found (http_status=404, request_id=rid-1)"
    assert repr(error).startswith("GameNotFoundError(")
    error.attempts = 3
    assert "attempts=3" in str(error)


def test_input_errors_are_value_errors_and_closed_client_is_runtime_error() -> None:
    assert issubclass(ga.InvalidParameterError, ValueError)
    assert issubclass(ga.ClientClosedError, RuntimeError)
    assert issubclass(ga.RequestTimeoutError, TimeoutError)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ga.NetworkError("reset"), True),
        (ga.RequestTimeoutError("slow"), True),
        (ga.ApiError("busy", code="overloaded", http_status=503), True),
        (ga.ApiError("slow down", code="rate_limited", http_status=429), True),
        (ga.MalformedResponseError("html", http_status=502), True),
        (ga.MalformedResponseError("html", http_status=200), False),
        (ga.InvalidSignatureError("bad", code="invalid_signature", http_status=403), False),
        (ga.GameNotFoundError("gone", code="game_not_found", http_status=404), False),
        (ga.ValidationError("bad", code="validation_error", http_status=422), False),
        (ga.ResponseTooLargeError("big", http_status=503), False),
        (ga.InvalidParameterError("ip", "bad"), False),
        (ValueError("not ours"), False),
    ],
)
def test_is_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


# -- every error pickles and copies with its fields (they cross process pools) -----------
# The classes are discovered from the error tree, not listed by hand: a new error class is
# covered the day it is added.

# A value for every constructor parameter any error class takes, by name.
ARGUMENTS: dict[str, Any] = {
    "message": "it failed",
    "field": "home_url",
    "problem": "must be an absolute http(s) URL",
    "middleware": "app.audit",
    "code": "game_not_found",
    "http_status": 503,
    "request_id": "rid-42",
    "server_time": 1_700_000_000.5,
    "retry_after": 2.5,
    "body_excerpt": '{"status":"error"}',
    "next_probe_in": 4.5,
}


def error_tree() -> list[type[ga.GameApiError]]:
    found: list[type[ga.GameApiError]] = []
    pending: list[type[ga.GameApiError]] = [ga.GameApiError]
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("gameapi_async") and cls not in found:
            found.append(cls)
            pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


def build(cls: type[ga.GameApiError]) -> ga.GameApiError:
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    args = [ARGUMENTS[p.name] for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
    kwargs = {p.name: ARGUMENTS[p.name] for p in parameters if p.kind is p.KEYWORD_ONLY}
    error = cls(*args, **kwargs)
    error.attempts = 3
    return error


def test_the_tree_is_discovered_whole() -> None:
    names = {cls.__name__ for cls in error_tree()}
    exported = {name for name in ga.__all__ if name.endswith("Error")}
    assert exported <= names
    assert {"InvalidParameterError", "ApiError", "RequestExpiredError",
            "WrongEventLoopError", "MiddlewareError"} <= names


@pytest.mark.parametrize("cls", error_tree(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("clone", [
    lambda e: pickle.loads(pickle.dumps(e)),
    lambda e: pickle.loads(pickle.dumps(e, protocol=0)),
    copy.copy,
    copy.deepcopy,
], ids=["pickle", "pickle-protocol-0", "copy", "deepcopy"])
def test_every_error_survives_pickle_and_copy(cls: type[ga.GameApiError], clone: Any) -> None:
    original = build(cls)
    again = clone(original)
    assert type(again) is cls
    assert again is not original
    assert vars(again) == vars(original)  # every field: code, field, retry_after, attempts...
    assert again.args == original.args
    assert str(again) == str(original)
    assert repr(again) == repr(original)


def test_a_raised_error_keeps_its_call_state_through_a_pickle() -> None:
    error = ga.RequestExpiredError("expired", code="request_expired", http_status=400,
                                   server_time=1_700_000_000.0)
    error.attempts = 2
    error.seen_by = "audit-middleware"  # state a middleware hung on the error
    again = pickle.loads(pickle.dumps(error))
    assert (again.code, again.http_status, again.server_time, again.attempts) == (
        "request_expired", 400, 1_700_000_000.0, 2)
    assert again.seen_by == "audit-middleware"
