"""Auditor co-signatures: `porsegregate cosign`, checked by openssl and by the verifier."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from porsegregate import _crypto
from porsegregate.cli import main
from porsegregate.cosign import cosign, load_auditor_key
from porsegregate.errors import ConfigError, InputError
from porsegregate.protocol.cosignature import MAX_STATEMENT
from porsegregate.protocol.serialization import canonical
from porsegregate.verify.client import Report, verify_history, verify_site
from porsegregate.verify.cosignatures import verify_cosignatures

from .support import history as h

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
FILES = {
    "auditor.pub.pem",
    "attestation.json.sig",
    "statement.txt",
    "auditor.json",
    "auditor.json.sig",
}


def _cosigned(folder: Path) -> bool:
    """Anything co-signed in this folder: beyond the empty index the publisher writes."""
    auditors = folder / "auditors"
    if not auditors.exists():
        return False
    index = auditors / "index.json"
    others = [p for p in auditors.iterdir() if p.name != "index.json"]
    return bool(others) or (index.exists() and json.loads(index.read_bytes()) != [])


@pytest.fixture(scope="session")
def clean(tmp_path_factory: pytest.TempPathFactory) -> h.History:
    return h.build_history(tmp_path_factory.mktemp("cosign-history") / "demo")


@pytest.fixture
def site(clean: h.History, tmp_path: Path) -> h.History:
    return clean.copy(tmp_path / "copy")


def openssl_key(path: Path, passphrase: str | None = None) -> Path:
    """An auditor key made the way the README says: openssl genpkey."""
    assert OPENSSL is not None
    argv = [OPENSSL, "genpkey", "-algorithm", "ed25519", "-out", str(path)]
    if passphrase is not None:
        argv += ["-aes-256-cbc", "-pass", f"pass:{passphrase}"]
    subprocess.run(argv, check=True, capture_output=True)
    return path


def python_key(path: Path) -> _crypto.Ed25519PrivateKey:
    key = _crypto.generate_signing_key()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


def epoch_folder(hist: h.History, epoch: str) -> Path:
    return hist.site if epoch == hist.epochs[-1] else hist.site / "epochs" / epoch


def openssl_verifies(folder: Path, fingerprint: str, message: str, signature: str) -> bool:
    """The exact line docs/protocol.md section 14 gives, run in the epoch's folder."""
    assert OPENSSL is not None
    done = subprocess.run(
        [
            OPENSSL,
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            f"auditors/{fingerprint}/auditor.pub.pem",
            "-rawin",
            "-in",
            message,
            "-sigfile",
            signature,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    return done.returncode == 0 and "Signature Verified Successfully" in done.stdout


def verify(hist: h.History, folder: Path) -> Report:
    return verify_site(str(folder), hist.account, hist.code)


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


@needs_openssl
def test_cosign_the_newest_and_an_older_epoch(site: h.History, tmp_path: Path) -> None:
    key_path = openssl_key(tmp_path / "auditor.pem")
    key = load_auditor_key(key_path, lambda: b"")
    fingerprint = _crypto.fingerprint(key.public_key())
    newest, older = site.epochs[-1], site.epochs[0]

    # The newest epoch in-process, an older one in a real process with --epoch.
    code, out = invoke(
        "cosign", str(site.site), "--key", str(key_path), "--name", "Example Audit LLP"
    )
    assert code == 0, out
    assert fingerprint in out and "openssl pkeyutl -verify" in out
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "porsegregate.cli",
            "cosign",
            str(site.site),
            "--epoch",
            older,
            "--key",
            str(key_path),
            "--name",
            "Example Audit LLP",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["epoch"] == older and summary["fingerprint"] == fingerprint

    for epoch in (newest, older):
        folder = epoch_folder(site, epoch)
        auditor = folder / "auditors" / fingerprint
        assert {p.name for p in auditor.iterdir()} == FILES
        assert json.loads((folder / "auditors" / "index.json").read_bytes()) == [fingerprint]
        attestation = (folder / "attestation.json").read_bytes()
        doc = json.loads((auditor / "auditor.json").read_bytes())
        assert canonical(doc) == (auditor / "auditor.json").read_bytes()
        assert doc == {
            "format": "porsegregate-cosign/1",
            "name": "Example Audit LLP",
            "fingerprint": fingerprint,
            "epoch": epoch,
            "attestation_sha256": _crypto.sha256_hex(attestation),
            "statement_sha256": _crypto.sha256_hex((auditor / "statement.txt").read_bytes()),
            "time": doc["time"],
        }
        statement = (auditor / "statement.txt").read_text(encoding="utf-8")
        assert _crypto.sha256_hex(attestation) in statement and epoch in statement
        assert (auditor / "auditor.pub.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY")
        assert len((auditor / "attestation.json.sig").read_bytes()) == 64
        # openssl, with nothing from porsegregate.
        sig = f"auditors/{fingerprint}/attestation.json.sig"
        assert openssl_verifies(folder, fingerprint, "attestation.json", sig)
        doc_sig = f"auditors/{fingerprint}/auditor.json.sig"
        assert openssl_verifies(
            folder, fingerprint, f"auditors/{fingerprint}/auditor.json", doc_sig
        )
        assert not openssl_verifies(folder, fingerprint, "manifest.json", sig)
        # The client's verifier lists the auditor and passes.
        report = verify(site, folder)
        assert report.verified, report.to_json()
        check = next(c for c in report.checks if c.id == "auditor-signature")
        assert check.ok and fingerprint in check.detail
        assert report.auditors == report.to_json()["auditors"]
        assert [(a["fingerprint"], a["name"], a["ok"]) for a in report.auditors] == [
            (fingerprint, "Example Audit LLP", True)
        ]

    # The newest epoch's permanent home shows the same co-signature as the root.
    home = site.site / "epochs" / newest / "auditors"
    assert (home / "index.json").read_bytes() == (site.site / "auditors/index.json").read_bytes()
    for name in FILES:
        assert (home / fingerprint / name).read_bytes() == (
            site.site / "auditors" / fingerprint / name
        ).read_bytes()
    assert verify(site, home.parent).verified
    history = verify_history(str(site.site), site.account, site.code)
    assert history.verified, history.to_json()
    listed = [e for e in history.epochs if e.report and e.report.auditors]
    assert {e.epoch for e in listed} == {newest, older}


def test_a_site_without_auditors_has_no_auditor_check(site: h.History) -> None:
    report = verify(site, site.site)
    assert report.verified
    assert report.auditors == [] and report.to_json()["auditors"] == []
    assert "auditor-signature" not in [c.id for c in report.checks]
    assert verify_cosignatures(site.site, (site.site / "attestation.json").read_bytes()) == []


def test_rerunning_refuses_without_force(site: h.History, tmp_path: Path) -> None:
    key_path = tmp_path / "auditor.pem"
    python_key(key_path)
    args = ["cosign", str(site.site), "--key", str(key_path), "--name", "First Name"]
    assert invoke(*args)[0] == 0
    auditors = site.site / "auditors"
    before = {p: p.read_bytes() for p in sorted(auditors.rglob("*")) if p.is_file()}
    code, out = invoke(*args[:-1], "Second Name")
    assert code == 3, out
    assert "already holds a co-signature" in out and "--force" in out
    assert {p: p.read_bytes() for p in sorted(auditors.rglob("*")) if p.is_file()} == before
    assert not [p for p in auditors.iterdir() if p.name.startswith(".")]
    code, out = invoke(*args[:-1], "Second Name", "--force")
    assert code == 0, out
    assert "Replaced" in out
    (fp,) = json.loads((auditors / "index.json").read_bytes())
    assert json.loads((auditors / fp / "auditor.json").read_bytes())["name"] == "Second Name"
    report = verify(site, site.site)
    assert report.verified and [a["name"] for a in report.auditors] == ["Second Name"]


def test_two_auditors_are_both_listed(site: h.History, tmp_path: Path) -> None:
    keys = [_crypto.generate_signing_key() for _ in range(2)]
    for i, key in enumerate(keys):
        cosign(site.site, key, f"Auditor {i}")
    index = json.loads((site.site / "auditors" / "index.json").read_bytes())
    assert index == sorted(_crypto.fingerprint(k.public_key()) for k in keys)
    report = verify(site, site.site)
    assert report.verified and len(report.auditors) == 2


def test_a_non_ed25519_key_is_refused(site: h.History, tmp_path: Path) -> None:
    key_path = tmp_path / "p256.pem"
    key_path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    code, out = invoke("cosign", str(site.site), "--key", str(key_path), "--name", "A")
    assert code == 3, out
    assert "secp256r1" in out and "not an Ed25519 key" in out
    assert "openssl genpkey -algorithm ed25519" in out
    assert not _cosigned(site.site)
    (tmp_path / "garbage.pem").write_text("not a key\n")
    with pytest.raises(ConfigError, match="not a PEM private key"):
        load_auditor_key(tmp_path / "garbage.pem", lambda: b"")


@needs_openssl
def test_an_encrypted_key_reads_its_passphrase(site: h.History, tmp_path: Path) -> None:
    key_path = openssl_key(tmp_path / "enc.pem", "auditor passphrase")
    args = ["cosign", str(site.site), "--key", str(key_path), "--name", "Enc LLP"]
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it\n")
    code, out = invoke(*args, "--passphrase-file", str(wrong))
    assert code == 3 and "wrong passphrase" in out, out
    code, out = invoke(*args, env={"PORSEGREGATE_PASSPHRASE": ""})
    assert code == 3 and "is encrypted" in out, out  # no input to prompt from
    code, out = invoke(*args, env={"PORSEGREGATE_PASSPHRASE": "auditor passphrase"})
    assert code == 0, out
    assert verify(site, site.site).verified


def test_a_site_that_does_not_verify_is_refused(site: h.History, tmp_path: Path) -> None:
    key_path = tmp_path / "auditor.pem"
    python_key(key_path)
    attestation = site.site / "attestation.json"
    original = attestation.read_bytes()
    attestation.write_bytes(original.replace(b'"generator":"', b'"generator":"x', 1))
    code, out = invoke("cosign", str(site.site), "--key", str(key_path), "--name", "A")
    assert code == 1, out
    assert "attestation-signature" in out and "refusing to co-sign" in out
    assert not _cosigned(site.site)
    # A page the manifest lists, changed by the host: the manifest check refuses too.
    attestation.write_bytes(original)
    h.change_file(site)
    code, out = invoke(
        "cosign", str(site.site), "--epoch", site.epochs[0], "--key", str(key_path), "--name", "A"
    )
    assert code == 1, out
    assert "manifest-files" in out and "verify.html" in out
    # A custodian key other than the one the auditor expects.
    code, out = invoke(
        "cosign", str(site.site), "--key", str(key_path), "--name", "A", "--expect-key", "00" * 32
    )
    assert code == 1 and "key-pin" in out, out
    code, out = invoke(
        "cosign", str(site.site), "--epoch", "1999-01", "--key", str(key_path), "--name", "A"
    )
    assert code == 3 and "no epoch '1999-01'" in out, out


def test_a_signature_over_other_bytes_fails(site: h.History) -> None:
    fingerprint = h.forge_auditor_signature(site)
    report = verify(site, site.site)
    assert not report.verified
    assert report.failed is not None and report.failed.id == "auditor-signature"
    assert "signs other bytes" in report.failed.detail
    assert report.auditors[0]["fingerprint"] == fingerprint and not report.auditors[0]["ok"]
    # In an older epoch: its own check, and the history check of every epoch, catch it.
    h.forge_auditor_signature(site, site.epochs[0])
    older = verify(site, site.site / "epochs" / site.epochs[0])
    assert older.failed is not None and older.failed.id == "auditor-signature"


def test_an_auditor_json_changed_after_signing_fails(site: h.History) -> None:
    key = _crypto.generate_signing_key()
    fp = _crypto.fingerprint(key.public_key())
    cosign(site.site, key, "Honest Audit LLP")
    folder = site.site / "auditors" / fp
    document = folder / "auditor.json"
    original = document.read_bytes()
    doc = json.loads(original)
    doc["name"] = "Big Four LLP"
    document.write_bytes(canonical(doc))
    report = verify(site, site.site)
    assert report.failed is not None and report.failed.id == "auditor-signature"
    assert "changed after signing" in report.failed.detail
    assert report.auditors[0]["name"] is None  # an unverified name is never shown
    document.write_bytes(original)
    assert verify(site, site.site).verified
    statement = folder / "statement.txt"
    statement.write_text("We audited nothing.\n")
    report = verify(site, site.site)
    assert report.failed is not None and report.failed.id == "auditor-signature"
    assert "not the statement the auditor signed" in report.failed.detail


def test_a_listed_auditor_whose_files_are_gone_fails(site: h.History) -> None:
    key = _crypto.generate_signing_key()
    fp = _crypto.fingerprint(key.public_key())
    cosign(site.site, key, "Gone LLP")
    (site.site / "auditors" / fp / "attestation.json.sig").unlink()
    report = verify(site, site.site)
    assert report.failed is not None and report.failed.id == "auditor-signature"
    assert "attestation.json.sig" in report.failed.detail
    shutil.rmtree(site.site / "auditors" / fp)
    assert not verify(site, site.site).verified
    (site.site / "auditors" / "index.json").write_text('["not a fingerprint"]')
    report = verify(site, site.site)
    assert report.failed is not None and report.failed.id == "auditor-signature"
    assert "index.json is malformed" in report.failed.detail
    # An unlisted folder is not a co-signature anyone is shown: no index, no auditors.
    (site.site / "auditors" / "index.json").unlink()
    assert verify(site, site.site).verified


def test_names_and_statements_are_bounded(site: h.History, tmp_path: Path) -> None:
    key = _crypto.generate_signing_key()
    for name in ("", " padded", "x" * 201, "line\nbreak", "evil\u202etxt.exe", "bell\x07"):
        with pytest.raises(InputError):
            cosign(site.site, key, name)
    with pytest.raises(InputError, match="64 KiB"):
        cosign(site.site, key, "A", "x" * (MAX_STATEMENT + 1))
    with pytest.raises(InputError, match="control character"):
        cosign(site.site, key, "A", "escape \x1b[31m red")
    assert not _cosigned(site.site)
    statement = tmp_path / "statement.txt"
    statement.write_bytes(b"\xff\xfe not UTF-8")
    key_path = tmp_path / "auditor.pem"
    python_key(key_path)
    args = ["cosign", str(site.site), "--key", str(key_path), "--name", "Zoë Audit"]
    code, out = invoke(*args, "--statement", str(statement))
    assert code == 3 and "not UTF-8" in out, out
    text = "Zoë Audit examined the liabilities and reserves of this epoch.\n\nSigned, Zoë.\n"
    statement.write_text(text, encoding="utf-8")
    assert invoke(*args, "--statement", str(statement))[0] == 0
    (fp,) = json.loads((site.site / "auditors" / "index.json").read_bytes())
    assert (site.site / "auditors" / fp / "statement.txt").read_bytes() == text.encode()
    assert verify(site, site.site).verified


def test_co_signatures_move_to_their_epoch_when_the_next_is_published(site: h.History) -> None:
    key = _crypto.generate_signing_key()
    fp = _crypto.fingerprint(key.public_key())
    cosign(site.site, key, "Carried LLP")
    signed = site.epochs[-1]
    h.publish_next(site, "next", seed=303)
    assert not _cosigned(site.site)  # the new epoch has no auditors yet
    home = site.site / "epochs" / signed
    assert json.loads((home / "auditors" / "index.json").read_bytes()) == [fp]
    report = verify(site, home)
    assert report.verified and report.auditors[0]["name"] == "Carried LLP"
    history = verify_history(str(site.site), site.account, site.code)
    assert history.verified, history.to_json()


@pytest.fixture
def served(site: h.History) -> Iterator[str]:
    from porsegregate.serve import make_server

    server = make_server(site.site, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_co_signatures_verify_over_http(site: h.History, served: str) -> None:
    key = _crypto.generate_signing_key()
    fp = _crypto.fingerprint(key.public_key())
    cosign(site.site, key, "Remote Audit LLP")
    report = verify_site(served, site.account, site.code)
    assert report.verified, report.to_json()
    assert [a["fingerprint"] for a in report.auditors] == [fp]
    (site.site / "auditors" / fp / "auditor.json.sig").unlink()
    report = verify_site(served, site.account, site.code)
    assert report.failed is not None and report.failed.id == "auditor-signature"


def test_cosign_waits_for_no_publish(site: h.History) -> None:
    """The lock publish takes on the site's parent folder: no co-signature lost in a swap."""
    import fcntl
    import os

    fd = os.open(site.site.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError, match="publish or cosign is writing"):
            cosign(site.site / "epochs" / site.epochs[0], _crypto.generate_signing_key(), "A")
    finally:
        os.close(fd)
    assert not _cosigned(site.site / "epochs" / site.epochs[0])
