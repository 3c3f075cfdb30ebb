"""The command line: parse arguments, call the library, map errors to exit codes.

Exit codes, for every command: 0 success (verified), 1 verification failed,
2 usage error, 3 input, configuration or I/O error; 130 or 143 when
interrupted by Ctrl-C or SIGTERM (after cleaning up: nothing half-written).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click

from . import __version__
from .errors import EXIT_FAILED, EXIT_INPUT, PorError
from .protocol.models import Reserves
from .protocol.serialization import reserves_to_dict
from .publish.assess import DEFAULT_MAX_BLOCK_SKEW
from .publish.config import CONFIG_NAME, load_config
from .publish.readers import parse_rpc_options
from .verify.client import HistoryReport, Report

PASSPHRASE_ENV = "PORSEGREGATE_PASSPHRASE"  # noqa: S105 - a variable name
CODE_ENV = "PORSEGREGATE_CODE"


def _die(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class _Terminated(BaseException):
    """SIGTERM, raised where the process is so that cleanup code runs as for Ctrl-C."""


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


@contextmanager
def _errors() -> Iterator[None]:
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm) if main_thread else None
    try:
        yield
    except KeyboardInterrupt:
        _die("interrupted; nothing was left half-written", 128 + signal.SIGINT)
    except _Terminated:
        _die("terminated; nothing was left half-written", 128 + signal.SIGTERM)
    except PorError as exc:
        _die(str(exc), exc.exit_code)
    except OSError as exc:
        _die(f"{exc.filename or ''}: {exc.strerror or exc}", EXIT_INPUT)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _read_secret_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        _die(f"{path}: cannot read the {what} file ({exc.strerror})", EXIT_INPUT)


def _passphrase(passphrase_file: Path | None, confirm: bool = False) -> bytes:
    """From a file, the environment, or a prompt; never from the command line."""
    if passphrase_file is not None:
        return _read_secret_file(passphrase_file, "passphrase")
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env.encode()
    try:
        text: str = click.prompt(
            "Passphrase for the signing key and master secret",
            hide_input=True,
            confirmation_prompt=confirm,
            err=True,
        )
    except click.Abort:
        _die(f"no passphrase: set {PASSPHRASE_ENV}, use --passphrase-file, or type it", EXIT_INPUT)
    return text.encode()


class _Progress:
    """Progress on stderr when it is a terminal; silent otherwise (and in --json mode)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.counts: dict[str, int] = {}

    def __call__(self, step: str, n: int) -> None:
        if not self.enabled:
            return
        self.counts[step] = self.counts.get(step, 0) + n
        click.echo(f"\r  {step}: {self.counts[step]:>12,}   ", err=True, nl=False)

    def done(self) -> None:
        if self.enabled and self.counts:
            click.echo("", err=True)


def _emit(as_json: bool, data: dict[str, Any], human: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        human()


passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Read the passphrase from this file (else ${PASSPHRASE_ENV}, else a prompt).",
)


workspace_option = click.option(
    "--workspace",
    "-w",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help=f"Workspace folder holding {CONFIG_NAME}.",
)
reserves_option = click.option(
    "--reserves",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The reserves declaration (TOML or JSON); default: [files] reserves of the config.",
)
rpc_option = click.option(
    "--rpc",
    multiple=True,
    metavar="CHAIN=URL",
    help="Read CHAIN's balances at its snapshot block from this node (repeatable). "
    "Use CHAIN=env:VARIABLE for a URL with an API key in it.",
)
skew_option = click.option(
    "--max-block-skew",
    type=click.IntRange(0, 10_000_000),
    default=DEFAULT_MAX_BLOCK_SKEW // 60,
    show_default=True,
    metavar="MINUTES",
    help="With --rpc: how far a snapshot block's time may be from the snapshot time.",
)


def _echo_coverage(reserves: Reserves) -> None:
    from .protocol.amounts import format_decimal
    from .protocol.coverage import percent

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


def _echo_history(history: HistoryReport) -> None:
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


def _echo_client_coverage(report: Report) -> None:
    from .protocol.amounts import format_decimal

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="porsegregate")
def main() -> None:
    """Proof of reserves, liabilities and client-asset segregation, as a static site."""


