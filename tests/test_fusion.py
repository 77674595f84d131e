import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybrid.fusion import (FUSERS, NORMALIZERS, SEMANTIC_SPAN, Candidates, QueryEvidence, adaptive_alpha,
                           calibrated_cosine, fuse, normalize)


def cands(docs, scores, retrieved=None):
    return Candidates(np.asarray(docs, dtype=np.int64), np.asarray(scores, dtype=np.float64), retrieved)


KW = cands([0, 1, 2], [6.0, 3.0, 1.0])
SEM = cands([2, 3, 0], [0.9, 0.8, 0.5])


def test_weighted_minmax_by_hand():
    fused = fuse(KW, SEM, alpha=0.5, method="weighted", normalizer="minmax")
    # keyword norm: 0 -> 1, 1 -> 0.4, 2 -> 0 (the weakest, 1.0, lies below 3/4 of the top) ;
    # semantic norm: 2 -> 1, 3 -> 0.75, 0 -> 0
    expected = {0: 0.5, 1: 0.2, 2: 0.5, 3: 0.375}
    got = dict(zip(fused.docs.tolist(), fused.scores.tolist()))
    assert got == pytest.approx(expected)
    np.testing.assert_allclose(fused.scores, fused.keyword_part + fused.semantic_part)
    assert fused.docs.tolist()[:2] == [2, 0]  # equal scores: the higher cosine first (0.9 against 0.5)


def test_a_near_top_keyword_match_keeps_its_credit():
    # the case: two keyword matches, the weaker at 97% of the top, must not count as no match
    kw = cands([5, 6], [2.0418, 1.9805])
    fused = fuse(kw, cands([6, 5, 7], [0.88, 0.85, 0.84]), alpha=0.5, method="adaptive",
                 evidence=QueryEvidence(best_coverage=1.0, cosine_mean=0.8, cosine_std=0.01))
    norm = dict(zip(fused.docs.tolist(), fused.keyword_norm.tolist()))
    assert norm[6] == pytest.approx((1.9805 - 0.75 * 2.0418) / (0.25 * 2.0418))  # min-max from 3/4 of the top
    weighted = fuse(kw, cands([6, 5, 7], [0.86, 0.85, 0.84]), alpha=0.5, method="weighted")
    assert dict(zip(weighted.docs.tolist(), weighted.keyword_part.tolist()))[6] > 0.4
    assert fused.docs.tolist()[0] == 6  # near-top keyword match and the best cosine


@pytest.mark.parametrize("method", list(FUSERS))
@pytest.mark.parametrize("normalizer", list(NORMALIZERS))
def test_alpha_ends_are_the_single_lists_with_their_ties_and_candidates(method, normalizer):
    # BM25 ties (docs 1, 2) that the cosine would order the other way, a semantic tie (docs 4, 5), a keyword
    # candidate outside the semantic window looked up after it (doc 9)
    kw = cands([0, 1, 2, 9], [5.0, 3.0, 3.0, 1.0])
    sem = cands([4, 5, 2, 1, 0, 9], [0.9, 0.9, 0.8, 0.7, 0.6, 0.1], retrieved=5)
    evidence = QueryEvidence(best_coverage=1.0, cosine_mean=0.5, cosine_std=0.1)
    low = fuse(kw, sem, 0.0, method, normalizer=normalizer, evidence=evidence)
    if method not in ("adaptive", "learned"):  # their alpha 0 is no end: the weight follows the keyword coverage
        assert low.docs.tolist() == [0, 1, 2, 9]
    high = fuse(kw, sem, 1.0, method, normalizer=normalizer, evidence=evidence)
    assert high.docs.tolist() == [4, 5, 2, 1, 0]
    np.testing.assert_allclose(high.scores, high.keyword_part + high.semantic_part)


@pytest.mark.parametrize("alpha,top", [(0.0, 0), (1.0, 2)])
def test_alpha_extremes_reduce_to_single_retriever(alpha, top):
    assert fuse(KW, SEM, alpha=alpha, method="weighted").docs[0] == top


