"""The command line: parse arguments, call the library, show the result, map errors to exit codes.

A result is shown as its `to_json()` document with --json, else as text by
`_render`; secrets come from a file, the environment or a prompt (`_secret`).

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
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, overload

import click

from . import _render
from ._http import deadlines
from ._progress import reporting
from ._version import __version__
from .errors import EXIT_FAILED, EXIT_INPUT, PorError
from .publish.assess import DEFAULT_MAX_BLOCK_SKEW
from .publish.config import CONFIG_NAME, load_config
from .publish.readers import parse_rpc_options
from .verify.fetch import AUDIT_DEADLINE, REQUEST_DEADLINE, VERIFY_DEADLINE

if TYPE_CHECKING:
    from ._crypto import Ed25519PrivateKey

_FILE = click.Path(path_type=Path, dir_okay=False)
_FOLDER = click.Path(path_type=Path, file_okay=False)
_PATH = click.Path(path_type=Path)

PASSPHRASE_ENV = "PORSEGREGATE_PASSPHRASE"  # noqa: S105 - a variable name
CODE_ENV = "PORSEGREGATE_CODE"
DATAROOM_PASSPHRASE_ENV = "PORSEGREGATE_DATAROOM_PASSPHRASE"  # noqa: S105 - a variable name


_SECONDS = click.FloatRange(0, 86400, min_open=True)


def _timeout_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--timeout",
        type=_SECONDS,
        default=REQUEST_DEADLINE,
        show_default=True,
        metavar="SECONDS",
        help="Over http(s): the most time one file of the site may take, in all.",
    )(function)


def _deadline_option(default: float) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--deadline",
        type=_SECONDS,
        default=default,
        show_default=True,
        metavar="SECONDS",
        help="Over http(s): the whole run's time limit; nothing is fetched once it is over.",
    )


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


@dataclass(frozen=True)
class _Ask:
    """How to prompt for a secret that neither its file nor its environment variable gave."""

    prompt: str
    refused: str  # the error when there is no answer (no terminal, Ctrl-D)
    confirm: bool = False


@overload
def _secret(what: str, file: Path | None, env: str, ask: _Ask) -> bytes: ...
@overload
def _secret(what: str, file: Path | None, env: str, ask: None = None) -> bytes | None: ...
def _secret(what: str, file: Path | None, env: str, ask: _Ask | None = None) -> bytes | None:
    """A secret from its file, else its environment variable, else a prompt (if `ask`).

    Not from an option's value: other users and shell histories see the command line.
    """
    if file is not None:
        try:
            return file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            _die(f"{file}: cannot read the {what} file ({exc.strerror})", EXIT_INPUT)
    value = os.environ.get(env)
    if value:
        return os.fsencode(value)
    if ask is None:
        return None
    try:
        text: str = click.prompt(
            ask.prompt, hide_input=True, confirmation_prompt=ask.confirm, err=True
        )
    except click.Abort:
        _die(ask.refused, EXIT_INPUT)
    return text.encode()


def _passphrase(passphrase_file: Path | None, confirm: bool = False) -> bytes:
    """The workspace's passphrase, for its signing key and master secret."""
    ask = _Ask(
        "Passphrase for the signing key and master secret",
        f"no passphrase: set {PASSPHRASE_ENV}, use --passphrase-file, or type it",
        confirm,
    )
    return _secret("passphrase", passphrase_file, PASSPHRASE_ENV, ask)


def _dataroom_passphrase(file: Path | None, confirm: bool = False) -> bytes:
    """A data room's own passphrase (never the workspace's: that one unlocks the signing key)."""
    ask = _Ask(
        "Passphrase of the data room" + (" (a new one, for the auditor)" if confirm else ""),
        f"no data-room passphrase: set {DATAROOM_PASSPHRASE_ENV}, use "
        "--dataroom-passphrase-file, or type it",
        confirm,
    )
    return _secret("data-room passphrase", file, DATAROOM_PASSPHRASE_ENV, ask)


