"""Folders and single files saved atomically: a new version appears complete or not at all, whatever crashes.

A save writes a temporary folder beside the target (``.NAME.tmp-PID-...``), finishes it with a manifest written
last (file checksums and sizes, the time of the save), then swaps it in with two renames (``NAME`` to
``.NAME.old``, the temporary folder to ``NAME``). ``recover`` brings a target back to the newest complete version
on disk and removes what crashed saves left; every save and every load calls it first, so a second crash in the
middle of the next save cannot lose the last complete version. A single file (``write_file``) is written beside
its target and renamed over it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

try:
    import fcntl
except ImportError:  # not on Windows: saves from several processes are not serialised there
    fcntl = None  # type: ignore[assignment]

MANIFEST = "manifest.json"

# The steps of ``write_folder``, in order; a crash before any of them must leave a loadable folder.
STEPS = ("recover", "write", "checksum", "manifest", "sync", "retire", "commit", "cleanup")

# Called with each step's name just before it runs (crash tests set it; None in normal use).
step_hook: Callable[[str], None] | None = None

_in_progress: set[str] = set()
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class FolderCorruptError(RuntimeError):
    """A saved folder is incomplete or damaged."""


def _step(name: str) -> None:
    if step_hook is not None:
        step_hook(name)


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _old(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def write_problem(path: str | Path, example: str = "out.json") -> str | None:
    """Why ``write_file`` could not write ``path`` (a folder, a missing or read-only folder), else None: checked
    before long work so that it does not end in a failed write. ``example``: a file name the message suggests."""
    path = Path(path)
    if path.is_dir():
        return f"{path} is a folder; give a file name in it, e.g. {path / example}"
    if not path.parent.is_dir():
        return f"the folder {path.parent} does not exist; create it or write elsewhere"
    if not os.access(path.parent, os.W_OK):
        return f"cannot write in {path.parent}; write elsewhere"
    return None


def write_file(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: it holds the old file or the whole new one, never a part
    (a full disk, a size limit or a crash mid-write leaves the old one). A replaced file keeps its permissions;
    a new one gets 0644.

    Raises:
        OSError: the folder is missing or not writable, or the write failed (the old file is kept).
    """
    path = Path(path)
    mode = path.stat().st_mode & 0o777 if path.is_file() else 0o644  # mkstemp's file is private (0600)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some systems cannot open folders; the renames are still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """One save or recovery of ``target`` at a time: across threads, and across processes where flock exists."""
    key = str(target.resolve())
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        fd = None
        if fcntl is not None:
            try:
                fd = os.open(target.parent, os.O_RDONLY)
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                if fd is not None:
                    os.close(fd)
                fd = None
        try:
            yield
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a saved folder.

    Raises:
        FolderCorruptError: no manifest, or not one ``write_folder`` wrote.
    """
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FolderCorruptError(f"{folder} holds no saved index ({MANIFEST} missing)") from None
    except (OSError, ValueError) as exc:
        raise FolderCorruptError(f"cannot read {path}: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), dict):
        raise FolderCorruptError(f"{path} is not a manifest of a saved index")
    return manifest


def verify(folder: Path, manifest: dict[str, Any]) -> None:
    """Check every file the manifest lists against its checksum.

    Raises:
        FolderCorruptError: a file is missing or damaged.
    """
    for name, digest in manifest["sha256"].items():
        try:
            if sha256(folder / name) != digest:
                raise FolderCorruptError(f"{folder / name} is damaged (checksum mismatch); rebuild the index")
        except FileNotFoundError:
            raise FolderCorruptError(f"{folder / name} is missing; rebuild the index") from None


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished save: a manifest, and every file it lists at its recorded size.

    (Checksums are checked by ``verify`` when the folder is read; the manifest is written after every file was
    flushed to disk, so a manifest with matching sizes marks a save that finished writing.)
    """
    try:
        manifest = read_manifest(folder)
    except FolderCorruptError:
        return False
    sizes = manifest.get("bytes", {})
    for name in manifest["sha256"]:
        try:
            size = (folder / name).stat().st_size
        except OSError:
            return False
        if name in sizes and sizes[name] != size:
            return False
    return True


def _saved_at(folder: Path) -> float:
    try:
        return float(read_manifest(folder).get("saved_at", 0.0))
    except (FolderCorruptError, TypeError, ValueError):
        return 0.0


