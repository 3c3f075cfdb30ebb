"""`audit` reads and hashes each stored file once: the newest epoch's root and home are hard
links of the same files, and a file with two names is still one file (audit/stored.py)."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from porsegregate.audit import audit_site
from porsegregate.audit.stored import StoredFiles
from porsegregate.errors import InputError
from porsegregate.protocol import layout
from porsegregate.protocol.serialization import parse_manifest
from porsegregate.verify.fetch import SiteReader

from .support import history as h


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> h.History:
    return h.build_history(tmp_path_factory.mktemp("reads") / "demo")


def linked_copy(history: h.History, destination: Path) -> Path:
    """The site copied as a host keeps it, hard links included (shutil.copytree breaks them)."""
    subprocess.run(["cp", "-a", str(history.site), str(destination)], check=True)
    return destination


def count_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[int, int]]:
    """Every file the audit reads, by (device, inode)."""
    reads: Counter[tuple[int, int]] = Counter()
    original = SiteReader.read

    def read(self: SiteReader, relative: str) -> bytes | None:
        data = original(self, relative)
        if data is not None:
            st = os.stat(self.root / relative)
            reads[st.st_dev, st.st_ino] += 1
        return data

    monkeypatch.setattr(SiteReader, "read", read)
    return reads


def manifest_names(site: Path) -> list[str]:
    """Every file the root's and the epochs' manifests list, as paths from the site's root."""
    prefixes = ["", *(f"{layout.EPOCHS}/{e.name}/" for e in (site / layout.EPOCHS).iterdir())]
    names = []
    for p in prefixes:
        manifest = parse_manifest((site / p / layout.MANIFEST).read_bytes())
        names += [p + name for name in manifest.files]
    return names


def test_each_stored_file_is_read_once(clean: h.History, monkeypatch: pytest.MonkeyPatch) -> None:
    names = manifest_names(clean.site)
    inodes = {os.stat(clean.site / n).st_ino for n in names}
    shards = {f.stat().st_ino for f in (clean.site / layout.PROOFS).iterdir()}
    assert len(inodes) < len(names)  # the newest epoch's root and home share their files
    reads = count_reads(monkeypatch)
    report = audit_site(str(clean.site))
    assert report.ok, [(c.id, c.detail) for c in report.failed]
    assert max(reads.values()) == 1, [k for k, v in reads.items() if v > 1]
    assert shards <= {ino for _, ino in reads}  # every shard was read (once)


def test_a_changed_shard_with_two_names_fails_under_both(clean: h.History, tmp_path: Path) -> None:
    site = linked_copy(clean, tmp_path / "site")
    home = f"{layout.EPOCHS}/{clean.epochs[-1]}/"
    shard = sorted((site / layout.PROOFS).iterdir())[0].name
    root_copy, home_copy = site / layout.PROOFS / shard, site / home / layout.PROOFS / shard
    assert os.stat(root_copy).st_ino == os.stat(home_copy).st_ino
    with root_copy.open("r+b") as f:  # one stored file, changed in place
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    report = audit_site(str(site))
    # porsegregate/2 shards are in no manifest: the shards root covers them (proof-shards).
    changed = [c.detail for c in report.failed if c.id == "proof-shards"]
    assert any(d.startswith(f"{layout.PROOFS}/{shard}") for d in changed), changed
    assert any(d.startswith(f"{home}{layout.PROOFS}/{shard}") for d in changed), changed


def test_a_shard_replaced_under_one_name_fails_only_there(clean: h.History, tmp_path: Path) -> None:
    """Same name, another stored file: judged on its own bytes, not on its twin's."""
    site = linked_copy(clean, tmp_path / "site")
    home = f"{layout.EPOCHS}/{clean.epochs[-1]}/"
    shard = sorted((site / layout.PROOFS).iterdir())[0].name
    home_copy = site / home / layout.PROOFS / shard
    data = home_copy.read_bytes()
    home_copy.unlink()
    home_copy.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    report = audit_site(str(site))
    changed = [c.detail for c in report.failed if c.id == "proof-shards"]
    assert len(changed) == 1 and changed[0].startswith(f"{home}{layout.PROOFS}/{shard}"), changed


def test_answers_are_computed_once_and_from_the_hashed_bytes(tmp_path: Path) -> None:
    (tmp_path / layout.PROOFS).mkdir()
    a, b = tmp_path / layout.PROOFS / "a.bin", tmp_path / layout.PROOFS / "b.bin"
    a.write_bytes(b"first shard")
    os.link(a, tmp_path / "twin.bin")
    b.write_bytes(b"second shard")
    files = StoredFiles(SiteReader(str(tmp_path)))
    first = files.stored(f"{layout.PROOFS}/a.bin")
    assert first is not None and first is files.stored("twin.bin")  # one stored file
    assert files.reads == 1
    calls: list[bytes] = []

    def size(data: bytes) -> int:
        calls.append(data)
        return len(data)

    assert first.once("size", size) == 11 and first.once("size", size) == 11
    assert calls == [b"first shard"] and files.reads == 1  # the bytes still in hand
    files.stored(f"{layout.PROOFS}/b.bin")
    assert first.once("upper", bytes.upper) == b"FIRST SHARD"
    assert files.reads == 3  # a new question later: read again (shards are not kept)
    a.write_bytes(b"FIRST shard")  # changed in place after it was hashed
    (tmp_path / layout.PROOFS / "c.bin").write_bytes(b"third shard")
    files.stored(f"{layout.PROOFS}/c.bin")
    with pytest.raises(InputError, match="changed while the audit read it"):
        first.once("title", bytes.title)