def _refuse_code_in_argv(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """`verify --code` is gone: a code on the command line is seen by every user (`ps`)."""
    if value is not None:
        raise click.UsageError(
            "--code is not accepted: a code on the command line is visible to other users "
            f"(ps) and kept in shell history; use --code-file FILE, set ${CODE_ENV}, or leave "
            "both out and type the code at the prompt",
            ctx,
        )


def _client_code(code_file: Path | None) -> str:
    """The code from its file, environment variable or prompt (never from argv)."""
    ask = _Ask(
        "Your client code", f"no code: use --code-file, ${CODE_ENV}, or type it at the prompt"
    )
    return _secret("code", code_file, CODE_ENV, ask).decode("utf-8", "replace")


class _Result(Protocol):
    def to_json(self) -> dict[str, Any]: ...


def _show(result: _Result, as_json: bool, human: Callable[[], None]) -> None:
    """The result's JSON document with --json, else its text for people."""
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        human()


passphrase_option = click.option(
    "--passphrase-file",
    type=_FILE,
    help=f"Read the passphrase from this file (else ${PASSPHRASE_ENV}, else a prompt).",
)
dataroom_passphrase_option = click.option(
    "--dataroom-passphrase-file",
    type=_FILE,
    help=f"Read the data room's passphrase from this file (else ${DATAROOM_PASSPHRASE_ENV}, "
    "else a prompt).",
)
workspace_option = click.option(
    "--workspace",
    "-w",
    type=_FOLDER,
    default=Path("."),
    show_default=True,
    help=f"Workspace folder holding {CONFIG_NAME}.",
)
liabilities_option = click.option(
    "--liabilities",
    type=_PATH,
    help="Override the liabilities: a CSV or Parquet file, or a directory of such files.",
)
reserves_option = click.option(
    "--reserves",
    type=_FILE,
    help="The reserves declaration (TOML or JSON); default: [files] reserves of the config.",
)
rpc_option = click.option(
    "--rpc",
    multiple=True,
    metavar="CHAIN=URL",
    help="Read CHAIN's balances at its snapshot block from this node (repeatable). "
    "Use CHAIN=env:VARIABLE for a URL with an API key in it.",
)
progress_option = click.option(
    "--progress",
    "show_progress",
    is_flag=True,
    help="Report long steps on stderr: a bar on a terminal, else a line when a step begins, "
    "every 2 s and when it ends (logs, CI). Without it a bar is shown only on a terminal and "
    "not with --json; stdout is never used for it.",
)
skew_option = click.option(
    "--max-block-skew",
    type=click.IntRange(0, 10_000_000),
    default=DEFAULT_MAX_BLOCK_SKEW // 60,
    show_default=True,
    metavar="MINUTES",
    help="With --rpc: how far a snapshot block's time may be from the snapshot time.",
)


def _warn_no_snapshot_time(given: str | None, snapshot: str | None) -> None:
    if given is None:
        when = f" ({snapshot})" if snapshot else ""
        _render.warn(
            [
                f"no --snapshot-time: the snapshot time is now{when}, not when your ledger "
                "export and the chains' blocks were taken"
            ]
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="porsegregate")
def main() -> None:
    """Proof of reserves, liabilities and client-asset segregation, as a static site."""


@main.command()
@click.argument("directory", type=_FOLDER)
@click.option("--force", is_flag=True, help="Overwrite an existing workspace, key and secret.")
@passphrase_option
def init(directory: Path, force: bool, passphrase_file: Path | None) -> None:
    """Create a custodian workspace: config, encrypted key and master secret, sample data."""
    from .publish.workspace import init_workspace

    with _errors():
        config = init_workspace(directory, _passphrase(passphrase_file, confirm=True), force)
        _render.workspace_created(directory, config)


@main.command()
@workspace_option
@click.option("--epoch", required=True, help="Epoch id, e.g. 2026-11 (letters, digits, . _ -).")
@click.option("--snapshot-time", help="When balances were taken (ISO 8601 with zone); default now.")
@liabilities_option
@click.option("--out", type=_PATH, help="Override the site output folder.")
@click.option("--codes-out", type=_PATH, help="Override the private codes CSV.")
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
@click.option(
    "--next-due",
    help="When the next attestation is due (ISO 8601 with zone); default the snapshot time "
    "plus [schedule] interval_days of the config.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    help="local: this machine's processes; dask: a Dask cluster (--scheduler), or a local "
    "cluster of worker processes without one. Both publish the same bytes. Default: the "
    "config's [engine] kind, else local.",
)
@click.option(
    "--scheduler",
    help="The Dask scheduler's address, e.g. tcp://10.0.0.5:8786 (with --engine dask).",
)
@click.option(
    "--dask-workers",
    type=click.IntRange(1, 1024),
    help="Worker processes of the local Dask cluster (without --scheduler).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary on stdout.")
@progress_option
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
    next_due: str | None,
    engine: str | None,
    scheduler: str | None,
    dask_workers: int | None,
    as_json: bool,
    show_progress: bool,
    passphrase_file: Path | None,
) -> None:
    """Build, sign and atomically publish one epoch's site."""
    from .publish.config import engine_choice
    from .publish.pipeline import PublishOptions
    from .publish.pipeline import publish as do_publish

    with _errors():
        config = load_config(workspace / CONFIG_NAME)
        _warn_no_snapshot_time(snapshot_time, None)
        passphrase = _passphrase(passphrase_file)
        choice = engine_choice(config.engine, engine, scheduler, dask_workers)
        options = PublishOptions(
            epoch,
            engine=choice,
            snapshot_time=snapshot_time,
            site=out,
            codes_path=codes_out,
            liabilities_path=liabilities,
            reserves_path=reserves,
            rpc_urls=parse_rpc_options(rpc),
            replace=replace,
            allow_shortfall=allow_shortfall,
            max_block_skew=max_block_skew * 60,
            next_due=next_due,
        )
        with reporting(show_progress, as_json) as progress:
            result = do_publish(config, passphrase, options, progress=progress)
        _show(result, as_json, lambda: _render.publish_summary(result))


