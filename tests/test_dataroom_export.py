"""`porsegregate dataroom export`: one epoch's data room for an auditor, with no power to sign.

The export holds the epoch's liabilities, reserves declaration, public key and
the epoch's derived keys under a passphrase of its own; never the signing key,
the master secret or a client code. With it alone `porsegregate audit
--dataroom` runs every data-room check.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from porsegregate.audit import CHECKS, PASS, DataRoom, audit_site
from porsegregate.cli import main
from porsegregate.errors import ConfigError, InputError
from porsegregate.protocol.codes import client_secret
from porsegregate.protocol.hashing import epoch_keys
from porsegregate.publish.dataroom_export import (
    LIABILITIES,
    MANIFEST,
    PUBLIC_KEY,
    SECRETS,
    decode_secrets,
    export_dataroom,
    open_dataroom,
)
from porsegregate.publish.demo import DEMO_PASSPHRASE
from porsegregate.publish.keys import load_master_secret

from .support import history as h

ROOM_PASSPHRASE = b"a passphrase for the auditor only"
ENV = {
    "PORSEGREGATE_PASSPHRASE": DEMO_PASSPHRASE.decode(),
    "PORSEGREGATE_DATAROOM_PASSPHRASE": ROOM_PASSPHRASE.decode(),
}
DATAROOM_CHECKS = [c for c in CHECKS if c.startswith("dataroom-")]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> h.History:
    return h.build_history(tmp_path_factory.mktemp("dataroom") / "demo")


def reserves_of(history: h.History, epoch: str | None = None) -> Path:
    return history.workspace / "data" / f"reserves-{epoch or history.epochs[-1]}.toml"


def export(history: h.History, out: Path, epoch: str | None = None, force: bool = False) -> Any:
    return export_dataroom(
        history.config,
        DEMO_PASSPHRASE,
        epoch or history.epochs[-1],
        out,
        ROOM_PASSPHRASE,
        reserves_path=reserves_of(history),
        force=force,
    )


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env or ENV, input=stdin, catch_exceptions=False)


def everything_in(folder: Path) -> bytes:
    """Every byte of every file under `folder`, hidden ones included."""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def forms(secret: bytes) -> list[bytes]:
    """A secret as raw bytes, hex (either case) and base64 (standard and URL-safe)."""
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret).rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
    ]


# -- (a) no power to sign, no master secret; the export alone audits ---------------------------


def test_the_export_holds_no_signing_key_nor_master_secret(
    clean: h.History, tmp_path: Path
) -> None:
    folder = tmp_path / "room"
    result = export(clean, folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MANIFEST, SECRETS, PUBLIC_KEY, LIABILITIES, "reserves.toml"]
    )
    assert result.files == tuple(sorted(p.name for p in folder.iterdir()))
    # Owner-only: the folder 0700, every file (the secrets above all) 0600.
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for p in folder.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
    # Nothing was left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["room"]

    plaintext = open_dataroom(folder, ROOM_PASSPHRASE)
    decrypted = _decrypted_secrets(folder)
    assert decode_secrets(decrypted, "x") == plaintext.secrets
    haystack = everything_in(folder) + decrypted

    key = clean.signing_key()
    master = load_master_secret(clean.config.master_secret, DEMO_PASSPHRASE)
    forbidden = {
        "the encrypted signing key file": [clean.config.signing_key.read_bytes()],
        "the master secret file": [clean.config.master_secret.read_bytes()],
        "the signing key": forms(key.private_bytes_raw()),
        "the master secret": forms(master),
        "the workspace passphrase": [DEMO_PASSPHRASE],
        "the data-room passphrase": [ROOM_PASSPHRASE],
    }
    for what, needles in forbidden.items():
        for needle in needles:
            assert needle not in haystack, f"{what} is in the export"
    # Nor any client's code (a code opens every epoch's proof of its client) or code secret.
    for account, code in list(clean.codes.items())[:50]:
        assert code.encode() not in haystack
        for form in forms(client_secret(master, account)):
            assert form not in haystack
    # What it does hold: this epoch's keys of every client, and the public key.
    assert len(plaintext.secrets.clients) == h.CLIENTS
    assert plaintext.secrets.clients[clean.account] == epoch_keys(
        client_secret(master, clean.account), clean.epochs[-1]
    )
    assert (folder / PUBLIC_KEY).read_bytes() == clean.config.public_key.read_bytes()


def _decrypted_secrets(folder: Path) -> bytes:
    """The secrets' plaintext, decrypted here from the documented format (not the module's)."""
    from porsegregate import _crypto

    doc = json.loads((folder / SECRETS).read_bytes())
    kdf = doc["kdf"]
    assert (doc["format"], kdf["name"], doc["aead"]) == (
        "porsegregate-dataroom-secrets/1",
        "scrypt",
        "AES-256-GCM",
    )
    key = _crypto.scrypt_key(
        ROOM_PASSPHRASE, base64.b64decode(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"]
    )
    aad = b"porsegregate-dataroom-secrets/1\x00" + _crypto.sha256((folder / MANIFEST).read_bytes())
    return _crypto.aes_gcm_decrypt(key, base64.b64decode(doc["ciphertext"]), aad)


def test_the_export_alone_passes_every_dataroom_check(clean: h.History, tmp_path: Path) -> None:
    """The site and the export, with the workspace, its keys and the codes gone."""
    copy = clean.copy(tmp_path / "custodian")
    folder = tmp_path / "handed-over"
    export(copy, folder)
    shutil.rmtree(copy.workspace)
    (copy.root / "client-codes.csv").unlink()
    report = audit_site(str(copy.site), DataRoom.open(folder, ROOM_PASSPHRASE, None))
    assert report.ok, [(c.id, c.detail) for c in report.failed]
    for check in DATAROOM_CHECKS:
        assert report.status(check) == PASS, check
    assert report.clients_checked == h.CLIENTS
    assert "client tags included" in next(
        c.detail for c in report.checks if c.id == "dataroom-wallets"
    )


def test_the_epochs_keys_open_no_other_epoch(clean: h.History, tmp_path: Path) -> None:
    """Every client's exported keys are this epoch's only: none is another epoch's key."""
    folder = tmp_path / "room"
    export(clean, folder)
    secrets = open_dataroom(folder, ROOM_PASSPHRASE).secrets
    master = load_master_secret(clean.config.master_secret, DEMO_PASSPHRASE)
    exported = {k.key for k in secrets.clients.values()} | {
        k.lookup for k in secrets.clients.values()
    }
    for epoch in clean.epochs[:-1]:
        for account in list(secrets.clients)[:50]:
            other = epoch_keys(client_secret(master, account), epoch)
            assert other.key not in exported and other.lookup not in exported


