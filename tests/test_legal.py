"""Legal segregation (issue 14): entities and documents in the config and the signed
attestation; the publisher's refusals; legal-holders, legal-documents and the change
warnings in the Python verifier; audit's `legal` and `--documents`."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from porsegregate import _crypto
from porsegregate.audit import FAIL, PASS, audit_site
from porsegregate.cli import main
from porsegregate.cosign import cosign
from porsegregate.errors import ConfigError, FormatError, InputError, ReservesError
from porsegregate.protocol.legal import lei_problem, parse_legal
from porsegregate.protocol.serialization import parse_attestation, parse_proof_file
from porsegregate.publish.config import load_config
from porsegregate.publish.demo import DEMO_PASSPHRASE
from porsegregate.publish.demo_reserves import OPCO, SPV, TRUST
from porsegregate.verify.client import verify_history, verify_proof, verify_site

from .support import history as h
from .support import legal_attacks as la
from .support.proof_files import save

GOOD_LEI = "5493001KJTIIGC8Y1R12"


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> h.History:
    return h.build_history(tmp_path_factory.mktemp("legal") / "demo")


def _ids(report: Any) -> list[str]:
    return [c.id for c in report.checks]


# -- LEIs (ISO 17442, ISO 7064 MOD 97-10) --------------------------------------------------


@pytest.mark.parametrize(
    ("lei", "problem"),
    [
        (GOOD_LEI, None),
        ("549300DEMOTRUST00008", None),
        (
            "5493001KJTIIGC8Y1R13",
            "LEI '5493001KJTIIGC8Y1R13': the check digits 13 are wrong (ISO 7064 MOD 97-10): "
            "for 5493001KJTIIGC8Y1R they are 12",
        ),
        (
            "5493001KJTIIGC8Y1R1",
            "LEI '5493001KJTIIGC8Y1R1' must be exactly 20 characters (it has 19)",
        ),
        (
            "5493001kjtiigc8y1r12",
            "LEI '5493001kjtiigc8y1r12' must be 18 characters of 0-9 and A-Z (upper case) and "
            "2 check digits",
        ),
        (
            "5493001KJTIIGC8Y1RAB",
            "LEI '5493001KJTIIGC8Y1RAB' must be 18 characters of 0-9 and A-Z (upper case) and "
            "2 check digits",
        ),
    ],
)
def test_lei(lei: str, problem: str | None) -> None:
    assert lei_problem(lei) == problem


# -- the attestation's `legal` member -----------------------------------------------------------


def _legal() -> dict[str, Any]:
    return {
        "entities": [
            {
                "name": "A Trust",
                "role": "trustee",
                "jurisdiction": "GB",
                "lei": GOOD_LEI,
                "registration": None,
            },
            {
                "name": "B Opco",
                "role": "operating_company",
                "jurisdiction": "US-DE",
                "lei": None,
                "registration": "123",
            },
        ],
        "documents": [
            {
                "title": "Trust deed",
                "kind": "trust_deed",
                "date": "2026-01-15",
                "binds": ["A Trust", "B Opco"],
                "sha256": "ab" * 32,
                "file": "documents/" + "ab" * 32 + ".pdf",
            }
        ],
    }


def _set(path: str, value: Any) -> dict[str, Any]:
    doc = _legal()
    *parents, last = path.split(".")
    target: Any = doc
    for p in parents:
        target = target[int(p)] if p.isdigit() else target[p]
    if value is _DELETE:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("entities", [], "legal.entities must be a list of 1 to 100 items"),
        ("entities.0.role", "boss", "legal.entities[0].role 'boss' is not one of custodian, "),
        ("entities.0.jurisdiction", "gb", "legal.entities[0].jurisdiction 'gb' must be an ISO"),
        ("entities.0.lei", "5493001KJTIIGC8Y1R13", "legal.entities[0].lei: LEI '5493001KJTII"),
        ("entities.0.name", " A Trust", "legal.entities[0].name must be non-empty without"),
        ("entities.1.registration", None, "legal.entities[1]: at least one of lei and regis"),
        ("entities.1.name", "0 Opco", "legal.entities must be sorted by name without dup"),
        ("entities.0.extra", 1, "legal.entities[0] has unknown member(s) extra"),
        ("documents.0.kind", "deed", "legal.documents[0].kind 'deed' is not one of trust_deed"),
        ("documents.0.date", "2026-02-30", "legal.documents[0].date '2026-02-30' must be a real"),
        ("documents.0.binds", ["B Opco", "A Trust"], "legal.documents[0].binds must be sorted"),
        ("documents.0.binds", ["C"], "legal.documents[0].binds: 'C' is not a declared entity"),
        ("documents.0.binds", [], "legal.documents[0].binds must be a list of 1 to 100 items"),
        ("documents.0.sha256", "AB" * 32, "legal.documents[0].sha256 must be 64 lowercase hex"),
        ("documents.0.file", "documents/" + "cd" * 32, "legal.documents[0].file must be null"),
        ("documents.0.file", "documents/" + "ab" * 32 + ".PDF", "legal.documents[0].file must"),
        ("documents.0.file", _DELETE, "legal.documents[0].file is missing"),
    ],
)
def test_legal_format_errors_name_the_member(path: str, value: Any, error: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_legal(_set(path, value))
    assert str(caught.value).startswith(error)


def test_legal_parses_and_hash_only_documents_have_no_file() -> None:
    doc = _set("documents.0.file", None)
    legal = parse_legal(doc)
    assert legal.documents[0].file is None and legal.entity("B Opco") is not None


# -- the config ---------------------------------------------------------------------------------


CONFIG = """\
[custodian]
name = "X"
legal_entity = "X Ltd"
[segregation]
arrangement = "on trust"
[[assets]]
code = "BTC"
decimals = 8
"""
ENTITY = '[[entities]]\nname = "A Trust"\nrole = "trustee"\njurisdiction = "GB"\n'
DOCUMENT = (
    '[[documents]]\ntitle = "Deed"\nkind = "trust_deed"\ndate = 2026-01-15\n'
    'binds = ["A Trust"]\nfile = "deed.pdf"\npublish = true\n'
)


@pytest.mark.parametrize(
    ("tables", "error"),
    [
        (
            ENTITY + 'lei = "5493001KJTIIGC8Y1R13"\n',
            "[[entities]] entry 1 (A Trust): LEI '5493001KJTIIGC8Y1R13': the check digits 13 are "
            "wrong (ISO 7064 MOD 97-10): for 5493001KJTIIGC8Y1R they are 12",
        ),
        (
            ENTITY + 'lei = "5493001KJTIIGC8Y1R1"\n',
            "[[entities]] entry 1 (A Trust): LEI '5493001KJTIIGC8Y1R1' must be exactly 20 "
            "characters (it has 19)",
        ),
        (
            ENTITY + 'lei = "5493001kjtiigc8y1r12"\n',
            "[[entities]] entry 1 (A Trust): LEI '5493001kjtiigc8y1r12' must be 18 characters "
            "of 0-9 and A-Z (upper case) and 2 check digits",
        ),
        (ENTITY, "[[entities]] entry 1 (A Trust): needs an lei or a registration number"),
        (
            ENTITY.replace("trustee", "boss") + 'registration = "1"\n',
            "[[entities]] entry 1 (A Trust): role must be one of custodian, trustee, ",
        ),
        (
            ENTITY + f'lei = "{GOOD_LEI}"\n' + DOCUMENT.replace('"deed.pdf"', '"missing.pdf"'),
            "[[documents]] entry 1 (Deed): cannot read the file ",
        ),
        (
            ENTITY + f'lei = "{GOOD_LEI}"\n' + DOCUMENT.replace('["A Trust"]', '["Nobody"]'),
            "[[documents]] entry 1 (Deed): binds 'Nobody', which is not a declared [[entities]] "
            "name",
        ),
        (
            ENTITY + f'lei = "{GOOD_LEI}"\n' + DOCUMENT.replace("2026-01-15", '"2026-13-01"'),
            "[[documents]] entry 1 (Deed): date '2026-13-01' must be a real calendar date",
        ),
        (DOCUMENT, "[[documents]] need the [[entities]] they bind"),
    ],
)
def test_config_errors_name_the_file_and_entry(tables: str, error: str, tmp_path: Path) -> None:
    (tmp_path / "deed.pdf").write_bytes(b"%PDF deed")
    path = tmp_path / "porsegregate.toml"
    path.write_text(CONFIG + tables)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: {error}"), str(caught.value)


def test_config_hashes_each_document(tmp_path: Path) -> None:
    (tmp_path / "deed.pdf").write_bytes(b"%PDF deed")
    path = tmp_path / "porsegregate.toml"
    hidden = DOCUMENT.replace('"Deed"', '"Opinion"').replace("true", "false")
    path.write_text(CONFIG + ENTITY + 'registration = "9"\n' + DOCUMENT)
    legal = load_config(path).legal
    assert legal is not None
    sha = hashlib.sha256(b"%PDF deed").hexdigest()
    assert legal.documents[0].sha256 == sha
    assert legal.documents[0].file == f"documents/{sha}.pdf"
    (tmp_path / "opinion.txt").write_bytes(b"opinion")
    path.write_text(
        CONFIG + ENTITY + 'registration = "9"\n' + hidden.replace("deed.pdf", "opinion.txt")
    )
    legal = load_config(path).legal
    assert legal is not None and legal.documents[0].file is None


# -- the demo -----------------------------------------------------------------------------------


def test_the_demo_declares_its_entities_and_documents(clean: h.History) -> None:
    attestation = parse_attestation((clean.site / "attestation.json").read_bytes())
    legal = attestation.legal
    assert legal is not None
    roles = {e.role for e in legal.entities}
    assert {"trustee", "bankruptcy_remote_vehicle", "sub_custodian", "operating_company"} <= roles
    assert [d.file is not None for d in legal.documents].count(True) == 1
    assert len(legal.documents) == 3
    published = next(d for d in legal.documents if d.file)
    assert published.file is not None
    manifest = json.loads((clean.site / "manifest.json").read_bytes())
    assert manifest["files"][published.file] == published.sha256
    assert all(legal.entity(w.holder) for w in attestation.reserves.wallets)
    hidden = [d for d in legal.documents if d.file is None]
    assert not any((clean.site / "documents").glob(f"{hidden[0].sha256}*"))


# -- the publisher refuses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("holder", "problem"),
    [
        ("Nobody Ltd", "its holder 'Nobody Ltd' is not a declared entity of "),
        (
            OPCO,
            "its holder 'Demo Custody Ltd' is the custodian's operating company, which cannot "
            "be the protective holder of client assets (client_segregated)",
        ),
    ],
)
def test_the_publisher_refuses_a_bad_holder(
    clean: h.History, tmp_path: Path, holder: str, problem: str
) -> None:
    copy = clean.copy(tmp_path / "copy")

    def edit(wallets: list[dict[str, Any]]) -> None:
        next(w for w in wallets if w["category"] == "client_segregated")["holder"] = holder

    with pytest.raises(ReservesError) as caught:
        la.publish_edited(copy, "refused", 606, edit)
    problems = caught.value.problems
    reserves = copy.workspace / "data" / "reserves-refused.toml"
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{reserves}: wallet ")
    assert ", client_segregated): " + problem in problems[0]
    # `reserves check` says the same, and exits 1
    copy_config = copy.config.path
    result = CliRunner().invoke(
        main,
        [
            "reserves",
            "check",
            "--workspace",
            str(copy_config.parent),
            "--epoch",
            "refused",
            "--reserves",
            str(reserves),
            "--liabilities",
            str(copy.workspace / "data" / "liabilities-refused.csv"),
        ],
        env={"PORSEGREGATE_PASSPHRASE": DEMO_PASSPHRASE.decode()},
    )
    assert result.exit_code == 1, result.output
    assert problem in result.output


# -- the verifier and audit catch -------------------------------------------------------------


def test_a_clean_site_passes_the_legal_checks(clean: h.History, tmp_path: Path) -> None:
    report = verify_site(str(clean.site), clean.account, clean.code)
    assert report.verified, report.failed
    ids = _ids(report)
    at = ids.index("reserves-coverage")
    assert ids[at + 1 : at + 3] == ["legal-holders", "legal-documents"]
    assert report.warnings == []
    assert audit_site(str(clean.site)).status("legal") == PASS


def test_a_proof_file_runs_legal_holders_but_not_legal_documents(clean: h.History) -> None:
    doc = save(clean.site, clean.account, clean.code)
    proof = parse_proof_file(json.dumps(doc).encode())
    report = verify_proof(proof, clean.account, clean.code)
    assert report.verified, report.failed
    assert "legal-holders" in _ids(report) and "legal-documents" not in _ids(report)


def test_an_operating_company_holding_client_assets_fails_legal_holders(
    clean: h.History, tmp_path: Path
) -> None:
    copy = clean.copy(tmp_path / "copy")
    la.operating_company_holds_client_wallet(copy)
    report = verify_site(str(copy.site), copy.account, copy.code)
    assert report.failed is not None and report.failed.id == "legal-holders"
    assert report.failed.detail.startswith("bitcoin ")
    assert report.failed.detail.endswith(
        "(client_segregated): its holder 'Demo Custody Ltd' is the custodian's operating "
        "company, which cannot be the protective holder of client assets (client_segregated)"
    )
    audit = audit_site(str(copy.site))
    lines = [c.detail for c in audit.checks if c.id == "legal" and c.status == FAIL]
    assert lines and all("legal-holders: bitcoin " in line for line in lines)
    assert lines[0].startswith(f"./ (epoch {la.OPCO_EPOCH}): legal-holders: ")
    assert len(lines) == 1  # the same attestation at the root and its home: said once


def test_a_published_document_that_differs_from_its_hash_fails_legal_documents(
    clean: h.History, tmp_path: Path
) -> None:
    copy = clean.copy(tmp_path / "copy")
    name = la.swap_published_document(copy)
    report = verify_site(str(copy.site), copy.account, copy.code)
    assert report.failed is not None and report.failed.id == "legal-documents"
    assert report.failed.detail == (
        f"{name} (Declaration of trust over client assets): its bytes do not match the sha256 "
        "the attestation signs"
    )
    audit = audit_site(str(copy.site))
    assert [c.detail for c in audit.checks if c.id == "legal" and c.status == FAIL] == [
        f"./ (epoch {copy.epochs[-1]}): legal-documents: {report.failed.detail}"
    ]


def test_a_missing_published_document_fails_legal_documents(
    clean: h.History, tmp_path: Path
) -> None:
    copy = clean.copy(tmp_path / "copy")
    name = next((copy.site / "documents").iterdir()).relative_to(copy.site).as_posix()
    (copy.site / name).unlink()
    report = verify_site(str(copy.site), copy.account, copy.code)
    assert report.failed is not None and report.failed.id == "legal-documents"
    assert report.failed.detail == (
        f"{name} (Declaration of trust over client assets) is missing from the site"
    )


def test_a_trustee_change_is_a_warning(clean: h.History, tmp_path: Path) -> None:
    copy = la.change_trustee(clean.copy(tmp_path / "copy"))
    report = verify_site(str(copy.site), copy.account, copy.code)
    assert report.verified, report.failed
    held = {b.asset for b in report.balances}
    expected = []
    if "BTC" in held:  # BTC is held by the trustee and the SPV
        expected.append(
            f"the holders of your BTC changed since the previous epoch: {SPV} (bankruptcy "
            f"remote vehicle), {TRUST} (trustee) -> {SPV} (bankruptcy remote vehicle), "
            f"{la.NEW_TRUSTEE} (trustee)"
        )
    for asset in ("ETH", "USDC", "USDT"):
        if asset in held:
            expected.append(
                f"the trustee of your {asset} changed since the previous epoch: {TRUST} "
                f"(trustee) -> {la.NEW_TRUSTEE} (trustee)"
            )
    assert expected  # the demo's client holds some of them
    warnings = report.warnings
    assert warnings == [
        f"entity removed since the previous epoch: {TRUST} (trustee)",
        f"entity added since the previous epoch: {la.NEW_TRUSTEE} (trustee, GB)",
        *expected,
    ]
    # the overview's history shows it, epoch by epoch (every asset, escaped)
    index = (copy.site / "index.html").read_text(encoding="utf-8")
    assert (
        f"the trustee of ETH changed since the previous epoch: {TRUST} (trustee) -&gt; "
        f"{la.NEW_TRUSTEE} (trustee)" in index
    )
    assert index.count('<span class="muted">unchanged</span>') == len(clean.epochs) - 1
    # --all-epochs: the newest epoch's report says so too, and the earlier ones do not
    history = verify_history(str(copy.site), copy.account, copy.code)
    assert history.verified, history.to_json()
    assert history.latest.warnings == warnings
    assert [e.epoch for e in history.epochs] == [*clean.epochs, la.NEW_TRUSTEE_EPOCH]
    for e in history.epochs[:-1]:  # the demo's epochs did not change their arrangement
        assert e.report is not None and e.report.verified
        assert not [w for w in e.report.warnings if not w.startswith("overdue: ")]
    result = CliRunner().invoke(
        main,
        ["verify", "--site", str(copy.site), "--account", copy.account, "--all-epochs"],
        env={"PORSEGREGATE_CODE": copy.code},
    )
    assert result.exit_code == 0, result.output
    assert expected[0] in result.output


# -- audit --documents --------------------------------------------------------------------------


def _documents(clean: h.History, folder: Path, leave_out: str | None, extra: bool) -> Path:
    folder.mkdir()
    for path in (clean.workspace / "documents").iterdir():
        if path.name != leave_out:
            shutil.copy(path, folder / path.name)
    if extra:
        (folder / "notes.txt").write_text("the auditor's notes\n")
    return folder


def test_audit_documents_with_every_file(clean: h.History, tmp_path: Path) -> None:
    folder = _documents(clean, tmp_path / "room", None, extra=False)
    report = audit_site(str(clean.site), documents=folder)
    assert report.status("legal") == PASS
    assert sorted((d["file"], d["status"]) for d in report.documents) == [
        ("legal-opinion.txt", "matched"),
        ("sub-custody-agreement.txt", "matched"),
        ("trust-deed.txt", "matched"),
    ]
    detail = next(c.detail for c in report.checks if c.id == "legal")
    assert "2 of 2 hash-only document(s) shown" in detail


def test_audit_documents_with_a_missing_and_an_extra_file(clean: h.History, tmp_path: Path) -> None:
    folder = _documents(clean, tmp_path / "room", "legal-opinion.txt", extra=True)
    report = audit_site(str(clean.site), documents=folder)
    attestation = parse_attestation((clean.site / "attestation.json").read_bytes())
    assert attestation.legal is not None
    opinion = next(d for d in attestation.legal.documents if d.kind == "legal_opinion")
    assert [c.detail for c in report.checks if c.id == "legal" and c.status == FAIL] == [
        f"legal-documents-private: no file in {folder} has the sha256 of the hash-only "
        f"document {opinion.title!r} (legal_opinion, {opinion.date}, sha256 {opinion.sha256})"
    ]
    statuses = {d["file"] or d["title"]: d["status"] for d in report.documents}
    assert statuses == {
        "notes.txt": "no document",
        "sub-custody-agreement.txt": "matched",
        "trust-deed.txt": "matched",
        opinion.title: "missing",
    }
    result = CliRunner().invoke(main, ["audit", str(clean.site), "--documents", str(folder)])
    assert result.exit_code == 1
    assert "document: notes.txt matches no document (not a failure)" in result.output
    assert "AUDIT FAILED: 1 check(s) failed: legal" in result.output


def test_audit_documents_folder_must_exist(clean: h.History, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["audit", str(clean.site), "--documents", str(tmp_path / "none")]
    )
    assert result.exit_code == 3
    assert "--documents" in result.output and "no such folder" in result.output


def test_a_workspace_without_entities_publishes_no_legal_member(published: dict[str, Any]) -> None:
    """A workspace that declares no entities publishes no `legal` member (and passes)."""
    attestation = parse_attestation((published["site"] / "attestation.json").read_bytes())
    assert attestation.legal is None
    assert b'"legal"' not in (published["site"] / "attestation.json").read_bytes()


# -- the reserves page --------------------------------------------------------------------------


def test_the_reserves_page_shows_who_holds_client_assets(clean: h.History) -> None:
    page = (clean.site / "reserves.html").read_text(encoding="utf-8")
    section = page[page.index('id="legal-heading"') : page.index('id="coverage-heading"')]
    attestation = parse_attestation((clean.site / "attestation.json").read_bytes())
    assert attestation.legal is not None
    for e in attestation.legal.entities:
        assert f'<th scope="row">{e.name}</th>' in section
        assert e.role.replace("_", " ") in section
    assert 'LEI <code class="hash">549300DEMOTRUST00008</code>' in section
    assert "registration JE-123456" in section
    for d in attestation.legal.documents:
        assert f'<code class="hash">{d.sha256}</code>' in section
        link = f'<a href="{d.file}">{d.title}</a>'
        assert (link in section) is (d.file is not None)
    # BTC: two holders, shares rounded down (integers only), like coverage
    btc = [w for w in attestation.reserves.wallets if w.category == "client_segregated"]
    held = {
        holder: sum(w.amount("BTC") for w in btc if w.holder == holder) for holder in (SPV, TRUST)
    }
    total = sum(held.values())
    for holder, amount in held.items():
        basis = amount * 10_000 // total
        assert f"{basis // 100}.{basis % 100:02d} %" in section, holder
    assert "style=" not in section  # the page's CSP allows no inline style
    # the published document is at its link, in the root and in the epoch's home
    published = next(d for d in attestation.legal.documents if d.file)
    assert published.file is not None
    home = clean.site / "epochs" / attestation.epoch_id
    assert (clean.site / published.file).read_bytes() == (home / published.file).read_bytes()
    assert hashlib.sha256((home / published.file).read_bytes()).hexdigest() == published.sha256


def test_a_page_without_legal_entities_says_so(published: dict[str, Any]) -> None:
    page = (published["site"] / "reserves.html").read_text(encoding="utf-8")
    assert "This attestation declares no legal entities" in page


# -- an auditor's co-signature states the documents it reviewed --------------------------------


def test_cosign_states_the_reviewed_documents(clean: h.History, tmp_path: Path) -> None:
    copy = clean.copy(tmp_path / "copy")
    folder = _documents(clean, tmp_path / "reviewed", "legal-opinion.txt", extra=False)
    key = _crypto.generate_signing_key()
    result = cosign(copy.site, key, "Legal Review LLP", reviewed_documents=folder)
    statement = (copy.site / "auditors" / result.fingerprint / "statement.txt").read_text(
        encoding="utf-8"
    )
    attestation = parse_attestation((copy.site / "attestation.json").read_bytes())
    assert attestation.legal is not None
    reviewed = sorted(
        (d for d in attestation.legal.documents if d.kind != "legal_opinion"),
        key=lambda d: d.sha256,
    )
    assert statement.endswith(
        "Legal Review LLP reviewed these documents of the arrangement (SHA-256, as signed):\n"
        + "".join(f"{d.sha256} {d.title}\n" for d in reviewed)
    )
    # auditor.json keeps its members: both verifiers read the co-signature as before
    report = verify_site(str(copy.site), copy.account, copy.code)
    assert report.verified, report.failed
    assert [a["ok"] for a in report.auditors] == [True]


def test_cosign_refuses_a_file_that_is_no_document(clean: h.History, tmp_path: Path) -> None:
    copy = clean.copy(tmp_path / "copy")
    folder = _documents(clean, tmp_path / "reviewed", None, extra=True)
    with pytest.raises(InputError) as caught:
        cosign(copy.site, _crypto.generate_signing_key(), "X LLP", reviewed_documents=folder)
    assert str(caught.value) == (
        f"--reviewed-documents {folder}: notes.txt is no document of the attestation of epoch "
        f"{copy.epochs[-1]} (its SHA-256 is not signed there)"
    )
    # Nothing is written: the publisher's empty index is all there is.
    assert [p.name for p in (copy.site / "auditors").iterdir()] == ["index.json"]
    assert (copy.site / "auditors" / "index.json").read_bytes() == b"[]"


def test_a_published_document_has_its_own_fetch_limit() -> None:
    from porsegregate.protocol import layout

    sha = "ab" * 32
    for name in (
        f"documents/{sha}.pdf",
        f"epochs/2026-10/documents/{sha}.html",
        f"documents/{sha}",
    ):
        assert layout.fetch_limit(name) == ("a published document", 64 * layout.MIB)
    assert layout.fetch_limit("documents/notes.pdf") == ("a file", 16 * layout.MIB)


def test_config_refuses_publishing_a_document_verifiers_would_not_fetch(tmp_path: Path) -> None:
    (tmp_path / "deed.pdf").write_bytes(b"\0" * (64 * 1024 * 1024 + 1))
    path = tmp_path / "porsegregate.toml"
    path.write_text(CONFIG + ENTITY + 'registration = "9"\n' + DOCUMENT)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}: [[documents]] entry 1 (Deed): {tmp_path / 'deed.pdf'} is 67108865 bytes; a "
        "published document is at most 64 MiB (what verifiers fetch): publish = false, or a "
        "smaller file"
    )
    path.write_text(CONFIG + ENTITY + 'registration = "9"\n' + DOCUMENT.replace("true", "false"))
    legal = load_config(path).legal
    assert legal is not None and legal.documents[0].file is None
