"""A real local Bitcoin node for tests: bitcoind (Bitcoin Knots) in regtest.

Use the session fixture ``bitcoind`` by naming this module in a test module, and
import it there for types only (a plain import before pytest loads the plugin
would stop pytest from rewriting its asserts)::

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from .bitcoin_node import BitcoinNode

    pytest_plugins = ["tests.support.bitcoin_node"]

    def test_something(bitcoind: BitcoinNode) -> None: ...

Where bitcoind comes from: Debian 12 has no Bitcoin node package, PyPI and npm
have none that ships the binary (the ones that exist download it from
bitcoincore.org at install time). Debian unstable packages Bitcoin Knots, a
Bitcoin Core derivative with the same RPC interface (scantxoutset included),
built against Debian 13's C and C++ runtime. ``install`` below downloads that
package and Debian 13's runtime libraries with apt-get, from the Debian mirror
this machine is configured with, unpacks them into a private directory (nothing
is installed system-wide) and writes a ``bitcoind`` wrapper that starts the
binary with Debian 13's dynamic loader::

    python3 -m tests.support.bitcoin_node install          # ~/.cache/porsegregate/bitcoind
    python3 -m tests.support.bitcoin_node install DIR      # (--force to redo it)

The fixture uses, in this order: $PORSEGREGATE_BITCOIND, ``bitcoind`` on PATH,
the default install directory's wrapper. Without one, the tests fail and say
how to install it.

The node listens on 127.0.0.1 only (RPC on a free port, no P2P), in a temporary
data directory, and has two ways in: a user and password given as -rpcauth
(``node.url`` carries them) and the cookie file (``node.cookie_file``).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

DEFAULT_DIR = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "porsegregate" / "bitcoind"
)
START_TIMEOUT = 60.0
COIN = 100_000_000

# (package, Debian suite). bitcoind is only in unstable; it needs glibc >= 2.38 and
# libstdc++ from GCC 14 (Debian 13), and libzmq/libevent builds linked against them.
# Everything else it loads (sqlite, krb5, libsodium, libbsd...) is in Debian 12's
# base system and works under the newer C library.
DEBIAN_PACKAGES = (
    ("bitcoin-knots", "sid"),
    ("libc6", "trixie"),
    ("libgcc-s1", "trixie"),
    ("libstdc++6", "trixie"),
    ("libevent-core-2.1-7t64", "trixie"),
    ("libevent-extra-2.1-7t64", "trixie"),
    ("libevent-pthreads-2.1-7t64", "trixie"),
    ("libzmq5", "trixie"),
    ("libpgm-5.3-0t64", "trixie"),
    ("libnorm1t64", "trixie"),
    ("libsodium23", "trixie"),
    ("libbsd0", "trixie"),
    ("libmd0", "trixie"),
)
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class NodeError(RuntimeError):
    """bitcoind could not be installed or started, or refused a request."""


# --------------------------------------------------------------------------- install


def _debian_mirror() -> str:
    """The main Debian archive this machine's apt is configured with."""
    candidates: list[str] = []
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for stanza in path.read_text(errors="replace").split("\n\n"):
            fields = dict(
                line.split(":", 1)
                for line in stanza.splitlines()
                if re.match(r"^[A-Za-z-]+:", line)
            )
            suites = fields.get("Suites", "")
            if "-security" not in suites and "Types" in fields and "deb" in fields["Types"].split():
                candidates.extend(fields.get("URIs", "").split())
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text(errors="replace").splitlines():
            match = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
            if match and "-security" not in match.group(2):
                candidates.append(match.group(1))
    for uri in candidates:
        if uri.rstrip("/").endswith("/debian"):
            return uri.rstrip("/")
    raise NodeError("no Debian archive found in /etc/apt/sources.list(.d)")


