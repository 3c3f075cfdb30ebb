"""`porsegregate serve`: a local preview of a published site, sending the headers a host should."""

from __future__ import annotations

import functools
import http.server
from pathlib import Path
from typing import Any

from .errors import InputError

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - the base class declares it as a plain dict
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".json": "application/json",
        ".bin": "application/octet-stream",
        ".sig": "application/octet-stream",
        ".pem": "application/x-pem-file",
    }

    def end_headers(self) -> None:
        for name, value in HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_server(
    directory: Path, host: str = "127.0.0.1", port: int = 8000
) -> http.server.HTTPServer:
    if not (directory / "index.html").is_file():
        raise InputError(f"{directory}: not a published site (no index.html)")
    handler = functools.partial(_Handler, directory=str(directory))
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
