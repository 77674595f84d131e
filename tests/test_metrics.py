import math
import random

import ir_measures
import pytest
import pytrec_eval
from ir_measures import RR, R, nDCG

from hybrid.metrics import mean_scores, mrr_at_k, ndcg_at_k, recall_at_k, score_query


def test_by_hand_graded():
    qrels = {"a": 2, "b": 1, "c": 0, "z": 1}
    ranking = ["c", "b", "a", "x"]
    dcg = 1 / math.log2(3) + 2 / math.log2(4)
    idcg = 2 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranking, qrels, 10) == pytest.approx(dcg / idcg)
    assert recall_at_k(ranking, qrels, 10) == pytest.approx(2 / 3)
    assert recall_at_k(ranking, qrels, 2) == pytest.approx(1 / 3)
    assert mrr_at_k(ranking, qrels, 10) == 0.5
    assert mrr_at_k(ranking, qrels, 1) == 0.0


def test_no_relevant_document_scores_zero():
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0
    assert recall_at_k(["a"], {}, 10) == 0.0
    assert mrr_at_k(["a"], {}, 10) == 0.0


def test_duplicates_count_once():
    assert recall_at_k(["a", "a", "b"], {"a": 1, "b": 1}, 2) == 1.0
    assert mrr_at_k(["x", "x", "a"], {"a": 1}, 10) == 0.5


def _random_case(seed: int):
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(40)]
    qrels, run = {}, {}
    for q in range(60):
        qid = f"q{q}"
        judged = rng.sample(docs, rng.randint(1, 8))
        qrels[qid] = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
        if not any(v > 0 for v in qrels[qid].values()):
            qrels[qid][judged[0]] = 1
        ranked = rng.sample(docs, rng.randint(0, 25))
        # Strictly decreasing scores: trec_eval's tie order (by docno) never comes into play.
        run[qid] = {d: float(len(ranked) - i) for i, d in enumerate(ranked)}
    return qrels, run


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 5, 10])
def test_agrees_with_ir_measures_and_pytrec_eval(seed, k):
    qrels, run = _random_case(seed)
    ours = {}
    for qid in qrels:
        ranking = sorted(run.get(qid, {}), key=lambda d: -run[qid][d])
        ours[qid] = score_query(ranking, qrels[qid], (k,))
    reference = {(m.query_id, str(m.measure)): m.value
                 for m in ir_measures.iter_calc([nDCG @ k, R @ k, RR @ k], qrels, run)}
    for qid in qrels:
        # Queries with an empty run are absent from ir_measures' output: trec_eval scores them 0.
        assert ours[qid][f"ndcg@{k}"] == pytest.approx(reference.get((qid, f"nDCG@{k}"), 0.0), abs=1e-9)
        assert ours[qid][f"recall@{k}"] == pytest.approx(reference.get((qid, f"R@{k}"), 0.0), abs=1e-9)
        assert ours[qid][f"mrr@{k}"] == pytest.approx(reference.get((qid, f"RR@{k}"), 0.0), abs=1e-9)
    trec = pytrec_eval.RelevanceEvaluator(qrels, {f"ndcg_cut.{k}", f"recall.{k}"}).evaluate(run)
    for qid, values in trec.items():
        assert ours[qid][f"ndcg@{k}"] == pytest.approx(values[f"ndcg_cut_{k}"], abs=1e-9)
        assert ours[qid][f"recall@{k}"] == pytest.approx(values[f"recall_{k}"], abs=1e-9)


def test_mean_scores():
    rows = [score_query(["a"], {"a": 1}), score_query(["b"], {"a": 1})]
    assert mean_scores(rows) == {"ndcg@10": 0.5, "recall@10": 0.5, "mrr@10": 0.5}
    assert mean_scores([]) == {}
