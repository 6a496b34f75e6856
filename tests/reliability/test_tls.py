"""Transport security: TLS verification is on by default; a private CA is opt-in by context."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy

from ..support import serve

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is missing")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@pytest.fixture
async def https_url(certificate: tuple[Path, Path]) -> AsyncIterator[str]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"status": "success", "request_id": "r",
                                  "content": {"games": [], "total": 0}})

    app = web.Application()
    app.router.add_post("/api/games/list", handle)
    async with serve(app, ssl_context=context) as url:
        yield url


async def test_an_untrusted_certificate_is_refused_by_default(https_url: str) -> None:
    async with GameApiClient(base_url=https_url, agent_id=1, api_token="t",
                             retry=RetryPolicy.disabled()) as client:
        with pytest.raises(ga.TransportError) as caught:
            await client.list_games()
    assert "certificate" in str(caught.value).lower() or "ssl" in str(caught.value).lower()


async def test_a_private_ca_is_trusted_through_an_ssl_context(
    https_url: str, certificate: tuple[Path, Path]
) -> None:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    async with GameApiClient(base_url=https_url, agent_id=1, api_token="t", ssl=context) as c:
        assert (await c.list_games()).total == 0


@pytest.mark.parametrize("host", ["10.0.0.5", "api.example.com", "192.168.1.10", "[fd00::1]"])
def test_plain_http_is_refused_beyond_loopback(host: str) -> None:
    with pytest.raises(ga.InvalidParameterError, match="allow_insecure_http"):
        GameApiClient(base_url=f"http://{host}", agent_id=1, api_token="t")
    GameApiClient(base_url=f"http://{host}", agent_id=1, api_token="t", allow_insecure_http=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "LocalHost", "[::1]"])
def test_plain_http_to_loopback_is_allowed(host: str) -> None:
    GameApiClient(base_url=f"http://{host}:8080", agent_id=1, api_token="t")
