"""Start and stop a real `milvus-lite server` on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def milvus_lite_server(data_dir: str | Path, timeout: float = 90.0) -> Iterator[str]:
    """Run ``milvus-lite server --data-dir DIR --host 127.0.0.1 --port P``; yields ``http://127.0.0.1:P``.

    The server runs in its own process group and is stopped (SIGINT, then SIGKILL) on exit.
    """
    port = free_port()
    exe = Path(sys.executable).with_name("milvus-lite")
    log = open(Path(data_dir).with_suffix(".log"), "w")
    proc = subprocess.Popen([str(exe), "server", "--data-dir", str(data_dir), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited with {proc.returncode}: "
                                   + Path(log.name).read_text(errors="replace")[-2000:])
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"milvus-lite server did not listen on port {port} within {timeout:.0f} s")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