@main.group()
def reserves() -> None:
    """Declare and check the wallets that hold client assets (proof of control, balances)."""


@reserves.command()
@workspace_option
@click.option("--epoch", required=True, help="The epoch the signatures are for.")
@liabilities_option
@reserves_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list on stdout.")
@progress_option
@passphrase_option
def challenge(
    workspace: Path,
    epoch: str,
    liabilities: Path | None,
    reserves: Path | None,
    as_json: bool,
    show_progress: bool,
    passphrase_file: Path | None,
) -> None:
    """Print, for each wallet, the exact message its key must sign for this epoch.

    The message binds the custodian, the epoch, the hash of this epoch's
    liabilities, the chain, the address, the category and the holder, so a
    signature cannot be reused for another epoch, custodian or category.
    Signatures may be left empty in the reserves file until they are made.
    """
    from .publish.pipeline import epoch_challenges, prepare_epoch
    from .publish.reserves import read_reserves

    with _errors():
        config = load_config(workspace / CONFIG_NAME).for_epoch(epoch)
        passphrase = _passphrase(passphrase_file)
        declaration = read_reserves(reserves or config.reserves, config.assets, signed=False)
        with reporting(show_progress, as_json) as progress:
            prepared = prepare_epoch(config, passphrase, epoch, liabilities, progress)
        result = epoch_challenges(prepared, declaration)
        _show(result, as_json, lambda: _render.challenges(result))


@reserves.command()
@workspace_option
@click.option("--epoch", required=True, help="The epoch whose reserves file to update.")
@click.option(
    "--time",
    "snapshot_time",
    required=True,
    help="The snapshot time (ISO 8601 with zone), e.g. 2026-11-30T23:59:59Z.",
)
@click.option(
    "--rpc",
    multiple=True,
    metavar="CHAIN=URL",
    help="Find CHAIN's last block at or before the time on this node (repeatable; "
    "CHAIN=env:VARIABLE for a URL with an API key).",
)
@reserves_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary on stdout.")
def snapshot(
    workspace: Path,
    epoch: str,
    snapshot_time: str,
    rpc: tuple[str, ...],
    reserves: Path | None,
    as_json: bool,
) -> None:
    """Write each chain's snapshot block (height and hash) into the epoch's reserves file.

    For each --rpc chain, the last block whose time is at or before --time; the
    rest of the file is kept as it is. Signatures stay valid: the signed message
    does not bind the block.
    """
    from .publish.snapshot import snapshot_blocks

    with _errors():
        config = load_config(workspace / CONFIG_NAME)
        result = snapshot_blocks(
            config, epoch, snapshot_time, parse_rpc_options(rpc), reserves_path=reserves
        )
        _show(result, as_json, lambda: _render.snapshot(result))


