"""The one HTTP client (porsegregate._http), against real local servers.

Two servers run in threads: the origin, and another one that a redirect may
point to. The other server records every request it gets, so a test can show
that nothing (above all no credentials) was sent there.
"""

from __future__ import annotations

import base64
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from porsegregate._http import (
    MAX_REDIRECTS,
    Endpoint,
    HttpFailure,
    ReplyTooLarge,
    positive_timeout,
)
from porsegregate.chains.bitcoin import Esplora
from porsegregate.chains.evm import EvmRpc
from porsegregate.errors import ChainError, InputError
from porsegregate.verify.fetch import SiteReader

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
