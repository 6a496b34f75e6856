"""Option values of the ``gameapi`` command, checked by the SDK's own rules, named as flags.

A value the command accepts must be one the SDK accepts, and the other way round, so every
check here calls the rule the SDK applies (``check_seconds``, the parameter rules of
``_validation``, ``read_env``'s agent id, ``Faults.validate``) instead of restating it. What
the SDK reports under a Python keyword (``timeout``, ``allow_insecure_http=True``) the command
reports under its flag (``--timeout``, ``--allow-insecure-http``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from typing import Final, TypeVar

from .._config import ENV_AGENT_ID, check_api_token, check_seconds, read_env
from .._errors import InvalidParameterError
from .._validation import RULES, validate_positive_int

__all__ = [
    "FLAGS",
    "agent_id",
    "agent_id_from",
    "api_token",
    "error_status",
    "fault",
    "game_id",
    "in_flag_terms",
    "integer",
    "parameter",
    "port",
    "timeout",
]

T = TypeVar("T")

# The SDK's keyword -> the command's flag (or argument) that carries it.
FLAGS: Final[Mapping[str, str]] = {
    "base_url": "--base-url",
    "agent_id": "--agent-id",
    "api_token": "--api-token",
    "timeout": "--timeout",
    "allow_insecure_http": "--allow-insecure-http",
    "game_id": "GAME_ID",
    "player_id": "--player-id",
    "player_username": "--player-username",
    "language": "--language",
    "currency": "--currency",
    "home_url": "--home-url",
    "ip": "--ip",
    "agent_session_id": "--session-id",
}


def problem_of(error: InvalidParameterError) -> str:
    """The error's message without the ``field: `` it starts with."""
    return error.message.removeprefix(f"{error.field}: ")


def in_flag_terms(error: InvalidParameterError, field: str | None = None) -> InvalidParameterError:
    """The same refusal, naming ``field`` (default: the flag of the SDK's keyword).

    Advice in the message is translated too: the SDK says "pass allow_insecure_http=True",
    a shell user needs "--allow-insecure-http".
    """
    problem = problem_of(error)
    for keyword, flag in FLAGS.items():
        problem = problem.replace(f"{keyword}=True", flag)
    return InvalidParameterError(field or FLAGS.get(error.field, error.field), problem)


def _argument(parse: Callable[[str], T], rule: Callable[[str, T], object], field: str,
              ) -> Callable[[str], T]:
    """An argparse ``type=``: parse the text, then apply the SDK's rule to the value."""

    def check(text: str) -> T:
        value = parse(text)
        try:
            rule(field, value)
        except InvalidParameterError as error:
            raise argparse.ArgumentTypeError(problem_of(error)) from None
        return value

    check.__name__ = field  # argparse names the type in some messages
    return check


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if math.isnan(value) or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def integer(text: str) -> int:
    try:
        if len(text) > 30:  # int() of a huge text is slow, and no option wants one
            raise ValueError(text)
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text[:30]!r}") from None


def _seconds_rule(field: str, value: float) -> object:
    return check_seconds(field, value, allow_none=False)


def agent_id_from(field: str, text: str) -> int:
    """``read_env``'s rule, so ``--agent-id`` and ``GAMEAPI_AGENT_ID`` take the same text."""
    if not text.strip():  # read_env would call it "not set", which a flag given as "" is
        raise InvalidParameterError(field, f"must be a positive integer, got {text!r}")
    try:
        value = read_env({ENV_AGENT_ID: text}, skip=("base_url", "api_token"))["agent_id"]
    except InvalidParameterError as error:
        raise InvalidParameterError(field, problem_of(error)) from None
    return int(value)


timeout: Final = _argument(_number, _seconds_rule, "timeout")
game_id: Final = _argument(integer, validate_positive_int, "game_id")


def agent_id(text: str) -> int:
    """``--agent-id``: the text ``GAMEAPI_AGENT_ID`` may hold, by the same rule."""
    try:
        return agent_id_from("--agent-id", text)
    except InvalidParameterError as error:
        raise argparse.ArgumentTypeError(problem_of(error)) from None


def _token_rule(field: str, value: str) -> object:
    return check_api_token(value)


api_token: Final = _argument(str, _token_rule, "api_token")
"""``mock-server --api-token``: a token a client would accept (an empty one is not)."""


def parameter(name: str) -> Callable[[str], str]:
    """A call parameter given as text (``--currency``, ``--home-url``...): the SDK's rule."""
    return _argument(str, RULES[name], name)


# -- mock-server: the fake platform's own rules (Faults.validate) ---------------------------


def _fault_rule(name: str) -> Callable[[str, object], object]:
    def rule(field: str, value: object) -> object:
        from ..testing import Faults

        faults = Faults(**{name: value})  # type: ignore[arg-type]
        try:
            faults.validate()
        except ValueError as error:
            raise InvalidParameterError(field, str(error)) from None
        return value

    return rule


def fault(name: str) -> Callable[[str], float]:
    """A number for the ``Faults`` field ``name`` (``latency``, ``error_rate``)."""
    return _argument(_number, _fault_rule(name), name)


def _one_status(field: str, value: int) -> object:
    return _fault_rule("error_statuses")(field, (value,))


error_status: Final = _argument(integer, _one_status, "error_status")


def port(text: str) -> int:
    """A TCP port, 0 for any free one."""
    value = integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, got {text!r}")
    return value
