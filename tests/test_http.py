"""The one HTTP client (porsegregate._http), against real local servers.

Two servers run in threads: the origin, and another one that a redirect may
point to. The other server records every request it gets, so a test can show
that nothing (above all no credentials) was sent there.

A third, hostile one (a raw socket server, so it can break HTTP's rules) drips
its reply a byte at a time, sends hundreds of MiB, lies in its Content-Length,
redirects elsewhere and sends a gzip bomb; the client, the site reader and the
command line (in process and in a real subprocess) must each end within their
deadline with exit 3 and a message naming the URL and what happened.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from porsegregate._http import (
    MAX_REDIRECTS,
    Endpoint,
    HttpFailure,
    ReplyTooLarge,
    deadlines,
    positive_timeout,
)
from porsegregate.chains.bitcoin import Esplora
from porsegregate.chains.evm import EvmRpc
from porsegregate.cli import main
from porsegregate.errors import ChainError, InputError
from porsegregate.protocol import layout
from porsegregate.verify.fetch import (
    AUDIT_DEADLINE,
    REQUEST_DEADLINE,
    VERIFY_DEADLINE,
    SiteReader,
    size_text,
)

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None


@dataclass
class Server:
    """A local HTTP server answering GET and POST from `routes` (path -> answer)."""

    routes: dict[str, Callable[[Seen], Answer]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _serve(server: Server) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            seen = Seen(self.command, self.path, self.headers.get("Authorization"))
            server.seen.append(seen)
            route = server.routes.get(self.path.split("?")[0])
            status, headers, body = route(seen) if route else (404, {}, b"no such page")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Quiet(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that stops reading at its size limit breaks the pipe: expected

    httpd = Quiet(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    return httpd


def _redirect(location: str, status: int = 302) -> Callable[[Seen], Answer]:
    return lambda seen: (status, {"Location": location}, b"moved")


def _slow(seen: Seen) -> Answer:
    time.sleep(1.0)
    return 200, {}, b"late"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Server, Server]]:
    origin, other = Server(), Server()
    running = [_serve(origin), _serve(other)]
    other.routes = {"/hello": lambda seen: (200, {}, b"hello from the other server")}
    origin.routes = {
        "/hello": lambda seen: (200, {}, b"hello"),
        "/site/hello": lambda seen: (200, {}, b"hello"),
        "/auth": lambda seen: (200, {}, (seen.authorization or "none").encode()),
        "/relative": _redirect("/hello"),
        "/absolute": _redirect(f"{origin.url}/hello", 301),
        "/to-auth": _redirect("/auth", 307),
        "/default-port": _redirect(f"http://127.0.0.1:{origin.port}/hello", 308),
        "/other-port": _redirect(f"{other.url}/hello"),
        "/other-host": _redirect(f"http://localhost:{origin.port}/hello"),
        "/other-scheme": _redirect(f"https://127.0.0.1:{origin.port}/hello"),
        "/file": _redirect("file:///etc/passwd"),
        "/ftp": _redirect(f"ftp://127.0.0.1:{origin.port}/hello"),
        "/other-ip": _redirect(f"http://127.0.0.2:{origin.port}/hello"),
        "/with-key": _redirect(f"{other.url}/v3/THEIRKEY?key=THEIRS"),
        "/loop": _redirect("/loop"),
        "/site/moved.json": _redirect("/site/hello"),
        "/site/away.json": _redirect(f"{other.url}/hello"),
        "/site/broken.json": lambda seen: (500, {}, b"oops"),
        "/missing": lambda seen: (404, {}, b"not here"),
        "/teapot": lambda seen: (418, {}, b"short and stout"),
        "/ten": lambda seen: (200, {}, b"0123456789"),
        "/slow": _slow,
    }
    try:
        yield origin, other
    finally:
        for httpd in running:
            httpd.shutdown()
            httpd.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _with_credentials(url: str) -> str:
    return url.replace("http://", "http://alice:s3cret@")


SECRETS = ("alice", "s3cret")


# --------------------------------------------------------------------------- the URL


def test_display_url_hides_credentials_and_any_path_or_query() -> None:
    cases = {
        "http://127.0.0.1:8545": "http://127.0.0.1:8545/",
        "http://127.0.0.1:8545/": "http://127.0.0.1:8545/",
        "https://alice:s3cret@node.example/": "https://node.example/",
        "https://node.example/v3/APIKEY": "https://node.example/...",
        "https://node.example/?key=APIKEY": "https://node.example/...",
        "http://[::1]:8332/wallet/w": "http://[::1]:8332/...",
        "HTTP://Node.Example:80/": "http://node.example:80/",
    }
    for url, shown in cases.items():
        endpoint = Endpoint(url, "Test", timeout=1)
        assert endpoint.display_url == shown, url
        assert repr(endpoint) == f"Endpoint({shown!r})"
    endpoint = Endpoint("https://alice:s3cret@node.example/v3/APIKEY?key=Q#frag", "Test", timeout=1)
    assert endpoint.url == "https://node.example/v3/APIKEY?key=Q"  # no credentials, no fragment
    assert endpoint.origin == "https://node.example"


def test_bad_urls_and_timeouts() -> None:
    for url in ("ftp://127.0.0.1/", "127.0.0.1:8545", "http:///x", "file:///etc/passwd"):
        with pytest.raises(ValueError, match=r"^Test URL must be http:// or https:// with a host$"):
            Endpoint(url, "Test", timeout=1)
    with pytest.raises(ValueError, match=r"with a host, e\.g\. http://127\.0\.0\.1:8545$"):
        Endpoint("ftp://x/", "EVM node", timeout=1, example="http://127.0.0.1:8545")
    with pytest.raises(ValueError, match=r"^Test URL has an invalid port$"):
        Endpoint("http://127.0.0.1:99999/", "Test", timeout=1)
    with pytest.raises(ValueError, match=r"^Test URL must be a string$"):
        Endpoint(b"http://x/", "Test", timeout=1)  # type: ignore[arg-type]
    for timeout in (0, -1, True, "5", float("nan")):
        with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
            positive_timeout(timeout)  # type: ignore[arg-type]
    assert positive_timeout(2) == 2.0


# --------------------------------------------------------------------------- credentials


def test_credentials_are_sent_as_basic_auth(servers: tuple[Server, Server]) -> None:
    origin, _ = servers
    endpoint = Endpoint(_with_credentials(origin.url) + "/auth", "Test", timeout=5)
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert endpoint.get(max_bytes=100).body == expected.encode()
    assert endpoint.post(b"{}", max_bytes=100).body == expected.encode()
    # Percent-encoded credentials are sent decoded; a caller's own Authorization wins.
    encoded = Endpoint(origin.url.replace("//", "//al%40ice:p%3As@") + "/auth", "Test", timeout=5)
    assert encoded.get(max_bytes=100).body == b"Basic " + base64.b64encode(b"al@ice:p:s")
    own = encoded.get(headers={"authorization": "Bearer T"}, max_bytes=100)
    assert own.body == b"Bearer T"
    assert Endpoint(origin.url + "/auth", "Test", timeout=5).get(max_bytes=100).body == b"none"


def test_credentials_never_in_messages(servers: tuple[Server, Server]) -> None:
    origin, _ = servers
    port = _free_port()
    failures: list[str] = []
    for url, kwargs in (
        (f"http://alice:s3cret@127.0.0.1:{port}/", {}),  # nothing listens there
        (_with_credentials(origin.url) + "/slow", {"timeout": 0.2}),
        (_with_credentials(origin.url) + "/other-port", {}),
        (_with_credentials(origin.url) + "/ten", {"max_bytes": 5}),
    ):
        endpoint = Endpoint(url, "Test", timeout=kwargs.get("timeout", 5))
        assert not any(secret in endpoint.display_url + repr(endpoint) for secret in SECRETS)
        with pytest.raises(HttpFailure) as caught:
            endpoint.get(max_bytes=int(kwargs.get("max_bytes", 100)))
        failures.append(caught.value.reason)
    assert failures[0].startswith("cannot connect (")
    assert failures[1] == "no answer within 0.2 s"
    assert failures[2].startswith("refused a redirect to ")
    assert failures[3] == "reply is larger than 5 bytes"
    for reason in failures:
        assert not any(secret in reason for secret in SECRETS), reason


# --------------------------------------------------------------------------- redirects


def test_same_origin_redirects_are_followed_for_get(servers: tuple[Server, Server]) -> None:
    origin, _ = servers
    for path in ("/relative", "/absolute", "/default-port"):
        reply = Endpoint(origin.url + path, "Test", timeout=5).get(max_bytes=100)
        assert (reply.status, reply.body) == (200, b"hello"), path
    # The credentials go along within the origin.
    endpoint = Endpoint(_with_credentials(origin.url) + "/to-auth", "Test", timeout=5)
    assert endpoint.get(max_bytes=100).body.startswith(b"Basic ")


@pytest.mark.parametrize(
    ("path", "pointed"),
    [
        ("/other-port", "http://127.0.0.1:{other}/..."),
        ("/other-host", "http://localhost:{origin}/..."),
        ("/other-scheme", "https://127.0.0.1:{origin}/..."),
        ("/file", "file://..."),
        ("/ftp", "ftp://..."),
        ("/other-ip", "http://127.0.0.2:{origin}/..."),
        ("/with-key", "http://127.0.0.1:{other}/..."),
    ],
)
def test_redirects_elsewhere_are_refused(
    servers: tuple[Server, Server], path: str, pointed: str
) -> None:
    origin, other = servers
    before = len(other.seen)
    endpoint = Endpoint(_with_credentials(origin.url) + path, "Test", timeout=5)
    with pytest.raises(HttpFailure) as caught:
        endpoint.get(max_bytes=100)
    where = pointed.format(other=other.port, origin=origin.port)
    assert caught.value.reason == (
        f"refused a redirect to {where}: only redirects within http://127.0.0.1:{origin.port} "
        "are followed"
    )
    assert "THEIR" not in caught.value.reason  # the target's path and query are not shown
    assert len(other.seen) == before, "nothing, and no credentials, went to the other server"


def test_redirect_loops_end(servers: tuple[Server, Server]) -> None:
    origin, _ = servers
    before = len(origin.seen)
    with pytest.raises(HttpFailure, match=f"^more than {MAX_REDIRECTS} redirects$"):
        Endpoint(origin.url + "/loop", "Test", timeout=5).get(max_bytes=100)
    assert len(origin.seen) - before == MAX_REDIRECTS + 1


def test_post_redirects_are_not_followed(servers: tuple[Server, Server]) -> None:
    origin, _ = servers
    before = len(origin.seen)
    reply = Endpoint(origin.url + "/relative", "Test", timeout=5).post(b"{}", max_bytes=100)
    assert (reply.status, reply.reason, reply.body, reply.ok) == (302, "Found", b"moved", False)
    assert [(s.method, s.path) for s in origin.seen[before:]] == [("POST", "/relative")]


def test_get_stays_within_the_origin(servers: tuple[Server, Server]) -> None:
    origin, other = servers
    endpoint = Endpoint(origin.url + "/site/", "Test", timeout=5)
    assert endpoint.get(origin.url + "/hello", max_bytes=100).body == b"hello"
    with pytest.raises(HttpFailure, match=r"^refused to request http://127\.0\.0\.1:\d+/\.\.\."):
        endpoint.get(other.url + "/hello", max_bytes=100)


# --------------------------------------------------------------------------- replies


def test_error_statuses_are_replies(servers: tuple[Server, Server]) -> None:
    origin, _ = servers
    missing = Endpoint(origin.url + "/missing", "Test", timeout=5).get(max_bytes=100)
    assert (missing.status, missing.reason, missing.body, missing.ok) == (
        404,
        "Not Found",
        b"not here",
        False,
    )
    teapot = Endpoint(origin.url + "/teapot", "Test", timeout=5).post(b"", max_bytes=100)
    assert (teapot.status, teapot.body) == (418, b"short and stout")


def test_size_limit(servers: tuple[Server, Server]) -> None:
    origin, _ = servers
    endpoint = Endpoint(origin.url + "/ten", "Test", timeout=5)
    assert endpoint.get(max_bytes=10).body == b"0123456789"
    with pytest.raises(ReplyTooLarge, match=r"^reply is larger than 9 bytes$") as caught:
        endpoint.get(max_bytes=9)
    assert caught.value.limit == 9
    with pytest.raises(ReplyTooLarge):  # whatever the status
        Endpoint(origin.url + "/missing", "Test", timeout=5).get(max_bytes=3)


def test_timeout(servers: tuple[Server, Server]) -> None:
    origin, _ = servers
    began = time.monotonic()
    with pytest.raises(HttpFailure, match=r"^no answer within 0\.2 s$"):
        Endpoint(origin.url + "/slow", "Test", timeout=0.2).post(b"{}", max_bytes=100)
    assert time.monotonic() - began < 0.9


def test_cannot_connect() -> None:
    endpoint = Endpoint(f"http://127.0.0.1:{_free_port()}/", "Test", timeout=2)
    with pytest.raises(HttpFailure, match=r"^cannot connect \(.*refused"):
        endpoint.get(max_bytes=100)


# --------------------------------------------------------------------------- the callers


def test_site_reader_over_http(servers: tuple[Server, Server]) -> None:
    origin, other = servers
    site = SiteReader(_with_credentials(origin.url) + "/site")
    assert site.read("hello") == b"hello"
    assert site.read("moved.json") == b"hello", "a redirect within the site is followed"
    assert site.read("nothing.json") is None
    with pytest.raises(InputError, match=r"/site/broken\.json: HTTP 500$") as caught:
        site.read("broken.json")
    assert not any(secret in str(caught.value) for secret in SECRETS)

    before = len(other.seen)
    with pytest.raises(InputError) as refused:
        site.read("away.json")
    assert str(refused.value) == (
        f"{origin.url}/site/away.json: refused a redirect to {other.url}/...: "
        f"only redirects within {origin.url} are followed"
    )
    assert len(other.seen) == before, "the site reader no longer follows it to the other server"


def test_site_reader_bad_url() -> None:
    with pytest.raises(InputError, match=r"^http:///x: site URL must be http:// or https://"):
        SiteReader("http:///x")


def test_chain_clients_refuse_redirects_elsewhere(servers: tuple[Server, Server]) -> None:
    """POST (JSON-RPC) redirects come back as the HTTP status; Esplora's GET follows a
    redirect within the API's origin and refuses one elsewhere."""
    origin, other = servers
    with pytest.raises(ChainError, match=re.escape("failed: HTTP 302 'Found'")):
        EvmRpc(_with_credentials(origin.url) + "/other-port", timeout=5).chain_id()
    origin.routes["/blocks/tip/height"] = _redirect("/tip")
    origin.routes["/tip"] = lambda seen: (200, {}, b"812345")
    assert Esplora(origin.url, timeout=5).tip_height() == 812345
    origin.routes["/blocks/tip/height"] = _redirect(f"{other.url}/hello")
    before = len(other.seen)
    with pytest.raises(ChainError) as caught:
        Esplora(_with_credentials(origin.url), timeout=5).tip_height()
    assert str(caught.value) == (
        f"GET /blocks/tip/height from Esplora API {origin.url}/ failed: refused a redirect to "
        f"{other.url}/...: only redirects within {origin.url} are followed"
    )
    assert len(other.seen) == before


