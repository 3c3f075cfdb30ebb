"""The command line, in process (CliRunner) and as real subprocesses; exit codes 0/1/2/3."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from porsegregate.cli import main
from porsegregate.publish.client_codes import read_client_codes

from .conftest import PASSPHRASE

ENV = {"PORSEGREGATE_PASSPHRASE": PASSPHRASE.decode()}


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env or ENV, input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("cli") / "ws"
    result = run("init", str(ws))
    assert result.exit_code == 0, result.output
    result = run(
        "publish",
        "-w",
        str(ws),
        "--epoch",
        "2026-11",
        "--snapshot-time",
        "2026-11-30T23:59:59Z",
        "--allow-shortfall",  # no reserves declared: every page says so
        "--json",
    )
    assert result.exit_code == 0, result.output
    return ws


def codes(ws: Path) -> dict[str, str]:
    return read_client_codes(ws / "private" / "client-codes.csv")


def with_code(code: str) -> dict[str, str]:
    """The client's code as verify takes it without a prompt: $PORSEGREGATE_CODE, not argv."""
    return {**ENV, "PORSEGREGATE_CODE": code}


def test_publish_next_due(workspace: Path) -> None:
    """--next-due is signed as given; one not after the snapshot is refused, nothing written."""
    args = ["publish", "-w", str(workspace), "--epoch", "2026-11", "--replace", "--json"]
    args += ["--snapshot-time", "2026-11-30T23:59:59Z", "--allow-shortfall"]
    result = run(*args, "--next-due", "2027-01-15T00:00:00Z")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["next_due"] == "2027-01-15T00:00:00Z"
    signed = (workspace / "site" / "attestation.json").read_bytes()
    result = run(*args, "--next-due", "2026-11-01T00:00:00Z")
    assert result.exit_code == 3
    assert "--next-due 2026-11-01T00:00:00Z must be after the snapshot time" in result.output
    assert (workspace / "site" / "attestation.json").read_bytes() == signed


def test_publish_json(workspace: Path) -> None:
    result = run(
        "publish",
        "-w",
        str(workspace),
        "--epoch",
        "2026-11",
        "--replace",
        "--json",
        "--snapshot-time",
        "2026-11-30T23:59:59Z",
        "--allow-shortfall",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["clients"] == 4
    assert {a["code"] for a in doc["assets"]} == {"BTC", "ETH", "USDT"}
    assert len(doc["key_fingerprint"]) == 64


def test_verify_ok_and_json(workspace: Path) -> None:
    code = codes(workspace)["alice@example.com"]
    result = run(
        "verify",
        "--site",
        str(workspace / "site"),
        "--account",
        "alice@example.com",
        "--json",
        env=with_code(code),
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["verified"] is True
    assert {b["asset"]: b["display"] for b in doc["balances"]} == {"BTC": "1.25", "USDT": "1500.5"}


def test_verify_reads_the_code_from_a_prompt_without_echo(workspace: Path) -> None:
    code = codes(workspace)["bob-7731"]
    result = run(
        "verify", "--site", str(workspace / "site"), "--account", "bob-7731", input=code + "\n"
    )
    assert result.exit_code == 0, result.output
    assert code not in result.output
    assert "VERIFIED" in result.output


def test_verify_failure_exit_1_names_the_check(workspace: Path) -> None:
    code = codes(workspace)["alice@example.com"]
    result = run(
        "verify", "--site", str(workspace / "site"), "--account", "bob-7731", env=with_code(code)
    )
    assert result.exit_code == 1
    # A valid code with another account id: a typing mistake, said as one (section 9).
    assert "NOT VERIFIED — CHECK WHAT YOU TYPED: check your account id (bundle-account:" in (
        result.output
    )
    assert "contact the custodian" not in result.output


def test_verify_a_mistyped_code_says_check_the_code(workspace: Path) -> None:
    """A typo in the code fails its checksum (exit 1, as any failed check), said as a typing
    mistake with what to check; not as a failed proof."""
    code = codes(workspace)["alice@example.com"]
    typo = ("B" if code[0] != "B" else "C") + code[1:]
    result = run(
        "verify",
        "--site",
        str(workspace / "site"),
        "--account",
        "alice@example.com",
        env=with_code(typo),
    )
    assert result.exit_code == 1
    assert "NOT VERIFIED — CHECK WHAT YOU TYPED: check your code (code:" in result.output
    assert "contact the custodian" not in result.output
    assert "Custodian key fingerprint" not in result.output


def test_verify_wrong_key_pin_exit_1(workspace: Path) -> None:
    code = codes(workspace)["alice@example.com"]
    result = run(
        "verify",
        "--site",
        str(workspace / "site"),
        "--account",
        "alice@example.com",
        "--expect-key",
        "ab" * 32,
        env=with_code(code),
    )
    assert result.exit_code == 1
    assert "check key-pin failed" in result.output
    # A real failure: not a typing mistake, and says what to do.
    assert "CHECK WHAT YOU TYPED" not in result.output
    assert "contact the custodian and its auditor" in result.output


def test_save_proof_then_verify_offline(workspace: Path, tmp_path: Path) -> None:
    code = codes(workspace)["carol.ltd"]
    proof = tmp_path / "proof.json"
    result = run(
        "verify",
        "--site",
        str(workspace / "site"),
        "--account",
        "carol.ltd",
        "--save-proof",
        str(proof),
        env=with_code(code),
    )
    assert result.exit_code == 0, result.output
    shutil.rmtree(tmp_path / "nothing", ignore_errors=True)
    code_file = tmp_path / "code.txt"
    code_file.write_text(code + "\n")
    result = run(
        "verify", "--proof", str(proof), "--account", "carol.ltd", "--code-file", str(code_file)
    )
    assert result.exit_code == 0, result.output
    assert "USDT" in result.output and "250125.25" in result.output


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["verify", "--account", "a"], 2, "give exactly one of --site or --proof"),
        (["verify", "--site", "/nonexistent", "--account", "a"], 3, "no such site folder"),
        (["verify", "--proof", "/nonexistent.json", "--account", "a"], 3, "proof file not found"),
        (["publish", "-w", "/nonexistent", "--epoch", "e"], 3, "no such config file"),
        (["publish"], 2, "Missing option '--epoch'"),
        (["frobnicate"], 2, "No such command"),
        (["serve", "/nonexistent"], 3, "not a published site"),
    ],
)
def test_usage_and_input_errors(args: list[str], exit_code: int, message: str) -> None:
    result = run(*args, env=with_code("x"))
    assert result.exit_code == exit_code, result.output
    assert message in result.output