# -- (b) a wrong passphrase, a changed export --------------------------------------------------


def test_a_wrong_passphrase_is_a_clear_error_exit_3(clean: h.History, tmp_path: Path) -> None:
    folder = tmp_path / "room"
    export(clean, folder)
    with pytest.raises(InputError, match="wrong data-room passphrase"):
        open_dataroom(folder, b"not the data-room passphrase")
    # The workspace passphrase does not open it either.
    with pytest.raises(InputError, match="wrong data-room passphrase"):
        open_dataroom(folder, DEMO_PASSPHRASE)
    result = run(
        "audit",
        str(clean.site),
        "--dataroom",
        str(folder),
        env={"PORSEGREGATE_DATAROOM_PASSPHRASE": "not the data-room passphrase"},
    )
    assert result.exit_code == 3, result.output
    assert f"{folder / SECRETS}: cannot decrypt the data room's secrets: wrong data-room " in (
        result.output
    )


def test_a_changed_export_is_refused(clean: h.History, tmp_path: Path) -> None:
    folder = tmp_path / "room"
    export(clean, folder)
    csv = folder / LIABILITIES
    original = csv.read_bytes()
    csv.write_bytes(original.replace(b"\n", b"\r\n", 1))
    with pytest.raises(InputError, match="changed after the export"):
        open_dataroom(folder, ROOM_PASSPHRASE)
    csv.write_bytes(original)
    # scrypt parameters that would make the auditor's machine spend gigabytes are refused.
    secrets = folder / SECRETS
    kept = secrets.read_bytes()
    doc = json.loads(kept)
    doc["kdf"]["n"] = 2**22
    secrets.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="not a porsegregate-dataroom-secrets/1 file"):
        open_dataroom(folder, ROOM_PASSPHRASE)
    secrets.write_bytes(kept)
    open_dataroom(folder, ROOM_PASSPHRASE)
    manifest = folder / MANIFEST
    doc = json.loads(manifest.read_bytes())
    doc["epoch"] = clean.epochs[0]  # an export relabelled as another epoch's
    manifest.write_text(json.dumps(doc, indent=2) + "\n")
    with pytest.raises(InputError, match=r"or dataroom\.json was changed after the export"):
        open_dataroom(folder, ROOM_PASSPHRASE)


