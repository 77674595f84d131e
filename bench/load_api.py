"""Load run of POST /search on loopback: 8 concurrent clients, a 1k-entry knowledge base, req/s and p50/p99 latency.

The server runs in its own process (the real server, packaged model, API only) on a free 127.0.0.1 port; the
clients are threads of this process with keep-alive connections. Each mode stops after --requests requests or
--seconds seconds, whichever comes first. Every query is distinct, so semantic modes embed every query.

    .venv/bin/python bench/load_api.py [--entries 1000] [--clients 8] [--requests 400] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

try:
    from .common import ROOT, load_vocabulary, machine, report, sample_queries, sample_texts, write_json
except ImportError:  # run as a script: bench/ is on sys.path
    from common import ROOT, load_vocabulary, machine, report, sample_queries, sample_texts, write_json


def serve_child(kb_path: str, cache_dir: str) -> None:
    """Child process: the real server on a free loopback port; prints the port, then serves until killed.

    ``cache_dir`` "" uses the default embedding cache, as the demo does.
    """
    from hybrid.cache import EmbeddingCache
    from hybrid.service import ModelService
    from server import ApiSettings
    from server.app import start

    service = ModelService(model="auto", cache=EmbeddingCache(cache_dir or None))
    running = start(None, service, host="127.0.0.1", port=0, kb_path=kb_path, api_settings=ApiSettings())
    print(running.port, flush=True)
    running.wait()


def run_clients(url: str, queries: list[str], mode: str, clients: int, max_requests: int, max_seconds: float) -> dict:
    """Send /search requests from ``clients`` threads until ``max_requests`` are done or time runs out."""
    import httpx

    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    next_index = [0]
    deadline = time.perf_counter() + max_seconds

    def take() -> int | None:
        with lock:
            if next_index[0] >= max_requests or time.perf_counter() >= deadline:
                return None
            next_index[0] += 1
            return next_index[0] - 1

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while (i := take()) is not None:
                tick = time.perf_counter()
                r = http.post("/search", json={"query": queries[i % len(queries)], "k": 5, "mode": mode})
                elapsed = (time.perf_counter() - tick) * 1000.0
                with lock:
                    if r.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        failures.append(f"{r.status_code} {r.text[:120]}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    lat = np.asarray(latencies)
    return {
        f"{mode}: requests ok": len(latencies),
        f"{mode}: failures": len(failures),
        f"{mode}: requests/s": len(latencies) / wall if wall else 0.0,
        f"{mode}: p50 ms": float(np.percentile(lat, 50)) if lat.size else 0.0,
        f"{mode}: p99 ms": float(np.percentile(lat, 99)) if lat.size else 0.0,
        f"{mode}: wall s": wall,
        **({f"{mode}: first failure": failures[0]} if failures else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000, help="knowledge-base size")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=400, help="requests per mode (upper bound)")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per mode (upper bound)")
    parser.add_argument("--modes", default="keyword,all", help="comma-separated /search modes to load")
    parser.add_argument("--cold", action="store_true",
                        help="embed the knowledge base from scratch (a temporary cache) instead of the default cache")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--serve", nargs=2, metavar=("KB", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_child(*args.serve)
        return 0

    vocab = load_vocabulary()
    docs = sample_texts(vocab, args.entries, seed=0)
    queries = ["".join(words) for words in sample_queries(vocab, args.requests + 50, seed=1)]
    with tempfile.TemporaryDirectory(prefix="load-api-") as tmp:
        kb = Path(tmp) / "kb.txt"
        kb.write_text("\n".join(docs), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(kb),
                                  str(Path(tmp) / "cache") if args.cold else ""],
                                 stdout=subprocess.PIPE, text=True, env=env)
        try:
            port = int(child.stdout.readline())
            url = f"http://127.0.0.1:{port}"
            import httpx

            tick = time.perf_counter()
            while True:  # the knowledge base is embedded in the background after start-up
                health = httpx.get(f"{url}/health").json()
                if health["knowledge_base"]["state"] != "indexing" or time.perf_counter() - tick > 600:
                    break
                time.sleep(1)
            if health["knowledge_base"]["state"] != "ready":
                print(f"knowledge base not ready: {json.dumps(health, ensure_ascii=False)}", file=sys.stderr)
                return 1
            results: dict = {"machine": machine(), "load average": os.getloadavg()[0], "model": health["model"]["name"], "device": health["device"],
                             "entries": args.entries, "clients": args.clients,
                             "kb embedding s (server start-up)": time.perf_counter() - tick}
            for n, mode in enumerate(args.modes.split(",")):
                # Warm-up with queries outside the measured set, then measured queries nobody asked before.
                run_clients(url, [f"预热{i}" for i in range(args.clients)], mode, args.clients, args.clients, 30)
                offset = n * 7  # each mode starts elsewhere in the query list
                results.update(run_clients(url, queries[offset:] + queries[:offset], mode, args.clients,
                                           args.requests, args.seconds))
        finally:
            child.terminate()
            child.wait(30)
    report("POST /search under load (loopback)", results)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
