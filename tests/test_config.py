"""Client settings (``_config``): base_url credentials, query, plain HTTP and look-alike
loopback hosts; a huge integer in the environment."""

from __future__ import annotations

import pytest

import gameapi_async as ga
from gameapi_async import GameApiClient

from .support import API_TOKEN, single_attempt_client

BASE = "https://api.example.test"
client = single_attempt_client


# -- base_url --------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["https://user:pass@api.example.test",
                                 "https://user@api.example.test",
                                 f"https://agent:{API_TOKEN}@api.example.test/v1",
                                 "https://:secret@api.example.test"])
def test_base_url_with_credentials_is_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ga.InvalidParameterError) as caught:
        client(base_url=url)
    assert caught.value.field == "base_url"
    text = f"{caught.value} {caught.value!r} {caught.value.args}"
    for secret in ("pass", "secret", API_TOKEN):
        assert secret not in text
    assert "user" not in text.replace("userinfo", "")


@pytest.mark.parametrize("url", ["https://api.example.test/?", "https://api.example.test/#",
                                 "https://api.example.test/?a=1", "https://api.example.test#f"])
def test_base_url_with_query_or_fragment_is_refused(url: str) -> None:
    with pytest.raises(ga.InvalidParameterError, match="base_url"):
        client(base_url=url)


@pytest.mark.parametrize("host", ["app.localhost", "localhost.evil.example", "localhost.",
                                  "127.0.0.1.nip.io", "[::ffff:10.0.0.1]", "0.0.0.0"])
def test_plain_http_to_hosts_that_merely_look_local_is_refused(host: str) -> None:
    with pytest.raises(ga.InvalidParameterError, match="allow_insecure_http"):
        client(base_url=f"http://{host}:8080")


def test_a_huge_agent_id_in_the_environment_is_a_typed_error() -> None:
    env = {"GAMEAPI_BASE_URL": BASE, "GAMEAPI_AGENT_ID": "9" * 5000,
           "GAMEAPI_API_TOKEN": API_TOKEN}
    with pytest.raises(ga.InvalidParameterError) as caught:
        ga.GameApiClient.from_env(**ga._config.read_env(env))
    assert caught.value.field == "GAMEAPI_AGENT_ID"
    assert API_TOKEN not in str(caught.value)


# -- plain HTTP: refused beyond loopback unless allowed ----------------------------------

@pytest.mark.parametrize("host", ["10.0.0.5", "api.example.com", "192.168.1.10", "[fd00::1]"])
def test_plain_http_is_refused_beyond_loopback(host: str) -> None:
    with pytest.raises(ga.InvalidParameterError, match="allow_insecure_http"):
        GameApiClient(base_url=f"http://{host}", agent_id=1, api_token="t")
    GameApiClient(base_url=f"http://{host}", agent_id=1, api_token="t", allow_insecure_http=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "LocalHost", "[::1]"])
def test_plain_http_to_loopback_is_allowed(host: str) -> None:
    GameApiClient(base_url=f"http://{host}:8080", agent_id=1, api_token="t")
