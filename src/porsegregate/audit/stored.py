"""The files of the site under audit, each stored file read and hashed once.

A published site stores the newest epoch twice, at its root and in its home
`epochs/<id>/`, and `publish` makes the two hard links of the same files. The
audit checks both folders; on a local site a stored file is known by its
identity (device, inode, size, modification time in ns): read and hashed once
however many names it has, and what is computed from its bytes alone (a proof
shard's parse and checks) is computed once per identity and question. Only
files with more than one name are remembered (one with a single name is met
once), so memory grows with the newest epoch, not with the history. A file
changed during the audit changes its size or modification time, so it is read
again. Over http(s) there are no identities: every name is fetched (small files
once per name, as before).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Hashable
from typing import TypeVar

from .. import _crypto
from ..errors import InputError
from ..protocol import layout
from ..verify.fetch import SiteReader

T = TypeVar("T")
Identity = tuple[int, int, int, int]


def is_shard(relative: str) -> bool:
    """A proof shard (of the root or an epoch's home): read when needed, never kept."""
    return f"/{layout.PROOFS}/" in f"/{relative}"


class StoredFile:
    """One stored file: its SHA-256 and the answers already computed from its bytes."""

    def __init__(
        self, files: StoredFiles, relative: str, sha256: str, identity: Identity | None
    ) -> None:
        self._files = files
        self._relative = relative
        self.sha256 = sha256
        self.identity = identity
        self._answers: dict[Hashable, object] = {}

    def once(self, question: Hashable, compute: Callable[[bytes], T]) -> T:
        """compute(the file's bytes), computed once for this stored file and `question`.

        `question` must name everything `compute` depends on besides the bytes (the
        file's name when the answer mentions it, the signed layout it is checked against).
        """
        if question not in self._answers:
            data = self._files.bytes_of(self, self._relative)
            self._answers[question] = compute(data)
        return self._answers[question]  # type: ignore[return-value]


class StoredFiles:
    """Reads a site's files for the audit; `reads` counts the files actually read."""

    def __init__(self, site: SiteReader) -> None:
        self.site = site
        self.reads = 0
        self._by_name: dict[str, bytes | None] = {}  # small files of a URL site
        self._kept: dict[Identity, bytes] = {}  # small files of a local site
        self._stored: dict[Identity, StoredFile] = {}
        self._last: tuple[StoredFile, bytes] | None = None  # the one shard read last

    def identity(self, relative: str) -> Identity | None:
        """(device, inode, size, mtime_ns) of a local file; None for a URL or a missing file."""
        found = self._stat(relative)
        return None if found is None else found[0]

    def _stat(self, relative: str) -> tuple[Identity, int] | None:
        """The file's identity and its number of names (hard links)."""
        if self.site.is_url:
            return None
        try:
            st = os.stat(self.site.root / relative)
        except OSError:
            return None  # missing, or the read says what is wrong
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), st.st_nlink

    def _read(self, relative: str) -> bytes | None:
        self.reads += 1
        return self.site.read(relative)

    def read(self, relative: str) -> bytes | None:
        """A file of the site; small files are kept, proof shards are read when needed."""
        keep = not is_shard(relative)
        if self.site.is_url:
            if relative in self._by_name:
                return self._by_name[relative]
            data = self._read(relative)
            if keep:
                self._by_name[relative] = data
            return data
        identity = self.identity(relative)
        if identity is not None and identity in self._kept:
            return self._kept[identity]
        data = self._read(relative)
        if keep and identity is not None and data is not None:
            self._kept[identity] = data
        return data

    def need(self, relative: str) -> bytes:
        """A file the site must have; InputError (as SiteReader.need says it) when it has not."""
        data = self.read(relative)
        return self.site.need(relative) if data is None else data

    def stored(self, relative: str) -> StoredFile | None:
        """The file's hash (and its answers), read and hashed once per stored file; None when
        the site does not have it."""
        stat = self._stat(relative)
        identity = None if stat is None else stat[0]
        if identity is not None and identity in self._stored:
            return self._stored[identity]
        data = self.read(relative)
        if data is None:
            return None
        found = StoredFile(self, relative, _crypto.sha256_hex(data), identity)
        if stat is not None and stat[1] > 1:  # a file with one name is met once: not kept
            self._stored[stat[0]] = found
        self._last = (found, data)
        return found

    def bytes_of(self, found: StoredFile, relative: str) -> bytes:
        """The bytes `found` was hashed from: still in hand after `stored`, else read again
        (only when a new question comes later): the same stored file (identity) on a local
        site, else checked against its hash."""
        if self._last is not None and self._last[0] is found:
            return self._last[1]
        data = self.read(relative) or b""
        if found.identity is not None:
            same = self.identity(relative) == found.identity
        else:
            same = _crypto.sha256_hex(data) == found.sha256
        if not same:
            # Changed during the audit: the answer must be about the bytes that were hashed.
            raise InputError(
                f"{relative}: changed while the audit read it (audit a copy nobody writes to)"
            )
        self._last = (found, data)
        return data


class FolderReader(SiteReader):
    """One folder of the audited site (an epoch's home) as a reader of its own, reading
    through the audit's files: what the verifier's modules read there is read once too."""

    def __init__(self, files: StoredFiles, prefix: str) -> None:
        site = files.site
        self.location = urllib.parse.urljoin(site.location, prefix) if site.is_url else ""
        self.is_url = site.is_url
        if not site.is_url:
            self.root = site.root / prefix
            self.location = str(self.root)
        self._files = files
        self._prefix = prefix

    def read(self, relative: str) -> bytes | None:
        return self._files.read(self._prefix + relative)