def test_ties_of_one_retriever_are_broken_by_the_other_score_inside_the_alpha_range():
    # at the ends the other retriever has no say (the test above); between them it orders the ties
    kw = cands([0, 1, 2], [2.0, 2.0, 2.0])  # BM25 ties, listed in document order
    sem = cands([2, 1, 0], [0.9, 0.8, 0.7])
    for method in ("weighted", "rrf"):
        assert fuse(kw, sem, 0.01, method=method).docs.tolist() == [2, 1, 0], method


def test_unmatched_document_gets_zero_not_negative_from_that_retriever():
    for method in FUSERS:
        for norm in NORMALIZERS:
            fused = fuse(KW, SEM, 0.5, method=method, normalizer=norm, evidence=QueryEvidence((1.0,), 1.0))
            i3 = fused.docs.tolist().index(3)  # 3 never matched BM25
            assert fused.keyword_norm[i3] == 0 and fused.keyword_part[i3] == 0
            assert (fused.keyword_norm >= 0).all() and (fused.semantic_norm >= 0).all()


def test_rrf_by_hand():
    fused = fuse(KW, SEM, alpha=0.5, method="rrf", rrf_k=60)
    got = dict(zip(fused.docs.tolist(), fused.scores.tolist()))
    assert got[0] == pytest.approx(0.5 / 61 + 0.5 / 63)
    assert got[3] == pytest.approx(0.5 / 62)
    assert got[1] == pytest.approx(0.5 / 62)


def test_rrf_equal_scores_share_a_rank_and_looked_up_entries_do_not_vote():
    kw = cands([0, 1, 2], [5.0, 3.0, 3.0])
    sem = cands([3, 4, 0, 1], [0.9, 0.8, 0.8, 0.1], retrieved=3)  # doc 1's cosine was looked up
    fused = fuse(kw, sem, alpha=0.5, method="rrf", rrf_k=10)
    got = dict(zip(fused.docs.tolist(), fused.scores.tolist()))
    assert got[1] == pytest.approx(0.5 / 12)  # keyword rank 2 (tied with doc 2); no semantic vote
    assert got[2] == pytest.approx(0.5 / 12)
    assert got[4] == pytest.approx(0.5 / 12)  # semantic rank 2, tied with doc 0
    assert got[0] == pytest.approx(0.5 / 11 + 0.5 / 12)
    assert fused.docs.tolist().index(1) < fused.docs.tolist().index(2)  # tie: doc 1 has a cosine, doc 2 none


def test_rrf_with_no_keyword_match_is_semantic_order():
    fused = fuse(Candidates.empty(), SEM, alpha=0.5, method="rrf")
    assert fused.docs.tolist() == [2, 3, 0]


@pytest.mark.parametrize("method", list(FUSERS))
def test_degenerate_inputs(method):
    one = cands([7], [2.0])
    fused = fuse(one, Candidates.empty(), 0.5, method=method)
    assert fused.docs.tolist() == [7] and np.isfinite(fused.scores).all()
    equal = cands([1, 2, 3], [0.5, 0.5, 0.5])
    fused = fuse(equal, equal, 0.5, method=method)
    assert sorted(fused.docs.tolist()) == [1, 2, 3] and np.isfinite(fused.scores).all()
    fused = fuse(Candidates.empty(), Candidates.empty(), 0.5, method=method)
    assert fused.docs.size == 0


def test_normalizers():
    s = np.array([4.0, 2.0, 1.0])
    np.testing.assert_allclose(normalize(s, "minmax"), [1, 1 / 3, 0])
    np.testing.assert_allclose(normalize(s, "max"), [1, 0.5, 0.25])
    z = normalize(s, "zscore")
    assert z.min() == 0 and (np.diff(z) <= 0).all() and z.max() <= 1
    np.testing.assert_allclose(normalize(np.array([-1.0, 2.0]), "none"), [0, 2])
    for name in NORMALIZERS:
        assert (normalize(np.array([3.0, 3.0]), name) >= 0).all()


