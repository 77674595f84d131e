import math
import random

import ir_measures
import numpy as np
import pytest
import pytrec_eval
from ir_measures import RR, R, nDCG

from hybrid.metrics import (bootstrap_ci, jaccard_at_k, mean_scores, mrr_at_k, ndcg_at_k, paired_delta, rbo,
                            recall_at_k, score_query, top_k_overlap)


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


def test_bootstrap_ci_covers_the_mean_of_a_known_distribution_with_the_normal_width():
    values = np.random.default_rng(7).normal(0.5, 0.1, 2000)
    lo, hi = bootstrap_ci(values, seed=0)
    assert lo < values.mean() < hi
    expected = 2 * 1.96 * 0.1 / math.sqrt(2000)  # the normal interval of a mean of 2,000 draws
    assert abs((hi - lo) - expected) < 0.1 * expected
    assert bootstrap_ci(values, seed=0) == [lo, hi]  # a fixed seed gives the same interval
    assert bootstrap_ci(values, seed=1) != [lo, hi]
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_ci([])


def test_bootstrap_ci_covers_the_true_mean_about_95_times_in_100():
    rng = np.random.default_rng(11)
    covered = [lo < 0.5 < hi for lo, hi in (bootstrap_ci(rng.normal(0.5, 0.1, 100), seed=i) for i in range(200))]
    assert 0.89 <= np.mean(covered) <= 0.99  # 0.95 give or take 4 binomial standard deviations


def test_paired_delta_resamples_the_same_queries_for_both_lists():
    values = np.random.default_rng(3).uniform(0, 1, 50)
    # a constant shift has no spread once paired, however spread the values themselves are
    assert paired_delta(values + 0.1, values) == {"mean": pytest.approx(0.1), "ci95": [pytest.approx(0.1)] * 2}
    assert paired_delta(values, values) == {"mean": 0.0, "ci95": [0.0, 0.0]}
    # four queries, one lost: the mean of 4 resampled differences of [-1, 0, 0, 0] is -j/4 with j ~ B(4, 1/4);
    # P(j = 0) = 0.32 puts the upper end at 0, P(j = 4) = 0.004 < 0.025 < P(j >= 3) = 0.051 the lower at -0.75
    assert paired_delta([0, 1, 1, 1], [1, 1, 1, 1]) == {"mean": -0.25, "ci95": [-0.75, 0.0]}


def test_jaccard_and_top_k_overlap_by_hand():
    assert jaccard_at_k(["a", "b", "c"], ["b", "c", "d"]) == 2 / 4
    assert jaccard_at_k(["a", "b", "c"], ["a", "x", "b"], k=2) == 1 / 3  # {a, b} against {a, x}
    assert jaccard_at_k([], []) == 1.0 and jaccard_at_k(["a"], []) == 0.0
    assert top_k_overlap(["a", "b", "c"], ["b", "c", "d", "e"]) == {"shared": 2, "only_left": 1, "only_right": 2}


def test_rbo_extrapolated_by_hand():
    p = 0.9
    assert rbo(list("abcdefghij"), list("abcdefghij"), p) == pytest.approx(1.0)
    assert rbo(list("abc"), list("xyz"), p) == 0.0
    assert rbo([], [], p) == 1.0 and rbo(["a"], [], p) == 0.0
    # equal lengths (eq. 30): agreements X_1..X_3 of abc and acd are 1, 1, 2
    even = (1 - p) / p * (1 / 1 * p + 1 / 2 * p ** 2 + 2 / 3 * p ** 3) + 2 / 3 * p ** 3
    assert rbo(list("abc"), list("acd"), p) == pytest.approx(even) == pytest.approx(0.685)
    # unequal lengths (eq. 32): s = 2 (ab), l = 3 (acb); X_1, X_2, X_3 = 1, 1, 2 and X_s = 1
    uneven = (1 - p) / p * (p + 1 / 2 * p ** 2 + 2 / 3 * p ** 3 + 1 * (3 - 2) / (2 * 3) * p ** 3) \
        + ((2 - 1) / 3 + 1 / 2) * p ** 3
    assert rbo(list("ab"), list("acb"), p) == pytest.approx(uneven) == rbo(list("acb"), list("ab"), p)
    assert rbo(list("ab"), list("abcde"), p) == pytest.approx(1.0)  # a prefix: the agreement is extrapolated
    with pytest.raises(ValueError, match="0 < p < 1"):
        rbo(["a"], ["a"], 1.0)
