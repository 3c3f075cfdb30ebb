"""The folder layout is the architecture: each layer imports only what sits below it.

    protocol/   rules and formats shared by every role: only errors and _crypto
    chains/     one module per chain family: only protocol (and errors, _crypto, _http)
    publish/    the custodian        verify/  the client        (never each other)
    progress    how long steps report (a protocol): imported by publish/ and above
    audit/      the auditor: may use publish/ and verify/; cli.py (and its _render.py,
                and the package's public API in __init__.py) likewise

No import cycles, and no module imports another module's private (underscore)
names. The rules are checked on the source with `ast`, so a forbidden import
fails here even if nothing runs it; the checker itself is tested on a small
made-up package that breaks each rule.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "porsegregate"
NAME = "porsegregate"

# Layer of a module: its subpackage, or its own name for a top-level module.
ALLOWED: dict[str, set[str]] = {
    "protocol": {"protocol", "errors", "_crypto"},
    "chains": {"chains", "protocol", "errors", "_crypto", "_http"},
    "verify": {"verify", "chains", "protocol", "errors", "_crypto", "_fs", "_http"},
    "publish": {
        "publish",
        "chains",
        "protocol",
        "errors",
        "_crypto",
        "_fs",
        "_http",
        "_version",
        "progress",
    },
    "cosign": {"verify", "protocol", "errors", "_crypto", "_fs"},
    "witness": {"cosign", "verify", "protocol", "errors", "_crypto", "_fs"},
    "errors": set(),
    "_version": set(),
    "_crypto": {"errors"},
    "_fs": {"errors"},
    "_http": {"errors"},
    "serve": {"errors"},
    "progress": set(),
    "_progress": {"progress"},
}
# May import from every layer: the auditor, the command line and the public API.
EVERYTHING = {"audit", "cli", "_render", "__main__", NAME}


def modules(package: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join((package.name, *parts)), path


def imports(module: str, path: Path) -> Iterator[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import of the package."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            yield target, names, node.lineno


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def layering_problems(package: Path) -> list[str]:
    name = package.name
    known = dict(modules(package))
    graph: dict[str, set[str]] = {m: set() for m in known}
    problems = []
    for module, path in known.items():
        here = layer(module)
        for target, names, line in imports(module, path):
            if target != name and not target.startswith(name + "."):
                continue
            # `from porsegregate.protocol import layout` imports the module protocol.layout.
            targets = [f"{target}.{n}" for n in names if f"{target}.{n}" in known] or [target]
            where = f"{path.relative_to(package.parent)}:{line}"
            for imported in targets:
                graph[module].add(imported)
                there = layer(imported)
                allowed = ALLOWED.get(here)
                if here not in EVERYTHING and (allowed is None or there not in allowed | {here}):
                    problems.append(f"{where}: {here} may not import {imported}")
            if targets == [target] and target != module:
                private = [n for n in names if _private(n) and f"{target}.{n}" not in known]
                if private:
                    problems.append(f"{where}: imports private names {private} of {target}")
    problems.extend(f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph))
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan), with its path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append([*sorted(group), sorted(group)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_keeps_its_layers() -> None:
    assert layering_problems(PACKAGE) == []


def test_every_module_belongs_to_a_known_layer() -> None:
    layers = {layer(m) for m, _ in modules(PACKAGE)}
    assert layers <= set(ALLOWED) | EVERYTHING, layers - set(ALLOWED) - EVERYTHING


def test_the_public_api_is_what_the_package_exports() -> None:
    """Every exported name resolves, and `import porsegregate` loads none of the roles."""
    import subprocess
    import sys

    import porsegregate

    assert set(porsegregate.__all__) >= set(porsegregate._EXPORTS)
    for name in porsegregate.__all__:
        assert getattr(porsegregate, name) is not None, name
    probe = (
        "import sys, porsegregate; "
        "print(sorted(m for m in sys.modules if m.split('.')[:2][-1] in "
        "('publish', 'verify', 'audit', 'cosign', 'chains')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]", loaded


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / NAME
    for relative, text in {"__init__.py": "", **files}.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.name != "__init__.py":
            (path.parent / "__init__.py").touch()
        path.write_text(text)
    return package


CLEAN = {
    "errors.py": "",
    "_crypto.py": "from .errors import *\n",
    "protocol/models.py": "from .. import _crypto\nfrom ..errors import *\n",
    "verify/checks.py": "from ..protocol.models import *\n",
    "publish/site.py": "from ..protocol import models\n",
    "audit/site.py": "from ..publish import site\nfrom ..verify.checks import *\n",
}


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            {"protocol/models.py": "from ..publish import site\n"},
            "protocol may not import porsegregate.publish.site",
        ),
        (
            {"verify/checks.py": "from porsegregate.publish.site import x\n"},
            "verify may not import porsegregate.publish.site",
        ),
        (
            {"publish/site.py": "def f():\n    from ..verify import checks\n"},
            "publish may not import porsegregate.verify.checks",
        ),
        (
            {"audit/site.py": "from ..verify.checks import _Run\n"},
            "imports private names ['_Run'] of porsegregate.verify.checks",
        ),
        (
            {
                "protocol/models.py": "from .hashing import x\n",
                "protocol/hashing.py": ("from .models import y\n"),
            },
            "import cycle: porsegregate.protocol.hashing -> porsegregate.protocol.models",
        ),
    ],
    ids=["protocol-publish", "verify-publish", "lazy-publish-verify", "private", "cycle"],
)
def test_the_checker_catches_each_forbidden_import(
    tmp_path: Path, edit: dict[str, str], expected: str
) -> None:
    assert layering_problems(_package(tmp_path / "clean", CLEAN)) == []
    problems = layering_problems(_package(tmp_path / "broken", {**CLEAN, **edit}))
    assert any(expected in p for p in problems), problems
