"""Client settings: checked once at construction, read from the environment on request.

The API token lives only in the signer; the config keeps it out of ``repr`` too, so a logged
client or config never shows it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Collection, Mapping
from typing import Any, Final, Literal, overload
from urllib.parse import urlsplit

from ._errors import InvalidParameterError
from ._validation import describe_char, unsafe_url_char, validate_positive_int

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ENV_AGENT_ID",
    "ENV_API_TOKEN",
    "ENV_BASE_URL",
    "check_api_token",
    "check_base_url",
    "check_seconds",
    "read_env",
]

ENV_BASE_URL: Final = "GAMEAPI_BASE_URL"
ENV_AGENT_ID: Final = "GAMEAPI_AGENT_ID"
ENV_API_TOKEN: Final = "GAMEAPI_API_TOKEN"
DEFAULT_MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024


def _is_loopback(host: str) -> bool:
    # Exactly "localhost", 127.0.0.0/8 or ::1. Names under ".localhost" should resolve to
    # loopback (RFC 6761) but a misconfigured resolver may send them anywhere: not trusted.
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: object, *, allow_insecure_http: bool) -> str:
    """An absolute http(s) URL; plain http only to loopback unless explicitly allowed.

    A signed request over plain http can be read and replayed within the 300 s window by anyone
    on the path, so http to a real host needs ``allow_insecure_http=True``. Credentials in the
    URL (``user:pass@``) are refused: the URL shows in reprs and logs. Messages never echo the
    URL itself.
    """
    if not isinstance(base_url, str) or not base_url:
        raise InvalidParameterError("base_url", "must be a non-empty str")
    base_url = str.__str__(base_url)  # a str subclass: its characters, not its methods
    char = unsafe_url_char(base_url)
    if char is not None:
        raise InvalidParameterError(
            "base_url",
            "must not contain spaces, control, format or separator characters "
            f"(found {describe_char(char)})",
        )
    try:
        parts = urlsplit(base_url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise InvalidParameterError("base_url", "is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise InvalidParameterError("base_url", "must be an absolute http(s) URL")
    if "@" in parts.netloc:
        raise InvalidParameterError(
            "base_url", "must not carry credentials (userinfo before '@'); it would be logged"
        )
    if parts.query or parts.fragment or "?" in base_url or "#" in base_url:
        raise InvalidParameterError("base_url", "must not carry a query or fragment")
    if scheme == "http" and not allow_insecure_http and not _is_loopback(host):
        raise InvalidParameterError(
            "base_url",
            "plain http sends signed requests readable on the network; use https, "
            "or pass allow_insecure_http=True if you really mean it",
        )
    return base_url


def check_api_token(api_token: object) -> str:
    if not isinstance(api_token, str) or not api_token:
        # Never echo the value: it may be a real secret passed in the wrong place.
        raise InvalidParameterError("api_token", "must be a non-empty str")
    try:
        api_token.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidParameterError("api_token", "is not valid Unicode") from None
    return api_token


@overload
def check_seconds(
    field: str, value: object, *, allow_none: Literal[False], allow_zero: bool = False
) -> float: ...
@overload
def check_seconds(
    field: str, value: object, *, allow_none: bool = True, allow_zero: bool = False
) -> float | None: ...
def check_seconds(
    field: str, value: object, *, allow_none: bool = True, allow_zero: bool = False
) -> float | None:
    """The one check of a duration setting: a finite int or float (never a bool) above 0
    (or at 0 with ``allow_zero``); ``None`` passes when ``allow_none`` (no limit)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        value >= 0 if allow_zero else value > 0  # NaN fails both
    ):
        wanted = "a number of seconds >= 0" if allow_zero else "a positive number of seconds"
        raise InvalidParameterError(field, f"must be {wanted}, got {value!r}")
    if value == float("inf"):
        hint = "; pass None for no limit" if allow_none else ""
        raise InvalidParameterError(field, f"must be finite{hint}")
    return float(value)


def read_env(
    environ: Mapping[str, str] | None = None, *, skip: Collection[str] = ()
) -> dict[str, Any]:
    """``base_url``, ``agent_id`` and ``api_token`` from ``GAMEAPI_*`` variables.

    A missing or malformed variable raises :class:`InvalidParameterError` naming it. The
    settings named in ``skip`` (given another way) are neither read nor required.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field, name in (
        ("base_url", ENV_BASE_URL),
        ("agent_id", ENV_AGENT_ID),
        ("api_token", ENV_API_TOKEN),
    ):
        if field in skip:
            continue
        raw = env.get(name, "")
        if not raw:
            raise InvalidParameterError(name, "is not set")
        values[field] = raw
    if "agent_id" in values:
        agent_id = str(values["agent_id"]).strip()
        if not (agent_id.isascii() and agent_id.isdecimal()) or len(agent_id) > 20:
            raise InvalidParameterError(ENV_AGENT_ID, "must be a positive integer")
        values["agent_id"] = validate_positive_int(ENV_AGENT_ID, int(agent_id))
    return values