# --------------------------------------------------------------------------- a hostile host

MIB = 1024 * 1024
HUGE = 300 * MIB  # what the hostile host sends: more than any file's limit, by far
Behaviour = Callable[[socket.socket], None]


@dataclass
class Hostile:
    """A raw HTTP server: `routes` (path -> what it does to the connection), else `default`."""

    routes: dict[str, Behaviour] = field(default_factory=dict)
    default: Behaviour | None = None
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)  # body bytes sent by each streamed reply
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _hostile_server(hostile: Hostile) -> socketserver.ThreadingTCPServer:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                head += chunk
            lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            hostile.requests.append((path, {k.lower(): v for k, v in headers.items()}))
            behaviour = hostile.routes.get(path, hostile.default) or _status(404, b"no")
            with contextlib.suppress(OSError):  # the client hung up: what it should do
                behaviour(self.request)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    hostile.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    host = Hostile()
    server = _hostile_server(host)
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()


def _status(status: int, body: bytes, headers: str = "", length: bool = True) -> Behaviour:
    def behave(conn: socket.socket) -> None:
        size = f"Content-Length: {len(body)}\r\n" if length else ""
        conn.sendall(f"HTTP/1.1 {status} X\r\n{headers}{size}Connection: close\r\n\r\n".encode())
        conn.sendall(body)

    return behave


