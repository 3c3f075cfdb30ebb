"""Reading a published site, from a folder or an http(s) URL, for the verifiers."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import InputError

MAX_FETCH = 256 * 1024 * 1024
FETCH_TIMEOUT = 30


class SiteReader:
    """Reads files of a published site from a folder or an http(s) URL."""

    def __init__(self, location: str) -> None:
        self.location = location
        parsed = urllib.parse.urlparse(location)
        self.is_url = parsed.scheme in ("http", "https")
        if not self.is_url:
            if parsed.scheme not in ("", "file"):
                raise InputError(f"{location}: only folders and http(s) URLs can be verified")
            self.root = Path(parsed.path if parsed.scheme == "file" else location)
            if not self.root.is_dir():
                raise InputError(f"{location}: no such site folder")
        elif not location.endswith("/"):
            self.location = location + "/"

    def read(self, relative: str) -> bytes | None:
        """The file's bytes, or None if the site does not have it."""
        if self.is_url:
            url = urllib.parse.urljoin(self.location, relative)
            try:
                with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
                    data: bytes = response.read(MAX_FETCH + 1)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                raise InputError(f"{url}: HTTP {exc.code}") from exc
            except (urllib.error.URLError, OSError) as exc:
                raise InputError(f"{url}: cannot fetch ({exc})") from exc
        else:
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

    def need(self, relative: str) -> bytes:
        data = self.read(relative)
        if data is None:
            raise InputError(
                f"{self.location}: {relative} is missing; is this a porsegregate site?"
            )
        return data
