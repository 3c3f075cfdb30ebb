"""The JavaScript verifier (site/porverify.js) passes the shared vectors under Node's test runner.

Node also verifies a real published site (the session's `published` fixture),
with tampered shards, manifests and signatures, through the module's own
`verifySite` and an in-memory fetch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


def test_node_vectors_and_a_published_site(published: dict[str, Any]) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js 20+ is needed for the JavaScript verifier tests"
    env = {
        **os.environ,
        "PORSEGREGATE_TEST_SITE": str(published["site"]),
        "PORSEGREGATE_TEST_CODES": str(published["result"].codes),
    }
    proc = subprocess.run(
        [node, "--test", "tests/js/"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "# fail 0" in proc.stdout
    assert "# skipped 0" in proc.stdout, "the site tests must run"