@reserves.command()
@workspace_option
@click.option("--epoch", required=True, help="The epoch to check the signatures against.")
@click.option("--snapshot-time", help="The liabilities snapshot time (ISO 8601); default now.")
@liabilities_option
@reserves_option
@rpc_option
@skew_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report on stdout.")
@progress_option
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
    show_progress: bool,
    passphrase_file: Path | None,
) -> None:
    """Check every wallet: signatures, commingling, balances on chain, coverage.

    Exit 0 when everything holds and client liabilities are covered, 1 when a
    check fails or there is a shortfall, 3 on bad input.
    """
    from .publish.pipeline import assess_reserves, parse_snapshot_time, prepare_epoch
    from .publish.reserves import read_reserves

    with _errors():
        config = load_config(workspace / CONFIG_NAME).for_epoch(epoch)
        urls = parse_rpc_options(rpc)
        declaration = read_reserves(reserves or config.reserves, config.assets)
        snapshot = parse_snapshot_time(snapshot_time)
        _warn_no_snapshot_time(snapshot_time, snapshot)
        passphrase = _passphrase(passphrase_file)
        with reporting(show_progress, as_json) as progress:
            prepared = prepare_epoch(config, passphrase, epoch, liabilities, progress)
        result = assess_reserves(prepared, declaration, urls, snapshot, max_block_skew * 60)
        _show(result, as_json, lambda: _render.reserves_check(result))
        if not result.ok:
            sys.exit(EXIT_FAILED)


@main.command()
@click.option("--site", "site", help="The published site: a folder or an http(s) URL.")
@click.option("--proof", type=_FILE, help="A downloaded proof file (offline).")
@click.option("--account", required=True, help="Your account id, exactly as the custodian has it.")
@click.option(
    "--code",
    hidden=True,
    is_flag=False,
    flag_value="",  # `--code` with no value is refused the same way
    expose_value=False,
    callback=_refuse_code_in_argv,
    help="Refused: other users see the command line.",
)
@click.option(
    "--code-file",
    type=_FILE,
    help=f"Read your client code from this file (else ${CODE_ENV}, else a prompt).",
)
@click.option("--expect-key", help="The custodian key fingerprint you expect (hex).")
@click.option(
    "--save-proof",
    type=_FILE,
    help="Save your proof, with the signed log checkpoint, for offline use (--proof).",
)
@click.option(
    "--state",
    "state_file",
    type=_FILE,
    help="Remember the log checkpoint in this file, and check that the log only grew since "
    "the last check (rewritten or forked history fails). With --proof it is only read.",
)
@click.option(
    "--all-epochs",
    is_flag=True,
    help="Also check every earlier published epoch and the history linking them.",
)
@click.option(
    "--rpc",
    multiple=True,
    metavar="CHAIN=URL",
    help="Read every balance of CHAIN the attestation says was read from the chain again, at "
    "the signed block, from this node of yours (repeatable; CHAIN=env:VARIABLE for a URL with "
    "an API key).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report on stdout.")
@_timeout_option
@_deadline_option(VERIFY_DEADLINE)
def verify(
    site: str | None,
    proof: Path | None,
    account: str,
    code_file: Path | None,
    expect_key: str | None,
    save_proof: Path | None,
    state_file: Path | None,
    all_epochs: bool,
    rpc: tuple[str, ...],
    as_json: bool,
    timeout: float,
    deadline: float,
) -> None:
    """Check that your balances are included in the signed liabilities.

    With --rpc CHAIN=URL, also that the signed balances of every wallet on CHAIN are
    what your own node reads at the signed block.
    """
    from ._fs import atomic_write, read_bytes
    from .errors import FormatError
    from .protocol.serialization import parse_proof_file, proof_file_bytes
    from .verify.client import HistoryReport, verify_history, verify_proof, verify_site
    from .verify.state import ClientState

    if (site is None) == (proof is None):
        raise click.UsageError("give exactly one of --site or --proof")
    if proof is not None and all_epochs:
        raise click.UsageError("--all-epochs needs --site (a proof file holds one epoch)")
    with _errors():
        urls = parse_rpc_options(rpc)
        secret_code = _client_code(code_file)
        state = ClientState(state_file) if state_file is not None else None
        history: HistoryReport | None = None
        if proof is not None:
            try:
                proof_file = parse_proof_file(read_bytes(proof, "proof file"))
            except FormatError as exc:
                raise FormatError(f"{proof}: {exc}") from exc
            # The state is read, never written: a saved proof is not a visit to the site.
            with deadlines(request=timeout, run=deadline):
                report = verify_proof(
                    proof_file, account, secret_code, expect_key, state, rpc_urls=urls
                )
            state = None
        elif all_epochs:
            assert site is not None
            with deadlines(request=timeout, run=deadline):
                history = verify_history(
                    site, account, secret_code, expect_key, state, rpc_urls=urls
                )
            report = history.latest
        else:
            assert site is not None
            with deadlines(request=timeout, run=deadline):
                report = verify_site(site, account, secret_code, expect_key, state, rpc_urls=urls)
        if save_proof is not None and report.verified and report.proof is not None:
            atomic_write(save_proof, proof_file_bytes(report.proof))
        verified = report.verified and (history is None or history.verified)
        if state is not None and verified:
            state.save()
        shown = history if history is not None else report
        _show(shown, as_json, lambda: _render.verify_report(report, history, expect_key))
        if not verified:
            sys.exit(EXIT_FAILED)


