"""Calibrates a model's cosines against labelled pairs: a logistic map cosine -> P(relevant), and the best cut.

Run: ``python -m webui.calibrate --dataset ../shared/datasets/qbqtc-test_public [--model NAME]``.
Positives are the labelled relevant (query, document) pairs; negatives are the pairs labelled 0 plus, per
query, ``--negatives`` documents drawn at random from the documents not judged for that query (the sets
label almost no pairs 0). Printed: the logistic fit ``P = 1 / (1 + exp(-(slope * cosine + intercept)))`` by
maximum likelihood, and the cosine cut that maximises balanced accuracy, (TPR + TNR) / 2, i.e. Youden's J, with
how well the fitted P separates the two groups. A diagnostic only: such a fit on one set's pairs did not hold on
other sets and languages, so the page colours hits by evidence instead (``webui.calibration``, BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np


def read_pairs(folder: Path, negatives: int, seed: int = 0) -> tuple[dict, dict, list[tuple[str, str, int]]]:
    """Queries, corpus and labelled pairs (1 relevant, 0 not) of one dataset folder.

    Args:
        folder: a dataset with corpus.jsonl, queries.jsonl, qrels.tsv.
        negatives: random unjudged documents per query added as non-relevant pairs.
        seed: random seed of that draw.
    Returns:
        (queries by id, documents by id, [(query id, doc id, label)]).
    """
    def jsonl(name: str) -> dict[str, str]:
        with open(folder / name, encoding="utf-8") as f:
            return {r["id"]: r["text"] for r in map(json.loads, f) if r}

    queries, corpus = jsonl("queries.jsonl"), jsonl("corpus.jsonl")
    judged: dict[str, set[str]] = {}
    pairs = []
    for line in (folder / "qrels.tsv").read_text(encoding="utf-8").splitlines():
        qid, did, rel = line.split("\t")
        judged.setdefault(qid, set()).add(did)
        pairs.append((qid, did, int(int(rel) > 0)))
    rng = random.Random(seed)
    doc_ids = sorted(corpus)
    for qid in sorted(judged):
        drawn = 0
        while drawn < negatives:
            did = rng.choice(doc_ids)
            if did not in judged[qid]:
                pairs.append((qid, did, 0))
                drawn += 1
    return queries, corpus, pairs


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The score cut maximising balanced accuracy, with TPR, TNR and ROC AUC.

    Args:
        scores: one cosine per pair.
        labels: 1 relevant, 0 not.
    Returns:
        threshold (midpoint between neighbouring scores), balanced_accuracy, tpr, tnr, auc.
    """
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order].astype(bool)
    pos, neg = y.sum(), (~y).sum()
    tp = np.cumsum(y)        # predicted relevant = the first i+1 pairs
    fp = np.cumsum(~y)
    balanced = (tp / pos + (neg - fp) / neg) / 2
    distinct = np.r_[s[1:] != s[:-1], True]  # only cut between different scores
    balanced = np.where(distinct, balanced, -1)
    i = int(np.argmax(balanced))
    threshold = float((s[i] + s[i + 1]) / 2) if i + 1 < len(s) else float(s[i])
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
    auc = (ranks[labels == 1].sum() - pos * (pos + 1) / 2) / (pos * neg)
    return {"threshold": threshold, "balanced_accuracy": float(balanced[i]), "tpr": float(tp[i] / pos),
            "tnr": float((neg - fp[i]) / neg), "auc": float(auc)}


def fit_logistic(scores: np.ndarray, labels: np.ndarray, iterations: int = 50) -> tuple[float, float]:
    """Maximum-likelihood logistic regression of ``labels`` on ``scores`` (Newton's method).

    Args:
        scores: one cosine per pair.
        labels: 1 relevant, 0 not (both must occur).
        iterations: Newton steps at most (it converges in about ten).
    Returns:
        (slope, intercept) of ``P(relevant) = 1 / (1 + exp(-(slope * score + intercept)))``.
    """
    x = np.column_stack([np.asarray(scores, dtype=np.float64), np.ones(len(scores))])
    y = np.asarray(labels, dtype=np.float64)
    if y.min() == y.max():
        raise ValueError("the pairs need both relevant and non-relevant labels")
    w = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (y - p)
        hessian = (x * (p * (1.0 - p))[:, None]).T @ x + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w += step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def main(argv: list[str] | None = None) -> int:
    """Print the logistic calibration and the best threshold of one model on one dataset as JSON."""
    parser = argparse.ArgumentParser(prog="python -m webui.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, type=Path, help="dataset folder (corpus/queries/qrels)")
    parser.add_argument("--model", default="auto", help="embedding model, as for demo.py --model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--document-prompt", default=None,
                        help="the prompt documents get (packaged e5: query or passage; default: the model's)")
    parser.add_argument("--negatives", type=int, default=1, help="random unjudged documents per query")
    args = parser.parse_args(argv)

    from hybrid.cache import EmbeddingCache, embed_with_cache
    from hybrid.semantic import load_embedder

    queries, corpus, pairs = read_pairs(args.dataset, args.negatives)
    embedder = load_embedder(args.model, device=args.device, document_prompt=args.document_prompt).embedder
    doc_ids = sorted({d for _, d, _ in pairs})
    query_ids = sorted({q for q, _, _ in pairs})
    docs = embed_with_cache(embedder, [corpus[d] for d in doc_ids], EmbeddingCache())
    qvecs = embedder.encode_queries([queries[q] for q in query_ids])
    d_at = {d: i for i, d in enumerate(doc_ids)}
    q_at = {q: i for i, q in enumerate(query_ids)}
    scores = np.array([float(qvecs[q_at[q]] @ docs[d_at[d]]) for q, d, _ in pairs])
    labels = np.array([label for _, _, label in pairs])
    result = best_threshold(scores, labels)
    slope, intercept = fit_logistic(scores, labels)
    p = 1.0 / (1.0 + np.exp(-(slope * scores + intercept)))
    result.update(logistic_slope=slope, logistic_intercept=intercept, cosine_at_p50=-intercept / slope,
                  median_p_relevant=float(np.median(p[labels == 1])),
                  median_p_non_relevant=float(np.median(p[labels == 0])),
                  p50_balanced_accuracy=float(((p[labels == 1] >= 0.5).mean() + (p[labels == 0] < 0.5).mean()) / 2))
    result.update(model=embedder.name, document_prompt=getattr(embedder, "document_prompt", None), dataset=args.dataset.name, positives=int(labels.sum()),
                  negatives=int((labels == 0).sum()),
                  median_relevant=float(np.median(scores[labels == 1])),
                  median_non_relevant=float(np.median(scores[labels == 0])))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