def _drip(head: bytes, every: float = 0.5, count: int = 1000) -> Behaviour:
    """`head`, then one byte every `every` seconds: each read gets something in time."""

    def behave(conn: socket.socket) -> None:
        conn.sendall(head)
        for _ in range(count):
            time.sleep(every)
            conn.sendall(b"x")

    return behave


DRIP_BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
DRIP_HEAD = b"HTTP/1.1 200 OK\r\nX-Slow: "


def _stream(
    hostile: Hostile, framing: str, size: int = HUGE, declared: int | None = None
) -> Behaviour:
    """`size` bytes of body, framed "length" (Content-Length: `declared`, default the
    true size), "close" (no length: the body ends when the connection does) or "chunked"."""

    def behave(conn: socket.socket) -> None:
        head = "HTTP/1.1 200 OK\r\nConnection: close\r\n"
        if framing == "length":
            head += f"Content-Length: {size if declared is None else declared}\r\n"
        elif framing == "chunked":
            head += "Transfer-Encoding: chunked\r\n"
        conn.sendall((head + "\r\n").encode())
        block = b"\0" * (256 * 1024)
        sent = 0
        hostile.sent.append(0)
        try:
            while sent < size:
                part = block[: size - sent]
                conn.sendall(b"%x\r\n%s\r\n" % (len(part), part) if framing == "chunked" else part)
                sent += len(part)
                hostile.sent[-1] = sent
            if framing == "chunked":
                conn.sendall(b"0\r\n\r\n")
        finally:
            hostile.sent[-1] = sent

    return behave