def test_normalizers_are_fitted_on_the_retrieved_candidates_only():
    scores = np.array([4.0, 2.0, 1.0, 0.5])  # the last one was looked up
    np.testing.assert_allclose(normalize(scores, "minmax", fit=scores[:3]), [1, 1 / 3, 0, 0])
    np.testing.assert_allclose(normalize(scores, "minmax", fit=scores[:3], floor=0.0), [1, 0.5, 0.25, 0.125])
    np.testing.assert_allclose(normalize(scores, "max", fit=scores[:3]), [1, 0.5, 0.25, 0.125])
    sem = cands([1, 2, 3], [0.9, 0.7, 0.2], retrieved=2)
    fused = fuse(cands([3], [1.0]), sem, 0.5, method="weighted")
    assert dict(zip(fused.docs.tolist(), fused.semantic_norm.tolist())) == {1: 1.0, 2: 0.0, 3: 0.0}


def test_adaptive_alpha():
    assert adaptive_alpha(0.6, QueryEvidence((1.0,), 1.0)) == pytest.approx(0.6)
    assert adaptive_alpha(0.6, QueryEvidence((1.0,), 0.0)) == 1.0
    assert adaptive_alpha(0.6, QueryEvidence((1.0, 1.0), 0.5)) == pytest.approx(0.8)
    # best semantic candidates in a script the query's words cannot match: semantic only
    assert adaptive_alpha(0.6, QueryEvidence((1.0,), 1.0, blind_spot=True)) == 1.0


def test_calibrated_cosine_is_the_distance_from_the_knowledge_base_mean():
    evidence = QueryEvidence(cosine_mean=0.8, cosine_std=0.02)
    values = calibrated_cosine(np.array([0.8, 0.9, 0.79, 2.0]), evidence)
    np.testing.assert_allclose(values, [0.0, 0.1 / (SEMANTIC_SPAN * 0.02), 0.0, 1.0])
    assert calibrated_cosine(np.array([0.9]), QueryEvidence()) is None
    assert calibrated_cosine(np.array([0.9]), QueryEvidence(cosine_mean=0.8, cosine_std=0.0)) is None


def test_adaptive_uses_one_weight_and_one_scale_for_every_document():
    evidence = QueryEvidence((1.0,), 1.0, cosine_mean=0.5, cosine_std=0.05)
    fused = fuse(KW, SEM, alpha=0.5, method="adaptive", evidence=evidence)
    assert set(fused.keyword_weight.tolist()) == {0.5} and set(fused.semantic_weight.tolist()) == {0.5}
    sem = dict(zip(fused.docs.tolist(), fused.semantic_norm.tolist()))
    assert sem == pytest.approx({2: 0.8, 3: 0.6, 0: 0.0, 1: 0.0})  # (cos - 0.5) / (10 * 0.05), clipped
    np.testing.assert_allclose(fused.scores, fused.keyword_part + fused.semantic_part)
    # without the knowledge base's statistics: min-max over the semantic candidates
    fallback = fuse(KW, SEM, alpha=0.5, method="adaptive", evidence=QueryEvidence((1.0,), 1.0))
    assert dict(zip(fallback.docs.tolist(), fallback.semantic_norm.tolist()))[3] == pytest.approx(0.75)


def test_adaptive_without_semantic_candidates_is_keyword_order():
    fused = fuse(KW, Candidates.empty(), 0.6, method="adaptive", evidence=QueryEvidence((1.0,), 1.0))
    assert fused.docs.tolist() == [0, 1, 2] and fused.alpha == 0.0


def test_errors_list_registry_keys():
    with pytest.raises(ValueError, match=", ".join(FUSERS)):
        fuse(KW, SEM, 0.5, method="magic")
    with pytest.raises(ValueError, match=", ".join(NORMALIZERS)):
        fuse(KW, SEM, 0.5, normalizer="magic")
    with pytest.raises(ValueError, match="alpha"):
        fuse(KW, SEM, 1.5)


# ------------------------------------------------------------------------------------------- dominance

