"""Gradio's upload folder: one of this server's own, removed at stop, the only place event file data may name."""

from __future__ import annotations

import collections
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    import gradio as gr

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so no sweep of other runs' folders
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

ENV = "GRADIO_TEMP_DIR"
RUN_PREFIX = "run-"
LOCK_NAME = ".owner"


def upload_folder() -> Path:
    """Where Gradio stores uploads now (``GRADIO_TEMP_DIR``, set to this process's run folder while it serves)."""
    return Path(os.environ.get(ENV) or Path(tempfile.gettempdir()) / "gradio")


def is_received_upload(path: str | Path, root: str | Path | None = None) -> bool:
    """Whether ``path`` is a regular file inside ``root`` (Gradio's upload folder when None).

    Symbolic links and ``..`` are resolved first, so a path that starts in the folder and climbs out of it
    (or a link pointing out) is refused: a client can name any path in an event's file data.
    """
    root = Path(root if root is not None else upload_folder()).resolve()
    try:
        real = Path(path).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a link loop, a NUL byte
        return False
    return real.is_relative_to(root) and real != root and real.is_file()


# The page's downloads (setting exports, judgements zips) are written on a visitor's click, outside the upload
# routes' quota and rate: at most this many, holding at most this many bytes, are kept (the oldest go first), so
# clicking export in a loop cannot fill the upload folder past HYBRID_UPLOAD_DISK and block everyone's uploads. A
# link lasts until that many newer downloads were made: 100 s or more while one visitor clicks export 20 times a
# second (measured), which HYBRID_RATE_LIMIT bounds further.
DOWNLOADS = "downloads"
MAX_DOWNLOADS = 2000
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
_DOWNLOADS_LOCK = threading.Lock()
_KEPT: collections.deque[tuple[Path, int]] = collections.deque()  # (folder, bytes), oldest first


def save_download(prefix: str, files: Mapping[str, bytes]) -> list[Path]:
    """``files`` (name -> content) written in a fresh folder of the upload folder's downloads, for the page to hand
    a visitor; the oldest downloads are removed first so that at most ``MAX_DOWNLOADS`` and ``MAX_DOWNLOAD_BYTES``
    are kept with these.

    Args:
        prefix: the start of the folder's name (``export-``, ``judgements-``).
        files: the files' names (what the browser saves them as) and contents, in the order returned.
    Returns:
        The files' paths.
    """
    size = sum(len(data) for data in files.values())
    with _DOWNLOADS_LOCK:
        shelf = upload_folder() / DOWNLOADS
        held = sum(n for _, n in _KEPT)
        while _KEPT and (len(_KEPT) >= MAX_DOWNLOADS or held + size > MAX_DOWNLOAD_BYTES):
            oldest, n = _KEPT.popleft()
            shutil.rmtree(oldest, ignore_errors=True)
            held -= n
        shelf.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=shelf))
        _KEPT.append((folder, size))
        paths = []  # written under the lock: no other save removes the folder while it is being filled
        for name, data in files.items():
            paths.append(folder / name)
            paths[-1].write_bytes(data)
    return paths