def _hang_after(head: bytes, seconds: float = 10) -> Behaviour:
    def behave(conn: socket.socket) -> None:
        conn.sendall(head)
        time.sleep(seconds)

    return behave


def _gzip_bomb() -> bytes:
    """1 GiB of zeros as a gzip stream of ~1 MiB: 1024 members of 1 MiB each."""
    member = gzip.compress(b"\0" * MIB, compresslevel=9)
    return member * 1024


def _ends_within(seconds: float, began: float) -> None:
    took = time.monotonic() - began
    assert took < seconds + 1.5, f"took {took:.1f} s, the deadline was {seconds} s"


# -- the client


def test_a_dripping_body_ends_at_the_request_deadline(hostile: Hostile) -> None:
    """One byte every 0.5 s: no single read ever waits 2 s, yet the request ends at 2 s."""
    hostile.routes["/drip"] = _drip(DRIP_BODY)
    began = time.monotonic()
    with pytest.raises(HttpFailure, match=r"^no complete reply within 2 s$"):
        Endpoint(hostile.url + "/drip", "Test", timeout=2).get(max_bytes=10_000)
    assert time.monotonic() - began >= 2 - 0.1
    _ends_within(2, began)


def test_dripping_headers_end_at_the_request_deadline(hostile: Hostile) -> None:
    hostile.routes["/drip"] = _drip(DRIP_HEAD)
    began = time.monotonic()
    with pytest.raises(HttpFailure, match=r"^no answer within 2 s$"):
        Endpoint(hostile.url + "/drip", "Test", timeout=2).post(b"{}", max_bytes=10_000)
    _ends_within(2, began)