@main.group()
def dataroom() -> None:
    """Hand an auditor one epoch's private data, without the power to sign."""


@dataroom.command("export")
@workspace_option
@click.option("--epoch", required=True, help="The epoch whose data room to export.")
@click.option(
    "--out", type=_FOLDER, required=True, help="The folder to write (it must not exist yet)."
)
@liabilities_option
@click.option(
    "--reserves",
    type=_FILE,
    help="The epoch's reserves declaration; default: [files] reserves of the config, if it exists.",
)
@click.option("--force", is_flag=True, help="Replace an existing data room folder.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary on stdout.")
@progress_option
@passphrase_option
@dataroom_passphrase_option
def dataroom_export(
    workspace: Path,
    epoch: str,
    out: Path,
    liabilities: Path | None,
    reserves: Path | None,
    force: bool,
    as_json: bool,
    show_progress: bool,
    passphrase_file: Path | None,
    dataroom_passphrase_file: Path | None,
) -> None:
    """Write the epoch's data room for an auditor: its liabilities CSV, reserves declaration,
    public key and the epoch's derived keys, under a new data-room passphrase.

    The workspace passphrase derives the epoch's keys; the data room holds
    neither the signing key nor the master secret, so its passphrase opens that
    epoch's data and gives no power to sign or to open any other epoch.
    """
    from .publish.dataroom_export import export_dataroom

    with _errors():
        config = load_config(workspace / CONFIG_NAME)
        passphrase = _passphrase(passphrase_file)
        room_passphrase = _dataroom_passphrase(dataroom_passphrase_file, confirm=True)
        with reporting(show_progress, as_json) as progress:
            result = export_dataroom(
                config,
                passphrase,
                epoch,
                out,
                room_passphrase,
                liabilities_path=liabilities,
                reserves_path=reserves,
                force=force,
                progress=progress,
            )
        _show(result, as_json, lambda: _render.dataroom_exported(result))


@main.command()
@click.argument("site")
@click.option(
    "--dataroom",
    "dataroom_folder",
    type=_FOLDER,
    help="The newest epoch's data room, as the custodian's `porsegregate dataroom export` "
    "wrote it (its passphrase from --dataroom-passphrase-file, "
    f"${DATAROOM_PASSPHRASE_ENV} or a prompt).",
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
    type=_FILE,
    help="The log must extend the checkpoint remembered in this file (as verify --state); "
    "the newest is remembered when the audit passes.",
)
@click.option(
    "--rpc",
    multiple=True,
    metavar="CHAIN=URL",
    help="Read every balance of CHAIN the newest attestation says was read from the chain "
    "again, at the signed block, from your own node (repeatable; CHAIN=env:VARIABLE for a URL "
    "with an API key).",
)
@click.option(
    "--documents",
    "documents_folder",
    type=_FOLDER,
    help="A folder of the arrangement's documents the custodian showed you: every hash-only "
    "document of the newest attestation must be one of its files (by SHA-256).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report on stdout.")