# -- (c) an export of another epoch ------------------------------------------------------------


def test_an_export_of_another_epoch_fails_clearly(clean: h.History, tmp_path: Path) -> None:
    older = clean.epochs[-2]
    folder = tmp_path / "older-room"
    export(clean, folder, epoch=older)
    with pytest.raises(InputError) as caught:
        audit_site(str(clean.site), DataRoom.open(folder, ROOM_PASSPHRASE))
    assert (
        f"the data room is epoch {older}'s, the site's newest epoch is {clean.epochs[-1]}"
        in str(caught.value)
    )
    result = run("audit", str(clean.site), "--dataroom", str(folder))
    assert result.exit_code == 3
    assert f"porsegregate dataroom export --epoch {clean.epochs[-1]}" in result.output


# -- (e) the command line ----------------------------------------------------------------------


def test_the_cli_exports_and_audits(clean: h.History, tmp_path: Path) -> None:
    folder = tmp_path / "room"
    exported = run(
        "dataroom",
        "export",
        "--workspace",
        str(clean.workspace),
        "--epoch",
        clean.epochs[-1],
        "--out",
        str(folder),
        "--reserves",
        str(reserves_of(clean)),
        "--json",
    )
    assert exported.exit_code == 0, exported.output
    doc = json.loads(exported.output)
    assert doc["epoch"] == clean.epochs[-1] and doc["clients"] == h.CLIENTS
    assert doc["replaced"] is False and SECRETS in doc["files"]
    audited = run("audit", str(clean.site), "--dataroom", str(folder), "--all", "--json")
    assert audited.exit_code == 0, audited.output
    report = json.loads(audited.output)
    assert report["ok"] is True and report["summary"]["clients_checked"] == h.CLIENTS
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert all(statuses[c] == PASS for c in DATAROOM_CHECKS)
    # Human output, with both passphrases typed at prompts (the new one twice).
    again = tmp_path / "typed"
    typed = run(
        "dataroom",
        "export",
        "-w",
        str(clean.workspace),
        "--epoch",
        clean.epochs[-1],
        "--out",
        str(again),
        env={"PORSEGREGATE_PASSPHRASE": "", "PORSEGREGATE_DATAROOM_PASSPHRASE": ""},
        stdin=f"{DEMO_PASSPHRASE.decode()}\n{ROOM_PASSPHRASE.decode()}\n"
        f"{ROOM_PASSPHRASE.decode()}\n",
    )
    assert typed.exit_code == 0, typed.output
    assert f"Wrote the data room of epoch {clean.epochs[-1]}" in typed.output
    assert f"porsegregate audit SITE --dataroom {again}" in typed.output
    assert DEMO_PASSPHRASE.decode() not in typed.output
    assert ROOM_PASSPHRASE.decode() not in typed.output
    human = run(
        "audit",
        str(clean.site),
        "--dataroom",
        str(again),
        "--sample",
        "7",
        env={"PORSEGREGATE_DATAROOM_PASSPHRASE": ""},
        stdin=f"{ROOM_PASSPHRASE.decode()}\n",
    )
    assert human.exit_code == 0, human.output
    assert "ok   dataroom-bundles: 7 client proofs" in human.output
    # Without --reserves, the config's reserves path, data/reserves-{epoch}.toml, names
    # this epoch's file (the demo's): it is in the data room and its coverage is checked.
    assert "ok   dataroom-coverage" in human.output
    assert (again / "reserves.toml").is_file()