def test_the_deadline_covers_redirects(hostile: Hostile) -> None:
    """Each hop answers in 0.6 s; five of them do not fit in 2 s."""

    def slow_hop(conn: socket.socket) -> None:
        time.sleep(0.6)
        _status(302, b"", "Location: /hop\r\n")(conn)

    hostile.routes["/hop"] = slow_hop
    began = time.monotonic()
    with pytest.raises(HttpFailure, match=r"^no answer within 2 s$"):
        Endpoint(hostile.url + "/hop", "Test", timeout=2).get(max_bytes=100)
    _ends_within(2, began)


@pytest.mark.parametrize("framing", ["length", "close", "chunked"])
def test_a_huge_reply_is_refused_as_soon_as_it_passes_the_limit(
    hostile: Hostile, framing: str
) -> None:
    """300 MiB, with a true Content-Length (refused before reading), without one, or
    chunked: refused at 1 MiB, long before the host has sent it all."""
    hostile.routes["/huge"] = _stream(hostile, framing)
    began = time.monotonic()
    with pytest.raises(ReplyTooLarge, match=r"^reply is larger than 1048576 bytes$"):
        Endpoint(hostile.url + "/huge", "Test", timeout=30).get(max_bytes=MIB)
    _ends_within(5, began)
    time.sleep(0.2)  # the host notices the client has gone
    # 1 MiB read, and at most what the kernel's buffers hold (up to ~36 MiB on Linux).
    assert hostile.sent[-1] < HUGE // 4, "the client stopped reading long before the end"


