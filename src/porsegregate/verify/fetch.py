"""Reading a published site, from a folder or an http(s) URL, for the verifiers."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from .._http import Endpoint, HttpFailure, ReplyTooLarge
from ..errors import InputError

MAX_FETCH = 256 * 1024 * 1024
FETCH_TIMEOUT = 30


class SiteReader:
    """Reads files of a published site from a folder or an http(s) URL.

    Over http(s), a redirect is followed only within the site's origin (scheme,
    host and port); one to anywhere else is refused, as is any other transport
    failure, with an InputError naming the file's URL (never the URL's credentials).
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
            self._site = Endpoint(self.location, "site", timeout=FETCH_TIMEOUT)
        except ValueError as exc:
            raise InputError(f"{location}: {exc}") from exc

    def read(self, relative: str) -> bytes | None:
        """The file's bytes, or None if the site does not have it."""
        if self._site is not None:
            return self._fetch(self._site, relative)
        path = self.root / relative
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
        if len(data) > MAX_FETCH:
            raise InputError(f"{relative}: larger than {MAX_FETCH} bytes")
        return data

    @staticmethod
    def _fetch(site: Endpoint, relative: str) -> bytes | None:
        url = urllib.parse.urljoin(site.url, relative)
        try:
            reply = site.get(url, max_bytes=MAX_FETCH)
        except ReplyTooLarge as exc:
            raise InputError(f"{relative}: larger than {MAX_FETCH} bytes") from exc
        except HttpFailure as exc:
            raise InputError(f"{url}: cannot fetch ({exc.reason})") from exc
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