class RunFolder:
    """This process's upload folder, ``BASE/run-PID-TOKEN`` (BASE: the operator's ``GRADIO_TEMP_DIR``, else a
    private folder in the system's temp directory), shared by the servers of the process.

    ``acquire`` makes it (the first server) and points ``GRADIO_TEMP_DIR`` at it; ``release`` by the last server
    removes it with everything visitors left (uploads, Gradio's deep-link state) and restores the variable. A
    process that dies without releasing (killed) leaves its folder: the next ``acquire`` anywhere sweeps every
    run folder whose owner is gone. The owner holds an exclusive lock on the folder's ``.owner`` file for as long
    as it serves; the system drops the lock when the process ends, however it ends, so a folder whose lock can be
    taken belongs to no live server (several servers may run at once: theirs are never touched).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self.path: Path | None = None
        self._owner: Any = None
        self._saved_env: str | None = None

    @staticmethod
    def base() -> Path:
        """Where run folders are made: the operator's ``GRADIO_TEMP_DIR``, else ``TMP/hybrid-search-UID``."""
        if os.environ.get(ENV):
            return Path(os.environ[ENV])
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        return Path(tempfile.gettempdir()) / f"hybrid-search-{uid}"

    def acquire(self) -> Path:
        """The run folder (made, and leftovers of dead runs swept, when no server of this process holds it)."""
        with self._lock:
            if self._users == 0:
                self._saved_env = os.environ.get(ENV)
                base = self.base()
                base.mkdir(parents=True, exist_ok=True, mode=0o700)
                sweep(base)
                # Made under another name and locked before it is given a name a sweep looks at.
                new = Path(tempfile.mkdtemp(prefix=f".new-{os.getpid()}-", dir=base)).resolve()
                self._owner = open(new / LOCK_NAME, "w")  # noqa: SIM115 - held until release
                if fcntl is not None:
                    fcntl.flock(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.path = new.with_name(RUN_PREFIX + new.name[len(".new-"):])
                new.rename(self.path)
                os.environ[ENV] = str(self.path)
            self._users += 1
            assert self.path is not None
            return self.path

    def release(self) -> None:
        """One server stopped; the last one removes the folder and restores ``GRADIO_TEMP_DIR``."""
        with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users:
                return
            if self._saved_env is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = self._saved_env
            self._owner.close()
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = self._owner = None


def sweep(base: Path) -> list[Path]:
    """Remove the run folders under ``base`` whose owning process is gone; returns them."""
    if fcntl is None:
        return []
    removed = []
    for folder in base.glob(f"{RUN_PREFIX}*"):
        if not folder.is_dir() or folder.is_symlink():
            continue
        try:
            with open(folder / LOCK_NAME, "a") as owner:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken: no live process holds it
        except BlockingIOError:
            continue  # a running server's
        except OSError:
            continue  # not ours to remove (another user's, or unreadable)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        log.info("removed %d upload folder(s) left by servers that are no longer running", len(removed))
    return removed


RUN_FOLDER = RunFolder()


class FolderSize:
    """The bytes held under a folder (``folder()``, looked up each time): counted on disk at most every ``every_s``
    seconds, with what ``add`` reports in between (so a burst of uploads is counted before the next walk).

    Args:
        folder: the folder (Gradio's upload folder by default).
        every_s: seconds between walks of the folder.
        clock: seconds, monotonic (injectable for tests).
    """

    def __init__(self, folder: Callable[[], Path] = upload_folder, every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = folder
        self.every_s = every_s
        self.clock = clock
        self._lock = threading.Lock()
        self._counted: tuple[float, int] | None = None  # (when, bytes)

    def bytes(self) -> int:
        """The bytes under the folder now (files only, links not followed)."""
        with self._lock:
            if self._counted is None or self.clock() - self._counted[0] >= self.every_s:
                self._counted = (self.clock(), _size_under(self.folder()))
            return self._counted[1]

    def add(self, size: int) -> None:
        """Count ``size`` more bytes until the next walk."""
        with self._lock:
            if self._counted is not None:
                self._counted = (self._counted[0], self._counted[1] + size)


def _size_under(folder: Path) -> int:
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:  # removed meanwhile (Gradio's sweep)
                pass
    return total


def use_run_folder(blocks: "gr.Blocks", folder: Path) -> None:
    """Point ``blocks`` (built before the folder existed) and its components at ``folder``."""
    for block in [blocks, *blocks.blocks.values(), *(b for fn in blocks.fns.values() for b in fn.inputs + fn.outputs)]:
        if hasattr(block, "GRADIO_CACHE"):
            block.GRADIO_CACHE = str(folder)


def refuse_foreign_files(blocks: "gr.Blocks") -> None:
    """Make every event of ``blocks`` refuse file data that is not a file uploaded to this server.

    Gradio downloads a URL given as a file's path in an event (to its upload folder, with no size limit) and
    hands the download to the handler as if the visitor had uploaded it; and only its check for a launched app
    keeps other server paths out. Here an event whose data names a URL or any file outside the upload folder is
    refused before Gradio processes it, whichever route it comes by (queue, ``/call``, ``/run``, MCP).
    """
    import gradio as gr
    from gradio.data_classes import FileData, ListFiles
    from gradio_client.utils import is_file_obj_with_meta, is_http_url_like, traverse

    original = blocks.preprocess_data

    def check(data: dict) -> dict:
        path = data["path"]
        if is_http_url_like(path) or not is_received_upload(path):
            shown = path if len(path) < 200 else path[:200] + "…"
            raise gr.Error(f"{shown} was not uploaded here: this server reads only files uploaded to it "
                           "(POST /gradio_api/upload, then send the path it answers) and never fetches a URL "
                           "for a visitor", print_exception=False)
        return data

    def well_formed(block, value) -> bool:  # noqa: ANN001
        """A file slot holds nothing, or Gradio's file data (a list of them for several files): a bare path or a
        dict without ``meta`` failed Gradio's own validation, with a traceback in the log for each event."""
        model = getattr(block, "data_model", None)
        if model is FileData:
            return value is None or is_file_obj_with_meta(value)
        if model is ListFiles:
            return value is None or (isinstance(value, list) and all(is_file_obj_with_meta(v) for v in value))
        return True

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):  # noqa: ANN001 - Gradio's signature
        for block, value in zip(block_fn.inputs, inputs):
            if not well_formed(block, value):
                raise gr.Error("a file is sent as Gradio's client sends it: upload it (POST /gradio_api/upload), "
                               'then send {"path": <the path it answers>, "meta": {"_type": "gradio.FileData"}}',
                               print_exception=False)
        for value in inputs:
            traverse(value, check, is_file_obj_with_meta)
        return await original(block_fn, inputs, state, explicit_call)

    blocks.preprocess_data = preprocess_data  # type: ignore[method-assign]