def test_a_content_length_that_lies(hostile: Hostile) -> None:
    # Less than is sent: the reply is what the length says; the rest is never read.
    hostile.routes["/low"] = _stream(hostile, "length", size=HUGE, declared=10)
    assert Endpoint(hostile.url + "/low", "Test", timeout=5).get(max_bytes=100).body == b"\0" * 10
    # More than is sent, then the connection closes: the reply is incomplete.
    hostile.routes["/high"] = _stream(hostile, "length", size=10, declared=1000)
    with pytest.raises(HttpFailure, match=r"^the reply ended after 10 of its 1000 bytes$"):
        Endpoint(hostile.url + "/high", "Test", timeout=5).get(max_bytes=10_000)
    # More than is sent, and the connection stays open: the deadline ends it.
    hostile.routes["/hang"] = _hang_after(DRIP_BODY + b"0123456789")
    began = time.monotonic()
    with pytest.raises(HttpFailure, match=r"^no complete reply within 1 s$"):
        Endpoint(hostile.url + "/hang", "Test", timeout=1).get(max_bytes=10_000)
    _ends_within(1, began)
    # Small, but declared larger than allowed: refused before reading the body.
    hostile.routes["/declared"] = _hang_after(b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n")
    began = time.monotonic()
    with pytest.raises(ReplyTooLarge):
        Endpoint(hostile.url + "/declared", "Test", timeout=5).get(max_bytes=1000)
    _ends_within(0, began)


def test_a_gzip_bomb_is_refused_undecompressed(hostile: Hostile) -> None:
    bomb = _gzip_bomb()
    assert len(bomb) < 2 * MIB
    for encoding in ("gzip", "deflate", "br", "x-anything"):
        hostile.routes["/bomb"] = _status(200, bomb, f"Content-Encoding: {encoding}\r\n")
        began = time.monotonic()
        with pytest.raises(HttpFailure) as caught:
            # A caller's own Accept-Encoding does not change what is asked for.
            Endpoint(hostile.url + "/bomb", "Test", timeout=5).get(
                max_bytes=100 * MIB, headers={"Accept-Encoding": "gzip"}
            )
        assert caught.value.reason == (
            f"the reply is '{encoding}'-encoded; only unencoded replies are accepted"
        )
        _ends_within(0, began)
    assert {h.get("accept-encoding") for _, h in hostile.requests} == {"identity"}
    hostile.routes["/plain"] = _status(200, b"plain", "Content-Encoding: identity\r\n")
    assert Endpoint(hostile.url + "/plain", "Test", timeout=5).get(max_bytes=100).body == b"plain"


def test_the_run_deadline_covers_many_small_slow_requests(hostile: Hostile) -> None:
    """Each file takes 0.3 s, well within the 30 s a request may take; the run has 1.5 s."""

    def slow(conn: socket.socket) -> None:
        time.sleep(0.3)
        _status(200, b"small")(conn)

    hostile.default = slow
    site = SiteReader(hostile.url)
    done = 0
    began = time.monotonic()
    with deadlines(run=1.5), pytest.raises(InputError) as caught:
        for done in range(100):
            assert site.read(f"log/checkpoints/{done + 1}.json") == b"small"
    _ends_within(1.5, began)
    assert 2 <= done <= 5, f"{done} files were read before the run's time was over"
    assert re.fullmatch(
        rf"{hostile.url}/log/checkpoints/{done + 1}\.json: "
        r"(no answer|no complete reply) within the 1\.5 s allowed for the whole run",
        str(caught.value),
    ), str(caught.value)
    # Once over, nothing more is requested; the next run starts afresh.
    count = len(hostile.requests)
    with deadlines(run=0.01):
        time.sleep(0.05)
        with pytest.raises(HttpFailure, match=r"^not requested: the 0\.01 s allowed for the whole"):
            Endpoint(hostile.url + "/x", "Test", timeout=5).get(max_bytes=100)
    assert len(hostile.requests) == count
    assert site.read("log/checkpoints/1.json") == b"small"


def test_the_run_can_set_every_request_deadline(hostile: Hostile) -> None:
    hostile.default = _drip(DRIP_BODY)
    began = time.monotonic()
    with deadlines(request=1), pytest.raises(HttpFailure, match=r"^no complete reply within 1 s$"):
        Endpoint(hostile.url + "/drip", "Test", timeout=60).get(max_bytes=10_000)
    _ends_within(1, began)
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="positive number of seconds"), deadlines(run=bad):
            pass


# -- the site reader: a limit for each kind of file


def test_each_kind_of_file_has_its_limit() -> None:
    kinds = {
        "attestation.json": ("an attestation", 32 * MIB),
        "epochs/2026-10/attestation.json": ("an attestation", 32 * MIB),
        "log/attestations/3.json": ("an attestation", 32 * MIB),
        "attestation.json.sig": ("a signature", 1024),
        "auditors/ab/auditor.json.sig": ("a signature", 1024),
        "custodian.pub.pem": ("a public key", 4096),
        "manifest.json": ("a manifest", 32 * MIB),
        "proofs/0a3.bin": ("a proof shard", 64 * MIB),
        "epochs/2026-10/proofs/all.bin": ("a proof shard", 64 * MIB),
        "log/entries.json": ("the log's entries", 16 * MIB),
        "log/checkpoint.json": ("a checkpoint", MIB),
        "log/checkpoints/7.json": ("a checkpoint", MIB),
        "log/inclusion/7.json": ("a log proof", MIB),
        "log/consistency/7.json": ("a log proof", MIB),
        "auditors/index.json": ("the auditors' index", MIB),
        "auditors/ab/statement.txt": ("an auditor's statement", MIB),
        "auditors/ab/auditor.json": ("an auditor's document", MIB),
        "reserves.html": ("a page", 64 * MIB),
        "assets/porverify.js": ("a site asset", 4 * MIB),
        "something-else.txt": ("a file", 16 * MIB),
    }
    for relative, expected in kinds.items():
        assert layout.fetch_limit(relative) == expected, relative
    assert [size_text(n) for n in (64, 1024, 1536, 16 * MIB)] == [
        "64 bytes",
        "1 KiB",
        "1536 bytes",
        "16 MiB",
    ]
    # Every limit leaves room above the protocol's own bounds (a verdict is never a limit's).
    assert layout.fetch_limit("x/statement.txt")[1] == 16 * MIB  # only in auditors/<fp>/
    assert layout.fetch_limit("auditors/ab/statement.txt")[1] > 64 * 1024