@main.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing workspace, key and secret.")
@passphrase_option
def init(directory: Path, force: bool, passphrase_file: Path | None) -> None:
    """Create a custodian workspace: config, encrypted key and master secret, sample data."""
    from .publish.workspace import init_workspace

    with _errors():
        config = init_workspace(directory, _passphrase(passphrase_file, confirm=True), force)
        click.echo(f"Workspace created in {directory}")
        click.echo(f"  config:         {config.path}")
        click.echo(f"  signing key:    {config.signing_key} (encrypted)")
        click.echo(f"  public key:     {config.public_key}")
        click.echo(f"  master secret:  {config.master_secret} (encrypted)")
        click.echo(f"  sample input:   {config.liabilities}")
        click.echo(
            f"Edit the config, replace the sample input, declare your wallets in "
            f"{config.reserves} (README: 'Reserves file'), then, each epoch:"
        )
        click.echo(f"  porsegregate reserves challenge --workspace {directory} --epoch 2026-11")
        click.echo("  (sign each message with its wallet's key; paste the signatures in)")
        click.echo(f"  porsegregate reserves check --workspace {directory} --epoch 2026-11")
        click.echo(f"  porsegregate publish --workspace {directory} --epoch 2026-11")


@main.command()
@workspace_option
@click.option("--epoch", required=True, help="Epoch id, e.g. 2026-11 (letters, digits, . _ -).")
@click.option("--snapshot-time", help="When balances were taken (ISO 8601 with zone); default now.")
@click.option(
    "--liabilities", type=click.Path(path_type=Path), help="Override the liabilities CSV."
)
@click.option("--out", type=click.Path(path_type=Path), help="Override the site output folder.")
@click.option(
    "--codes-out", type=click.Path(path_type=Path), help="Override the private codes CSV."
)
@click.option("--replace", is_flag=True, help="Republish the epoch the site already shows.")
@reserves_option
@rpc_option
@skew_option
@click.option(
    "--allow-shortfall",
    is_flag=True,
    help="Publish even though segregated reserves do not cover client liabilities; "
    "the shortfall is then stated on every page.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary on stdout.")
@passphrase_option
def publish(
    workspace: Path,
    epoch: str,
    snapshot_time: str | None,
    liabilities: Path | None,
    out: Path | None,
    codes_out: Path | None,
    replace: bool,
    reserves: Path | None,
    rpc: tuple[str, ...],
    max_block_skew: int,
    allow_shortfall: bool,
    as_json: bool,
    passphrase_file: Path | None,
) -> None:
    """Build, sign and atomically publish one epoch's site."""
    from .publish.pipeline import PublishOptions
    from .publish.pipeline import publish as do_publish

    with _errors():
        config = load_config(workspace / CONFIG_NAME)
        passphrase = _passphrase(passphrase_file)
        options = PublishOptions(
            epoch,
            snapshot_time=snapshot_time,
            site=out,
            codes_path=codes_out,
            liabilities_path=liabilities,
            reserves_path=reserves,
            rpc_urls=parse_rpc_options(rpc),
            replace=replace,
            allow_shortfall=allow_shortfall,
            max_block_skew=max_block_skew * 60,
        )
        progress = _Progress(not as_json)
        try:
            result = do_publish(config, passphrase, options, progress=progress)
        finally:
            progress.done()

        def human() -> None:
            click.echo(f"Published epoch {epoch} for {result.clients:,} clients to {result.site}")
            for a in result.attestation.assets:
                from .protocol.amounts import format_decimal

                click.echo(
                    f"  {a.code:<8} total {format_decimal(a.total, a.decimals):>30}  "
                    f"height {a.padded_height}"
                )
            _echo_coverage(result.attestation.reserves)
            click.echo(f"  attestation sha256: {result.attestation_sha256}")
            click.echo(f"  log: entry {result.log_size - 1}, root {result.log_root}")
            click.echo(f"  next attestation due by {result.attestation.next_due}")
            click.echo(f"  key fingerprint:    {result.fingerprint}")
            click.echo(f"  client codes (private, deliver to clients): {result.codes}")

        _emit(
            as_json,
            {
                "site": str(result.site),
                "codes": str(result.codes),
                "epoch": epoch,
                "clients": result.clients,
                "files": result.files,
                "bytes": result.bytes_written,
                "attestation_sha256": result.attestation_sha256,
                "key_fingerprint": result.fingerprint,
                "assets": [
                    {"code": a.code, "total": str(a.total), "padded_height": a.padded_height}
                    for a in result.attestation.assets
                ],
                "log": {"size": result.log_size, "root": result.log_root},
                "next_due": result.attestation.next_due,
                "coverage": reserves_to_dict(result.attestation.reserves)["coverage"],
                "shortfall": result.attestation.reserves.shortfall,
            },
            human,
        )


