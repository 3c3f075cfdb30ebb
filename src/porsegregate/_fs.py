"""File writing that never leaves half a file and never clobbers a secret by accident."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
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


def atomic_write_pieces(path: Path, pieces: Iterable[bytes], mode: int = 0o644) -> None:
    """atomic_write of a file made piece by piece (never whole in memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            for piece in pieces:
                f.write(piece)
            f.flush()
            os.fsync(f.fileno())
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


# --- swapping a folder in --------------------------------------------------------------
#
# `swap_dir` puts a complete, durable staging folder in place of a target folder so
# that at every instant the target's name holds a complete copy, or a journal says
# which folder does. `recover_swap`, run under the same lock before anything reads
# the target, finishes what a killed swap left and removes only what is provably not
# the only complete copy.
#
# 1. renameat2(RENAME_EXCHANGE): one atomic exchange of the two names, then an fsync of
#    the parent; the old folder (now under the staging name) is removed. The target
#    name never stops naming a complete folder, so every leftover is disposable.
# 2. Where the exchange is unavailable (EINVAL/ENOSYS/EOPNOTSUPP, e.g. some file
#    systems, or no renameat2 in libc): a journal `.<name>.swap` naming the staging and
#    old folders is written and fsynced *before* the two renames. From that moment the
#    swap is committed: recovery rolls it forward (promotes the staging folder, which
#    was complete and on disk before the journal), exactly as a killed exchange leaves
#    the new folder in place. The journal goes only after the second rename is durable.
#
# Rolling forward rather than back: it is what a killed exchange leaves (the new site in
# place), and either way a publish leaves the site one log entry ahead of the workspace
# log until it commits that log; the next publish catches the workspace up from the site
# (publish/history.py `reconcile`), exactly as after a run killed between a completed
# swap and its log commit. So a committed swap, exchanged or journalled, always ends
# with the new site, and the workspace and site logs can never fork.

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}