def test_a_folder_file_over_its_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "attestation.json.sig").write_bytes(b"s" * 1025)
    (tmp_path / "custodian.pub.pem").write_bytes(b"k" * 4096)
    site = SiteReader(str(tmp_path))
    assert site.read("custodian.pub.pem") == b"k" * 4096
    with pytest.raises(InputError) as caught:
        site.read("attestation.json.sig")
    assert str(caught.value) == (
        f"{tmp_path / 'attestation.json.sig'}: larger than the 1 KiB allowed for a signature"
    )


def test_the_site_reader_names_the_url_and_what_happened(hostile: Hostile) -> None:
    hostile.routes["/proofs/ab.bin"] = _stream(hostile, "chunked")
    hostile.routes["/attestation.json"] = _drip(DRIP_BODY)
    hostile.routes["/manifest.json"] = _status(302, b"", "Location: ftp://127.0.0.1/m\r\n")
    hostile.routes["/log/entries.json"] = _status(200, b"x", "Content-Encoding: gzip\r\n")
    site = SiteReader(hostile.url + "/")
    cases = {
        "proofs/ab.bin": "larger than the 64 MiB allowed for a proof shard",
        "attestation.json": "no complete reply within 2 s",
        "manifest.json": f"refused a redirect to ftp://...: only redirects within {hostile.url} "
        "are followed",
        "log/entries.json": "the reply is 'gzip'-encoded; only unencoded replies are accepted",
    }
    for relative, what in cases.items():
        began = time.monotonic()
        with deadlines(request=2), pytest.raises(InputError) as caught:
            site.read(relative)
        assert str(caught.value) == f"{hostile.url}/{relative}: {what}"
        _ends_within(2, began)


# -- the command line


def _cli(*args: str) -> Any:
    return CliRunner(env={"PORSEGREGATE_CODE": "X"}).invoke(
        main, list(args), catch_exceptions=False
    )


def _verify(url: str, *options: str) -> list[str]:
    return ["verify", "--site", url, "--account", "alice", *options]


def test_cli_defaults_and_help() -> None:
    assert (REQUEST_DEADLINE, VERIFY_DEADLINE, AUDIT_DEADLINE) == (30, 300, 1800)
    for command, default in (("verify", "300.0"), ("audit", "1800.0")):
        shown = " ".join(_cli(command, "--help").output.split())
        assert "--timeout SECONDS" in shown and "[default: 30.0;" in shown
        assert "--deadline SECONDS" in shown and f"[default: {default};" in shown
    result = _cli(*_verify("http://127.0.0.1:9/", "--timeout", "0"))
    assert result.exit_code == 2 and "--timeout" in result.output


@pytest.mark.parametrize("command", ["verify", "audit"])
def test_cli_drip_exit_3_within_the_deadline(hostile: Hostile, command: str) -> None:
    hostile.default = _drip(DRIP_BODY)
    args = _verify(hostile.url + "/") if command == "verify" else ["audit", hostile.url + "/"]
    began = time.monotonic()
    result = _cli(*args, "--timeout", "2")
    _ends_within(2, began)
    assert result.exit_code == 3, result.output
    assert re.fullmatch(
        rf"error: {hostile.url}/[a-z./]+: no complete reply within 2 s\n", result.stderr
    ), result.stderr