def _owner_running(tmp: Path, prefix: str) -> bool:
    """Whether the save that writes ``tmp`` may still be running (its process is alive and it is not ours, or
    it is one of this process's saves in progress)."""
    if str(tmp) in _in_progress:
        return True
    try:
        pid = int(tmp.name[len(prefix):].split("-", 1)[0])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, owned by another user
        return True
    return True


def _leftovers(target: Path) -> tuple[list[Path], Path]:
    """Temporary folders of crashed saves of ``target`` (not those of saves still running), and the old copy."""
    prefix = _tmp_prefix(target)
    try:
        siblings = list(target.parent.iterdir())
    except FileNotFoundError:
        siblings = []
    tmps = [p for p in siblings if p.name.startswith(prefix) and p.is_dir() and not _owner_running(p, prefix)]
    return tmps, _old(target)


def _recover(target: Path) -> Path | None:
    tmps, old = _leftovers(target)
    if target.exists() and not is_complete(target) and (
            (target / MANIFEST).exists() or not target.is_dir() or any(target.iterdir())):
        # Damaged after it was saved, or not a saved index at all: touch nothing, let the reader say so.
        return None
    candidates = [p for p in [target, old, *tmps] if p.exists() and is_complete(p)]
    if not candidates:
        return None
    # The newest finished save wins: its manifest is its commit, even if the crash came before its renames.
    newest = max(candidates, key=_saved_at)
    if newest != target:
        try:
            if newest != old:
                shutil.rmtree(old, ignore_errors=True)
            if target.exists():
                target.rename(old if newest != old else old.with_name(old.name + "-" + secrets.token_hex(4)))
            newest.rename(target)
        except OSError:
            return newest  # a read-only place: read the newest complete copy where it is
        _fsync_dir(target.parent)
    prefix = f".{target.name}.old"
    for leftover in [*tmps, *(p for p in target.parent.iterdir() if p.name.startswith(prefix))]:
        if leftover.exists():
            shutil.rmtree(leftover, ignore_errors=True)
    return target


def recover(target: str | Path) -> Path | None:
    """Bring ``target`` back to the newest complete version a save left, and remove what crashed saves left.

    Args:
        target: the folder saves write.
    Returns:
        The folder holding the newest complete version (``target``, or in a read-only place the leftover copy
        itself); None when there is none.
    """
    target = Path(target)
    if not target.parent.exists():
        return None
    try:
        with _locked(target):
            return _recover(target)
    except PermissionError:
        return _recover(target)


def write_folder(target: str | Path, write: Callable[[Path], dict[str, Any]]) -> Path:
    """Write ``target`` atomically: ``write(folder)`` fills a fresh folder, which then replaces ``target``.

    Args:
        target: the folder to (re)write.
        write: writes its files into the folder it is given and returns the manifest's other fields.
    Returns:
        ``target``.
    Raises:
        FileExistsError: ``target`` is something else than a saved index (a file, a folder of other files).
        whatever ``write`` raises (``target`` keeps its previous version then).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        _step("recover")
        _recover(target)
        if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / MANIFEST).exists())):
            raise FileExistsError(f"{target} exists and is not a saved index; choose another folder or remove it")
        tmp = target.with_name(f"{_tmp_prefix(target)}{os.getpid()}-{threading.get_ident()}-{secrets.token_hex(4)}")
        _in_progress.add(str(tmp))
        try:
            tmp.mkdir()
            _step("write")
            fields = dict(write(tmp))
            _step("checksum")
            files = sorted(p for p in tmp.iterdir() if p.is_file())
            manifest = {**fields, "saved_at": time.time(), "sha256": {p.name: sha256(p) for p in files},
                        "bytes": {p.name: p.stat().st_size for p in files}}
            for p in files:
                _fsync_file(p)
            _step("manifest")
            part = tmp / f"{MANIFEST}.part"
            part.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
            _fsync_file(part)
            part.rename(tmp / MANIFEST)
            _step("sync")
            _fsync_dir(tmp)
            old = _old(target)
            if target.exists():
                _step("retire")
                target.rename(old)
                _fsync_dir(target.parent)
            _step("commit")
            tmp.rename(target)
            _fsync_dir(target.parent)
            _step("cleanup")
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            _in_progress.discard(str(tmp))
    return target
