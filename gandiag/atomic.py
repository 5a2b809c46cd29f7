"""Atomic file writes: a reader sees the old file or the complete new one, never half of it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import GandiagInputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success, fsync it and rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8); returns ``path`` as a Path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def output_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` as a folder to write into; an existing file there is an input error naming ``option``."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise GandiagInputError(f"{option} {path}: exists and is not a folder")
    return folder


_HELD: dict[Path, tuple[int, int]] = {}  # folder -> (lock file descriptor, depth): re-entrant per process


@contextlib.contextmanager
def folder_lock(path: str | os.PathLike, option: str = "--out") -> Iterator[Path]:
    """Hold an exclusive lock on folder ``path`` (a ``.NAME.lock`` file beside it) for the block.

    A second process that asks for the same folder gets a :class:`GandiagInputError` at once,
    naming the folder and the process that holds it; the lock dies with its process (``flock``),
    so a killed writer leaves no stale lock (only its empty lock file, reused by the next writer).
    The lock file is removed on release. Re-entrant within one process.
    """
    import fcntl

    folder = Path(path).absolute()
    if folder in _HELD:
        fd, depth = _HELD[folder]
        _HELD[folder] = (fd, depth + 1)
        try:
            yield folder
        finally:
            fd, depth = _HELD[folder]
            _HELD[folder] = (fd, depth - 1)
        return
    lock = folder.parent / f".{folder.name}.lock"
    while True:
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        except OSError as exc:
            raise GandiagInputError(f"{option} {path}: cannot create the lock file {lock} ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise GandiagInputError(f"{option} {path}: another gandiag ({holder}) is writing this folder; "
                                    "wait for it to finish or choose another folder") from None
        try:  # the holder before us may have removed the file after we opened it: lock the current one
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:  # who holds it, for the message a second writer gets; a full disk only loses the note
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
    except OSError:
        pass
    _HELD[folder] = (fd, 1)
    try:
        yield folder
    finally:
        del _HELD[folder]
        try:
            os.unlink(lock)  # removed while still held, so no one can lock a file that is going away
        except OSError:
            pass
        os.close(fd)  # releases the flock


def check_replaceable(path: str | os.PathLike, allowed: frozenset[str], option: str = "--out") -> None:
    """Refuse a folder ``path`` that holds entries other than ``allowed`` (a user's own files).

    Called before work starts, so an audit into a folder it could not replace fails at once
    (:func:`atomic_folder` checks again before the swap). A missing folder passes.
    """
    target = Path(path)
    if not target.is_dir():
        return
    foreign = sorted(p.name for p in target.iterdir() if p.name not in allowed)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise GandiagInputError(f"{option} {path}: the folder holds files gandiag did not write ({shown}); "
                                "choose a new or empty folder (gandiag replaces its report folder as a whole)")


def _stale_siblings(folder: Path) -> list[Path]:
    return [p for p in folder.parent.glob(f".{folder.name}.*") if p.is_dir() and p.name.rsplit(".", 1)[-1][:4] in
            ("tmp-", "old-")]


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, *, replaceable: frozenset[str] | None = None,
                  keep: frozenset[str] = frozenset(), option: str = "--out") -> Iterator[Path]:
    """Yield a new temporary folder beside ``path``; on success it replaces ``path`` as a whole.

    A reader sees the previous folder or the complete new one, never a mix of two writes: the
    files are written into ``.NAME.tmp-XXXX``, then the previous folder is renamed aside, the new
    one renamed onto ``path``, and the previous one removed. On any exception (a full disk,
    Ctrl-C) the temporary folder is removed and ``path`` is left as it was; temporary folders that
    a killed process left behind are removed at the next call. The folder is locked for the
    duration (:func:`folder_lock`).

    An existing ``path`` is only replaced when it holds nothing but names in ``replaceable`` (the
    files this kind of folder is made of) and ``keep``; anything else is an input error naming the
    files, so a folder of the user's own files is never removed. Entries named in ``keep`` (the
    demo's ``runs`` folder) are moved, not copied, into the new folder just before the swap (and
    moved back if the swap fails or, after a kill, at the next call).
    """
    import shutil

    target = Path(path)
    with folder_lock(target, option):
        if target.exists() and not target.is_dir():
            raise GandiagInputError(f"{option} {path}: exists and is not a folder")
        stale = sorted(_stale_siblings(target), key=lambda p: "tmp-" in p.name)  # old-* first, then tmp-*
        for folder in stale:  # left by a killed writer; we hold the lock
            previous = folder / "previous"
            if not target.exists() and previous.is_dir():  # killed between its two renames: restore
                os.replace(previous, target)
            for name in keep:  # killed after moving a kept entry into its new folder: move it back
                if (folder / name).exists() and target.is_dir() and not (target / name).exists():
                    os.replace(folder / name, target / name)
            shutil.rmtree(folder, ignore_errors=True)
        if replaceable is not None:
            check_replaceable(target, replaceable | keep, option)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        except OSError as exc:
            raise GandiagInputError(f"{option} {path}: cannot write there ({exc.strerror})") from None
        os.chmod(tmp, 0o777 & ~_umask())
        try:
            yield tmp
            carried = [name for name in sorted(keep) if (target / name).exists() and not (tmp / name).exists()]
            for name in carried:
                os.replace(target / name, tmp / name)
            old = None
            try:
                if target.exists():
                    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                    os.replace(target, old / "previous")
                os.replace(tmp, target)
            except OSError:
                if old is not None and (old / "previous").exists():
                    os.replace(old / "previous", target)
                for name in carried:
                    os.replace(tmp / name, target / name)
                raise
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            raise GandiagInputError(f"{option} {path}: cannot write the folder ({exc.strerror or exc}); "
                                    "the previous contents are left as they were") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