def test_bad_code_is_a_failed_check(workspace: Path) -> None:
    result = run(
        "verify", "--site", str(workspace / "site"), "--account", "a", env=with_code("0000")
    )
    assert result.exit_code == 1
    assert "CHECK WHAT YOU TYPED: check your code (code:" in result.output


@pytest.mark.parametrize("option", [["--code", "ABCD-EFGH"], ["--code=ABCD-EFGH"], ["--code"]])
def test_a_code_on_the_command_line_is_refused(
    workspace: Path, tmp_path: Path, option: list[str]
) -> None:
    """`--code` would show a client's secret to every user of the machine (`ps`): exit 2,
    saying how to give the code instead; nothing is checked, nothing is saved."""
    code = codes(workspace)["alice@example.com"]
    saved = tmp_path / "proof.json"
    site = str(workspace / "site")
    args = ["verify", "--site", site, "--account", "alice@example.com", *option]
    result = run(*args, "--save-proof", str(saved), env=with_code(code))
    assert result.exit_code == 2, result.output
    assert "--code is not accepted" in result.output
    for way in ("--code-file", "PORSEGREGATE_CODE", "prompt"):
        assert way in result.output
    assert "ABCD-EFGH" not in result.output and not saved.exists()
    # Not offered by --help either; --code-file and the environment variable are.
    usage = run("verify", "--help").output
    assert "--code " not in usage and "--code-file" in usage and "PORSEGREGATE_CODE" in usage


def test_publish_bad_epoch_and_bad_input(workspace: Path, tmp_path: Path) -> None:
    result = run("publish", "-w", str(workspace), "--epoch", "../x")
    assert result.exit_code == 3 and "epoch id '../x' must be" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("account_id,asset,amount\na,BTC,1.123456789\nb,XRP,1\n")
    result = run("publish", "-w", str(workspace), "--epoch", "e2", "--liabilities", str(bad))
    assert result.exit_code == 3
    assert f"{bad}:2: BTC: amount '1.123456789' has 9 decimals; the asset allows 8" in result.output
    assert f"{bad}:3: unknown asset 'XRP'" in result.output