@pytest.mark.parametrize("command", ["verify", "audit"])
def test_cli_run_deadline_exit_3(hostile: Hostile, command: str) -> None:
    """Every file answers in 0.4 s; the run may take 1 s: it ends after two or three."""

    def slow(conn: socket.socket) -> None:
        time.sleep(0.4)
        _status(200, b"whatever")(conn)

    hostile.default = slow
    args = _verify(hostile.url + "/") if command == "verify" else ["audit", hostile.url + "/"]
    began = time.monotonic()
    result = _cli(*args, "--deadline", "1")
    _ends_within(1, began)
    assert result.exit_code == 3, result.output
    assert re.fullmatch(
        rf"error: {hostile.url}/[a-z./]+: (no answer|no complete reply) within the 1 s "
        r"allowed for the whole run\n",
        result.stderr,
    ), result.stderr


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("huge", "larger than the 32 MiB allowed for an attestation"),
        ("ftp", "refused a redirect to ftp://...: only redirects within {url} are followed"),
        (
            "other-host",
            "refused a redirect to http://localhost:{port}/...: only redirects "
            "within {url} are followed",
        ),
        ("gzip", "the reply is 'gzip'-encoded; only unencoded replies are accepted"),
    ],
)
def test_cli_verify_hostile_replies_exit_3(hostile: Hostile, behaviour: str, message: str) -> None:
    hostile.routes["/attestation.json"] = {
        "huge": _stream(hostile, "chunked"),
        "ftp": _status(301, b"", "Location: ftp://127.0.0.1/attestation.json\r\n"),
        "other-host": _status(
            307, b"", f"Location: http://localhost:{hostile.port}/attestation.json\r\n"
        ),
        "gzip": _status(200, _gzip_bomb(), "Content-Encoding: gzip\r\n"),
    }[behaviour]
    result = _cli(*_verify(hostile.url + "/"))
    assert result.exit_code == 3, result.output
    expected = message.format(url=hostile.url, port=hostile.port)
    assert result.stderr == f"error: {hostile.url}/attestation.json: {expected}\n"
    assert [path for path, _ in hostile.requests] == ["/attestation.json"]


def test_cli_audit_refuses_a_gzip_bomb(hostile: Hostile) -> None:
    hostile.default = _status(200, _gzip_bomb(), "Content-Encoding: gzip\r\n")
    result = _cli("audit", hostile.url + "/")
    assert result.exit_code == 3, result.output
    assert result.stderr.endswith(
        ": the reply is 'gzip'-encoded; only unencoded replies are accepted\n"
    )


# A real process: the command line's own entry point, reporting its peak memory.
_MEASURED = """
import resource, sys
from porsegregate.cli import run
try:
    sys.argv = ["porsegregate", *sys.argv[1:]]
    run()
except SystemExit as exc:
    code = exc.code
print(f"maxrss-kib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
sys.exit(code)
"""


def _subprocess(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    src = str(Path(__file__).parent.parent / "src")
    env = {**os.environ, "PYTHONPATH": src, "PORSEGREGATE_CODE": "X"}
    return subprocess.run(
        [sys.executable, "-c", _MEASURED, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_subprocess_huge_reply_memory_stays_far_below_the_reply(hostile: Hostile) -> None:
    """300 MiB, chunked (no length to refuse up front): what it adds to the process's peak
    memory stays far below it (the attestation's limit is 32 MiB; before, a site's file
    was read up to 256 MiB, and a 300 MiB reply added over 400 MiB)."""
    # The baseline, measured in the same run: the same command given a 1 KiB reply (an
    # interpreter's peak varies with what ran before it; what the reply adds does not).
    hostile.routes["/attestation.json"] = _stream(hostile, "chunked", size=1024)
    small = _subprocess(*_verify(hostile.url + "/"), timeout=120)
    base = int(re.search(r"maxrss-kib (\d+)", small.stderr).group(1)) * 1024  # type: ignore[union-attr]
    hostile.routes["/attestation.json"] = _stream(hostile, "chunked")
    done = _subprocess(*_verify(hostile.url + "/"), timeout=120)
    assert done.returncode == 3, done.stderr
    assert (
        f"error: {hostile.url}/attestation.json: larger than the 32 MiB allowed for an "
        "attestation\n"
    ) in done.stderr
    peak = int(re.search(r"maxrss-kib (\d+)", done.stderr).group(1)) * 1024  # type: ignore[union-attr]
    grown = peak - base
    assert grown < 64 * MIB, f"a {HUGE // MIB} MiB reply added {grown // MIB} MiB to the peak"
    # 32 MiB read, and at most what the kernel's buffers hold (up to ~36 MiB on Linux).
    assert hostile.sent[-1] < HUGE // 2


def test_subprocess_audit_drip_ends_at_the_deadline(hostile: Hostile) -> None:
    hostile.default = _drip(DRIP_BODY)
    began = time.monotonic()
    done = _subprocess("audit", hostile.url + "/", "--timeout", "2", timeout=60)
    assert done.returncode == 3, done.stderr
    assert re.search(
        rf"^error: {hostile.url}/[a-z./]+: no complete reply within 2 s$", done.stderr, re.M
    ), done.stderr
    _ends_within(2 + 5, began)  # the interpreter's start-up included