@main.group()
def reserves() -> None:
    """Declare and check the wallets that hold client assets (proof of control, balances)."""


@reserves.command()
@workspace_option
@click.option("--epoch", required=True, help="The epoch the signatures are for.")
@click.option(
    "--liabilities", type=click.Path(path_type=Path), help="Override the liabilities CSV."
)
@reserves_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list on stdout.")
@passphrase_option
def challenge(
    workspace: Path,
    epoch: str,
    liabilities: Path | None,
    reserves: Path | None,
    as_json: bool,
    passphrase_file: Path | None,
) -> None:
    """Print, for each wallet, the exact message its key must sign for this epoch.

    The message binds the custodian, the epoch, the hash of this epoch's
    liabilities, the chain, the address, the category and the holder, so a
    signature cannot be reused for another epoch, custodian or category.
    Signatures may be left empty in the reserves file until they are made.
    """
    from .publish.assess import challenges
    from .publish.pipeline import prepare_epoch
    from .publish.reserves import read_reserves

    with _errors():
        config = load_config(workspace / CONFIG_NAME)
        passphrase = _passphrase(passphrase_file)
        declaration = read_reserves(reserves or config.reserves, config.assets, signed=False)
        prepared = prepare_epoch(config, passphrase, epoch, liabilities)
        items = challenges(declaration, prepared.context, prepared.nonce_of)

        def human() -> None:
            ctx = prepared.context
            click.echo(f"# epoch {epoch}, liabilities sha256 {ctx.liabilities_sha256}")
            click.echo(
                f"# {len(items)} wallet(s); sign each message exactly, without the ---- lines"
            )
            for item in items:
                click.echo(f"\n# {item.where}: {item.chain} {item.address} ({item.category})")
                click.echo(f"# sign with: {' or '.join(item.proof_types)}")
                click.echo("-----BEGIN MESSAGE-----")
                click.echo(item.message)
                click.echo("-----END MESSAGE-----")

        _emit(
            as_json,
            {
                "epoch": epoch,
                "liabilities_sha256": prepared.context.liabilities_sha256,
                "wallets": [
                    {
                        "where": i.where,
                        "chain": i.chain,
                        "address": i.address,
                        "category": i.category,
                        "proof_types": list(i.proof_types),
                        "message": i.message,
                    }
                    for i in items
                ],
            },
            human,
        )


