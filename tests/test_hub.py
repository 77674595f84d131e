"""A Hugging Face model id in no cache, with the hub out of reach, is refused at once (``hybrid.hub``): the hub
client retried for over a minute first. The hub here is a loopback address: a closed port, or a small server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hybrid.hub import reach

ROOT = Path(__file__).resolve().parents[1]


def _closed_port() -> str:
    import socket

    with socket.socket() as s:  # a port just freed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture()
def online(monkeypatch, tmp_path):
    """huggingface_hub online (the tests run offline), with an empty cache of its own."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return constants


def test_a_model_in_no_cache_with_the_hub_out_of_reach_is_named_with_the_reason(online, monkeypatch):
    monkeypatch.setattr(online, "ENDPOINT", _closed_port())
    reason, cached = reach("nosuch-org/nosuch-model")
    assert reason is not None and reason.startswith(f"cannot connect to {online.ENDPOINT} (") and not cached


def test_a_reachable_hub_a_cached_model_a_folder_or_offline_mode_leave_it_to_the_loader(online, monkeypatch,
                                                                                         tmp_path):
    class Hub(BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(online, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        assert reach("nosuch-org/nosuch-model") == (None, False)
    finally:
        server.shutdown()
    monkeypatch.setattr(online, "ENDPOINT", _closed_port())
    # in the cache (huggingface_hub's layout): the loader reads it from there
    snapshot = Path(online.HF_HUB_CACHE) / "models--org--cached" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}", encoding="utf-8")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123", encoding="utf-8")
    reason, cached = reach("org/cached")
    assert cached and reason is not None  # the loader reads it from the cache, without the hub
    assert reach(str(tmp_path)) == (None, False)  # a local folder
    monkeypatch.setattr(online, "HF_HUB_OFFLINE", True)
    assert reach("nosuch-org/nosuch-model") == (None, False)  # offline mode's own error is immediate


@pytest.mark.parametrize("flag,name,error", [
    ("--model", "nosuch-org/nosuch-model", "Could not load embedding model 'nosuch-org/nosuch-model': it is in no "
                                          "local cache, and cannot connect to"),
    ("--reranker", "qwen3-0.6b", "Could not load reranker 'Qwen/Qwen3-Reranker-0.6B': it is in no local cache, and "
                                 "cannot connect to"),
])
def test_the_command_line_says_so_without_the_hub_clients_retries(tmp_path, flag, name, error):
    kb = tmp_path / "kb.txt"
    kb.write_text("天气很好\n明天下雨\n", encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": _closed_port(), "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run([sys.executable, "-m", "hybrid", "search", "--kb", str(kb), "--query", "天气", flag, name],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and error in done.stderr, done.stderr[-2000:]
    assert "Retrying" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]


def _in_hub_cache(cache: Path, repo: str, folder: Path) -> None:
    """``folder``'s files as huggingface_hub's cache holds a download of ``repo`` (a snapshot and refs/main)."""
    root = cache / ("models--" + repo.replace("/", "--"))
    snapshot = root / "snapshots" / "0123abc"
    for path in folder.rglob("*"):
        if path.is_file():
            target = snapshot / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text("0123abc", encoding="utf-8")


@pytest.mark.model
def test_a_cached_model_loads_from_the_cache_when_the_hub_is_out_of_reach(online, monkeypatch, caplog,
                                                                           tiny_qwen3_path, tiny_reranker_path):
    """A model downloaded once and used where the hub cannot be reached (the GPU machine without network) waited
    through the hub client's five retries at every start; it is now read from the cache at once."""
    import logging

    from hybrid.rerank import load_reranker
    from hybrid.semantic import load_embedder

    monkeypatch.setattr(online, "ENDPOINT", _closed_port())
    cache = Path(online.HF_HUB_CACHE)
    _in_hub_cache(cache, "acme/tiny-embed", tiny_qwen3_path)
    _in_hub_cache(cache, "acme/tiny-rerank", tiny_reranker_path)
    with caplog.at_level(logging.INFO):
        loaded = load_embedder("acme/tiny-embed", device="cpu")
        reranker = load_reranker("acme/tiny-rerank", device="cpu").reranker
    assert loaded.fallback_reason is None and loaded.embedder.encode_queries(["天气"]).shape[0] == 1
    assert len(reranker.score("天气", ["明天下雨", "猫"])) == 2
    assert "loading it from the local cache" in caplog.text
    assert "Retrying" not in caplog.text
