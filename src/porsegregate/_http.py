"""HTTP for every request porsegregate makes (nodes, Esplora APIs, published sites).

One set of guarantees, whoever asks:

* The URL is checked once: http or https, with a host. ``user:password@`` in it
  is split off and sent as HTTP Basic authorization; it never appears in
  ``display_url``, a repr or a message, and neither does a path or query beyond
  "/" (where providers put API keys).
* Every request has a timeout and a maximum reply size. A request that gets no
  usable reply raises :class:`HttpFailure`, whose ``reason`` callers quote in
  their own messages.
* HTTP error statuses are replies, not exceptions: each caller decides what a
  404 or a 401 means.
* Redirects are never followed for POST (the 3xx reply is returned as is). For
  GET they are followed within the same origin (scheme, host and port), at most
  ``MAX_REDIRECTS`` times; a redirect anywhere else is refused, naming where it
  pointed. Credentials are therefore only ever sent to the origin they came with.
"""

from __future__ import annotations

import base64
import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InputError

__all__ = [
    "MAX_REDIRECTS",
    "Endpoint",
    "HttpFailure",
    "Reply",
    "ReplyTooLarge",
    "basic_authorization",
    "positive_timeout",
]

MAX_REDIRECTS = 5
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
    """The timeout in seconds; ValueError unless it is a positive number."""
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError("timeout must be a positive number of seconds")
    return float(timeout)


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
    `timeout` (seconds) applies to every request.
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
        for handler in (
            urllib.request.ProxyHandler(),
            urllib.request.HTTPHandler(),
            urllib.request.HTTPSHandler(),
        ):
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
        reply, _ = self._exchange(self.url, body, headers, max_bytes)
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
        for _ in range(MAX_REDIRECTS + 1):
            reply, location = self._exchange(target, None, headers, max_bytes)
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
    ) -> tuple[Reply, str | None]:
        """One request: (the reply, its Location header); HttpFailure if there is none."""
        sent = dict(headers or {})
        if self._authorization and not any(k.lower() == "authorization" for k in sent):
            sent["Authorization"] = self._authorization
        method = "GET" if body is None else "POST"
        # Only http(s) URLs of this endpoint's origin get here, and only HTTP handlers exist.
        request = urllib.request.Request(url, data=body, headers=sent, method=method)  # noqa: S310
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, reason = int(response.status), str(response.reason)
                location = response.headers.get("Location")
                data = response.read(max_bytes + 1)
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise HttpFailure(f"no answer within {self.timeout:g} s") from exc
            raise HttpFailure(f"cannot connect ({_quoted(str(exc.reason), 120)})") from exc
        except TimeoutError as exc:
            raise HttpFailure(f"no answer within {self.timeout:g} s") from exc
        except (http.client.HTTPException, OSError) as exc:
            detail = f"{type(exc).__name__}: {_quoted(str(exc), 120)}"
            raise HttpFailure(f"connection broken ({detail})") from exc
        if len(data) > max_bytes:
            raise ReplyTooLarge(max_bytes)
        return Reply(status, reason, data), location