@reserves.command()
@workspace_option
@click.option("--epoch", required=True, help="The epoch to check the signatures against.")
@click.option("--snapshot-time", help="The liabilities snapshot time (ISO 8601); default now.")
@click.option(
    "--liabilities", type=click.Path(path_type=Path), help="Override the liabilities CSV."
)
@reserves_option
@rpc_option
@skew_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report on stdout.")
@passphrase_option
def check(
    workspace: Path,
    epoch: str,
    snapshot_time: str | None,
    liabilities: Path | None,
    reserves: Path | None,
    rpc: tuple[str, ...],
    max_block_skew: int,
    as_json: bool,
    passphrase_file: Path | None,
) -> None:
    """Check every wallet: signatures, commingling, balances on chain, coverage.

    Exit 0 when everything holds and client liabilities are covered, 1 when a
    check fails or there is a shortfall, 3 on bad input.
    """
    from .publish.pipeline import assess_reserves, parse_snapshot_time, prepare_epoch
    from .publish.reserves import read_reserves

    with _errors():
        config = load_config(workspace / CONFIG_NAME)
        urls = parse_rpc_options(rpc)
        declaration = read_reserves(reserves or config.reserves, config.assets)
        snapshot = parse_snapshot_time(snapshot_time)
        passphrase = _passphrase(passphrase_file)
        prepared = prepare_epoch(config, passphrase, epoch, liabilities)
        result = assess_reserves(prepared, declaration, urls, snapshot, max_block_skew * 60)
        ok = not result.errors and not result.shortfalls

        def human() -> None:
            w = len(result.reserves.wallets)
            click.echo(f"Reserves for epoch {epoch}: {w} wallet(s) in {declaration.path}")
            for chain in declaration.chains:
                how = (
                    "balances read from the node"
                    if chain.id in result.checked_chains
                    else "balances declared, not checked (no --rpc)"
                )
                click.echo(f"  {chain.id:<12} block {chain.block_height}: {how}")
            _echo_coverage(result.reserves)
            for problem in result.errors:
                click.echo(f"error: {problem}", err=True)
            for problem in result.shortfalls:
                click.echo(f"shortfall: {problem}", err=True)
            click.echo("All reserves checks pass." if ok else "Reserves checks FAILED.")

        _emit(
            as_json,
            {
                "ok": ok,
                "epoch": epoch,
                "errors": result.errors,
                "shortfalls": result.shortfalls,
                "checked_chains": result.checked_chains,
                "unchecked_chains": result.unchecked_chains,
                "reserves": reserves_to_dict(result.reserves),
            },
            human,
        )
        if not ok:
            sys.exit(EXIT_FAILED)


def _code(code: str | None, code_file: Path | None) -> str:
    if code is not None:
        return code
    if code_file is not None:
        return _read_secret_file(code_file, "code").decode("utf-8", "replace")
    env = os.environ.get(CODE_ENV)
    if env:
        return env
    try:
        text: str = click.prompt("Your client code", hide_input=True, err=True)
    except click.Abort:
        _die(f"no code: use --code-file, ${CODE_ENV}, or type it at the prompt", EXIT_INPUT)
    return text


@main.command()
@click.option("--site", "site", help="The published site: a folder or an http(s) URL.")
@click.option(
    "--proof",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A downloaded proof file (offline).",
)
@click.option("--account", required=True, help="Your account id, exactly as the custodian has it.")
@click.option(
    "--code", help="Your client code (safer: --code-file, $PORSEGREGATE_CODE or the prompt)."
)
@click.option(
    "--code-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read the code from a file.",
)
@click.option("--expect-key", help="The custodian key fingerprint you expect (hex).")
@click.option(
    "--save-proof",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save your proof for offline use.",
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Remember the log checkpoint in this file, and check that the log only grew since "
    "the last check (rewritten or forked history fails).",
)
@click.option(
    "--all-epochs",
    is_flag=True,
    help="Also check every earlier published epoch and the history linking them.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report on stdout.")
