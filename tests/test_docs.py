"""The docs stay true: commands and options they show exist, check ids match the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from porsegregate.cli import main

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
OPENSSL = (
    "openssl pkeyutl -verify -pubin -inkey custodian.pub.pem -rawin -in attestation.json "
    "-sigfile attestation.json.sig"
)


SCALE = (ROOT / "docs" / "scale.md").read_text(encoding="utf-8")


def readme_commands() -> list[list[str]]:
    """Every `porsegregate ...` command the README and docs/scale.md show."""
    commands = []
    for raw in (README + "\n" + SCALE).splitlines():
        line = raw.strip()
        if raw.startswith("    ") and line.startswith(
            ("porsegregate ", "pip install . && porsegregate")
        ):
            commands.append(shlex.split(line.split("&& ")[-1]))
    return commands


@pytest.mark.parametrize("argv", readme_commands(), ids=lambda a: " ".join(a[:2]))
def test_readme_commands_parse(argv: list[str]) -> None:
    """Every `porsegregate ...` line in the README names a real command and real options."""
    assert argv[0] == "porsegregate"
    command = main.commands.get(argv[1])
    assert command is not None, f"README shows unknown command {argv[1]}"
    if isinstance(command, click.Group):
        command = command.commands.get(argv[2])
        assert command is not None, f"README shows unknown command {argv[1]} {argv[2]}"
    options = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
    for arg in argv[2:]:
        if arg.startswith("--"):
            assert arg in options, f"README shows unknown option {arg} of {argv[1]}"


def test_readme_has_the_two_setup_commands_and_openssl() -> None:
    assert "pip install . && porsegregate demo" in README
    assert "bash scripts/test.sh" in README
    assert OPENSSL in README
    assert OPENSSL in PROTOCOL
    assert (
        "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
        or "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    )


def test_every_check_id_is_documented() -> None:
    package = ROOT / "src" / "porsegregate"
    source = "".join(p.read_text() for p in sorted((package / "verify").glob("*.py")))
    source += (package / "protocol" / "tree.py").read_text()
    ids = set(re.findall(r'(?:PathError|VerificationError|Check)\(\s*"([a-z-]+)"', source))
    ids |= set(re.findall(r'_passed\(\s*record,\s*"([a-z-]+)"', source))
    assert len(ids) >= 15
    for check in ids:
        assert f"`{check}`" in PROTOCOL, f"check {check} is not in docs/protocol.md"


def test_every_command_has_help() -> None:
    for name, command in main.commands.items():
        assert command.help, name


def test_the_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library example in the README works as written, in a fresh folder."""
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) == 1, "one Python example in the README"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PORSEGREGATE_PASSPHRASE", raising=False)
    exec(compile(blocks[0], "README.md", "exec"), {"__name__": "readme"})
    assert (tmp_path / "my-custody" / "site" / "attestation.json").is_file()


def test_the_public_api_is_documented() -> None:
    """Every name the package exports is what the README's library section talks about."""
    import porsegregate

    section = README[README.index("## From Python") : README.index("## Development")]
    for name in ("publish_epoch", "verify_site", "verify_proof", "verify_history", "audit_site"):
        assert name in porsegregate.__all__ and f"{name}" in section, name
