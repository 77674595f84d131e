"""A Milvus Lite collection opened by this project is reachable by no other local user: the real ``demo.py --store``
server scanned and attacked from outside its process, and the owner's own (indexing) opening in process."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hybrid import HybridEngine
from hybrid.store import open_store
from tests.browser import ROOT, ServerProcess
from tests.fakes import OneHotEncoder

pytestmark = [pytest.mark.milvus, pytest.mark.server]

EVERYDAY = ROOT / "data" / "samples" / "everyday.txt"
NOBODY = 65534
_LISTENING_UNIX = 0x10000  # __SO_ACCEPTCON in /proc/net/unix's Flags


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:  # threads and processes come and go while we read
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def listening(pid: int) -> tuple[list[int], list[str]]:
    """The TCP ports and unix socket paths (``@name`` when abstract) on which ``pid``'s process tree listens."""
    inodes = set()
    for each in process_tree(pid):
        try:
            fds = list(Path(f"/proc/{each}/fd").iterdir())
        except FileNotFoundError:
            continue
        for fd in fds:
            try:
                with_inode = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
            except OSError:  # closed since listing
                continue
            if with_inode:
                inodes.add(with_inode.group(1))
    ports = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    paths = []
    for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[6] in inodes and int(fields[3], 16) & _LISTENING_UNIX and len(fields) > 7:
            paths.append(fields[7])
    return sorted(set(ports)), sorted(set(paths))


def milvus_answers(uri: str, collection: str) -> list[str]:
    """What a pymilvus client at ``uri`` managed to do to the collection: list, query, delete."""
    from pymilvus import MilvusClient

    done = []
    try:
        client = MilvusClient(uri=uri, timeout=3)
    except Exception:  # noqa: BLE001 - any refusal is what we hope for
        return done
    try:
        for name, act in (("list", lambda: client.list_collections()),
                          ("query", lambda: client.query(collection, filter="", limit=3, output_fields=["text"])),
                          ("delete", lambda: client.delete(collection, filter='doc_id != ""'))):
            try:
                act()
                done.append(name)
            except Exception:  # noqa: BLE001
                pass
    finally:
        client.close()
    return done


def connects_as_another_user(path: str) -> bool:
    """Whether a process of user ``nobody`` can connect to the unix socket ``path`` (only root can ask)."""
    child = os.fork()
    if child == 0:  # no gRPC in here: drop to nobody, try, and report by exit status
        code = 2
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            with socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(3)
                probe.connect(path)
            code = 0
        except PermissionError:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) in (0, 1), f"the probe of {path} failed otherwise (status {status})"
    return os.WEXITSTATUS(status) == 0


def private(path: Path) -> bool:
    """Whether only its owner may enter or read ``path``."""
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0 and path.stat().st_uid == os.geteuid()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``python -m hybrid index`` into a Milvus Lite folder, then ``demo.py --store`` serving it, as a user does."""
    folder = tmp_path_factory.mktemp("served")
    db = folder / "kb.db"
    built = subprocess.run([sys.executable, "-m", "hybrid", "index", "--kb", str(EVERYDAY), "--store",
                            f"milvus:{db}", "--collection", "everyday", "--no-progress"], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    server = ServerProcess(["demo.py", "--port", "0", "--store", f"milvus:{db}", "--collection", "everyday"],
                           folder / "server.log")
    yield server, db
    server.stop()


def test_no_other_local_user_reaches_a_served_collection(served):
    """Every TCP port and unix socket the server's processes listen on, tried as another local user would: none
    lists, reads or deletes the collection; the served search still answers from all 18 entries."""
    server, db = served
    ports, paths = listening(server.process.pid)
    assert int(server.url.rsplit(":", 1)[1].strip("/")) in ports  # the scan sees the server's own port
    for port in ports:
        assert milvus_answers(f"http://127.0.0.1:{port}", "everyday") == [], f"Milvus open on TCP port {port}"
    for path in paths:
        if path.startswith("@"):  # abstract: no permissions guard it
            assert milvus_answers(f"unix-abstract:{path[1:]}", "everyday") == [], f"Milvus open on {path}"
            continue
        assert private(Path(path).parent), f"{path} lies in a folder other users may enter"
        if os.geteuid() == 0:
            assert not connects_as_another_user(path), f"user nobody connects to {path}"
    assert private(db), f"{db} may be read by other users"

    answer = httpx.post(f"{server.url}search", json={"query": "巴黎", "k": 3}, timeout=60).json()
    assert answer["documents"] == 18 and answer["hybrid"][0]["text"] == "法国的首都是巴黎。"

    server.process.send_signal(signal.SIGINT)  # Ctrl+C: the server closes the store
    assert server.process.wait(60) == 0
    assert not [path for path in paths if Path(path).parent.exists()]  # the socket folders are removed


def test_indexing_opens_no_port_and_leaves_no_socket(tmp_path):
    """The owner's writable opening (what `python -m hybrid index` does), in this process: no new TCP port while
    it is open, its unix socket in a private folder and reachable by its owner only, gone once closed."""
    ports_before, paths_before = listening(os.getpid())
    store = open_store(f"milvus:{tmp_path / 'kb.db'}", collection="kb")
    try:
        HybridEngine(["苹果是一种水果。", "法国的首都是巴黎。"], embedder=OneHotEncoder(), store=store)
        ports, paths = listening(os.getpid())
        assert ports == ports_before
        new = sorted(set(paths) - set(paths_before))
        assert len(new) == 1 and not new[0].startswith("@")
        assert private(Path(new[0]).parent) and private(tmp_path / "kb.db")
        assert milvus_answers(f"unix:{new[0]}", "kb") == ["list", "query", "delete"]  # the owner's own socket
        if os.geteuid() == 0:
            assert not connects_as_another_user(new[0])
    finally:
        store.close()
    assert listening(os.getpid()) == (ports_before, paths_before) and not Path(new[0]).parent.exists()


def opened_elsewhere(db: Path) -> subprocess.CompletedProcess:
    """Open ``db`` in another process, as a second user of the folder would."""
    code = f"from hybrid.store import open_store; open_store({f'milvus:{db}'!r}).close(); print('opened')"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_folder_held_elsewhere_says_so_and_a_failed_open_lets_the_folder_go(tmp_path):
    """A second process is told the folder is in use and how to share it (on loopback); an opening that fails
    after the folder was opened (a collection indexed with another tokenizer) releases it at once."""
    from hybrid.store import StoreError
    from hybrid.tokenize import Tokenizer

    db = tmp_path / "kb.db"
    store = open_store(f"milvus:{db}", collection="kb")
    try:
        HybridEngine(["苹果是一种水果。", "法国的首都是巴黎。"], embedder=OneHotEncoder(), store=store)
        refused = opened_elsewhere(db)
        assert refused.returncode != 0 and "another process has it open" in refused.stderr
        assert "--host 127.0.0.1" in refused.stderr
    finally:
        store.close()
    with pytest.raises(StoreError, match="was indexed with tokenizer"):
        open_store(f"milvus:{db}", collection="kb", read_only=True, tokenizer=Tokenizer(mode="precise"))
    assert opened_elsewhere(db).stdout.strip() == "opened"
