"""A lying node: a JSON-RPC proxy in front of a real node that edits chosen replies.

Threat T15: `source: chain` and the snapshot block are the custodian's own claim,
because it chooses the node it reads. A custodian that publishes through this
proxy signs whatever the proxy says (a larger balance, another block hash,
another chain id) and every other check of its site still holds; only reading
the same chain again from an honest node (`audit --rpc`, `verify --rpc`,
`cosign --rpc`) tells. Everything else is forwarded to the real node unchanged,
with the caller's Authorization header (so a URL with user:password works).

    with LyingNode(anvil.url, edit) as node:   # edit(method, params, result) -> result
        publish(..., rpc_urls={"ethereum": node.url})
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Edit = Callable[[str, list[Any], Any], Any]


class LyingNode:
    def __init__(self, upstream: str, edit: Edit) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.credentials = f"{parts.username}:{parts.password}@" if parts.username else ""
        self.upstream = urllib.parse.urlunsplit(
            (parts.scheme, f"{parts.hostname}:{parts.port}", parts.path or "/", "", "")
        )
        self.edit = edit
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {"Content-Type": "application/json"}
                if self.headers.get("Authorization"):
                    headers["Authorization"] = self.headers["Authorization"]
                request = urllib.request.Request(proxy.upstream, body, headers)
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        raw, status = response.read(), response.status
                except urllib.error.HTTPError as exc:  # bitcoind answers RPC errors with 500
                    raw, status = exc.read(), exc.code
                    exc.close()
                # Bitcoin Core's amounts are JSON numbers with 8 decimals; a float keeps them
                # exactly as written for the small amounts of the tests.
                reply = json.loads(raw, parse_float=float)
                call = json.loads(body)
                if isinstance(reply, dict) and reply.get("result") is not None:
                    reply["result"] = proxy.edit(
                        call["method"], call.get("params") or [], reply["result"]
                    )
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.credentials}127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self) -> LyingNode:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