def test_missing_passphrase_exit_3(workspace: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["publish", "-w", str(workspace), "--epoch", "e3"],
        env={"PORSEGREGATE_PASSPHRASE": ""},
        input="",
    )
    assert result.exit_code == 3
    assert "no passphrase" in result.output


def test_init_refuses_to_overwrite(workspace: Path) -> None:
    result = run("init", str(workspace))
    assert result.exit_code == 3
    assert "refusing to overwrite" in result.output


def test_passphrase_never_in_output(workspace: Path) -> None:
    result = run(
        "publish", "-w", str(workspace), "--epoch", "2026-11", "--replace", "--allow-shortfall"
    )
    assert PASSPHRASE.decode() not in result.output


# A few real subprocess runs: the installed entry point, openssl on the published files.


def test_entry_point_version() -> None:
    exe = shutil.which("porsegregate")
    assert exe, "the porsegregate command is installed"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("porsegregate, version ")


def test_demo_subprocess_and_openssl(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "porsegregate.cli", "demo", "--out", str(out), "--clients", "300"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "account:" in proc.stdout and "code:" in proc.stdout
    # The printed next steps never put the code on a command line, and work as printed with
    # the code in the environment (a real subprocess, whose argv holds no code).
    sample = read_client_codes(out / "client-codes.csv")
    [shown] = [
        line.split(":", 1)[1].strip() for line in proc.stdout.splitlines() if "code:" in line
    ]
    assert shown in sample.values()
    commands = [line.strip() for line in proc.stdout.splitlines() if "porsegregate " in line]
    assert commands and not any(shown in c or "--code " in c for c in commands)
    [printed] = [shlex.split(c) for c in commands if c.startswith("porsegregate verify ")]
    printed = [sys.executable, "-m", "porsegregate.cli", *printed[1:]]
    env = {**os.environ, "PORSEGREGATE_CODE": shown}
    checked = subprocess.run(printed, capture_output=True, text=True, timeout=120, env=env)
    assert checked.returncode == 0 and "VERIFIED" in checked.stdout, checked.stdout + checked.stderr
    site = out / "site"
    for doc in ("attestation.json", "manifest.json"):
        check = subprocess.run(
            [
                "openssl",
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                "custodian.pub.pem",
                "-rawin",
                "-in",
                doc,
                "-sigfile",
                f"{doc}.sig",
            ],
            cwd=site,
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0 and "Signature Verified Successfully" in check.stdout, check
    tampered = (site / "attestation.json").read_bytes().replace(b"Demo", b"Dem0")
    (tmp_path / "t.json").write_bytes(tampered)
    check = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            str(site / "custodian.pub.pem"),
            "-rawin",
            "-in",
            str(tmp_path / "t.json"),
            "-sigfile",
            str(site / "attestation.json.sig"),
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode != 0
    account, code = next(iter(read_client_codes(out / "client-codes.csv").items()))
    proc = subprocess.run(
        ["porsegregate", "verify", "--site", str(site), "--account", account, "--json"],
        stdin=subprocess.DEVNULL,  # no prompt to answer: the code comes from the environment
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": os.environ["PATH"],
            "PORSEGREGATE_CODE": code,
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        },
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["verified"] is True


def test_sigterm_during_publish_leaves_the_previous_site(tmp_path: Path) -> None:
    """A real interrupted publish: the old site stays, no staging folder, exit 143."""
    import signal
    import time

    from porsegregate.publish.demo import DEMO_PASSPHRASE, run_demo, write_synthetic_liabilities

    result = run_demo(tmp_path / "demo", clients=50, seed=1)
    site = result.publish.site
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    ws = tmp_path / "demo" / "workspace"
    big = tmp_path / "big.csv"
    write_synthetic_liabilities(big, 150_000, seed=2)
    env = {**os.environ, "PORSEGREGATE_PASSPHRASE": DEMO_PASSPHRASE.decode()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "porsegregate.cli", "publish", "-w", str(ws), "--epoch", "2026-12",
         "--liabilities", str(big), "--out", str(site), "--allow-shortfall",
         "--snapshot-time", "2026-12-31T23:59:59Z"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(site.parent.glob(".site.staging-*")) and proc.poll() is None:
        assert time.monotonic() < deadline, "publish never started writing"
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated; nothing was left half-written" in err
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    assert not list(site.parent.glob(".site.*")), "no staging or old folder left behind"
