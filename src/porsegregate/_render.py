"""What the command line shows people: each command's result as text, written with click.echo.

The library returns result objects; their `to_json()` is the machine-readable
form (`--json`), and this module is the human one. Nothing here decides
anything: a verdict, a failure or an exit code comes with the result.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .protocol.amounts import format_decimal
from .protocol.coverage import percent

if TYPE_CHECKING:
    from .audit import AuditReport
    from .cosign import CosignResult
    from .protocol.models import Reserves
    from .publish.assess import Assessment, EpochChallenges
    from .publish.config import Config
    from .publish.dataroom_export import ExportResult
    from .publish.demo import DemoResult
    from .publish.pipeline import PublishResult
    from .publish.snapshot import SnapshotResult
    from .verify.client import HistoryReport, Report
    from .witness import WitnessResult


# --- the custodian's commands -----------------------------------------------------------


def workspace_created(directory: Path, config: Config) -> None:
    click.echo(f"Workspace created in {directory}")
    click.echo(f"  config:         {config.path}")
    click.echo(f"  signing key:    {config.signing_key} (encrypted)")
    click.echo(f"  public key:     {config.public_key}")
    click.echo(f"  master secret:  {config.master_secret} (encrypted)")
    click.echo(f"  sample input:   {config.liabilities}")
    epoch = "2026-11"
    click.echo(
        f"Edit the config, replace the sample input with your ledger export, declare your "
        f"wallets in {config.for_epoch(epoch).reserves} (one file per epoch; README: "
        f"'Reserves file' and 'Month two'), then, each epoch (here {epoch}, balances taken "
        f"at the end of November; one --rpc CHAIN=URL per chain of your wallets):"
    )
    common = f"--workspace {directory} --epoch {epoch}"
    full = f"{common} --snapshot-time 2026-11-30T23:59:59Z --rpc ethereum=env:ETH_RPC_URL"
    click.echo(
        f"  porsegregate reserves snapshot {common} --time 2026-11-30T23:59:59Z "
        "--rpc ethereum=env:ETH_RPC_URL"
    )
    click.echo(f"  porsegregate reserves challenge {common}")
    click.echo("  (sign each message with its wallet's key; paste the signatures in)")
    click.echo(f"  porsegregate reserves check {full}")
    click.echo(f"  porsegregate publish {full}")


def coverage(reserves: Reserves) -> None:
    """The coverage table of publish, reserves check and demo."""
    click.echo("  segregated coverage (client_segregated + client_dedicated wallets only):")
    for c in reserves.coverage:
        ratio = percent(c.segregated, c.liabilities)
        shown = "no liabilities" if ratio is None else f"{ratio}%"
        flag = "" if c.covered else "   SHORTFALL"
        click.echo(
            f"  {c.asset:<8} {shown:>10}  reserves {format_decimal(c.segregated, c.decimals)} "
            f"for liabilities {format_decimal(c.liabilities, c.decimals)}{flag}"
        )
        if c.dedicated_shortfalls:
            click.echo(f"  {'':<8} {c.dedicated_shortfalls} client(s) with a dedicated shortfall")


def publish_summary(result: PublishResult) -> None:
    click.echo(f"Published epoch {result.epoch} for {result.clients:,} clients to {result.site}")
    for a in result.attestation.assets:
        click.echo(
            f"  {a.code:<8} total {format_decimal(a.total, a.decimals):>30}  "
            f"tree height {a.padded_height}" + (f", {a.parts} parts" if (a.parts or 1) > 1 else "")
        )
    coverage(result.attestation.reserves)
    click.echo(
        f"  proof entries: {result.entries:,} ({result.entries - result.clients:,} of them "
        "dummies, so the site does not tell the client count)"
    )
    click.echo(f"  attestation sha256: {result.attestation_sha256}")
    click.echo(
        f"  site size: {_size(result.site_bytes)} on disk; this epoch added "
        f"{_size(result.epoch_bytes)} (epochs/{result.epoch}/, kept online with every later "
        "epoch)"
    )
    click.echo(f"  log: entry {result.log_size - 1}, root {result.log_root}")
    click.echo(f"  next attestation due by {result.attestation.next_due}")
    click.echo(f"  key fingerprint:    {result.fingerprint}")
    click.echo(f"  client codes (private, deliver to clients): {result.codes}")
    warn(result.warnings)


def challenges(result: EpochChallenges) -> None:
    """Each message between ---- lines, so it can be copied exactly."""
    click.echo(f"# epoch {result.epoch}, liabilities sha256 {result.liabilities_sha256}")
    click.echo(
        f"# {len(result.wallets)} wallet(s); sign each message exactly, without the ---- lines"
    )
    for item in result.wallets:
        click.echo(f"\n# {item.where}: {item.chain} {item.address} ({item.category})")
        click.echo(f"# sign with: {' or '.join(item.proof_types)}")
        click.echo("-----BEGIN MESSAGE-----")
        click.echo(item.message)
        click.echo("-----END MESSAGE-----")


def reserves_check(assessment: Assessment) -> None:
    """The report on stdout; each error and shortfall on stderr."""
    declaration = assessment.declaration
    wallets = len(assessment.reserves.wallets)
    click.echo(f"Reserves for epoch {assessment.epoch}: {wallets} wallet(s) in {declaration.path}")
    for chain in declaration.chains:
        how = (
            "balances read from the node"
            if chain.id in assessment.checked_chains
            else "balances declared, not checked (no --rpc)"
        )
        click.echo(f"  {chain.id:<12} block {chain.block_height}: {how}")
    coverage(assessment.reserves)
    for problem in assessment.errors:
        click.echo(f"error: {problem}", err=True)
    for problem in assessment.shortfalls:
        click.echo(f"shortfall: {problem}", err=True)
    warn(assessment.warnings)
    if assessment.errors:
        click.echo(f"Reserves checks FAILED: {len(assessment.errors)} problem(s), listed above.")
    elif assessment.shortfalls:
        short = ", ".join(sorted({c.asset for c in assessment.reserves.coverage if not c.covered}))
        click.echo(
            "Shortfall: segregated reserves do not cover client liabilities"
            + (f" in {short}" if short else " (a dedicated wallet holds less than owed)")
            + "; every check passed."
        )
    else:
        click.echo("All reserves checks pass.")


def _size(n: int) -> str:
    """Bytes for people: 1,234,567 bytes (1.2 MB)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n:,} bytes ({n * 10 // scale / 10} {unit})"
    return f"{n:,} bytes"


def snapshot(result: SnapshotResult) -> None:
    click.echo(f"Snapshot blocks at {result.snapshot_time} written to {result.path}:")
    for c in result.chains:
        when = datetime.fromtimestamp(c.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        was = "" if c.previous_height == c.height else f" (was {c.previous_height})"
        click.echo(f"  {c.chain:<12} block {c.height}{was}, {c.block_hash}, time {when}")
    if result.unread:
        warn([f"no --rpc for {', '.join(result.unread)}: their blocks were left as they were"])
    click.echo("Wallet signatures stay valid: the signed message does not bind the block.")


def warn(warnings: list[str] | tuple[str, ...]) -> None:
    """Warnings on stderr: publishable, but worth a look."""
    for problem in warnings:
        click.echo(f"warning: {problem}", err=True)


def demo_summary(result: DemoResult, port: int) -> None:
    from .publish.demo import DEMO_PASSPHRASE

    published = result.publish
    newest = published.epoch
    click.echo(
        f"Demo custodian with {result.clients:,} clients, {published.log_size} monthly "
        f"epochs (newest {newest}), published to {published.site}"
    )
    click.echo(f"  workspace:     {result.workspace} (passphrase: {DEMO_PASSPHRASE.decode()})")
    click.echo(
        f"  reserves:      {result.workspace / 'data' / f'reserves-{newest}.toml'} "
        "(signed; one file per epoch)"
    )
    coverage(published.attestation.reserves)
    click.echo(f"  client codes:  {published.codes} (private: never publish this file)")
    click.echo(f"  key fingerprint: {published.fingerprint}")
    click.echo("Open the site:")
    click.echo(f"  porsegregate serve {published.site}    then visit http://127.0.0.1:{port}/")
    click.echo("Try a client's check (account id and code):")
    click.echo(f"  account: {result.sample_account}")
    click.echo(f"  code:    {result.sample_code}")
    click.echo("  (the command asks for the code; or give --code-file FILE or $PORSEGREGATE_CODE,")
    click.echo("  never the code itself on a command line, where other users can see it)")
    click.echo(
        f"  porsegregate verify --site {published.site} --account {result.sample_account}"
        f" --expect-key {published.fingerprint}"
    )


def serving(directory: Path, host: str, port: int) -> None:
    click.echo(f"Serving {directory} on http://{host}:{port}/ (Ctrl-C stops)")


# --- the client's check -----------------------------------------------------------------


def verify_report(report: Report, history: HistoryReport | None, expect_key: str | None) -> None:
    """Every check, the balances, and the verdict last; with the history when it was checked."""
    for c in report.checks:
        mark = "ok  " if c.ok else "FAIL"
        where = f" [{c.asset}]" if c.asset else ""
        click.echo(f"  {mark} {c.id}{where}: {c.detail}")
    if report.custodian:
        click.echo(f"Custodian: {report.custodian['name']} — epoch {report.epoch}")
    if report.key_fingerprint:
        click.echo(f"Custodian key fingerprint: {report.key_fingerprint}")
    for b in report.balances:
        parts = f"  (proven in {b.parts} parts, each under the signed root)" if b.parts > 1 else ""
        click.echo(f"  {b.asset:<8} {b.display}{parts}")
    for warning in report.warnings:
        click.echo(f"WARNING: {warning}")
    if history is not None:
        _history(history)
    if report.verified and history is not None and not history.verified:
        _client_coverage(report)
        click.echo(
            "NOT VERIFIED: your balances are in the newest epoch, but the history of "
            "epochs does not verify (see above)."
        )
    elif report.verified:
        _client_coverage(report)
        click.echo("VERIFIED: your balances are included in the signed liabilities.")
        if expect_key is None:
            click.echo(
                "Compare the key fingerprint with the one the custodian publishes "
                "elsewhere, or pass --expect-key."
            )
    elif report.typed_wrong is not None:
        # A typing mistake explains it (protocol section 9): say what to check, not "fraud".
        failed = report.failed
        assert failed is not None
        click.echo(
            f"NOT VERIFIED — CHECK WHAT YOU TYPED: check your {report.typed_wrong} "
            f"({failed.id}: {failed.detail})."
        )
        if failed.id == "proof-found":
            click.echo(
                "If your account id and code are both exactly as the custodian gave them, you "
                "were left out of the published proof: keep this output, and contact the "
                "custodian and its auditor."
            )
    else:
        failed = report.failed
        assert failed is not None
        where = f" for {failed.asset}" if failed.asset else ""
        click.echo(f"NOT VERIFIED: check {failed.id}{where} failed: {failed.detail}")
        click.echo(
            "This is not a typing mistake: the published proof failed. Keep this output (and "
            "the site as you see it) as evidence, and contact the custodian and its auditor."
        )


def _history(history: HistoryReport) -> None:
    for c in history.checks:
        click.echo(f"  {'ok  ' if c.ok else 'FAIL'} {c.id}: {c.detail}")
    click.echo("Your balances in every published epoch:")
    for e in history.epochs:
        r = e.report
        if r is None:
            continue
        if r.verified:
            shown = ", ".join(f"{b.display} {b.asset}" for b in r.balances) or "nothing"
            click.echo(f"  {e.epoch:<12} included: {shown}")
        elif r.failed is not None and r.failed.id == "proof-found":
            click.echo(f"  {e.epoch:<12} no proof for you (were you a client then?)")
        else:
            failed = r.failed
            assert failed is not None
            click.echo(f"  {e.epoch:<12} NOT VERIFIED: {failed.id}: {failed.detail}")
    if history.failed is not None:
        click.echo(f"History check {history.failed.id} FAILED: {history.failed.detail}")


def _client_coverage(report: Report) -> None:
    if report.coverage:
        click.echo("How your assets are covered (client-segregated and dedicated wallets only):")
    for c in report.coverage:
        shown = "nothing owed" if c.segregated_percent is None else f"{c.segregated_percent}%"
        extra = (
            ""
            if c.including_third_party_percent is None
            else f" ({c.including_third_party_percent}% including third-party custody)"
        )
        status = "covered" if c.covered else "NOT FULLY COVERED"
        click.echo(f"  {c.asset:<8} {shown:>10}{extra}  {status}")
        for chain, address, amount in c.dedicated:
            click.echo(
                f"  {'':<8} held for you alone: {chain} {address} "
                f"({format_decimal(amount, c.decimals)} {c.asset})"
            )
        if c.dedicated_shortfall:
            click.echo(
                f"  {'':<8} SHORTFALL: your dedicated wallet(s) hold "
                f"{format_decimal(c.dedicated_shortfall, c.decimals)} {c.asset} less than you "
                "are owed"
            )
    if report.shortfall:
        click.echo(
            "WARNING: the custodian published this epoch with a shortfall: client assets are "
            "not fully covered by segregated reserves (see the site's Reserves page)."
        )


# --- the auditor's commands -------------------------------------------------------------


def audit_report(site: str, report: AuditReport, opened_proofs: bool) -> None:
    """Every check, then one line: passed, or which checks failed."""
    from .audit import FAIL, NOT_APPLICABLE

    click.echo(f"Audit of {site}")
    if report.key_fingerprint:
        click.echo(f"  custodian key: {report.key_fingerprint}")
    if report.epochs:
        click.echo(f"  epochs:        {', '.join(report.epochs)} (newest {report.epoch})")
    marks = {FAIL: "FAIL", NOT_APPLICABLE: "n/a "}
    for c in report.checks:
        click.echo(f"  {marks.get(c.status, 'ok  ')} {c.id}: {c.detail}")
    for d in report.documents:  # audit --documents
        if d["status"] == "matched":
            click.echo(f"  document: {d['file']} matches {d['title']!r} ({d['sha256']})")
        elif d["status"] == "missing":
            click.echo(f"  document: MISSING {d['title']!r} ({d['sha256']}): no file has it")
        else:
            click.echo(f"  document: {d['file']} matches no document (not a failure)")
    failed = list(dict.fromkeys(c.id for c in report.failed))
    skipped = sum(1 for c in report.checks if c.status == NOT_APPLICABLE)
    opened = f"{report.clients_checked} client proofs opened, " if opened_proofs else ""
    if failed:
        click.echo(f"AUDIT FAILED: {len(failed)} check(s) failed: {', '.join(failed)}")
    else:
        click.echo(
            f"AUDIT PASSED: every check holds ({skipped} not applicable; "
            f"{opened}{report.seconds:.1f} s)"
        )


def dataroom_exported(result: ExportResult) -> None:
    """What the data room holds, and how the auditor opens it."""
    how = "Replaced" if result.replaced else "Wrote"
    click.echo(f"{how} the data room of epoch {result.epoch} in {result.folder}/")
    click.echo(f"  custodian:     {result.custodian}")
    click.echo(f"  custodian key: {result.fingerprint}")
    click.echo(f"  clients:       {result.clients}; assets: {', '.join(result.assets)}")
    click.echo(f"  files:         {', '.join(result.files)}")
    click.echo(
        "It holds the epoch's keys only (no signing key, no master secret), encrypted under "
        "the data-room passphrase; the CSV and declaration are in clear: hand the folder over "
        "as confidentially as the liabilities, and the passphrase separately."
    )
    click.echo(
        f"The auditor runs: porsegregate audit SITE --dataroom {result.folder} --all "
        "(the passphrase from --dataroom-passphrase-file, $PORSEGREGATE_DATAROOM_PASSPHRASE "
        "or the prompt)"
    )


def cosign_summary(result: CosignResult) -> None:
    """What was written where, how anyone checks it, and any other co-signature that fails."""
    how = "Replaced your co-signature of" if result.replaced else "Co-signed"
    click.echo(f"{how} epoch {result.epoch} of {result.custodian} as {result.name!r}")
    click.echo(f"  site:                 {result.site}")
    click.echo(f"  attestation sha256:   {result.attestation_sha256}")
    click.echo(f"  custodian key:        {result.custodian_fingerprint}")
    click.echo(f"  your key fingerprint: {result.fingerprint}")
    click.echo(f"  written:              {result.folder}/ and auditors/index.json")
    for folder in result.also:
        click.echo(f"  and (the same epoch): {folder / 'auditors'}/")
    for r in result.reread:
        click.echo(
            f"  re-read:              {r.chain} at block {r.block_height} ({r.block_hash}) "
            "from your node: every balance matches (stated in auditor.json)"
        )
    for chain in result.declared:
        click.echo(f"  not re-read:          {chain}: every holding is declared, not checked")
    click.echo("Anyone can check your signature, in that folder, with openssl:")
    click.echo(
        f"  openssl pkeyutl -verify -pubin -inkey auditors/{result.fingerprint}/"
        "auditor.pub.pem -rawin -in attestation.json -sigfile "
        f"auditors/{result.fingerprint}/attestation.json.sig"
    )
    click.echo(
        "Publish your key fingerprint where clients can find it (your own site): the "
        "name is only your claim, the fingerprint is what they compare."
    )
    for c in result.auditors:
        if not c.ok:
            click.echo(f"WARNING: another listed co-signature does not verify: {c.detail}")


def witness_summary(result: WitnessResult) -> None:
    """What the witness co-signed, what it checked, and where the files are."""
    how = "Replaced your co-signature of" if result.replaced else "Co-signed"
    click.echo(f"{how} checkpoint {result.size} of log {result.origin} as {result.name!r}")
    click.echo(f"  epoch:            {result.epoch}")
    click.echo(f"  root:             {result.root}")
    if result.previous_size is None:
        click.echo("  consistency:      first checkpoint of this log you co-sign")
    else:
        click.echo(
            f"  consistency:      extends the checkpoint of size {result.previous_size} "
            "you co-signed before"
        )
    for path in result.files:
        click.echo(f"  written:          {path}")
    click.echo("Upload the log/witnesses/ files to the site's host; your state file is updated.")
