"""Moving bytes: a one-method transport protocol and its aiohttp implementation.

The transport knows nothing of envelopes or signatures. It posts the exact bytes it is given,
returns status, body and the two headers the protocol reads, and maps every aiohttp failure
to the most specific SDK exception in this one place.
"""

from __future__ import annotations

import ssl as ssl_module
from typing import Final, Protocol

import aiohttp
from aiohttp import hdrs
from yarl import URL

from ._errors import (
    ClientClosedError,
    GameApiError,
    NetworkError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
)
from ._protocol import RawResponse, SignedRequest

__all__ = ["USER_AGENT", "AiohttpTransport", "Timeouts", "Transport"]

USER_AGENT: Final = f"gameapi-async aiohttp/{aiohttp.__version__}"
_CHUNK: Final = 64 * 1024
_MAX_TIMEOUTS: Final = 64  # cached ClientTimeout objects per transport


class Timeouts(Protocol):
    """How long one attempt may take, in seconds (``None``: no limit)."""

    @property
    def timeout(self) -> float | None: ...

    @property
    def connect_timeout(self) -> float | None: ...


class Transport(Protocol):
    """Send one signed request; close. Implementations must raise only ``GameApiError``."""

    async def send(self, request: SignedRequest, timeouts: Timeouts) -> RawResponse:
        """Send one signed request and read its whole answer (status, body, the headers read).

        No complete answer raises a ``TransportError`` (``RequestTimeoutError`` for a
        timeout), a body over the size cap ``ResponseTooLargeError``; the status is not
        judged here. Cancellation propagates untouched.
        """
        ...

    async def aclose(self) -> None:
        """Release the connections; called once, by the client's ``close()``."""
        ...


class AiohttpTransport:
    """The production transport.

    It creates its ``ClientSession`` lazily, inside the running loop, and closes it in
    :meth:`aclose`; a session passed in by the caller is used as is and never closed.
    Redirects are not followed: a signed POST has one destination, and following a redirect
    would hand the signature to another host.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        ssl: ssl_module.SSLContext | bool = True,
        max_response_bytes: int,
    ) -> None:
        self._base = URL(base_url.rstrip("/"))
        self._session = session
        self._owns_session = session is None
        self._ssl = ssl
        self._max_response_bytes = max_response_bytes
        self._urls: dict[str, URL] = {}
        self._timeouts: dict[int, tuple[Timeouts, aiohttp.ClientTimeout]] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"AiohttpTransport(base_url={str(self._base)!r})"

    def _url(self, path: str) -> URL:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self._base.with_path(self._base.path.rstrip("/") + path)
        return url

    def _client_timeout(self, timeouts: Timeouts) -> aiohttp.ClientTimeout:
        # Keyed by the options object itself (its id, with the object kept alive beside the
        # timeout so the id cannot be reused): a client's options are one object for all its
        # calls, so the lookup neither builds nor hashes a key of values.
        found = self._timeouts.get(id(timeouts))
        if found is not None and found[0] is timeouts:
            return found[1]
        # Attempts capped by a call's deadline bring new options (3.72 s...): stay bounded.
        if len(self._timeouts) >= _MAX_TIMEOUTS:
            self._timeouts.clear()
        made = aiohttp.ClientTimeout(total=timeouts.timeout, sock_connect=timeouts.connect_timeout)
        self._timeouts[id(timeouts)] = (timeouts, made)
        return made

    def _get_session(self) -> aiohttp.ClientSession:
        # No await between the check and the creation: concurrent first calls share one.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def send(self, request: SignedRequest, timeouts: Timeouts) -> RawResponse:
        if self._closed:
            raise ClientClosedError("the client is closed")
        session = self._session
        if session is None:
            session = self._get_session()
        path = request.endpoint.path
        url = self._urls.get(path)
        if url is None:
            url = self._url(path)
        timeout = self._client_timeout(timeouts)
        try:
            async with session.post(
                url,
                data=request.body,
                headers=request.headers,
                timeout=timeout,
                allow_redirects=False,
                raise_for_status=False,  # even on a caller's session: statuses are ours to read
            ) as response:
                headers = response.headers
                length = headers.get(hdrs.CONTENT_LENGTH)  # aiohttp has checked it is digits
                # Content-Length counts the bytes on the wire; a compressed body is decoded
                # while read, so only reading it in capped chunks bounds what it becomes.
                encoding = headers.get(hdrs.CONTENT_ENCODING)
                size = None if length is None else int(length)
                if (
                    size is not None
                    and size <= self._max_response_bytes
                    and (encoding is None or encoding.lower() == "identity")
                ):
                    body = await response.read()
                else:
                    body = await self._read_capped(response, size)
                return RawResponse(
                    response.status, body, headers.get(hdrs.DATE), headers.get(hdrs.RETRY_AFTER)
                )
        except TimeoutError as exc:  # aiohttp's own timeouts subclass TimeoutError
            raise RequestTimeoutError(
                f"{request.endpoint.name}: no complete answer within the timeout"
            ) from exc
        except GameApiError:
            raise
        except (aiohttp.ClientError, OSError, EOFError) as exc:
            if self._closed:  # close() ran while this request was in flight
                raise ClientClosedError("the client was closed during the request") from exc
            raise _map_client_error(request, exc) from exc
        except Exception as exc:  # the Transport contract: only GameApiError leaves here
            if session.closed:  # aiohttp refuses a closed session with a RuntimeError
                raise ClientClosedError(
                    "the client was closed during the request" if self._closed
                    else "the aiohttp session given to the client is closed"
                ) from exc
            raise TransportError(
                f"{request.endpoint.name}: unexpected {_describe(exc)}"
            ) from exc

    async def _read_capped(self, response: aiohttp.ClientResponse, length: int | None) -> bytes:
        """The body of an answer too large by its Content-Length, of unknown length, or
        compressed: the cap counts decoded bytes as they arrive, never a whole oversized body."""
        cap = self._max_response_bytes
        if length is not None and length > cap:
            response.close()  # drop the connection rather than drain a body we refuse
            raise _too_large(response.status, f"Content-Length {length}", cap)
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > cap:
                response.close()
                raise _too_large(response.status, f"more than {cap} bytes", cap)
        return bytes(body)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()


def _map_client_error(
    request: SignedRequest, exc: aiohttp.ClientError | OSError | EOFError
) -> GameApiError:
    """The one place a backend error becomes the SDK's: a lost connection, whether aiohttp
    names it or a raw socket, TLS (``ssl.SSLError``) or short-read (``IncompleteReadError``)
    error slips past it, is a ``NetworkError``; another aiohttp error a ``TransportError``."""
    what = f"{request.endpoint.name}: {_describe(exc)}"
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | OSError
                  | EOFError):
        return NetworkError(what)
    return TransportError(what)


def _too_large(status: int, seen: str, cap: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"HTTP {status}: answer too large ({seen}; max_response_bytes={cap})",
        http_status=status,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