def test_the_data_room_passphrase_must_be_new(clean: h.History, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must not be the workspace passphrase"):
        export_dataroom(
            clean.config, DEMO_PASSPHRASE, clean.epochs[-1], tmp_path / "r", DEMO_PASSPHRASE
        )
    with pytest.raises(ConfigError, match="at least 8"):
        export_dataroom(clean.config, DEMO_PASSPHRASE, clean.epochs[-1], tmp_path / "r", b"short")
    result = run(
        "dataroom",
        "export",
        "-w",
        str(clean.workspace),
        "--epoch",
        clean.epochs[-1],
        "--out",
        str(tmp_path / "r"),
        env={**ENV, "PORSEGREGATE_PASSPHRASE": "wrong passphrase"},
    )
    assert result.exit_code == 3 and "wrong passphrase" in result.output
    bad_epoch = run(
        "dataroom", "export", "-w", str(clean.workspace), "--epoch", "../x", "--out", "r"
    )
    assert bad_epoch.exit_code == 3 and "epoch id" in bad_epoch.output
    assert not (tmp_path / "r").exists()


def test_a_real_subprocess_exports_and_audits(clean: h.History, tmp_path: Path) -> None:
    """Passphrases from files, never argv; the auditor's process never sees the workspace's."""
    workspace_pass = tmp_path / "workspace.pass"
    workspace_pass.write_bytes(DEMO_PASSPHRASE + b"\n")
    room_pass = tmp_path / "room.pass"
    room_pass.write_bytes(ROOM_PASSPHRASE + b"\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PORSEGREGATE_PASSPHRASE", "PORSEGREGATE_DATAROOM_PASSPHRASE")
    }
    folder = tmp_path / "room"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "porsegregate.cli",
            "dataroom",
            "export",
            "-w",
            str(clean.workspace),
            "--epoch",
            clean.epochs[-1],
            "--out",
            str(folder),
            "--reserves",
            str(reserves_of(clean)),
            "--passphrase-file",
            str(workspace_pass),
            "--dataroom-passphrase-file",
            str(room_pass),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "porsegregate.cli",
            "audit",
            str(clean.site),
            "--dataroom",
            str(folder),
            "--dataroom-passphrase-file",
            str(room_pass),
            "--all",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "AUDIT PASSED" in proc.stdout
    assert f"{h.CLIENTS} client proofs opened" in proc.stdout
    # No passphrase and no terminal: a clear error, exit 3.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "porsegregate.cli",
            "audit",
            str(clean.site),
            "--dataroom",
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "no data-room passphrase" in proc.stderr


# -- (f) never overwritten without --force -----------------------------------------------------


def test_an_existing_folder_is_replaced_only_with_force(clean: h.History, tmp_path: Path) -> None:
    folder = tmp_path / "room"
    export(clean, folder)
    first = (folder / SECRETS).read_bytes()
    with pytest.raises(InputError, match="already exists; refusing to overwrite it"):
        export(clean, folder)
    assert (folder / SECRETS).read_bytes() == first
    args = ["dataroom", "export", "-w", str(clean.workspace), "--epoch", clean.epochs[-1]]
    refused = run(*args, "--out", str(folder))
    assert refused.exit_code == 3 and "use --force" in refused.output
    assert (folder / SECRETS).read_bytes() == first
    replaced = run(*args, "--out", str(folder), "--force", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(replaced.output)["replaced"] is True
    assert (folder / SECRETS).read_bytes() != first  # a new salt: a new file
    open_dataroom(folder, ROOM_PASSPHRASE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["room"]  # no staging left behind
    # --force never replaces a folder that is not a data room, nor a file.
    other = tmp_path / "documents"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    forced = run(*args, "--out", str(other), "--force")
    assert forced.exit_code == 3 and "is not a data room" in forced.output
    assert (other / "notes.txt").read_text() == "mine"
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    with pytest.raises(InputError, match="not a folder"):
        export(clean, a_file, force=True)
    # What a killed export left beside the folder is removed by the next one.
    leftover = tmp_path / ".room.staging-killed"
    leftover.mkdir()
    (leftover / LIABILITIES).write_text("account_id,asset,amount\n")
    export(clean, folder, force=True)
    assert not leftover.exists()
    # An empty folder is simply filled.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export(clean, empty, force=True).replaced is True
    open_dataroom(empty, ROOM_PASSPHRASE)
