"""File writing that never leaves half a file and never clobbers a secret by accident."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError, InputError


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_secret(path: Path, data: bytes, overwrite: bool = False) -> None:
    """Owner-only file; refuses to replace an existing one unless asked to."""
    if path.exists() and not overwrite:
        raise ConfigError(
            f"{path} already exists; refusing to overwrite a key or secret (use --force)"
        )
    atomic_write(path, data, mode=0o600)


def read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: {what} not found") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: {what} expected, found a directory") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror}") from exc


@contextlib.contextmanager
def folder_lock(folder: Path, busy: str) -> Iterator[None]:
    """An exclusive flock on the folder itself: nothing is created, and the kernel releases
    it when a killed process dies. InputError(busy) if another process holds it."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise InputError(busy) from exc
        yield
    finally:
        os.close(fd)


def swap_dir(staging: Path, target: Path) -> None:
    """Put the folder `staging` in place of `target` with two renames (the old one is
    restored if the second fails), then remove the old one."""
    if not (target.exists() or target.is_symlink()):
        os.rename(staging, target)
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    old.rmdir()
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
