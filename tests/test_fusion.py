import numpy as np
import pytest

from hybrid.fusion import FUSERS, NORMALIZERS, Candidates, QueryEvidence, adaptive_alpha, fuse, normalize


def cands(docs, scores):
    return Candidates(np.asarray(docs, dtype=np.int64), np.asarray(scores, dtype=np.float64))


KW = cands([0, 1, 2], [6.0, 3.0, 1.0])
SEM = cands([2, 3, 0], [0.9, 0.8, 0.5])


def test_weighted_minmax_by_hand():
    fused = fuse(KW, SEM, alpha=0.5, method="weighted", normalizer="minmax")
    # keyword norm: 0 -> 1, 1 -> 0.4, 2 -> 0 ; semantic norm: 2 -> 1, 3 -> 0.75, 0 -> 0
    expected = {0: 0.5, 1: 0.2, 2: 0.5, 3: 0.375}
    got = dict(zip(fused.docs.tolist(), fused.scores.tolist()))
    assert got == pytest.approx(expected)
    np.testing.assert_allclose(fused.scores, fused.keyword_part + fused.semantic_part)
    assert fused.docs.tolist()[:2] == [0, 2]  # tie broken by keyword order


@pytest.mark.parametrize("alpha,top", [(0.0, 0), (1.0, 2)])
def test_alpha_extremes_reduce_to_single_retriever(alpha, top):
    assert fuse(KW, SEM, alpha=alpha, method="weighted").docs[0] == top


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


def test_adaptive_alpha():
    assert adaptive_alpha(0.6, QueryEvidence((1.0,), 1.0)) == pytest.approx(0.6)
    assert adaptive_alpha(0.6, QueryEvidence((1.0,), 0.0)) == 1.0
    assert adaptive_alpha(0.6, QueryEvidence((1.0, 1.0), 0.5)) == pytest.approx(0.8)


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


def test_adaptive_other_language_unmatched_documents_are_ranked_by_semantic_alone():
    # Docs 2 and 3 are in another language; 2 also matched a query word, 3 did not.
    evidence = QueryEvidence((1.0,), 1.0, other_language=frozenset({2, 3}))
    fused = fuse(KW, SEM, alpha=0.5, method="adaptive", evidence=evidence)
    got = dict(zip(fused.docs.tolist(), fused.scores.tolist()))
    weight = dict(zip(fused.docs.tolist(), fused.semantic_weight.tolist()))
    # minmax: keyword 0 -> 1, 1 -> 0.4, 2 -> 0; semantic 2 -> 1, 3 -> 0.75, 0 -> 0; alpha_q = 0.5
    assert got == pytest.approx({0: 0.5, 1: 0.2, 2: 0.5, 3: 0.75})
    assert weight == {0: 0.5, 1: 0.5, 2: 0.5, 3: 1.0}
    assert fused.docs.tolist()[0] == 3
    i3 = fused.docs.tolist().index(3)
    assert fused.keyword_part[i3] == 0 and fused.semantic_part[i3] == pytest.approx(0.75)
    np.testing.assert_allclose(fused.scores, fused.keyword_part + fused.semantic_part)


def test_other_language_changes_nothing_for_the_fixed_weight_methods():
    evidence = QueryEvidence((1.0,), 1.0, other_language=frozenset({3}))
    for method in ("weighted", "rrf"):
        a = fuse(KW, SEM, 0.5, method=method, evidence=evidence)
        b = fuse(KW, SEM, 0.5, method=method)
        assert a.docs.tolist() == b.docs.tolist() and np.allclose(a.scores, b.scores)
