"""The README's month-two routine works when followed literally, for two consecutive epochs."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from porsegregate.audit.site import audit_site
from porsegregate.cli import main
from porsegregate.publish.client_codes import read_client_codes
from porsegregate.publish.config import CONFIG_NAME, load_config
from porsegregate.publish.demo_reserves import write_demo_reserves
from porsegregate.publish.pipeline import prepare_epoch
from porsegregate.verify.client import verify_history

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("### Month two") : README.index("### Sizes")]
PASSPHRASE = "month two passphrase, long enough"
# The README's epoch and snapshot day, and what the test runs in their place.
EPOCHS = (("2026-11", "2026-11-30"), ("2026-12", "2026-12-31"))


def section_commands() -> list[list[str]]:
    """The `porsegregate ...` command lines of the README's month-two section, in order."""
    return [
        shlex.split(line.strip())
        for line in SECTION.splitlines()
        if line.startswith("    ") and line.strip().startswith("porsegregate ")
    ]


def for_epoch(argv: list[str], epoch: str, day: str) -> list[str]:
    """The README's command for another epoch; --rpc dropped (the test has no mainnet nodes)."""
    out: list[str] = []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg == "--rpc":
            skip = True
            continue
        out.append(arg.replace("2026-12-31", day).replace("2026-12", epoch))
    return out


def test_the_section_has_the_routine_in_order() -> None:
    names = [" ".join(a[1:3]) if a[1] == "reserves" else a[1] for a in section_commands()]
    assert names == [
        "reserves snapshot",
        "reserves challenge",
        "reserves check",
        "publish",
        "cosign",
    ]
    for argv in section_commands()[2:4]:
        assert "--snapshot-time" in argv and "--rpc" in argv, argv
    assert "re-signed every epoch" in SECTION and "signing ceremony" in SECTION
    assert "{epoch}" in SECTION


def test_the_readme_gives_the_auditor_pages_manifest_check() -> None:
    template = (ROOT / "templates" / "auditor.html").read_text(encoding="utf-8")
    line = next(x for x in template.splitlines() if "sha256sum -c -" in x)
    assert "    " + line.replace("</code></pre>", "").strip() in README


def test_month_two_routine_runs_literally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORSEGREGATE_PASSPHRASE", PASSPHRASE)
    runner = CliRunner()

    def run(args: list[str], expect: int = 0) -> str:
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == expect, (args, result.output)
        return result.output

    init_out = run(["init", "my-custody"])
    assert "--snapshot-time" in init_out and "--rpc" in init_out
    workspace = tmp_path / "my-custody"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", "auditor.pem"], check=True
    )
    config = load_config(workspace / CONFIG_NAME)
    # Step 1's `reserves snapshot` needs the chains' nodes: tests/test_reserves_snapshot.py.
    commands = section_commands()[1:]
    for number, (epoch, day) in enumerate(EPOCHS):
        # Step 1: this month's ledger export (month two: one more client) ...
        if number:
            with config.liabilities.open("a", encoding="utf-8") as f:
                f.write("erin-2,BTC,0.5\nerin-2,ETH,1\n")
        # ... and wallets signed from it (steps 2 and 3: challenge, then the signers).
        reserves = workspace / "data" / f"reserves-{epoch}.toml"
        assert config.for_epoch(epoch).reserves == reserves
        if number:
            # Last month's signatures do not verify for this month's liabilities.
            shutil.copy(workspace / "data" / f"reserves-{EPOCHS[0][0]}.toml", reserves)
            failed = run(for_epoch(commands[1], epoch, day), expect=1)
            assert "Reserves checks FAILED" in failed
        # The wallets, declared and signed by their (demo) keys over this epoch's messages ...
        prepared = prepare_epoch(config, PASSPHRASE.encode(), epoch)
        write_demo_reserves(reserves, prepared)
        # ... the very messages `reserves challenge` prints for this epoch.
        challenge = run(for_epoch(commands[0], epoch, day))
        assert prepared.context.liabilities_sha256 in challenge
        for argv in commands[1:]:
            output = run(for_epoch(argv, epoch, day))
            if argv[1] == "reserves":
                assert "All reserves checks pass." in output
                assert "declared, not checked" in output  # the stderr warning (no --rpc)
            if argv[1] == "publish":
                assert f"Published epoch {epoch}" in output
                assert "tree height" in output and "site size:" in output
    # Both epochs verify: the audit of the whole site, and a client's check of every epoch.
    site = workspace / "site"
    assert (site / "epochs" / "2026-11").is_dir() and (site / "epochs" / "2026-12").is_dir()
    assert (workspace / "data" / "reserves-2026-11.toml").is_file()
    audit = audit_site(str(site))
    assert audit.ok, audit.failed
    codes = read_client_codes(workspace / "private" / "client-codes.csv")
    history = verify_history(str(site), "alice@example.com", codes["alice@example.com"])
    assert history.verified, history.failed
    assert sorted(r.epoch for r in history.epochs) == ["2026-11", "2026-12"]
    assert all(r.report is not None and r.report.verified for r in history.epochs)
    assert verify_history(str(site), "erin-2", codes["erin-2"]).verified  # month two's client
    assert len(list((site / "auditors").iterdir())) >= 1


def test_epoch_placeholder(tmp_path: Path) -> None:
    from porsegregate.errors import ConfigError
    from porsegregate.publish.workspace import init_workspace

    config = init_workspace(tmp_path / "ws", PASSPHRASE.encode())
    assert str(config.reserves).endswith("data/reserves-{epoch}.toml")
    assert config.for_epoch("2027-01").reserves == tmp_path / "ws/data/reserves-2027-01.toml"
    assert config.for_epoch("2027-01").liabilities == config.liabilities  # no placeholder
    text = (tmp_path / "ws" / CONFIG_NAME).read_text()
    for bad, message in (
        ('site = "site-{epoch}"', r"\[files\] site .*only liabilities, reserves, codes"),
        ('reserves = "data/r-{month}.toml"', r"the only placeholder is \{epoch\}"),
    ):
        key = bad.split(" ")[0]
        changed = re.sub(rf"(?m)^{key} = .*$", bad, text)
        (tmp_path / "ws" / CONFIG_NAME).write_text(changed)
        with pytest.raises(ConfigError, match=message):
            load_config(tmp_path / "ws" / CONFIG_NAME)
