"""Tokenising a knowledge base: one process against worker processes on every core (same tokens).

Usage: python -m bench.bench_tokenize [--docs 100000] [--corpus real|generated] [--repeat 1] [--json FILE]

jieba is pure Python, so ``Tokenizer.tokenize_many`` splits large batches between this process and worker
processes (one per further core). Both ways run on the same texts, taking turns (one process, then all
cores, ``--repeat`` times), and the token lists are compared. The load average is printed before and after
each run: other jobs on the machine take cores away from the parallel run first.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    load_average, load_vocabulary, machine, median, real_texts, report, sample_texts, write_json,
)
from hybrid.tokenize import Tokenizer, available_cores  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--corpus", choices=("real", "generated"), default="real")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs (one process, all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}")
    texts = (real_texts(args.docs, seed=args.seed) if args.corpus == "real"
             else sample_texts(load_vocabulary(), args.docs, seed=args.seed))
    tokenizer = Tokenizer()
    tokenizer.tokenize("预热")  # jieba's dictionary loads once per process, outside the timing
    cores = available_cores()
    out: dict = {"machine": machine(), "documents": args.docs, "corpus": args.corpus, "cores": cores,
                 "mean characters per document": sum(map(len, texts)) / len(texts)}
    times: dict[str, list[float]] = {"one process": [], "all cores": []}
    results = {}
    for run in range(args.repeat):
        for name, workers in (("one process", 1), ("all cores", cores)):
            before = load_average()
            tick = time.perf_counter()
            results[name] = tokenizer.tokenize_many(texts, workers=workers)
            times[name].append(time.perf_counter() - tick)
            out[f"run {run + 1}, {name}: s (load average before -> after)"] = (
                f"{times[name][-1]:.1f} ({before} -> {load_average()})")
    out["one process median s"] = median(times["one process"])
    out["all cores median s"] = median(times["all cores"])
    out["SPEED-UP all cores / one process (x)"] = median(times["one process"]) / median(times["all cores"])
    out["identical tokens"] = results["one process"] == results["all cores"]
    out["mean tokens per document"] = sum(map(len, results["one process"])) / len(texts)
    report(f"tokenising {args.docs:,} documents ({args.corpus} text)", out)
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
