"""The exception tree: one class per platform code, readable messages, transient or not."""

from __future__ import annotations

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