@progress_option
@_timeout_option
@_deadline_option(AUDIT_DEADLINE)
@dataroom_passphrase_option
def audit(
    site: str,
    dataroom_folder: Path | None,
    documents_folder: Path | None,
    sample: int | None,
    all_clients: bool,
    state_file: Path | None,
    rpc: tuple[str, ...],
    as_json: bool,
    show_progress: bool,
    timeout: float,
    deadline: float,
    dataroom_passphrase_file: Path | None,
) -> None:
    """Audit a whole published site (folder or URL): every signature, file, log entry, epoch.

    With the newest epoch's data room (--dataroom DIR, exported by the
    custodian with `porsegregate dataroom export`) also its totals, roots,
    client proofs, coverage and wallets. Exit 0 when every check holds, 1 when
    one fails, 3 on bad input (a wrong data-room passphrase included).
    With --rpc CHAIN=URL, the newest epoch's balances on CHAIN read again from your node.
    """
    from .audit import DEFAULT_SAMPLE, DataRoom, audit_site
    from .verify.state import ClientState

    if all_clients and sample is not None:
        raise click.UsageError("give --sample N or --all, not both")
    needs_room = [
        option
        for option, value in (
            ("--sample", sample),
            ("--all", all_clients or None),
            ("--dataroom-passphrase-file", dataroom_passphrase_file),
        )
        if value is not None
    ]
    if dataroom_folder is None and needs_room:
        raise click.UsageError(f"{', '.join(needs_room)}: only with --dataroom")
    with _errors():
        urls = parse_rpc_options(rpc)
        room = None
        if dataroom_folder is not None:
            room = DataRoom.open(
                dataroom_folder,
                _dataroom_passphrase(dataroom_passphrase_file),
                None if all_clients else (sample or DEFAULT_SAMPLE),
            )
        state = ClientState(state_file) if state_file is not None else None
        with deadlines(request=timeout, run=deadline), reporting(show_progress, as_json) as shown:
            report = audit_site(
                site, room, state, rpc_urls=urls, documents=documents_folder, progress=shown
            )
        if state is not None and report.ok:
            state.save()
        _show(report, as_json, lambda: _render.audit_report(site, report, room is not None))
        if not report.ok:
            sys.exit(EXIT_FAILED)


@main.command()
@click.argument("site", type=_FOLDER)
@click.option(
    "--key",
    "key_path",
    required=True,
    type=_FILE,
    help="Your Ed25519 private key, PEM (openssl genpkey -algorithm ed25519 -out auditor.pem); "
    "if encrypted, the passphrase is read as for publish.",
)
@click.option("--name", required=True, help="Your name or firm's, as it should appear (<= 200).")
@click.option(
    "--statement",
    "statement_file",
    type=_FILE,
    help="Your statement (UTF-8 text, <= 64 KiB); default: a short one saying what you sign.",
)
@click.option(
    "--epoch",
    help="Co-sign this earlier epoch (SITE/epochs/ID) instead of the newest at SITE.",
)
@click.option("--expect-key", help="Refuse unless the custodian key has this fingerprint (hex).")
@click.option("--force", is_flag=True, help="Replace your own existing co-signature.")
@click.option(
    "--rpc",
    multiple=True,
    metavar="CHAIN=URL",
    help="First read CHAIN's signed balances again from your own node (repeatable); refuse "
    "if one differs, else state in auditor.json that you re-read CHAIN at the signed block.",
)
@click.option(
    "--reviewed-documents",
    "reviewed_folder",
    type=_FOLDER,
    help="A folder of the arrangement's documents you reviewed: each must be a document of "
    "the attestation (by SHA-256); your statement ends with their list.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary on stdout.")
@passphrase_option
def cosign(
    site: Path,
    key_path: Path,
    name: str,
    statement_file: Path | None,
    reviewed_folder: Path | None,
    epoch: str | None,
    expect_key: str | None,
    force: bool,
    rpc: tuple[str, ...],
    as_json: bool,
    passphrase_file: Path | None,
) -> None:
    """As an auditor, co-sign an epoch's attestation.json with your own Ed25519 key.

    The site (a local folder) is verified first: the custodian's signatures
    and every file of its manifest. Your signature, public key, statement
    and signed auditor.json are written to SITE/auditors/<fingerprint>/ and
    listed in SITE/auditors/index.json; upload both to the site's host.
    With --rpc CHAIN=URL, CHAIN's balances are first read again from your node
    at the signed block, and auditor.json states that you did.
    """
    from .cosign import cosign as do_cosign
    from .cosign import load_auditor_key, read_statement, resolve_site

    ask = _Ask(
        f"Passphrase for {key_path}",
        f"{key_path} is encrypted: set {PASSPHRASE_ENV}, use --passphrase-file, or type the "
        "passphrase",
    )
    with _errors():
        urls = parse_rpc_options(rpc)
        folder = resolve_site(site, epoch)
        key = load_auditor_key(
            key_path, lambda: _secret("passphrase", passphrase_file, PASSPHRASE_ENV, ask)
        )
        statement = read_statement(statement_file) if statement_file is not None else None
        result = do_cosign(
            folder,
            key,
            name,
            statement,
            force=force,
            expect_key=expect_key,
            rpc_urls=urls,
            reviewed_documents=reviewed_folder,
        )
        _show(result, as_json, lambda: _render.cosign_summary(result))


