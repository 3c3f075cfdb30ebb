"""Publishing: what the site holds, what it must never hold, and atomicity."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from porsegregate import _crypto
from porsegregate.errors import ConfigError, InputError
from porsegregate.protocol import layout
from porsegregate.protocol.bundle import decode_shard_v2, shard_index, shard_leaf, shard_tree
from porsegregate.protocol.layout import shard_file
from porsegregate.protocol.serialization import parse_attestation, parse_manifest
from porsegregate.publish.client_codes import read_client_codes
from porsegregate.publish.config import load_config
from porsegregate.publish.pipeline import PublishOptions, publish
from porsegregate.publish.workspace import init_workspace
from porsegregate.verify.client import verify_site

from .conftest import PASSPHRASE

HOSTILE_IDS = [
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "a/b\\c:d",
    "Robert'); DROP TABLE clients;--",
    '=HYPERLINK("http://x")',
    "Zoë 日本",
]


def next_epoch(tmp_path: Path) -> PublishOptions:
    """The epoch after the shared one, its codes kept apart, no reserves: a stated shortfall."""
    return PublishOptions("2026-12", codes_path=tmp_path / "c.csv", allow_shortfall=True)


def site_files(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()}


def test_every_client_verifies_and_the_manifest_covers_every_file(
    published: dict[str, Any],
) -> None:
    site: Path = published["site"]
    for account, code in published["codes"].items():
        report = verify_site(str(site), account, code, published["result"].fingerprint)
        assert report.verified, report.to_json()
    epoch = published["result"].attestation.epoch_id
    # The root, and the epoch's permanent home: each manifest covers every file of its folder.
    for folder, skip in ((site, "epochs/"), (site / "epochs" / epoch, None)):
        files = {k: v for k, v in site_files(folder).items() if not (skip and k.startswith(skip))}
        manifest = parse_manifest(files["manifest.json"])
        # No manifest lists auditors/ (section 13): publish writes an empty index, no one's.
        assert files.pop("auditors/index.json") == b"[]"
        # porsegregate/2: no manifest lists the shards; its shards root covers all 2^b of them.
        bits = manifest.shard_bits
        assert bits is not None
        shards = {layout.shard_file(i, bits) for i in range(1 << bits)}
        assert {k for k in files if k.startswith("proofs/")} == shards
        leaves = [
            shard_leaf(epoch, bits, i, decode_shard_v2(files[layout.shard_file(i, bits)]).body)
            for i in range(1 << bits)
        ]
        assert shard_tree(leaves)[0] == manifest.shards_root
        assert set(manifest.files) == set(files) - {"manifest.json", "manifest.json.sig"} - shards
        for path, digest in manifest.files.items():
            assert _crypto.sha256_hex(files[path]) == digest
        assert manifest.attestation_sha256 == _crypto.sha256_hex(files["attestation.json"])
        report = verify_site(str(folder), *next(iter(published["codes"].items())))
        assert report.verified, report.to_json()


def test_nothing_private_is_published(published: dict[str, Any]) -> None:
    """T5, T7, T13: no account id, code, balance, secret or plaintext path in any site file."""
    site: Path = published["site"]
    blob = b"\n".join(site_files(site).values())
    for account, code in published["codes"].items():
        assert account.encode() not in blob
        assert code.encode() not in blob
        assert code.replace("-", "").encode() not in blob
    for amount in (b"150050", b"1.25", b"250000", b"125.25"):
        # Whole numbers only: the public totals (e.g. 1.2504 BTC) are on the overview page;
        # a unit after it (1.25rem in the stylesheet) is not an amount.
        pattern = rb"(?<![0-9.])" + re.escape(amount) + rb"(?![0-9A-Za-z])"
        assert not re.search(pattern, blob), amount
    config = published["config"]
    assert config.master_secret.read_bytes() not in blob
    assert b"PRIVATE KEY" not in blob
    assert not any(p.name.endswith(".csv") for p in site.rglob("*"))
    assert published["result"].codes.parent != site


def test_shard_names_come_only_from_lookup_ids(tmp_path: Path) -> None:
    """T13: hostile account ids never become file names or page content."""
    init_workspace(tmp_path / "ws", PASSPHRASE, sample_data=False)
    config = load_config(tmp_path / "ws" / "porsegregate.toml")
    rows = "".join(f'"{i.replace(chr(34), chr(34) * 2)}",BTC,1\n' for i in HOSTILE_IDS)
    config.liabilities.parent.mkdir(parents=True, exist_ok=True)
    config.liabilities.write_text("account_id,asset,amount\n" + rows, encoding="utf-8")
    options = PublishOptions("e1", snapshot_time="2026-01-01T00:00:00Z", allow_shortfall=True)
    result = publish(config, PASSPHRASE, options)
    names = set(site_files(result.site))
    for name in names:
        assert re.fullmatch(r"[a-z0-9._/-]+", name), name
    blob = b"".join(site_files(result.site).values())
    for hostile in HOSTILE_IDS:
        assert hostile.encode() not in blob
    codes = read_client_codes(result.codes)
    report = verify_site(str(result.site), "Zoë 日本", codes["Zoë 日本"])
    assert report.verified


def test_padding_hides_the_client_count(published: dict[str, Any]) -> None:
    """T6: only the padded height is published; paths have exactly that length."""
    attestation = parse_attestation((published["site"] / "attestation.json").read_bytes())
    for asset in attestation.assets:
        assert asset.padded_height >= 10, "a handful of holders still fills 1,024 leaves"
    account, code = next(iter(published["codes"].items()))
    report = verify_site(str(published["site"]), account, code)
    assert any(c.id == "path-height" and c.ok for c in report.checks)


def _tamper(site: Path, relative: str, edit: Any) -> None:
    path = site / relative
    path.write_bytes(edit(path.read_bytes()))


@pytest.mark.parametrize(
    ("what", "check"),
    [
        ("shard", "shard-hash"),
        ("manifest", "manifest-signature"),
        ("attestation", "attestation-signature"),
        ("manifest-for-other-attestation", "manifest-attestation"),
    ],
)
def test_tampered_site_is_caught(
    published: dict[str, Any], tmp_path: Path, what: str, check: str
) -> None:
    """T12: a host that edits a shard, the manifest or the attestation is caught."""
    site = tmp_path / "site"
    shutil.copytree(published["site"], site)
    account, code = next(iter(published["codes"].items()))
    from porsegregate.protocol.codes import parse_code
    from porsegregate.protocol.hashing import epoch_keys

    manifest = parse_manifest((site / "manifest.json").read_bytes())
    lookup = epoch_keys(parse_code(code), manifest.epoch_id).lookup
    assert manifest.shard_bits is not None
    shard = shard_file(shard_index(lookup, manifest.shard_bits), manifest.shard_bits)
    if what == "shard":
        assert lookup in decode_shard_v2((site / shard).read_bytes()).entries
        _tamper(site, shard, lambda b: b[:-1] + bytes((b[-1] ^ 1,)))
    elif what == "manifest":
        _tamper(
            site,
            "manifest.json",
            lambda b: b.replace(b'"files":{', b'"files":{"x":"' + b"0" * 64 + b'",'),
        )
    elif what == "attestation":
        _tamper(site, "attestation.json", lambda b: b.replace(b"Example", b"Exemple"))
    else:
        other = tmp_path / "other"
        shutil.copytree(published["site"], other)
        doc = json.loads((site / "manifest.json").read_bytes())
        doc["attestation_sha256"] = "0" * 64
        from porsegregate.protocol.serialization import canonical
        from porsegregate.publish.keys import load_signing_key

        key = load_signing_key(published["config"].signing_key, PASSPHRASE)
        data = canonical(doc)
        (site / "manifest.json").write_bytes(data)
        (site / "manifest.json.sig").write_bytes(key.sign(data))
    report = verify_site(str(site), account, code)
    assert not report.verified
    assert report.failed is not None and report.failed.id == check


def test_a_dropped_client_is_noticed(published: dict[str, Any], tmp_path: Path) -> None:
    """T7: a client whose proof is missing gets proof-found, not a silent pass."""
    from porsegregate.protocol.codes import client_secret, format_code
    from porsegregate.publish.keys import load_master_secret

    master = load_master_secret(published["config"].master_secret, PASSPHRASE)
    code = format_code(client_secret(master, "never-published"))
    report = verify_site(str(published["site"]), "never-published", code)
    assert report.failed is not None and report.failed.id == "proof-found"


def test_interrupted_publish_leaves_the_previous_site(
    own_copy: tuple[Any, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, site = own_copy
    before = site_files(site)
    log_before = site_files(config.log)
    import porsegregate.publish.pipeline as pub

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(pub, "render_site", boom)
    with pytest.raises(KeyboardInterrupt):
        publish(config, PASSPHRASE, next_epoch(tmp_path))
    assert site_files(site) == before
    assert site_files(config.log) == log_before, "the workspace log is untouched too"
    assert not list(site.parent.glob(".site.*")), "no staging folder left behind"


def test_a_bad_epoch_id_is_refused_when_the_options_are_made() -> None:
    """The id names a folder of the site: checked once, before anything is read or built."""
    with pytest.raises(InputError, match=r"epoch id '\.\./x' must be"):
        PublishOptions("../x")


def test_bad_input_writes_nothing(published: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("account_id,asset,amount\na,BTC,-1\n")
    out = tmp_path / "out"
    with pytest.raises(InputError, match="negative amount"):
        options = PublishOptions(
            "x1",
            site=out,
            codes_path=tmp_path / "c.csv",
            liabilities_path=bad,
            allow_shortfall=True,
        )
        publish(published["config"], PASSPHRASE, options)
    assert list(tmp_path.iterdir()) == [bad]


def test_second_epoch_chains_to_the_first(
    published: dict[str, Any], own_copy: tuple[Any, Path], tmp_path: Path
) -> None:
    config, site = own_copy
    first = (site / "attestation.json").read_bytes()
    publish(config, PASSPHRASE, next_epoch(tmp_path))
    second = parse_attestation((site / "attestation.json").read_bytes())
    assert second.previous_attestation_sha256 == _crypto.sha256_hex(first)
    assert (site / "epochs" / "2026-11" / "attestation.json").read_bytes() == first
    with pytest.raises(InputError, match="epoch 2026-12 is already published"):
        publish(config, PASSPHRASE, next_epoch(tmp_path))
    assert (tmp_path / "c.csv").read_bytes() == published["result"].codes.read_bytes(), (
        "codes are stable"
    )


def test_refuses_to_replace_a_folder_that_is_not_a_site(
    published: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "important.txt").write_text("keep me")
    with pytest.raises(InputError, match="is not a porsegregate site"):
        options = PublishOptions(
            "e9", site=tmp_path / "docs", codes_path=tmp_path / "c.csv", allow_shortfall=True
        )
        publish(published["config"], PASSPHRASE, options)
    assert (tmp_path / "docs" / "important.txt").read_text() == "keep me"


def test_wrong_passphrase(published: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="wrong passphrase"):
        options = PublishOptions("e2", site=tmp_path / "s", allow_shortfall=True)
        publish(published["config"], b"not the passphrase", options)


def test_init_never_overwrites_keys(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws", PASSPHRASE)
    key = (tmp_path / "ws" / "keys" / "custodian.key.pem").read_bytes()
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        init_workspace(tmp_path / "ws", PASSPHRASE)
    assert (tmp_path / "ws" / "keys" / "custodian.key.pem").read_bytes() == key
    assert oct(os.stat(tmp_path / "ws" / "keys" / "custodian.key.pem").st_mode & 0o777) == "0o600"
    assert b"ENCRYPTED PRIVATE KEY" in key


def test_leftovers_of_a_killed_run_are_removed(own_copy: tuple[Any, Path], tmp_path: Path) -> None:
    """A SIGKILLed publish cannot clean up; the next one removes its staging folder."""
    config, site = own_copy
    parent = site.parent
    for name in (".site.staging-abc123", ".site.old-def456"):
        (parent / name / "proofs").mkdir(parents=True)
        (parent / name / "proofs" / "0.bin").write_bytes(b"half")
    (parent / ".other.staging-x").mkdir()  # not ours: left alone
    publish(config, PASSPHRASE, next_epoch(tmp_path))
    assert sorted(p.name for p in parent.glob(".*staging*")) == [".other.staging-x"]
    assert not list(parent.glob(".site.old-*"))


def test_a_second_publish_into_the_same_folder_is_refused(
    published: dict[str, Any], tmp_path: Path
) -> None:
    import fcntl

    site = tmp_path / "site"
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError, match="another porsegregate publish is writing into"):
            options = PublishOptions(
                "2026-12", site=site, codes_path=tmp_path / "c", allow_shortfall=True
            )
            publish(published["config"], PASSPHRASE, options)
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing written"


def test_three_holders_and_a_thousand_look_the_same() -> None:
    """T6, T17: every porsegregate/2 tree has the height the entry count gives (4096 entries
    by default: ceil(log2(4096)) = 12) or the configured one, whatever its leaf count;
    porsegregate/1 padded to at least 2^10."""
    from porsegregate.protocol.hashing import FORMAT_V1
    from porsegregate.protocol.models import Asset
    from porsegregate.publish.epoch import Privacy, build_epoch
    from porsegregate.publish.liabilities import Liabilities

    assets = (Asset("BTC", 8),)
    master = bytes(range(32))

    def height(clients: int, fmt: str = "porsegregate/2", privacy: Privacy | None = None) -> int:
        balances = {f"a{i}": [i + 1] for i in range(clients)}
        proofs = build_epoch(
            Liabilities.from_balances(assets, balances), master, "e1", privacy=privacy, fmt=fmt
        )
        return proofs.assets[0].padded_height

    assert height(3) == height(1000) == height(4096) == 12
    assert height(4097) == 13, "8192 entries"
    assert height(3, privacy=Privacy(split=3)) == 14, "ceil(log2(4096 x 3))"
    assert height(3, privacy=Privacy(entries=5000)) == 13
    assert height(3, privacy=Privacy(height=24)) == 24
    assert height(3, privacy=Privacy(height=5)) == 5
    assert height(40, privacy=Privacy(height=5)) == 6, "raised for a tree that needs it"
    assert height(40, privacy=Privacy(height=5, split=2)) == 7, "parts are leaves too"
    assert height(3, FORMAT_V1) == height(1000, FORMAT_V1) == 10
    assert height(1025, FORMAT_V1) == 11
