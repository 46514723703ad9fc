"""Fetching one metrics body over HTTP, bounded in time and size, faults said in words.

Two interchangeable clients behind one small interface, because measurement forced it
(2 cores; 2.5 KB bodies on 127.0.0.1, keep-alive, 100 in flight; bench/metrics_poll.py):

- `HttpxFetcher` — one shared httpx.AsyncClient, the project's HTTP client. Its cost per
  request grows with the number of hosts in its pool (a known httpcore issue), and that
  work runs in single callbacks that hold the event loop: polling 24 endpoints a second
  left the loop's lag p99 at 44 ms (aiohttp 21 ms), 50 at 158 ms (17), 100 at 962 ms (35),
  on a loaded 2-core machine. Fine for the handful of instances a color usually has.
- `AiohttpFetcher` — one aiohttp session, used past `FLEET_SIZE` instances: ~0.1 ms of
  CPU a request across 1,000 hosts, where httpx cannot keep a 1 s interval at all.

Neither raises for a fault of the endpoint: `get` answers a `Fetched` whose `error` says
what went wrong (refused, timed out, HTTP 500, too large) for the instance's row.
"""

from __future__ import annotations

import asyncio
import errno
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pmb_console.redact import redact

FLEET_SIZE = 16
"""Above this many instances in all, scrapes go through aiohttp (figures above)."""

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Fetched:
    """The outcome of one GET: a body, or the reason there is none."""

    body: bytes = b""
    content_type: str = ""
    status: int | None = None
    error: str = ""
    latency_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error


class TooLarge(Exception):
    pass


def size_words(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.0f} KB"


def _connect_words(exc: BaseException) -> str:
    """What a failed connection means, from the OS error underneath the client's."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno is not None:
            if cause.errno == errno.ECONNREFUSED:
                return "connection refused"
            if cause.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return "host unreachable"
            return cause.strerror or str(cause)
        if isinstance(cause, OSError) and "refused" in str(cause).lower():
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    return "connection refused" if "refused" in text.lower() else text


def _where(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


class Fetcher(ABC):
    """GET a URL with a total deadline and a body size cap."""

    def __init__(self, timeout: float, max_bytes: int, concurrency: int) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.concurrency = concurrency

    async def get(self, url: str) -> Fetched:
        started = time.monotonic()
        try:
            # One deadline for the whole exchange: the clients' own timeouts apply per
            # read, so an endpoint trickling a byte a second would otherwise never end.
            async with asyncio.timeout(self.timeout):
                fetched = await self._get(url)
        except TimeoutError:
            fetched = Fetched(error=f"no answer within {self.timeout:g} s")
        except TooLarge as exc:
            fetched = Fetched(
                error=f"metrics body larger than {size_words(self.max_bytes)} ({exc})"
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            fetched = Fetched(error=self._words(exc, url))
        latency = (time.monotonic() - started) * 1000.0
        return Fetched(
            body=fetched.body,
            content_type=fetched.content_type,
            status=fetched.status,
            error=redact(fetched.error),
            latency_ms=latency,
        )

    def _check_length(self, headers: Any) -> None:
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise TooLarge(f"it declares {size_words(int(declared))}")

    def _add(self, chunks: list[bytes], size: int, chunk: bytes) -> int:
        size += len(chunk)
        if size > self.max_bytes:
            raise TooLarge("stopped reading there")
        chunks.append(chunk)
        return size

    @abstractmethod
    async def _get(self, url: str) -> Fetched:
        """The exchange itself; raises TooLarge, or the client's own errors."""

    @abstractmethod
    def _words(self, exc: Exception, url: str) -> str:
        """The client's exception, said for an operator."""

    @abstractmethod
    async def aclose(self) -> None: ...


