"""Witnesses (docs/protocol.md section 13, T16): a split view needs colluding witnesses.

The demo names two witnesses (threshold 2) and co-signs each checkpoint with them;
`porsegregate witness` checks consistency with what it co-signed before. The attacks
live in tests/support/history.py so Node, the browser and audit run them too. The
last tests check our notes with an independent reading of the C2SP texts.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from porsegregate import _crypto
from porsegregate.audit import audit_site
from porsegregate.cli import main
from porsegregate.errors import ConfigError, FormatError, VerificationError
from porsegregate.protocol.models import Witness
from porsegregate.protocol.witness import parse_vkey, vkey
from porsegregate.publish.demo import DEMO_PASSPHRASE, demo_witness_keys
from porsegregate.verify.client import verify_site
from porsegregate.witness import witness

from .support import history as h


@pytest.fixture(scope="session")
def clean(tmp_path_factory: pytest.TempPathFactory) -> h.History:
    return h.build_history(tmp_path_factory.mktemp("witness") / "demo")


def _failed(report: object) -> set[str]:
    return {c.id for c in report.failed}  # type: ignore[attr-defined]


def test_the_demo_site_is_co_signed_by_both_witnesses(clean: h.History) -> None:
    report = verify_site(str(clean.site), clean.account, clean.code)
    assert report.verified, report.to_json()
    check = next(c for c in report.checks if c.id == "log-witnesses")
    assert check.detail.startswith("co-signed by 2 of 2 witnesses (at least 2 required)")
    assert [w["name"] for w in report.witnesses] == [
        "witness-1.demo.example",
        "witness-2.demo.example",
    ]
    assert all(w["ok"] for w in report.witnesses)
    attestation = json.loads((clean.site / "attestation.json").read_bytes())
    assert attestation["witnesses"]["threshold"] == 2
    assert audit_site(str(clean.site)).status("log-witnesses") == "pass"


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        (h.strip_witness_cosignature, "no co-signature published"),
        (h.witness_cosignature_by_unnamed_key, "no signature line by this witness's key"),
        (h.witness_cosignature_of_another_checkpoint, "of another checkpoint"),
    ],
)
def test_a_checkpoint_below_the_threshold_is_rejected(
    clean: h.History, tmp_path: Path, attack: object, reason: str
) -> None:
    copy = clean.copy(tmp_path / "attacked")
    attack(copy)  # type: ignore[operator]
    report = verify_site(str(copy.site), copy.account, copy.code)
    assert report.failed is not None and report.failed.id == "log-witnesses", report.to_json()
    assert "co-signed by 1 of the 2 witnesses the attestation requires" in report.failed.detail
    assert reason in report.failed.detail
    assert [w["ok"] for w in report.witnesses].count(True) == 1
    audit = audit_site(str(copy.site))
    assert _failed(audit) == {"log-witnesses"}


def test_a_fork_is_rejected_by_a_client_with_no_memory(clean: h.History, tmp_path: Path) -> None:
    """The witnesses co-signed fork A; they refuse fork B (h.fork asserts it), so a client
    who never saw A still rejects B, and an auditor too."""
    first, second = h.fork(clean, tmp_path)
    assert verify_site(str(first.site), first.account, first.code).verified
    report = verify_site(str(second.site), second.account, second.code)
    assert report.failed is not None and report.failed.id == "log-witnesses"
    assert "co-signed by 0 of the 2" in report.failed.detail
    assert _failed(audit_site(str(second.site))) == {"log-witnesses"}
    # The witness command says so, and exits 1.
    result = CliRunner().invoke(
        main,
        [
            "witness",
            str(second.site),
            "--key",
            str(second.workspace / "keys" / "witness-1.key.pem"),
            "--name",
            "witness-1.demo.example",
            "--state",
            str(tmp_path / "witness-states" / "witness-1.json"),
        ],
        env={"PORSEGREGATE_PASSPHRASE": DEMO_PASSPHRASE.decode()},
    )
    assert result.exit_code == 1, result.output
    assert "the site's log of size 4 has root" in result.output
    assert "a fork; refusing to co-sign" in result.output


def test_the_witness_refuses_a_rollback_and_keeps_its_state(
    clean: h.History, tmp_path: Path
) -> None:
    newer = clean.copy(tmp_path / "newer")
    states = tmp_path / "states"
    assert h.publish_next(newer, "next", seed=5, witness_states=states) == []
    saved = json.loads((states / "witness-1.json").read_bytes())
    (entry,) = saved["logs"].values()
    assert entry["size"] == 4
    older = clean.copy(tmp_path / "older")
    name, key = demo_witness_keys(older.workspace)[0]
    with pytest.raises(VerificationError, match="a rollback") as caught:
        witness(older.site, key, name, states / "witness-1.json", force=True)
    assert caught.value.check == "witness-consistency"
    assert json.loads((states / "witness-1.json").read_bytes()) == saved


def test_the_witness_refuses_an_inconsistent_next_checkpoint(
    clean: h.History, tmp_path: Path
) -> None:
    """A witness that co-signed size 3 is shown a size-4 log whose consistency proof does
    not lead from its checkpoint (the custodian rewrote an entry and re-signed everything)."""
    states = tmp_path / "states"
    base = clean.copy(tmp_path / "base")
    name, key = demo_witness_keys(base.workspace)[0]
    witness(base.site, key, name, states / "w.json", force=True)  # remembers size 3
    state = json.loads((states / "w.json").read_bytes())
    (log,) = state["logs"]
    state["logs"][log]["root"] = hashlib.sha256(b"another size-3 history").hexdigest()
    (states / "w.json").write_text(json.dumps(state))
    h.publish_next(base, "next", seed=7, witness_states=tmp_path / "other-states")
    with pytest.raises(VerificationError, match="not an extension of the one of size 3"):
        witness(base.site, key, name, states / "w.json", force=True)


def test_the_witness_never_overwrites_without_force_and_checks_its_name(
    clean: h.History, tmp_path: Path
) -> None:
    copy = clean.copy(tmp_path / "copy")
    name, key = demo_witness_keys(copy.workspace)[1]
    state = tmp_path / "w2.json"
    with pytest.raises(ConfigError, match="refusing to overwrite it"):
        witness(copy.site, key, name, state)
    assert not state.exists()
    result = witness(copy.site, key, name, state, force=True)
    assert result.replaced and len(result.files) == 2  # the root and the newest epoch's home
    assert verify_site(str(copy.site), copy.account, copy.code).verified
    with pytest.raises(ConfigError, match="names this key as witness"):
        witness(copy.site, key, "someone-else.example", state, force=True)
    with pytest.raises(ConfigError, match="does not name this witness key"):
        witness(copy.site, _crypto.generate_signing_key(), name, state, force=True)


def test_verifier_keys_round_trip_and_reject_a_wrong_key_id() -> None:
    key = _crypto.generate_signing_key()
    w = Witness("witness.example/w1", _crypto.raw_public_key(key.public_key()))
    text = vkey(w)
    assert parse_vkey(text) == w
    name, kid, encoded = text.split("+", 2)
    wrong = f"{name}+{'0' * 8 if kid != '0' * 8 else '1' * 8}+{encoded}"
    with pytest.raises(FormatError, match="is not the key's"):
        parse_vkey(wrong)
    with pytest.raises(FormatError, match="without '\\+'"):
        parse_vkey(f"a b+{kid}+{encoded}")


# -- an independent reading of the C2SP texts -------------------------------------------------
# c2sp.org/signed-note, c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature: written from the
# specifications with `cryptography` only, sharing no code with porsegregate.


def _note(data: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    text = data.decode("utf-8")
    assert text.endswith("\n") and all(c == "\n" or ord(c) >= 0x20 for c in text)
    cut = text.rindex("\n\n")
    body, sigs = text[: cut + 1], text[cut + 2 :].splitlines()
    out = []
    for line in sigs:
        dash, name, b64 = line.split(" ")
        assert dash == "\u2014"
        out.append((name, base64.b64decode(b64, validate=True)))
    return body.encode(), out


def _key_id(name: str, kind: bytes, raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\x0a" + kind + raw).digest()[:4]


def test_checkpoint_and_cosignatures_verify_with_an_independent_implementation(
    clean: h.History,
) -> None:
    site = clean.site
    pem = serialization.load_pem_public_key((site / "custodian.pub.pem").read_bytes())
    assert isinstance(pem, Ed25519PublicKey)
    log_raw = pem.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    checkpoint = json.loads((site / "log" / "checkpoint.json").read_bytes())

    # tlog-checkpoint: origin, size, base64 root; the log's Ed25519 signed-note line.
    body, sigs = _note((site / "log" / "checkpoint.note").read_bytes())
    origin, size, root = body.decode().splitlines()
    assert origin == "porsegregate/" + hashlib.sha256(log_raw).hexdigest()
    assert int(size) == checkpoint["size"]
    assert base64.b64decode(root).hex() == checkpoint["root"]
    ((name, payload),) = sigs
    assert name == origin and payload[:4] == _key_id(origin, b"\x01", log_raw)
    pem.verify(payload[4:], body)

    # The witnesses named in the attestation, as C2SP vkeys.
    attestation = json.loads((site / "attestation.json").read_bytes())
    verified = 0
    for text in attestation["witnesses"]["keys"]:
        wname, kid, b64 = text.split("+", 2)
        raw = base64.b64decode(b64)
        assert raw[0] == 4 and bytes.fromhex(kid) == _key_id(wname, b"\x04", raw[1:])
        key = Ed25519PublicKey.from_public_bytes(raw[1:])
        path = site / "log" / "witnesses" / size / (hashlib.sha256(raw[1:]).hexdigest() + ".note")
        wbody, wsigs = _note(path.read_bytes())
        assert wbody == body
        for signer, sig in wsigs:
            if signer != wname or sig[:4] != bytes.fromhex(kid):
                continue  # signed-note: ignore signatures from unknown keys
            assert len(sig) == 4 + 8 + 64
            timestamp = int.from_bytes(sig[4:12], "big")
            message = b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + body
            key.verify(sig[12:], message)
            with pytest.raises(InvalidSignature):
                key.verify(sig[12:], message.replace(b"time ", b"time 1"))
            verified += 1
    assert verified == attestation["witnesses"]["threshold"] == 2


# -- known answers from deployed C2SP tooling ----------------------------------------------------
# A checkpoint of the staging CT log arche2025h1.staging.ct.transparency.dev with the
# cosignatures of public witnesses, and the verifier keys of the log and of the witness
# remora.n621.de, as quoted in the tests of a third-party Python implementation (found with the
# code search: class TestCheckpointVerification). remora's key is also the cosignature/v1 key
# of the tests of transparency-dev/formats v0.1.1 (note/note_cosigv1_test.go).
REAL_CHECKPOINT = (
    "arche2025h1.staging.ct.transparency.dev\n"
    "1432088532\n"
    "U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n"
    "\n"
    "\u2014 arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf"
    "9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvG"
    "t0=\n"
    "\u2014 arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQ"
    "abg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=\n"
    "\u2014 transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjM"
    "WE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==\n"
    "\u2014 witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4"
    "+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==\n"
    "\u2014 remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXC"
    "g9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==\n"
    "\u2014 witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeG"
    "i9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==\n"
).encode()
REAL_LOG_VKEY = (
    "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"
)
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"


def test_a_real_witness_cosignature_counts_and_its_key_parses() -> None:
    from porsegregate.protocol.witness import ED25519, key_id, parse_note
    from porsegregate.verify.checks import witness_cosignature

    remora = parse_vkey(REMORA_VKEY)
    assert remora.name == "remora.n621.de" and vkey(remora) == REMORA_VKEY
    note = parse_note(REAL_CHECKPOINT)
    result = witness_cosignature(remora, note.body, REAL_CHECKPOINT)
    assert result.ok, result.detail
    assert result.timestamp is not None and result.timestamp > 1_700_000_000
    # The same note over another size is not counted.
    clobbered = REAL_CHECKPOINT.replace(b"\n1432088532\n", b"\n42\n", 1)
    assert not witness_cosignature(remora, parse_note(clobbered).body, clobbered).ok
    # The log's own Ed25519 signed-note line: the key id of type 0x01 and the signature.
    name, kid, encoded = REAL_LOG_VKEY.split("+", 2)
    raw = base64.b64decode(encoded)
    assert raw[0] == ED25519 and key_id(name, ED25519, raw[1:]).hex() == kid
    ((payload),) = [p for n, p in note.signatures if n == name and p[:4].hex() == kid]
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(payload[4:], note.body)


def test_witness_key_prints_the_vkey_the_attestation_names(clean: h.History) -> None:
    """What a witness sends the custodian is exactly the key the attestation then names."""
    import json

    doc = json.loads((clean.site / "attestation.json").read_bytes())
    result = CliRunner().invoke(
        main,
        [
            "witness-key",
            str(clean.workspace / "keys" / "witness-1.key.pem"),
            "--name",
            "witness-1.demo.example",
        ],
        env={"PORSEGREGATE_PASSPHRASE": DEMO_PASSPHRASE.decode()},
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() in doc["witnesses"]["keys"]
    assert result.output.startswith("witness-1.demo.example+")
    wrong = CliRunner().invoke(
        main,
        ["witness-key", str(clean.workspace / "keys" / "witness-1.key.pem"), "--name", "a b"],
        env={"PORSEGREGATE_PASSPHRASE": DEMO_PASSPHRASE.decode()},
    )
    assert wrong.exit_code == 3, wrong.output
