"""The vendored secp256k1/Keccak code (site/vendor/noble.js) is exactly what the pinned npm
packages build to, and the pages carry it (with its licences) under their CSP hash."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from porsegregate.publish.site import VENDOR

ROOT = Path(__file__).resolve().parent.parent
PINNED = {"@noble/curves", "@noble/hashes", "esbuild"}


def test_shipped_bundle_is_a_fresh_build_from_the_lockfile(tmp_path: Path) -> None:
    """`node scripts/build-vendor.mjs` from node_modules (npm ci of package-lock.json) makes
    exactly the committed site/vendor/noble.js, byte for byte."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (scripts/test.sh installs it and runs npm ci)"
    out = tmp_path / "noble.js"
    subprocess.run(
        [node, "scripts/build-vendor.mjs", str(out)], cwd=ROOT, check=True, capture_output=True
    )
    shipped = (ROOT / "site" / VENDOR).read_bytes()
    assert out.read_bytes() == shipped, (
        "site/vendor/noble.js is not what package-lock.json builds: run "
        "`npm ci && node scripts/build-vendor.mjs` and commit the result"
    )


def test_versions_are_pinned_exactly_and_locked() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    shipped = (ROOT / "site" / VENDOR).read_text(encoding="utf-8")
    for name in PINNED:
        version = package["devDependencies"][name]
        assert version[0].isdigit() and all(c.isdigit() or c == "." for c in version), version
        locked = lock["packages"][f"node_modules/{name}"]
        assert locked["version"] == version
        assert locked["integrity"].startswith("sha512-")
        assert f"{name} {version}" in shipped  # the bundle names what it was built from


def test_bundle_carries_the_licences() -> None:
    shipped = (ROOT / "site" / VENDOR).read_text(encoding="utf-8")
    for name in ("@noble/curves", "@noble/hashes"):
        assert f"/*! {name} " in shipped
    assert shipped.count("The MIT License (MIT)") == 2
    assert shipped.count("Copyright (c) 2022 Paul Miller") >= 1
    # Inlined in an HTML <script>: nothing in it may end the element early.
    assert "</script" not in shipped.lower() and "<!--" not in shipped and "\x00" not in shipped
    assert "globalThis.porNoble" in shipped