# Scores are drawn from small pools so that ties, within a list and across lists, are common.
BM25_POOL = [0.5, 1.0, 1.0001, 2.0, 3.5, 7.0, 12.0]
COSINE_POOL = [-0.2, 0.0, 0.3, 0.5, 0.5000001, 0.71, 0.8, 0.86, 0.9, 0.99]
DOMINANCE_EXAMPLES = 250  # per (method, normaliser): 12 combinations, 3,000 cases


@st.composite
def retrievals(draw):
    """A random query's two candidate lists, built the way the engine builds them.

    Each document may have a BM25 score (matched) and has a cosine. The keyword list holds the matched
    documents, best first, ties in document order. The semantic list holds the ``window`` best cosines,
    followed by the looked-up cosines of keyword candidates outside them.
    """
    n = draw(st.integers(1, 14))
    bm25 = [draw(st.one_of(st.none(), st.sampled_from(BM25_POOL), st.floats(0.01, 20))) for _ in range(n)]
    cosine = [draw(st.one_of(st.sampled_from(COSINE_POOL), st.floats(-1, 1))) for _ in range(n)]
    matched = sorted((d for d in range(n) if bm25[d] is not None), key=lambda d: (-bm25[d], d))
    by_cosine = sorted(range(n), key=lambda d: (-cosine[d], d))
    window = draw(st.integers(0, n))
    retrieved = by_cosine[:window]
    looked_up = [d for d in by_cosine[window:] if d in matched]
    keyword = cands(matched, [bm25[d] for d in matched])
    semantic = cands(retrieved + looked_up, [cosine[d] for d in retrieved + looked_up], retrieved=window)
    evidence = QueryEvidence(
        token_idf=(1.0,),
        best_coverage=draw(st.floats(0, 1)),
        cosine_mean=draw(st.one_of(st.none(), st.floats(-0.5, 0.9))),
        cosine_std=draw(st.one_of(st.none(), st.floats(0, 0.3))),
        blind_spot=draw(st.booleans()),
    )
    alpha = draw(st.one_of(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 1.0]), st.floats(0, 1)))
    rrf_k = draw(st.integers(1, 100))
    return keyword, semantic, evidence, alpha, rrf_k


def seen(candidates: Candidates) -> dict[int, float]:
    return dict(zip(candidates.docs.tolist(), candidates.scores.tolist()))


@pytest.mark.parametrize("normalizer", list(NORMALIZERS))
@pytest.mark.parametrize("method", list(FUSERS))
@settings(max_examples=DOMINANCE_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=retrievals())
def test_a_document_at_least_as_good_on_both_scores_ranks_above(method, normalizer, case):
    """Dominance: BM25 >= and cosine >= (unmatched / unseen counts lowest), one strictly, ranks higher."""
    keyword, semantic, evidence, alpha, rrf_k = case
    fused = fuse(keyword, semantic, alpha, method, normalizer=normalizer, rrf_k=rrf_k, evidence=evidence)
    np.testing.assert_allclose(fused.scores, fused.keyword_part + fused.semantic_part)
    if alpha in ((1.0,) if method in ("adaptive", "learned") else (0.0, 1.0)):  # the ends: one retriever's own list
        single = semantic if fused.alpha == 1.0 else keyword
        assert fused.docs.tolist() == single.docs[:single.own].tolist()
        return
    place = {doc: i for i, doc in enumerate(fused.docs.tolist())}
    bm25, cosine = seen(keyword), seen(semantic)
    assert set(place) == set(bm25) | set(cosine)
    low = -np.inf
    for a in place:
        for b in place:
            ka, kb = bm25.get(a, low), bm25.get(b, low)
            ca, cb = cosine.get(a, low), cosine.get(b, low)
            if ka >= kb and ca >= cb and (ka > kb or ca > cb):
                assert place[a] < place[b], (a, b, fused)
    np.testing.assert_allclose(fused.scores, fused.keyword_part + fused.semantic_part)
    assert len(set(fused.keyword_weight.tolist())) <= 1 and len(set(fused.semantic_weight.tolist())) <= 1