def verify(
    site: str | None,
    proof: Path | None,
    account: str,
    code: str | None,
    code_file: Path | None,
    expect_key: str | None,
    save_proof: Path | None,
    state_file: Path | None,
    all_epochs: bool,
    as_json: bool,
) -> None:
    """Check that your balances are included in the signed liabilities."""
    from ._fs import atomic_write, read_bytes
    from .protocol.serialization import parse_proof_file, proof_file_bytes
    from .verify.client import verify_history, verify_proof, verify_site
    from .verify.state import ClientState

    if (site is None) == (proof is None):
        raise click.UsageError("give exactly one of --site or --proof")
    if proof is not None and (state_file is not None or all_epochs):
        raise click.UsageError("--state and --all-epochs need --site (a proof file has no log)")
    with _errors():
        secret_code = _code(code, code_file)
        state = ClientState(state_file) if state_file is not None else None
        history: HistoryReport | None = None
        if proof is not None:
            report = verify_proof(
                parse_proof_file(read_bytes(proof, "proof file")), account, secret_code, expect_key
            )
        elif all_epochs:
            assert site is not None
            history = verify_history(site, account, secret_code, expect_key, state)
            report = history.latest
        else:
            assert site is not None
            report = verify_site(site, account, secret_code, expect_key, state)
        if save_proof is not None and report.verified and report.proof is not None:
            atomic_write(save_proof, proof_file_bytes(report.proof))
        if state is not None and report.verified and (history is None or history.verified):
            state.save()

        def human() -> None:
            for c in report.checks:
                mark = "ok  " if c.ok else "FAIL"
                where = f" [{c.asset}]" if c.asset else ""
                click.echo(f"  {mark} {c.id}{where}: {c.detail}")
            if report.custodian:
                click.echo(f"Custodian: {report.custodian['name']} — epoch {report.epoch}")
            if report.key_fingerprint:
                click.echo(f"Custodian key fingerprint: {report.key_fingerprint}")
            for b in report.balances:
                click.echo(f"  {b.asset:<8} {b.display}")
            for warning in report.warnings:
                click.echo(f"WARNING: {warning}")
            if history is not None:
                _echo_history(history)
            if report.verified and history is not None and not history.verified:
                _echo_client_coverage(report)
                click.echo(
                    "NOT VERIFIED: your balances are in the newest epoch, but the history of "
                    "epochs does not verify (see above)."
                )
            elif report.verified:
                _echo_client_coverage(report)
                click.echo("VERIFIED: your balances are included in the signed liabilities.")
                if expect_key is None:
                    click.echo(
                        "Compare the key fingerprint with the one the custodian publishes "
                        "elsewhere, or pass --expect-key."
                    )
            else:
                failed = report.failed
                assert failed is not None
                where = f" for {failed.asset}" if failed.asset else ""
                click.echo(f"NOT VERIFIED: check {failed.id}{where} failed: {failed.detail}")

        _emit(as_json, history.to_json() if history else report.to_json(), human)
        if not report.verified or (history is not None and not history.verified):
            sys.exit(EXIT_FAILED)


