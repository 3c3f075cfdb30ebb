"""Reading a published site, from a folder or an http(s) URL, for the verifiers.

What a host can do to a verifier is bounded (docs/protocol.md, "Fetching a site
over HTTP"): each file may be at most as large as `layout.FETCH_LIMITS` allows
for its kind (checked before and while reading; nothing larger is held in
memory); each request has `REQUEST_DEADLINE` seconds in all, however slowly the
host sends; a redirect is followed only within the site's origin; only
unencoded replies are accepted. A whole verify or audit has a deadline too
(`VERIFY_DEADLINE`, `AUDIT_DEADLINE`), which the command line sets around the
run with `_http.deadlines`.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from .._http import Endpoint, HttpFailure, ReplyTooLarge
from ..errors import InputError
from ..protocol import layout

REQUEST_DEADLINE = 30.0  # seconds for one file, redirects included
VERIFY_DEADLINE = 300.0  # seconds for all the files one `verify` reads
AUDIT_DEADLINE = 1800.0  # an audit reads every file of every epoch: every shard included


def size_text(limit: int) -> str:
    """A limit in bytes as people read it: "16 MiB", "64 KiB", "100 bytes"."""
    for unit, size in (("MiB", layout.MIB), ("KiB", layout.KIB)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} bytes"


class SiteReader:
    """Reads files of a published site from a folder or an http(s) URL.

    Over http(s), a redirect is followed only within the site's origin (scheme,
    host and port); one to anywhere else is refused, as is any other transport
    failure, with an InputError naming the file's URL (never the URL's credentials).
    A file larger than its kind's limit is refused, from a folder as from a URL.
    """

    def __init__(self, location: str) -> None:
        self.location = location
        self._site: Endpoint | None = None
        parsed = urllib.parse.urlparse(location)
        self.is_url = parsed.scheme in ("http", "https")
        if not self.is_url:
            if parsed.scheme not in ("", "file"):
                raise InputError(f"{location}: only folders and http(s) URLs can be verified")
            self.root = Path(parsed.path if parsed.scheme == "file" else location)
            if not self.root.is_dir():
                raise InputError(f"{location}: no such site folder")
            return
        if not location.endswith("/"):
            self.location = location + "/"
        try:
            self._site = Endpoint(self.location, "site", timeout=REQUEST_DEADLINE)
        except ValueError as exc:
            raise InputError(f"{location}: {exc}") from exc

    def read(self, relative: str) -> bytes | None:
        """The file's bytes, or None if the site does not have it."""
        what, limit = layout.fetch_limit(relative)
        if self._site is not None:
            return self._fetch(self._site, relative, what, limit)
        path = self.root / relative
        try:
            with path.open("rb") as file:
                data = file.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
        if len(data) > limit:
            raise InputError(f"{path}: larger than the {size_text(limit)} allowed for {what}")
        return data

    @staticmethod
    def _fetch(site: Endpoint, relative: str, what: str, limit: int) -> bytes | None:
        url = urllib.parse.urljoin(site.url, relative)
        try:
            reply = site.get(url, max_bytes=limit)
        except ReplyTooLarge as exc:
            raise InputError(
                f"{url}: larger than the {size_text(limit)} allowed for {what}"
            ) from exc
        except HttpFailure as exc:
            raise InputError(f"{url}: {exc.reason}") from exc
        if reply.status == 404:
            return None
        if not reply.ok:
            raise InputError(f"{url}: HTTP {reply.status}")
        return reply.body

    def need(self, relative: str) -> bytes:
        data = self.read(relative)
        if data is None:
            where = self._site.url if self._site is not None else self.location
            raise InputError(f"{where}: {relative} is missing; is this a porsegregate site?")
        return data