class HttpxFetcher(Fetcher):
    def __init__(self, timeout: float, max_bytes: int, concurrency: int) -> None:
        super().__init__(timeout, max_bytes, concurrency)
        import httpx

        self._httpx = httpx
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,
            headers={"Accept": "text/plain;version=0.0.4;q=1,*/*;q=0.1"},
        )

    async def _get(self, url: str) -> Fetched:
        async with self.client.stream("GET", url) as response:
            if response.status_code != 200:
                return Fetched(
                    status=response.status_code,
                    error=f"HTTP {response.status_code} {response.reason_phrase}".rstrip(),
                )
            self._check_length(response.headers)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes(CHUNK):
                size = self._add(chunks, size, chunk)
            return Fetched(
                body=b"".join(chunks),
                content_type=response.headers.get("content-type", ""),
                status=200,
            )

    def _words(self, exc: Exception, url: str) -> str:
        httpx = self._httpx
        if isinstance(exc, httpx.ConnectError):
            return f"cannot connect to {_where(url)}: {_connect_words(exc)}"
        if isinstance(exc, httpx.TimeoutException):
            return f"no answer within {self.timeout:g} s"
        if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
            return f"bad metrics_url {url!r}: {exc}"
        if isinstance(exc, httpx.RemoteProtocolError):
            return f"broken HTTP answer from {_where(url)}: {exc}"
        if isinstance(exc, httpx.HTTPError):
            return f"{_where(url)}: {exc or type(exc).__name__}"
        return f"{_where(url)}: {type(exc).__name__}: {exc}"

    async def aclose(self) -> None:
        await self.client.aclose()


class AiohttpFetcher(Fetcher):
    def __init__(self, timeout: float, max_bytes: int, concurrency: int) -> None:
        super().__init__(timeout, max_bytes, concurrency)
        import aiohttp

        self._aiohttp = aiohttp
        self.session: Any = None

    def _session(self) -> Any:
        # Created on first use: a ClientSession belongs to the running loop.
        if self.session is None:
            aiohttp = self._aiohttp
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.timeout, sock_read=self.timeout
                ),
                headers={"Accept": "text/plain;version=0.0.4;q=1,*/*;q=0.1"},
                auto_decompress=True,
            )
        return self.session

    async def _get(self, url: str) -> Fetched:
        async with self._session().get(url, allow_redirects=False) as response:
            if response.status != 200:
                return Fetched(
                    status=response.status,
                    error=f"HTTP {response.status} {response.reason or ''}".rstrip(),
                )
            self._check_length(response.headers)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(CHUNK):
                size = self._add(chunks, size, chunk)
            return Fetched(
                body=b"".join(chunks),
                content_type=response.headers.get("Content-Type", ""),
                status=200,
            )

    def _words(self, exc: Exception, url: str) -> str:
        aiohttp = self._aiohttp
        if isinstance(exc, aiohttp.ClientConnectorError):
            return f"cannot connect to {_where(url)}: {_connect_words(exc.os_error)}"
        if isinstance(exc, aiohttp.InvalidURL | ValueError):
            return f"bad metrics_url {url!r}: {exc}"
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return f"no answer within {self.timeout:g} s"
        if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
            return f"broken HTTP answer from {_where(url)}: {exc or type(exc).__name__}"
        if isinstance(exc, aiohttp.ClientError):
            return f"{_where(url)}: {exc or type(exc).__name__}"
        return f"{_where(url)}: {type(exc).__name__}: {exc}"

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None


def make_fetcher(
    instances: int, timeout: float, max_bytes: int, concurrency: int, client: str = ""
) -> Fetcher:
    """httpx for a color's usual handful of instances, aiohttp past FLEET_SIZE (see above)."""
    client = client or ("aiohttp" if instances > FLEET_SIZE else "httpx")
    if client == "aiohttp":
        try:
            return AiohttpFetcher(timeout, max_bytes, concurrency)
        except ImportError:
            pass  # not installed: httpx still answers, only at a higher CPU cost
    return HttpxFetcher(timeout, max_bytes, concurrency)