@main.command()
@click.argument("site")
@click.option(
    "--liabilities",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Data room: the newest epoch's liabilities CSV (with --config).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Data room: the custodian's {CONFIG_NAME} (its assets; with the passphrase, its "
    "master secret, to rebuild the trees).",
)
@click.option(
    "--reserves",
    "reserves_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Data room: the newest epoch's reserves declaration, to re-derive the coverage.",
)
@click.option(
    "--codes",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Data room: the private client codes CSV, to open clients' proofs.",
)
@click.option(
    "--sample",
    type=click.IntRange(1, None),
    metavar="N",
    help="Open the proofs of N clients chosen at random (default 100).",
)
@click.option("--all", "all_clients", is_flag=True, help="Open every client's proof.")
@click.option(
    "--state",
    "state_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The log must extend the checkpoint remembered in this file (as verify --state); "
    "the newest is remembered when the audit passes.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report on stdout.")
@passphrase_option
def audit(
    site: str,
    liabilities: Path | None,
    config_path: Path | None,
    reserves_file: Path | None,
    codes: Path | None,
    sample: int | None,
    all_clients: bool,
    state_file: Path | None,
    as_json: bool,
    passphrase_file: Path | None,
) -> None:
    """Audit a whole published site (folder or URL): every signature, file, log entry, epoch.

    With the data room (--liabilities and --config; the passphrase from
    --passphrase-file or $PORSEGREGATE_PASSPHRASE to rebuild the trees; --codes;
    --reserves) also the newest epoch's totals, roots, client proofs and coverage.
    Exit 0 when every check holds, 1 when one fails, 3 on bad input.
    """
    from .audit.site import DEFAULT_SAMPLE, FAIL, NOT_APPLICABLE, DataRoom, audit_site
    from .verify.state import ClientState

    if all_clients and sample is not None:
        raise click.UsageError("give --sample N or --all, not both")
    if (liabilities is None) != (config_path is None):
        raise click.UsageError("the data room needs both --liabilities and --config")
    needs_room = [
        option
        for option, value in (
            ("--reserves", reserves_file),
            ("--codes", codes),
            ("--sample", sample),
            ("--all", all_clients or None),
            ("--passphrase-file", passphrase_file),
        )
        if value is not None
    ]
    if liabilities is None and needs_room:
        raise click.UsageError(
            f"{', '.join(needs_room)}: only with the data room (--liabilities and --config)"
        )
    with _errors():
        room = None
        if liabilities is not None and config_path is not None:
            passphrase: bytes | None = None
            if passphrase_file is not None:
                passphrase = _read_secret_file(passphrase_file, "passphrase")
            elif os.environ.get(PASSPHRASE_ENV):
                passphrase = os.environ[PASSPHRASE_ENV].encode()
            room = DataRoom(
                load_config(config_path),
                liabilities,
                passphrase,
                codes,
                reserves_file,
                None if all_clients else (sample or DEFAULT_SAMPLE),
            )
        state = ClientState(state_file) if state_file is not None else None
        report = audit_site(site, room, state)
        if state is not None and report.ok:
            state.save()

        def human() -> None:
            click.echo(f"Audit of {site}")
            if report.key_fingerprint:
                click.echo(f"  custodian key: {report.key_fingerprint}")
            if report.epochs:
                click.echo(f"  epochs:        {', '.join(report.epochs)} (newest {report.epoch})")
            marks = {FAIL: "FAIL", NOT_APPLICABLE: "n/a "}
            for c in report.checks:
                click.echo(f"  {marks.get(c.status, 'ok  ')} {c.id}: {c.detail}")
            failed = list(dict.fromkeys(c.id for c in report.failed))
            skipped = sum(1 for c in report.checks if c.status == NOT_APPLICABLE)
            opened = f"{report.clients_checked} client proofs opened, " if room else ""
            if failed:
                click.echo(f"AUDIT FAILED: {len(failed)} check(s) failed: {', '.join(failed)}")
            else:
                click.echo(
                    f"AUDIT PASSED: every check holds ({skipped} not applicable; "
                    f"{opened}{report.seconds:.1f} s)"
                )

        _emit(as_json, report.to_json(), human)
        if not report.ok:
            sys.exit(EXIT_FAILED)


@main.command()
@click.argument("site", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Your Ed25519 private key, PEM (openssl genpkey -algorithm ed25519 -out auditor.pem); "
    "if encrypted, the passphrase is read as for publish.",
)
@click.option("--name", required=True, help="Your name or firm's, as it should appear (<= 200).")
@click.option(
    "--statement",
    "statement_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Your statement (UTF-8 text, <= 64 KiB); default: a short one saying what you sign.",
)
@click.option(
    "--epoch",
    help="Co-sign this earlier epoch (SITE/epochs/ID) instead of the newest at SITE.",
)
@click.option("--expect-key", help="Refuse unless the custodian key has this fingerprint (hex).")
@click.option("--force", is_flag=True, help="Replace your own existing co-signature.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary on stdout.")
@passphrase_option
def cosign(
    site: Path,
    key_path: Path,
    name: str,
    statement_file: Path | None,
    epoch: str | None,
    expect_key: str | None,
    force: bool,
    as_json: bool,
    passphrase_file: Path | None,
) -> None:
    """As an auditor, co-sign an epoch's attestation.json with your own Ed25519 key.

    The site (a local folder) is verified first: the custodian's signatures
    and every file of its manifest. Your signature, public key, statement
    and signed auditor.json are written to SITE/auditors/<fingerprint>/ and
    listed in SITE/auditors/index.json; upload both to the site's host.
    """
    from .cosign import cosign as do_cosign
    from .cosign import load_auditor_key, read_statement, resolve_site

    def key_passphrase() -> bytes:
        if passphrase_file is not None:
            return _read_secret_file(passphrase_file, "passphrase")
        env = os.environ.get(PASSPHRASE_ENV)
        if env:
            return env.encode()
        try:
            text: str = click.prompt(f"Passphrase for {key_path}", hide_input=True, err=True)
        except click.Abort:
            _die(
                f"{key_path} is encrypted: set {PASSPHRASE_ENV}, use --passphrase-file, or type "
                "the passphrase",
                EXIT_INPUT,
            )
        return text.encode()

    with _errors():
        folder = resolve_site(site, epoch)
        key = load_auditor_key(key_path, key_passphrase)
        statement = read_statement(statement_file) if statement_file is not None else None
        result = do_cosign(folder, key, name, statement, force=force, expect_key=expect_key)
        others = [c for c in result.auditors if not c.ok]

        def human() -> None:
            how = "Replaced your co-signature of" if result.replaced else "Co-signed"
            click.echo(f"{how} epoch {result.epoch} of {result.custodian} as {result.name!r}")
            click.echo(f"  site:                 {result.site}")
            click.echo(f"  attestation sha256:   {result.attestation_sha256}")
            click.echo(f"  custodian key:        {result.custodian_fingerprint}")
            click.echo(f"  your key fingerprint: {result.fingerprint}")
            click.echo(f"  written:              {result.folder}/ and auditors/index.json")
            for folder in result.also:
                click.echo(f"  and (the same epoch): {folder / 'auditors'}/")
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
            for c in others:
                click.echo(f"WARNING: another listed co-signature does not verify: {c.detail}")

        _emit(
            as_json,
            {
                "site": str(result.site),
                "folder": str(result.folder),
                "epoch": result.epoch,
                "name": result.name,
                "fingerprint": result.fingerprint,
                "custodian_key_fingerprint": result.custodian_fingerprint,
                "attestation_sha256": result.attestation_sha256,
                "statement_sha256": result.statement_sha256,
                "time": result.time,
                "replaced": result.replaced,
                "also": [str(folder) for folder in result.also],
                "auditors": [c.to_json() for c in result.auditors],
            },
            human,
        )


@main.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("porsegregate-demo"),
    show_default=True,
)
@click.option("--clients", type=click.IntRange(1, 10_000_000), default=10_000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--serve", "serve_after", is_flag=True, help="Preview the site on localhost afterwards."
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--shortfall",
    is_flag=True,
    help="Leave one asset under-covered, to see how a shortfall is shown.",
)
def demo(out: Path, clients: int, seed: int, serve_after: bool, port: int, shortfall: bool) -> None:
    """Publish a realistic synthetic custodian, to see and try everything."""
    from .publish.demo import DEMO_PASSPHRASE, run_demo

    with _errors():
        result = run_demo(out, clients, seed, shortfall=shortfall)
        click.echo(
            f"Demo custodian with {clients:,} clients, {result.publish.log_size} monthly epochs "
            f"(newest {result.publish.attestation.epoch_id}), published to {result.publish.site}"
        )
        click.echo(f"  workspace:     {result.workspace} (passphrase: {DEMO_PASSPHRASE.decode()})")
        newest = result.publish.attestation.epoch_id
        click.echo(
            f"  reserves:      {result.workspace / 'data' / f'reserves-{newest}.toml'} "
            "(signed; one file per epoch)"
        )
        _echo_coverage(result.publish.attestation.reserves)
        click.echo(f"  client codes:  {result.publish.codes} (private: never publish this file)")
        click.echo(f"  key fingerprint: {result.publish.fingerprint}")
        click.echo("Open the site:")
        click.echo(
            f"  porsegregate serve {result.publish.site}    then visit http://127.0.0.1:{port}/"
        )
        click.echo("Try a client's check (account id and code):")
        click.echo(f"  account: {result.sample_account}")
        click.echo(f"  code:    {result.sample_code}")
        click.echo(
            f"  porsegregate verify --site {result.publish.site} --account {result.sample_account}"
            f" --expect-key {result.publish.fingerprint}"
        )
        if serve_after:
            _serve(result.publish.site, "127.0.0.1", port)


def _serve(directory: Path, host: str, port: int) -> None:
    from .serve import make_server

    server = make_server(directory, host, port)
    click.echo(f"Serving {directory} on http://{host}:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@main.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
def serve(directory: Path, host: str, port: int) -> None:
    """Preview a published site on localhost."""
    with _errors():
        _serve(directory, host, port)


def run() -> None:
    """The console entry point: like other Unix tools, stop quietly when stdout's reader goes.

    (`porsegregate verify ... | head` must not turn a verdict into an I/O error.)
    """
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()


if __name__ == "__main__":  # pragma: no cover
    run()