def _version(wrapper: Path) -> str | None:
    try:
        done = subprocess.run(
            [str(wrapper), "-version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.splitlines()[0] if done.stdout else None


def install(dest: Path = DEFAULT_DIR, force: bool = False) -> Path:
    """Download and unpack bitcoind and its runtime under dest; the wrapper's path.

    Does nothing if dest already has a working bitcoind (unless force)."""
    wrapper = dest / "bin" / "bitcoind"
    if not force and wrapper.is_file() and (version := _version(wrapper)):
        print(f"{version}: {wrapper} (already installed)")
        return wrapper
    mirror = _debian_mirror()
    apt = dest / "apt"
    root = dest / "root"
    debs = apt / "debs"
    for directory in (apt / "lists" / "partial", apt / "cache" / "archives" / "partial", debs):
        directory.mkdir(parents=True, exist_ok=True)
    source_list = apt / "sources.list"
    source_list.write_text(
        "".join(f"deb [signed-by={KEYRING}] {mirror} {suite} main\n" for suite in ("sid", "trixie"))
    )
    options = [
        f"-oDir::Etc::sourcelist={source_list}",
        "-oDir::Etc::sourceparts=-",
        f"-oDir::State::Lists={apt / 'lists'}",
        f"-oDir::Cache={apt / 'cache'}",
        "-oAPT::Sandbox::User=root",
        "-qq",
    ]
    subprocess.run(["apt-get", *options, "update"], check=True)
    for old in debs.glob("*.deb"):
        old.unlink()
    wanted = [f"{name}/{suite}" for name, suite in DEBIAN_PACKAGES]
    subprocess.run(["apt-get", *options, "download", *wanted], check=True, cwd=debs)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir()
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    libs = root / "usr" / "lib" / "x86_64-linux-gnu"
    loader = libs / "ld-linux-x86-64.so.2"
    if not (root / "usr" / "bin" / "bitcoind").is_file() or not loader.is_file():
        raise NodeError(f"the packages unpacked into {root} have no bitcoind or loader")
    bin_dir = dest / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("bitcoind", "bitcoin-cli"):
        script = bin_dir / tool
        script.write_text(
            "#!/bin/sh\n"
            "# Debian unstable's Bitcoin Knots, run with Debian 13's loader and libraries.\n"
            f'exec "{loader}" --library-path "{libs}:/lib/x86_64-linux-gnu:'
            f'/usr/lib/x86_64-linux-gnu" "{root}/usr/bin/{tool}" "$@"\n'
        )
        script.chmod(0o755)
    shutil.rmtree(apt)  # the package lists and .debs (~60 MB) are not needed any more
    version = _version(wrapper)
    if version is None:
        raise NodeError(f"{wrapper} does not run; see `{wrapper} -version`")
    print(f"{version}: {wrapper}")
    return wrapper


def bitcoind_binary() -> Path | None:
    configured = os.environ.get("PORSEGREGATE_BITCOIND")
    if configured:
        return Path(configured)
    found = shutil.which("bitcoind")
    if found:
        return Path(found)
    default = DEFAULT_DIR / "bin" / "bitcoind"
    return default if default.is_file() else None


# --------------------------------------------------------------------------- node


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: bitcoind gets SIGTERM if pytest dies without cleaning up."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def rpcauth_line(user: str, password: str) -> str:
    """The -rpcauth value for user and password (as Bitcoin Core's share/rpcauth does)."""
    salt = secrets.token_hex(16)
    digest = hmac.new(salt.encode(), password.encode(), hashlib.sha256).hexdigest()
    return f"{user}:{salt}${digest}"


def btc(sats: int) -> str:
    """Satoshis as the BTC decimal string bitcoind's amount arguments accept."""
    return str(Decimal(sats) / COIN)


class BitcoinNode:
    """A running regtest bitcoind with a mining wallet, and helpers to change its chain."""

    def __init__(
        self, process: subprocess.Popen[bytes], datadir: Path, port: int, user: str, pw: str
    ):
        self.process = process
        self.datadir = datadir
        self.port = port
        self.user = user
        self.password = pw
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"http://{user}:{pw}@127.0.0.1:{port}/"
        self.cookie_file = datadir / "regtest" / ".cookie"
        self.started_in = 0.0
        self.miner_address = ""

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def start(cls, workdir: Path, attempts: int = 3) -> BitcoinNode:
        binary = bitcoind_binary()
        if binary is None:
            pytest.fail(
                "bitcoind (the local Bitcoin node these tests run against) is not installed. "
                "Install it with `python3 -m tests.support.bitcoin_node install` (Debian "
                "unstable's Bitcoin Knots, unpacked under ~/.cache/porsegregate/bitcoind), or "
                "point $PORSEGREGATE_BITCOIND at a bitcoind.",
                pytrace=False,
            )
        began = time.monotonic()
        failures: list[str] = []
        for attempt in range(attempts):
            datadir = workdir / f"node-{attempt}"
            datadir.mkdir()
            port = _free_port()
            user, password = "porsegregate", secrets.token_hex(16)
            log = datadir / "stdout.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [
                        str(binary),
                        "-regtest",
                        f"-datadir={datadir}",
                        "-server=1",
                        "-listen=0",
                        "-connect=0",
                        "-dnsseed=0",
                        "-fixedseeds=0",
                        f"-rpcport={port}",
                        "-rpcbind=127.0.0.1",
                        "-rpcallowip=127.0.0.1",
                        f"-rpcauth={rpcauth_line(user, password)}",
                        "-fallbackfee=0.0001",
                        "-printtoconsole=0",
                        "-rpcworkqueue=64",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            node = cls(process, datadir, port, user, password)
            if node._wait_ready(began + START_TIMEOUT):
                node._prepare()
                node.started_in = time.monotonic() - began
                return node
            node.stop()
            failures.append(f"port {port}: {node.log_tail()}")
            if time.monotonic() > began + START_TIMEOUT:
                break
        raise NodeError("bitcoind did not start:\n" + "\n".join(failures))

    def _wait_ready(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                info = self.rpc("getblockchaininfo", timeout=2.0)
            except (OSError, urllib.error.URLError, ValueError, NodeError):
                time.sleep(0.05)
                continue
            return info.get("chain") == "regtest" and self.process.poll() is None
        return False

    def _prepare(self) -> None:
        self.rpc("createwallet", ["miner"])
        self.miner_address = self.rpc("getnewaddress", ["", "bech32"], wallet="miner")
        self.mine(101)  # the first coinbase matures

    def log_tail(self, lines: int = 20) -> str:
        texts = []
        for path in (self.datadir / "stdout.log", self.datadir / "regtest" / "debug.log"):
            with contextlib.suppress(OSError):
                texts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(texts) or "(empty log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                self.rpc("stop", timeout=5.0)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)

    # ---------------------------------------------------------------- chain access

    def rpc(
        self,
        method: str,
        params: list[Any] | None = None,
        wallet: str | None = None,
        timeout: float = 30.0,
    ) -> Any:
        """A bare JSON-RPC call (independent of porsegregate's client under test);
        amounts come back as Decimal."""
        body = json.dumps({"jsonrpc": "1.0", "id": 1, "method": method, "params": params or []})
        url = self.base + (f"/wallet/{wallet}" if wallet else "/")
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        request = urllib.request.Request(
            url,
            body.encode(),
            {"Content-Type": "application/json", "Authorization": f"Basic {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                reply = json.loads(response.read(), parse_float=Decimal)
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            exc.close()
            try:
                reply = json.loads(text, parse_float=Decimal)
            except ValueError:
                raise NodeError(f"{method}: HTTP {exc.code} {text[:200]}") from None
        if reply.get("error"):
            raise NodeError(f"{method}: {reply['error']}")
        return reply["result"]

    def height(self) -> int:
        return int(self.rpc("getblockcount"))

    def mine(self, blocks: int = 1) -> int:
        """Mine blocks to the miner wallet; the new tip height."""
        self.rpc("generatetoaddress", [blocks, self.miner_address])
        return self.height()

    def send(self, outputs: dict[str, int]) -> str:
        """One transaction from the miner wallet paying each address its satoshis."""
        amounts = {address: btc(sats) for address, sats in outputs.items()}
        return str(self.rpc("sendmany", ["", amounts], wallet="miner"))

    def key_wallet(self, name: str, descriptors: list[str]) -> str:
        """A wallet that can spend from the given key descriptors (e.g. wpkh(WIF))."""
        self.rpc("createwallet", [name, False, True])  # blank: holds only what is imported
        requests = []
        for descriptor in descriptors:
            info = self.rpc("getdescriptorinfo", [descriptor])
            requests.append({"desc": f"{descriptor}#{info['checksum']}", "timestamp": 0})
        results = self.rpc("importdescriptors", [requests], wallet=name, timeout=120.0)
        if not all(result.get("success") for result in results):
            raise NodeError(f"importdescriptors: {results}")
        return name

    def spend(self, wallet: str, outputs: dict[str, int], change_address: str) -> str:
        """A transaction from a key wallet, its change going back to change_address."""
        reply = self.rpc(
            "send",
            [
                [{address: btc(sats)} for address, sats in outputs.items()],
                None,
                "unset",
                None,
                {"change_address": change_address},
            ],
            wallet=wallet,
        )
        if not reply.get("complete"):
            raise NodeError(f"send from {wallet} did not complete: {reply}")
        return str(reply["txid"])


@pytest.fixture(scope="session")
def bitcoind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BitcoinNode]:
    """One regtest bitcoind for the whole session, stopped at the end."""
    node = BitcoinNode.start(tmp_path_factory.mktemp("bitcoind"))
    try:
        yield node
    finally:
        node.stop()


def main(argv: list[str]) -> int:
    force = "--force" in argv
    args = [a for a in argv if a != "--force"]
    if args[:1] == ["install"] and len(args) <= 2:
        install(Path(args[1]) if len(args) == 2 else DEFAULT_DIR, force=force)
        return 0
    print("usage: python3 -m tests.support.bitcoin_node install [--force] [DIR]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