def _load_renameat2() -> Callable[..., int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28
    except (OSError, AttributeError):
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _load_renameat2()  # None: the fallback (tests set it to None to force it)

FAULT_ENV = "PORSEGREGATE_FAULT"
# Every point where the swap or its recovery can be killed; tests kill at each one.
FAULT_POINTS = (
    "swap:after-rename",  # no target yet: the staging folder renamed in, not yet fsynced
    "swap:after-exchange",  # exchanged, the parent not yet fsynced
    "swap:after-exchange-fsync",  # exchanged and durable, the old folder not yet removed
    "swap:after-journal",  # fallback: journal durable, nothing renamed yet
    "swap:after-old-aside",  # fallback: the target renamed to .<name>.old-*
    "swap:after-new-in",  # fallback: the staging folder renamed to the target
    "swap:after-journal-removed",  # fallback: done, the old folder not yet removed
    "recover:after-old-aside",  # rolling a journal forward: the target renamed aside
    "recover:after-new-in",  # rolling a journal forward: the staging folder renamed in
    "recover:after-journal-removed",  # rolled forward, the old folder not yet removed
    "recover:after-restore",  # no journal, no target: the one old folder renamed back
)


def _fault(point: str) -> None:
    """TEST-ONLY fault injection: SIGKILL this process at `point` when the environment
    variable PORSEGREGATE_FAULT names it. No command-line option sets it; without it
    this does nothing. Every point is listed in FAULT_POINTS, which the tests enumerate."""
    assert point in FAULT_POINTS, point
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(path: Path) -> None:
    """Make the entries of a folder (renames, creations, removals) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def exchange(a: Path, b: Path) -> bool:
    """Atomically exchange the names `a` and `b` (renameat2 RENAME_EXCHANGE).

    False, with nothing changed, when the kernel, libc or file system cannot.
    """
    if _RENAMEAT2 is None:
        return False
    result = _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _journal(target: Path) -> Path:
    return target.parent / f".{target.name}.swap"


def _leftovers(target: Path, kind: str) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.{kind}-*"))


def swap_dir(staging: Path, target: Path) -> None:
    """Put the complete folder `staging` (already on disk: fsynced) in place of `target`.

    At no instant is the only complete copy at a name a cleanup may delete: an
    atomic exchange where the file system supports it, else a journal written
    before the renames (see above). The caller holds the folder's lock, and ran
    `recover_swap(target)` under it before reading the target.
    """
    parent = target.parent
    if not _exists(target):
        os.rename(staging, target)
        _fault("swap:after-rename")
        fsync_dir(parent)
        return
    if exchange(staging, target):
        _fault("swap:after-exchange")
        fsync_dir(parent)
        _fault("swap:after-exchange-fsync")
        _remove(staging)  # now the old folder
        return
    old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.old-"))
    old.rmdir()
    journal = _journal(target)
    atomic_write(journal, json.dumps({"staging": staging.name, "old": old.name}).encode())
    fsync_dir(parent)
    _fault("swap:after-journal")
    try:
        os.rename(target, old)
    except BaseException:
        journal.unlink()
        raise
    _fault("swap:after-old-aside")
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)  # not committed on disk yet: undo, then drop the journal
        fsync_dir(parent)
        journal.unlink()
        raise
    _fault("swap:after-new-in")
    _finish(target, old, journal, "swap:after-journal-removed")


def _finish(target: Path, old: Path, journal: Path, point: str) -> None:
    """The new folder is at `target`: make that durable, drop the journal, then `old`."""
    fsync_dir(target.parent)
    journal.unlink()
    fsync_dir(target.parent)
    _fault(point)
    _remove(old)


def _read_journal(journal: Path, target: Path) -> tuple[Path, Path]:
    try:
        names = json.loads(journal.read_bytes())
        staging, old = str(names["staging"]), str(names["old"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{journal}: an interrupted swap of {target} left a journal that cannot be read; "
            f"check which of the folders beside it is complete, rename it to {target.name}, "
            "then remove the journal"
        ) from exc
    for name, kind in ((staging, "staging"), (old, "old")):
        if "/" in name or not name.startswith(f".{target.name}.{kind}-"):
            raise ConfigError(f"{journal}: names {name!r}, not a {kind} folder of {target}")
    return target.parent / staging, target.parent / old


def recover_swap(target: Path) -> None:
    """Finish or undo what a killed `swap_dir` left beside `target`; call it under the lock.

    A journal means the swap was committed: it is rolled forward (the staging folder
    it names becomes the target). With no journal and no target, the one
    `.<name>.old-*` folder is restored (a swap by an earlier version died between its
    renames); several are refused, not guessed between. Only then are leftovers
    removed: every `.<name>.old-*` and `.<name>.staging-*` when the target exists (it
    is a complete copy), else only staging folders (never swapped in, so never the
    published copy).
    """
    parent = target.parent
    journal = _journal(target)
    if journal.exists():
        staging, old = _read_journal(journal, target)
        if _exists(staging):
            if _exists(target):
                os.rename(target, old)
                _fault("recover:after-old-aside")
            os.rename(staging, target)
            _fault("recover:after-new-in")
        elif not _exists(target) and _exists(old):
            os.rename(old, target)  # not reachable by swap_dir; never lose the old copy
        _finish(target, old, journal, "recover:after-journal-removed")
    elif not _exists(target):
        olds = _leftovers(target, "old")
        if len(olds) > 1:
            raise ConfigError(
                f"{target} is missing and {len(olds)} earlier copies are beside it "
                f"({', '.join(p.name for p in olds)}); rename the newest complete one to "
                f"{target.name} (nothing was deleted)"
            )
        if olds:
            os.rename(olds[0], target)
            _fault("recover:after-restore")
            fsync_dir(parent)
    for leftover in _leftovers(target, "staging"):
        _remove(leftover)
    if _exists(target):
        for leftover in _leftovers(target, "old"):
            _remove(leftover)