def _witness_key(key_path: Path, passphrase_file: Path | None) -> Ed25519PrivateKey:
    """A witness's key; its passphrase (if encrypted) as for publish, never from argv."""
    from .witness import load_witness_key

    ask = _Ask(
        f"Passphrase for {key_path}",
        f"{key_path} is encrypted: set {PASSPHRASE_ENV}, use --passphrase-file, or type the "
        "passphrase",
    )
    return load_witness_key(
        key_path, lambda: _secret("passphrase", passphrase_file, PASSPHRASE_ENV, ask)
    )


@main.command()
@click.argument("site", type=_FOLDER)
@click.option(
    "--key",
    "key_path",
    required=True,
    type=_FILE,
    help="Your witness Ed25519 private key, PEM (openssl genpkey -algorithm ed25519 -out "
    "witness.pem); if encrypted, the passphrase is read as for publish.",
)
@click.option(
    "--name", required=True, help="Your witness name, as the custodian's attestation names it."
)
@click.option(
    "--state",
    "state_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your state file: the last checkpoint you co-signed of each log (created if missing; "
    "keep it, and back it up).",
)
@click.option("--force", is_flag=True, help="Replace your own existing co-signature.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary on stdout.")
@passphrase_option
def witness(
    site: Path,
    key_path: Path,
    name: str,
    state_file: Path,
    force: bool,
    as_json: bool,
    passphrase_file: Path | None,
) -> None:
    """As a witness, co-sign the site's newest log checkpoint.

    The site (a local folder) is verified first; then the checkpoint must extend
    the last one you co-signed of this log (its consistency proof is checked):
    a smaller or different log is refused (exit 1) as a rollback or a fork. The
    co-signature goes to SITE/log/witnesses/<size>/<fingerprint>.note (and the
    newest epoch's home); upload it to the site's host. Then STATE is updated.
    """
    from .witness import witness as do_witness

    with _errors():
        key = _witness_key(key_path, passphrase_file)
        result = do_witness(site, key, name, state_file, force=force)
        _show(result, as_json, lambda: _render.witness_summary(result))


@main.command("witness-key")
@click.argument("key_path", type=_FILE)
@click.option("--name", required=True, help="Your witness name (a C2SP key name, no spaces).")
@passphrase_option
def witness_key(key_path: Path, name: str, passphrase_file: Path | None) -> None:
    """Print your witness verifier key, for the custodian's [witnesses] keys."""
    from .witness import witness_vkey

    with _errors():
        click.echo(witness_vkey(_witness_key(key_path, passphrase_file), name))


@main.command()
@click.option("--out", type=_FOLDER, default=Path("porsegregate-demo"), show_default=True)
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
@click.option(
    "--language",
    default="en",
    show_default=True,
    help="The site's language (en, de), as [site] language in a custodian's config.",
)
@progress_option
def demo(
    out: Path,
    clients: int,
    seed: int,
    serve_after: bool,
    port: int,
    shortfall: bool,
    language: str,
    show_progress: bool,
) -> None:
    """Publish a realistic synthetic custodian, to see and try everything."""
    from .publish.demo import run_demo

    with _errors():
        with reporting(show_progress, False) as progress:
            result = run_demo(
                out, clients, seed, shortfall=shortfall, language=language, progress=progress
            )
        _render.demo_summary(result, port)
        if serve_after:
            _serve(result.publish.site, "127.0.0.1", port)


def _serve(directory: Path, host: str, port: int) -> None:
    from .serve import make_server

    server = make_server(directory, host, port)
    _render.serving(directory, host, server.server_address[1])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@main.command()
@click.argument("directory", type=_FOLDER)
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
