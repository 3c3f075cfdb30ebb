"""HTTP for every request porsegregate makes (nodes, Esplora APIs, published sites).

One set of guarantees, whoever asks:

* The URL is checked once: http or https, with a host. ``user:password@`` in it
  is split off and sent as HTTP Basic authorization; it never appears in
  ``display_url``, a repr or a message, and neither does a path or query beyond
  "/" (where providers put API keys).
* Every request has a total deadline, not only a timeout per read: connecting,
  redirects, the headers and the whole body must be done within the endpoint's
  ``timeout`` seconds (a watchdog shuts the connection when it passes, so a server
  that sends one byte every few seconds cannot hold a request open). Within
  :func:`deadlines` a run has one more deadline, shared by every request made in
  it, and may set the per-request one for all of them.
* Every request has a maximum reply size. A Content-Length over it is refused
  before the body is read; the body is read incrementally and refused as soon as
  it passes the size, so memory never grows to what a server chooses to send.
* Only unencoded replies: ``Accept-Encoding: identity`` is sent and a reply with
  any other Content-Encoding (gzip, deflate, br...) is refused, so there is no
  decompression to bomb.
* A request that gets no usable reply raises :class:`HttpFailure`, whose
  ``reason`` callers quote in their own messages.
* HTTP error statuses are replies, not exceptions: each caller decides what a
  404 or a 401 means.
* Redirects are never followed for POST (the 3xx reply is returned as is). For
  GET they are followed within the same origin (scheme, host and port), at most
  ``MAX_REDIRECTS`` times; a redirect anywhere else is refused, naming where it
  pointed. Credentials are therefore only ever sent to the origin they came with.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import http.client
import math
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .errors import InputError

__all__ = [
    "MAX_REDIRECTS",
    "Endpoint",
    "HttpFailure",
    "Reply",
    "ReplyTooLarge",
    "basic_authorization",
    "deadlines",
    "positive_timeout",
]

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024  # bytes read at a time: the most a reply's body can pass its limit by
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class HttpFailure(InputError):
    """No usable reply (no connection, timeout, oversized reply, refused redirect).

    `reason` is a short phrase for the caller's own message; it never holds credentials.
    Callers say which node or site failed (ChainError, InputError naming the URL).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReplyTooLarge(HttpFailure):
    """The reply's body is larger than the request allowed (`limit` bytes)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"reply is larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Reply:
    """What the server answered, whatever its status: error statuses are the caller's to judge."""

    status: int
    reason: str  # the status line's phrase, e.g. "Not Found"
    body: bytes

    @property
    def ok(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status < 300


def positive_timeout(timeout: float) -> float:
    """The timeout in seconds; ValueError unless it is a positive, finite number."""
    if (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not 0 < timeout < math.inf
    ):
        raise ValueError("timeout must be a positive number of seconds")
    return float(timeout)


@dataclass(frozen=True)
class _Run:
    """The deadlines set by :func:`deadlines` for the requests made within it."""

    request: float | None  # seconds per request, replacing each endpoint's own timeout
    seconds: float | None  # seconds for the whole run
    ends: float | None  # time.monotonic() when the run's seconds are over


_RUN: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("porsegregate_run", default=None)


@contextmanager
def deadlines(*, request: float | None = None, run: float | None = None) -> Iterator[None]:
    """Within this block every request gets at most `request` seconds (instead of its
    endpoint's own timeout), and all of them together at most `run` seconds from now:
    a request still going when the run's time is over fails, and none is started after.

    One verify or audit is one run (the command line sets both). Nested blocks replace
    the outer one's deadlines while they last.
    """
    per_request = None if request is None else positive_timeout(request)
    seconds = None if run is None else positive_timeout(run)
    ends = None if seconds is None else time.monotonic() + seconds
    token = _RUN.set(_Run(per_request, seconds, ends))
    try:
        yield
    finally:
        _RUN.reset(token)


class _Watch:
    """A request's deadline: when it passes, the connection is shut down, which ends any
    read or write blocked on it, however slowly the server sends."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def attach(self, sock: socket.socket) -> None:
        """The request's connection, as soon as it is made (before TLS). A duplicate of
        its descriptor is kept: TLS takes over the original socket object."""
        with self._lock:
            if self._socket is None:
                self._socket = sock.dup()
            if self.expired:
                _shut(self._socket)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._socket is not None:
                _shut(self._socket)

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self._socket is not None:
                self._socket.close()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to end
        sock.shutdown(socket.SHUT_RDWR)


_WATCH: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar(
    "porsegregate_watch", default=None
)


def _watched(sock: socket.socket) -> socket.socket:
    watch = _WATCH.get()
    if watch is not None:
        watch.attach(sock)
    return sock


def _watched_connection(*args: Any, **kwargs: Any) -> socket.socket:
    return _watched(socket.create_connection(*args, **kwargs))


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _watched_connection


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _watched_connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, req)  # the default, verifying TLS context


@dataclass(frozen=True)
class _Deadline:
    """When one request (with its redirects) must be done, and how to say it was not."""

    ends: float  # time.monotonic()
    seconds: float  # the limit that ends first, for messages
    whole_run: bool  # that limit is the run's, not the request's

    @staticmethod
    def for_request(timeout: float) -> _Deadline:
        run = _RUN.get()
        seconds = timeout if run is None or run.request is None else run.request
        ends = time.monotonic() + seconds
        if run and run.seconds and run.ends is not None and run.ends <= ends:
            return _Deadline(run.ends, run.seconds, True)
        return _Deadline(ends, seconds, False)

    def left(self) -> float:
        return self.ends - time.monotonic()

    def missed(self, answered: bool) -> HttpFailure:
        what = "no complete reply" if answered else "no answer"
        if self.whole_run:
            return HttpFailure(f"{what} within the {self.seconds:g} s allowed for the whole run")
        return HttpFailure(f"{what} within {self.seconds:g} s")


def basic_authorization(credentials: str) -> str:
    """The Authorization header value for "user:password" (UTF-8, RFC 7617)."""
    return "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")


def _quoted(text: str, limit: int) -> str:
    """Text quoted for a message: printable, and cut if long."""
    quoted = repr(text)
    return quoted if len(quoted) <= limit else quoted[: limit - 4] + "...'"


@dataclass(frozen=True)
class _Parts:
    """An http(s) URL taken apart, without its credentials."""

    scheme: str
    netloc: str  # host (IPv6 in brackets) and the port if the URL names one
    origin: tuple[str, str, int]  # scheme, host, effective port: what "same origin" compares
    url: str  # the URL without credentials or fragment; path "/" when empty
    hidden: bool  # a path or query beyond "/", which display forms leave out

    @property
    def display(self) -> str:
        return f"{self.scheme}://{self.netloc}/" + ("..." if self.hidden else "")


def _parts(url: str) -> _Parts | None:
    """The URL taken apart; None unless it is http(s) with a host and a valid port."""
    split = urllib.parse.urlsplit(url)
    if split.scheme not in _DEFAULT_PORTS or not split.hostname:
        return None
    try:
        port = split.port
    except ValueError:
        return None
    host = split.hostname
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    bare = urllib.parse.urlunsplit((split.scheme, netloc, split.path or "/", split.query, ""))
    return _Parts(
        scheme=split.scheme,
        netloc=netloc,
        origin=(split.scheme, host, port if port is not None else _DEFAULT_PORTS[split.scheme]),
        url=bare,
        hidden=split.path not in ("", "/") or bool(split.query),
    )


def _shown(url: str) -> str:
    """Any URL, e.g. one a server redirects to, in display form (no credentials, no path)."""
    parts = _parts(url)
    if parts is not None:
        return parts.display
    scheme = urllib.parse.urlsplit(url).scheme
    return f"{scheme}://..." if scheme else "a URL without a scheme"


class Endpoint:
    """One http(s) service, its URL checked once, and requests to it.

    `url` is the URL without credentials; `display_url` is safe for messages;
    `timeout` (seconds) is every request's total deadline (unless :func:`deadlines`
    sets another), redirects included.
    """

    def __init__(self, url: str, what: str, *, timeout: float, example: str | None = None) -> None:
        """`what` names the service in ValueErrors ("EVM node URL must be ..."), with
        `example` of a good URL if given."""
        if not isinstance(url, str):
            raise ValueError(f"{what} URL must be a string")
        split = urllib.parse.urlsplit(url)
        if split.scheme not in _DEFAULT_PORTS or not split.hostname:
            hint = f", e.g. {example}" if example else ""
            raise ValueError(f"{what} URL must be http:// or https:// with a host{hint}")
        parts = _parts(url)
        if parts is None:
            raise ValueError(f"{what} URL has an invalid port")
        self._parts = parts
        self.url = parts.url
        self.display_url = parts.display
        self.timeout = positive_timeout(timeout)
        self._authorization: str | None = None
        if split.username is not None or split.password is not None:
            user = urllib.parse.unquote(split.username or "")
            password = urllib.parse.unquote(split.password or "")
            self._authorization = basic_authorization(f"{user}:{password}")
        # No redirect handler (redirects are followed below, or not) and no error
        # processor (every status comes back as a reply); proxies as urllib's default.
        self._opener = urllib.request.OpenerDirector()
        for handler in (urllib.request.ProxyHandler(), _HTTPHandler(), _HTTPSHandler()):
            self._opener.add_handler(handler)

    def __repr__(self) -> str:
        return f"Endpoint({self.display_url!r})"

    @property
    def origin(self) -> str:
        """scheme://host[:port], as the URL gave them."""
        return f"{self._parts.scheme}://{self._parts.netloc}"

    def post(
        self, body: bytes, *, max_bytes: int, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """POST to the endpoint's URL. A redirect is not followed: its reply is returned."""
        reply, _ = self._exchange(self.url, body, headers, max_bytes, self._deadline())
        return reply

    def get(
        self, url: str | None = None, *, max_bytes: int, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """GET `url` (default: the endpoint's URL), which must be of the endpoint's origin;
        redirects are followed within that origin only."""
        requested = self.url if url is None else url
        target = self._within_origin(requested)
        if target is None:
            raise HttpFailure(
                f"refused to request {_shown(requested)}: only URLs within {self.origin} "
                "are requested"
            )
        deadline = self._deadline()
        for _ in range(MAX_REDIRECTS + 1):
            reply, location = self._exchange(target, None, headers, max_bytes, deadline)
            if reply.status not in _REDIRECT_STATUSES or location is None:
                return reply
            pointed = urllib.parse.urljoin(target, location)
            next_target = self._within_origin(pointed)
            if next_target is None:
                raise HttpFailure(
                    f"refused a redirect to {_shown(pointed)}: only redirects within "
                    f"{self.origin} are followed"
                )
            target = next_target
        raise HttpFailure(f"more than {MAX_REDIRECTS} redirects")

    def _deadline(self) -> _Deadline:
        deadline = _Deadline.for_request(self.timeout)
        if deadline.whole_run and deadline.left() <= 0:
            raise HttpFailure(
                f"not requested: the {deadline.seconds:g} s allowed for the whole run are over"
            )
        return deadline

    def _within_origin(self, url: str) -> str | None:
        """The URL without credentials if it is of this endpoint's origin, else None."""
        parts = _parts(url)
        if parts is None or parts.origin != self._parts.origin:
            return None
        return parts.url

    def _exchange(
        self,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        max_bytes: int,
        deadline: _Deadline,
    ) -> tuple[Reply, str | None]:
        """One request: (the reply, its Location header); HttpFailure if there is none."""
        sent = {k: v for k, v in (headers or {}).items() if k.lower() != "accept-encoding"}
        sent["Accept-Encoding"] = "identity"
        if self._authorization and not any(k.lower() == "authorization" for k in sent):
            sent["Authorization"] = self._authorization
        method = "GET" if body is None else "POST"
        left = deadline.left()
        if left <= 0:
            raise deadline.missed(answered=False)
        # Only http(s) URLs of this endpoint's origin get here, and only HTTP handlers exist.
        request = urllib.request.Request(url, data=body, headers=sent, method=method)  # noqa: S310
        watch = _Watch(left)
        token = _WATCH.set(watch)
        answered = False
        try:
            watch.start()
            with self._opener.open(request, timeout=left) as response:
                answered = not watch.expired  # headers cut short by the watchdog are none
                status, reason = int(response.status), str(response.reason)
                location = response.headers.get("Location")
                data = _body(response, max_bytes)
            if watch.expired:  # the watchdog's shutdown may look like the end of the body
                raise deadline.missed(answered)
        except ReplyTooLarge:
            raise
        except HttpFailure as exc:
            if watch.expired:  # a body cut short by the watchdog: the deadline, not the host
                raise deadline.missed(answered) from exc
            raise
        except urllib.error.URLError as exc:
            if watch.expired or isinstance(exc.reason, TimeoutError):
                raise deadline.missed(answered) from exc
            raise HttpFailure(f"cannot connect ({_quoted(str(exc.reason), 120)})") from exc
        except (http.client.HTTPException, OSError) as exc:
            if watch.expired or isinstance(exc, TimeoutError):
                raise deadline.missed(answered) from exc
            detail = f"{type(exc).__name__}: {_quoted(str(exc), 120)}"
            raise HttpFailure(f"connection broken ({detail})") from exc
        finally:
            watch.stop()
            _WATCH.reset(token)
        return Reply(status, reason, data), location


def _body(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    """The reply's body, read a chunk at a time and refused as soon as it is too large."""
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise HttpFailure(
            f"the reply is {_quoted(encoding, 40)}-encoded; only unencoded replies are accepted"
        )
    if response.length is not None and response.length > max_bytes:
        raise ReplyTooLarge(max_bytes)
    expected = response.length
    # Chunks kept apart and joined once at the end: no buffer grown by reallocation, which
    # can hold two copies of a large reply at once.
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise ReplyTooLarge(max_bytes)
    if expected is not None and size < expected:
        raise HttpFailure(f"the reply ended after {size} of its {expected} bytes")
    return b"".join(chunks)
