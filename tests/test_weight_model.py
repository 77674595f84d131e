import json
import math

import numpy as np
import pytest

from hybrid import evaluate as ev
from hybrid import weight_model as wm
from hybrid.fusion import Candidates, QueryEvidence, WeightChoice, fuse
from hybrid.semantic import LoadedEmbedder
from tests.fakes import OneHotEncoder


def cands(docs, scores, retrieved=None):
    return Candidates(np.array(docs, dtype=np.int64), np.array(scores, dtype=np.float64), retrieved)


def feature(x, name):
    return x[wm.FEATURE_NAMES.index(name)]


def test_features_from_the_query_and_both_lists():
    keyword = cands([1, 2, 3], [8.0, 6.0, 1.0])
    semantic = cands([4, 1, 5, 3], [0.9, 0.8, 0.7, 0.2], retrieved=3)  # doc 3's cosine was looked up
    evidence = QueryEvidence(token_idf=(1.0, 2.0, 3.0, 4.0), best_coverage=0.4, cosine_mean=0.5, cosine_std=0.1,
                             query="GPU显存不足 12G", matched_tokens=1)
    x = wm.features(keyword, semantic, evidence)
    assert x.shape == (len(wm.FEATURE_NAMES),) and np.isfinite(x).all()
    assert feature(x, "query_length") == pytest.approx(math.log1p(len("GPU显存不足 12G")))
    assert feature(x, "han_share") == pytest.approx(4 / 10)  # 显存不足 of 10 non-space characters
    assert feature(x, "latin_share") == pytest.approx(4 / 10)  # GPU, G
    assert feature(x, "digit_share") == pytest.approx(2 / 10)
    assert feature(x, "tokens") == pytest.approx(math.log1p(4))
    assert feature(x, "matched_share") == pytest.approx(0.25)
    assert feature(x, "coverage") == pytest.approx(0.4)
    assert feature(x, "keyword_hits") == pytest.approx(math.log1p(3))
    assert feature(x, "top_bm25") == pytest.approx(math.log1p(8.0))
    assert feature(x, "bm25_gap") == pytest.approx(0.25)
    assert feature(x, "top_cosine") == pytest.approx(0.9)
    assert feature(x, "top_standing") == pytest.approx(4.0)  # (0.9 - 0.5) / 0.1
    assert feature(x, "cosine_gap") == pytest.approx(1.0)
    assert feature(x, "candidate_mean") == pytest.approx(3.0)  # retrieved cosines only: mean 0.8
    assert feature(x, "candidate_spread") == pytest.approx(np.std([0.9, 0.8, 0.7]) / 0.1)
    assert feature(x, "overlap") == pytest.approx(0.1)  # doc 1 is in both top 10s (doc 3 was only looked up)
    assert feature(x, "blind_spot") == 0.0


def test_features_of_a_query_without_matches_or_statistics_are_finite():
    x = wm.features(Candidates.empty(), cands([1], [0.3]), QueryEvidence(query="   "))
    assert np.isfinite(x).all()
    assert feature(x, "matched_share") == 0 and feature(x, "top_bm25") == 0 and feature(x, "top_standing") == 0


def synthetic(n=600, seed=0):
    """Queries whose best alpha follows one feature: a high coverage wants alpha 0.3, a low one alpha 0.9."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(wm.FEATURE_NAMES)))
    alphas = np.array(ev.DEFAULT_ALPHAS)
    high = x[:, wm.FEATURE_NAMES.index("coverage")] > 0
    best = np.where(high, 0.3, 0.9)
    ndcg = 0.8 - np.abs(alphas[None, :] - best[:, None]) + rng.normal(scale=0.02, size=(n, alphas.size))
    return x, ndcg, high


def test_training_finds_the_feature_that_sets_the_weight_and_reports_a_cross_validated_gain():
    x, ndcg, high = synthetic()
    result = wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.7, folds=4, provenance={"sets": {"synthetic": 600}})
    assert result.warning is None
    assert result.gain > 0.1 and result.gain == pytest.approx(result.learned.mean() - result.default.mean())
    model = result.model
    clear = np.flatnonzero(np.abs(x[:, wm.FEATURE_NAMES.index("coverage")]) > 0.5)[:40]  # away from the boundary
    choices = [model.choose(x[i], 0.7) for i in clear]
    assert [c.chosen for c in choices] == [0.3 if high[i] else 0.9 for i in clear]
    assert all(c.reasons[0][0] == "coverage" for c in choices)  # the feature that moved it comes first
    assert model.provenance["sets"] == {"synthetic": 600} and model.provenance["queries"] == 600
    assert model.provenance["cv_gain"] == pytest.approx(result.gain, abs=1e-5)


def test_training_sets_a_fixed_alpha_tuned_on_the_same_folds_beside_the_model():
    """With a per-query signal the model beats any one alpha (cross-validated, same folds); when one alpha is
    better for every query, the tuned fixed alpha finds it and the model cannot beat it."""
    x, ndcg, _ = synthetic()
    result = wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.7, folds=4)
    assert result.fixed.shape == result.learned.shape
    assert result.learned.mean() > result.fixed.mean() + 0.1  # half the queries want 0.3, half 0.9
    assert result.model.provenance["cv_fixed_ndcg"] == pytest.approx(result.fixed.mean(), abs=1e-5)

    rng = np.random.default_rng(3)
    alphas = np.array(ev.DEFAULT_ALPHAS)
    x = rng.normal(size=(400, len(wm.FEATURE_NAMES)))
    ndcg = 0.8 - np.abs(alphas[None, :] - 0.4) + rng.normal(scale=0.02, size=(400, alphas.size))  # 0.4 for all
    result = wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.7, folds=4)
    assert result.fixed_alpha == pytest.approx(0.4)
    assert result.fixed.mean() == pytest.approx(ndcg[:, 4].mean())  # every fold tuned 0.4
    assert result.fixed.mean() >= result.learned.mean() - 0.005
    # a tie with the default goes to the default
    flat = np.ones((50, alphas.size))
    assert wm.train(rng.normal(size=(50, len(wm.FEATURE_NAMES))), flat, ev.DEFAULT_ALPHAS, 0.7, folds=3).fixed_alpha == 0.7


def _training(learned, fixed, default, fixed_alpha):
    n = len(default)
    return wm.Training(None, np.asarray(learned, float), np.asarray(default, float), 0.0, 0.0, None, 0,
                       np.asarray(fixed, float), fixed_alpha)


def test_the_advice_rests_on_cross_validated_figures_only():
    """A review found the advice naming an in-sample alpha (0.8) that lost to the default when cross-validated,
    and saying nothing when the model lost to the default."""
    rng = np.random.default_rng(5)
    base = rng.random(400)
    # the model and the tuned alpha both lose to the default: keep it, whatever alpha looks best in-sample
    text = wm.advice(_training(base - 0.01, base - 0.002, base, 0.8), 0.7)
    assert text.startswith("neither the model nor one tuned alpha beat the default (adaptive, alpha 0.7)")
    # the tuned alpha gains and the model no more: that alpha (or the default's name when it is the default)
    assert "fusion 'adaptive' at alpha 0.4 (a setting file's alpha, or `python -m hybrid search --alpha 0.4`) is as good and simpler" in wm.advice(
        _training(base + 0.01, base + 0.02, base, 0.4), 0.7)
    assert "the default (adaptive, alpha 0.7) is as good" in wm.advice(_training(base, base + 0.02, base, 0.7), 0.7)
    # the model leads the tuned alpha: by how much, and whether beyond its noise
    clear = wm.advice(_training(base + 0.05, base + 0.01, base, 0.6), 0.7)
    assert clear.startswith("the model leads one tuned alpha by +0.0400") and clear.endswith("beyond its noise")
    noisy = base + 0.01 + rng.normal(scale=0.2, size=400)
    assert wm.advice(_training(noisy, base + 0.01, base, 0.6), 0.7).endswith("within its noise")
    lines = wm.fixed_alpha_lines(_training(base, base, base, 0.7), 0.7, several_sets=True)
    assert "(one alpha for all the sets together)" in lines and "gain over the default +0.0000" in lines


def test_enough_queries_without_a_signal_are_not_told_to_label_more():
    """A set of 1,000 queries where no alpha ranks any query differently was told to "label more queries (here
    1000; 500 or more ...)"; it is told the features say nothing here."""
    x = np.random.default_rng(4).normal(size=(wm.MIN_QUERIES, len(wm.FEATURE_NAMES)))
    result = wm.train(x, np.ones((wm.MIN_QUERIES, len(ev.DEFAULT_ALPHAS))), ev.DEFAULT_ALPHAS, 0.7, folds=3)
    assert result.moved == 0 and "label more queries" not in result.warning
    assert f"{wm.MIN_QUERIES} queries are enough to look" in result.warning


def test_no_signal_keeps_the_given_alpha():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, len(wm.FEATURE_NAMES)))
    ndcg = np.tile(np.linspace(0.5, 0.6, 11), (300, 1)) * 0 + rng.normal(scale=0.05, size=(300, 11)) + 0.7
    ndcg[:, 7] += 0.01  # the default is slightly best everywhere
    model = wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.7, folds=3).model
    assert sum(model.choose(row, 0.7).chosen != 0.7 for row in x) < 30


def one_query_prefers_low_alphas(n, seed):
    """Every alpha ranks alike except for one query, which ranks better below 0.7: nothing to learn, but the
    mean gain (the intercept) below 0.7 is above 0."""
    x = np.random.default_rng(seed).normal(size=(n, len(wm.FEATURE_NAMES)))
    ndcg = np.ones((n, len(ev.DEFAULT_ALPHAS)))
    ndcg[0, 7:] = 0.7
    return x, ndcg


def test_tied_settings_go_to_the_largest_margin_then_the_largest_ridge():
    x, ndcg = one_query_prefers_low_alphas(100, 0)
    grid = np.asarray(ev.DEFAULT_ALPHAS)
    # every (ridge, margin) gains exactly 0 by cross-validation: the tie goes to the most cautious one
    assert wm._select(x, ndcg, grid, 7, np.arange(100), 5, 1) == (max(wm.RIDGES), max(wm.MARGINS))


def test_a_model_that_gains_nothing_keeps_the_given_alpha_on_other_queries():
    x, ndcg = one_query_prefers_low_alphas(100, 0)
    result = wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.7, folds=5)
    assert result.gain == 0 and result.moved == 0
    assert (result.model.margin, result.model.ridge) == (max(wm.MARGINS), max(wm.RIDGES))
    other, _ = one_query_prefers_low_alphas(300, 1)
    assert all(result.model.choose(row, 0.7).chosen == 0.7 for row in other)  # was: 190 of 300 moved to 0.0


def test_a_model_that_never_moved_the_weight_says_so_plainly():
    x, ndcg = one_query_prefers_low_alphas(100, 0)
    warning = wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.7, folds=5).warning
    assert "cross-validation found no query where the model would change the weight" in warning
    assert "keeps the default alpha 0.7" in warning and "label more queries" in warning
    assert "±" not in warning and "noise" not in warning  # was: "within its noise (here ±0.0000 nDCG@10 ...)"


def test_too_few_queries_warn_and_say_how_many_are_needed():
    x, ndcg, _ = synthetic(n=40)
    result = wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.7, folds=4)
    assert "only 40 labelled queries" in result.warning and str(wm.MIN_QUERIES) in result.warning
    with pytest.raises(ValueError, match="label at least"):
        wm.train(x[:5], ndcg[:5], ev.DEFAULT_ALPHAS, 0.7, folds=4)
    with pytest.raises(ValueError, match="lacks the default alpha"):
        wm.train(x, ndcg[:, :3], ev.DEFAULT_ALPHAS[:3], 0.7, folds=4)


def test_model_file_round_trip(tmp_path):
    x, ndcg, _ = synthetic()
    model = wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.7, folds=3).model
    path = model.save(tmp_path / "model.json")
    assert path.stat().st_size < 10_000
    again = wm.WeightModel.load(path)
    np.testing.assert_allclose(again.gains(x), model.gains(x))
    assert again.margin == model.margin and again.provenance == model.provenance


def test_the_packaged_model_loads_and_records_its_training():
    model = wm.WeightModel.load(wm.PACKAGED)
    assert model.features == wm.FEATURE_NAMES
    assert model.provenance["queries"] >= wm.MIN_QUERIES and model.provenance["sets"]
    assert "cv_gain" in model.provenance


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.pop("coefficients"), "lacks coefficients"),
    (lambda d: d.update(format=99), "format 99"),
    (lambda d: d.update(features=d["features"][:-1]), "was trained on features"),
    (lambda d: d.update(means=d["means"][:-1]), r"means must have shape \(17,\), got shape \(16,\)"),
    (lambda d: d["coefficients"][0].__setitem__(0, "x"), "coefficients must be a list of numbers"),
    (lambda d: d.update(alphas=[0.5, 0.2]), "alphas must be at least two increasing"),
    (lambda d: d.update(scales=[0.0] * len(d["scales"])), "scales must lie between"),
    (lambda d: d.update(margin=-1), r"margin must be a number in \[0, 1\]"),
    # what a hand-edited or foreign file holds: each a message, never a Python error
    (lambda d: d.update(ridge=None), "ridge must be a number >= 0"),
    (lambda d: d.update(ridge=[1]), "ridge must be a number >= 0"),
    (lambda d: d.update(provenance=[1, 2]), "provenance must be a JSON object"),
    (lambda d: d.update(alphas=["x"] * 11), "alphas must be at least two increasing"),
    (lambda d: d.update(alphas=[0, [1]]), "alphas must be at least two increasing"),
    (lambda d: d.update(alphas=[0, None]), "alphas must be at least two increasing"),
    (lambda d: d.update(ridge="abc"), "ridge must be a number"),
    (lambda d: d.update(intercepts="abc"), "intercepts must be a list of numbers"),
    (lambda d: d["coefficients"].__setitem__(1, [0.0]), "coefficients must be a list of numbers"),
    (lambda d: d["means"].__setitem__(0, True), "means must be a list of numbers"),
    (lambda d: d.update(format=True), "format True"),
    (lambda d: d.update(default_alpha=True), "default_alpha must be a number"),
    (lambda d: d.update(margin=True), "margin must be a number"),
    (lambda d: d["means"].__setitem__(0, float("nan")), "means holds a value that is not a finite number"),
    (lambda d: d["scales"].__setitem__(0, 1e-320), "scales must lie between"),
    (lambda d: d["coefficients"][0].__setitem__(0, 1e308), "coefficients holds a value beyond"),
    (lambda d: d["intercepts"].__setitem__(0, -1e5), "intercepts holds a value beyond"),
])
def test_bad_model_files_say_what_is_wrong_and_how_to_fix_it(tmp_path, edit, message):
    data = wm.WeightModel.load(wm.PACKAGED).to_json()
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(wm.WeightModelError, match=message) as caught:
        wm.WeightModel.load(path)
    assert "--train-weight" in str(caught.value)


def test_unreadable_model_files(tmp_path):
    with pytest.raises(wm.WeightModelError, match="cannot read the weight model"):
        wm.WeightModel.load(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(wm.WeightModelError, match="not valid JSON"):
        wm.WeightModel.load(tmp_path / "broken.json")
    (tmp_path / "utf16.json").write_text('{"format": 1}', encoding="utf-16")
    with pytest.raises(wm.WeightModelError, match="not UTF-8 text"):
        wm.WeightModel.load(tmp_path / "utf16.json")
    import os

    os.mkfifo(tmp_path / "pipe.json")  # its read would wait forever for a writer
    with pytest.raises(wm.WeightModelError, match="is not a regular file"):
        wm.WeightModel.load(tmp_path / "pipe.json")
    (tmp_path / "deep.json").write_text("[" * 100_000, encoding="utf-8")
    with pytest.raises(wm.WeightModelError, match="not valid JSON"):
        wm.WeightModel.load(tmp_path / "deep.json")
    # a huge file is refused from its first MB, not read whole: a valid model padded past the limit
    data = wm.WeightModel.load(wm.PACKAGED).to_json()
    data["provenance"]["padding"] = "x" * wm.MAX_FILE_BYTES
    (tmp_path / "huge.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(wm.WeightModelError, match="is over 1,000,000 bytes"):
        wm.WeightModel.load(tmp_path / "huge.json")


def test_a_feature_far_outside_training_keeps_the_given_alpha_without_numpy_warnings():
    import warnings

    n, grid = len(wm.FEATURE_NAMES), np.round(np.linspace(0, 1, 11), 1)
    coefficients = np.zeros((grid.size, n))
    coefficients[9, 0] = 1.0
    model = wm.WeightModel(wm.FEATURE_NAMES, np.zeros(n), np.full(n, 1e-6), grid, 0.7, np.zeros(grid.size),
                           coefficients)
    x = np.zeros(n)
    x[0] = 1.0
    assert model.choose(x, 0.7).chosen == 0.9  # an ordinary value moves it
    x[0] = 1e308  # overflows to inf once standardised
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.choose(x, 0.7) == WeightChoice(0.7, 0.7)


def test_saving_is_atomic_and_checks_the_place_first(tmp_path, monkeypatch):
    x, ndcg, _ = synthetic()
    model = wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.7, folds=3).model
    path = model.save(tmp_path / "model.json")
    before = path.read_bytes()

    def full_disk(fd):
        raise OSError(27, "File too large")

    import hybrid.atomic

    monkeypatch.setattr(hybrid.atomic.os, "fsync", full_disk)  # the disk fills while the new file is written
    with pytest.raises(OSError, match="File too large"):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]
    assert path.stat().st_mode & 0o777 == 0o644  # readable like any file written in place, not mkstemp's 0600
    path.chmod(0o640)
    model.save(path)
    assert path.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions
    with pytest.raises(wm.WeightModelError, match="is a folder; give a file name"):
        model.save(tmp_path)
    with pytest.raises(wm.WeightModelError, match=r"does not exist; create it or write elsewhere \(--out of the weight"):
        model.save(tmp_path / "nowhere" / "model.json")


def test_learned_fusion_uses_the_chosen_weight_for_every_document(tmp_path):
    x, ndcg, _ = synthetic()
    model = wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.7, folds=3).model
    wm.use(model.save(tmp_path / "m.json"))
    try:
        keyword = cands([1, 2], [5.0, 4.0])
        semantic = cands([3, 1, 2], [0.9, 0.8, 0.7])
        evidence = QueryEvidence((1.0, 1.0), 1.0, cosine_mean=0.5, cosine_std=0.1, query="法国首都", matched_tokens=2)
        fused = fuse(keyword, semantic, 0.7, "learned", evidence=evidence)
        choice = model.choose(wm.features(keyword, semantic, evidence), 0.7)
        assert fused.choice == choice
        expected = fuse(keyword, semantic, choice.chosen, "adaptive", evidence=evidence)
        assert fused.docs.tolist() == expected.docs.tolist() and fused.alpha == expected.alpha
        assert len(set(fused.semantic_weight.tolist())) == 1
        assert wm.describe(WeightChoice(0.7, 0.9, (("matched_share", -1.2),))) == [
            "few of your words matched: more semantic"]
    finally:
        wm.use(None)


TRAIN_CORPUS = [
    ("d1", "苹果是一种很好吃的水果。"), ("d2", "香蕉是黄色的水果。"), ("d3", "法国的首都是巴黎。"),
    ("d4", "我的笔记本电脑黑屏了怎么办"), ("d5", "今天天气晴朗，适合散步。"), ("d6", "显示器屏幕不亮了"),
    ("d7", "明天会下雨吗，气温多少"), ("d8", "深度学习和神经网络模型"),
]
TRAIN_QUERIES = [
    ("q1", "饿了", "d1"), ("q2", "法国首都", "d3"), ("q3", "电脑黑屏", "d4"), ("q4", "巴黎天气", "d5"),
    ("q5", "水果", "d2"), ("q6", "屏幕坏了", "d6"), ("q7", "下雨", "d7"), ("q8", "机器学习", "d8"),
    ("q9", "黄色水果", "d2"), ("q10", "笔记本", "d4"), ("q11", "气温", "d7"), ("q12", "神经网络", "d8"),
]


def write_training_set(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
                                                 for i, t in TRAIN_CORPUS), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps({"id": q, "text": t}, ensure_ascii=False) + "\n"
                                                  for q, t, _ in TRAIN_QUERIES), encoding="utf-8")
    (folder / "qrels.tsv").write_text("".join(f"{q}\t{d}\t1\n" for q, _, d in TRAIN_QUERIES), encoding="utf-8")
    return folder


def test_cli_trains_a_weight_model_and_evaluates_with_it(tmp_path, monkeypatch, capsys):
    import hybrid.semantic

    monkeypatch.setattr(hybrid.semantic, "load_embedder", lambda *a, **kw: LoadedEmbedder(OneHotEncoder(), "auto"))
    data = write_training_set(tmp_path / "handmade")
    out = tmp_path / "model.json"
    status = ev.main(["--train-weight", str(data), "--folds", "3", "--out", str(out),
                      "--cache-dir", str(tmp_path / "cache")])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    # 12 queries teach it nothing: cross-validation never moved the weight, and the warning says so
    assert "warning: cross-validation found no query where the model would change the weight" in captured.err
    assert "label more queries (here 12" in captured.err and f"{wm.MIN_QUERIES} or more" in captured.err
    assert "3-fold cross-validated nDCG@10" in captured.out and "gain" in captured.out
    # beside it, what one alpha tuned on the same folds gets (cross-validated), the in-sample alpha said to be so,
    # and the advice from the cross-validated figures: here nothing beats the default
    assert "one alpha tuned on the same folds instead: nDCG@10" in captured.out
    assert "the best single alpha over all the queries, in-sample (not cross-validated):" in captured.out
    assert ("note: neither the model nor one tuned alpha beat the default (adaptive, alpha 0.7) here: keep the "
            "default") in captured.out
    assert "-0.0000" not in captured.out
    model = wm.WeightModel.load(out)
    assert model.provenance["sets"] == {"handmade": 12} and model.provenance["folds"] == 3
    try:
        status = ev.main(["--data", str(data), "--weight-model", str(out), "--fusion", "learned", "--alphas", "0.7",
                          "--cache-dir", str(tmp_path / "cache")])
        # the model keeps alpha 0.7: 'learned' ranks as the default does, and the tie goes to the default
        assert status == 0 and "no setting beats the hybrid default on nDCG@10" in capsys.readouterr().out
        assert wm.active().provenance == model.provenance
    finally:
        wm.use(None)
    # evaluated on the very set it was trained on: the report keeps which model it was, the page says in-sample
    try:
        report = tmp_path / "report.json"
        status = ev.main(["--data", str(data), "--weight-model", str(out), "--fusion", "learned", "--alphas", "0.7",
                          "--cache-dir", str(tmp_path / "cache"), "--out", str(report)])
        assert status == 0
        assert ("trained on a set named handmade (12 queries): if it is this one, 'learned' here is an in-sample "
                "figure") in capsys.readouterr().err
        saved = json.loads(report.read_text(encoding="utf-8"))["weight_model"]
        assert saved == {"file": str(out.resolve()), "trained_on": {"handmade": 12}, "embedding_model": "fake-onehot"}
    finally:
        wm.use(None)
    (tmp_path / "bad.json").write_text("[]", encoding="utf-8")
    assert ev.main(["--data", str(data), "--weight-model", str(tmp_path / "bad.json")]) == 2
    assert "is not a JSON object" in capsys.readouterr().err
    assert ev.main(["--data", str(data), "--weight-model", str(out), "--fusion", "adaptive"]) == 2
    assert "--weight-model is used only by fusion 'learned'" in capsys.readouterr().err
    assert ev.main(["--data", str(data), "--weight-model", ""]) == 2
    assert "--weight-model is empty" in capsys.readouterr().err
    assert ev.main(["--train-weight", str(tmp_path / "absent"), "--out", str(tmp_path / "m2.json"),
                    "--cache-dir", str(tmp_path / "cache")]) == 1
    assert "absent is not a folder (it does not exist)" in capsys.readouterr().err
    # the disk fills while the model is written: said with the file's name, and the old model is kept
    import hybrid.atomic

    before = out.read_bytes()
    monkeypatch.setattr(hybrid.atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(27, "File too large")))
    assert ev.main(["--train-weight", str(data), "--folds", "3", "--out", str(out),
                    "--cache-dir", str(tmp_path / "cache")]) == 1
    assert f"cannot write the weight model to {out}: File too large (a file already there is kept)" \
        in capsys.readouterr().err
    assert out.read_bytes() == before
    assert ev.main(["--train-weight", str(data)]) == 2
    assert "needs --out FILE" in capsys.readouterr().err
    assert ev.main([]) == 2
    assert "give --data FOLDER" in capsys.readouterr().err


def test_with_several_sets_the_penalty_and_margin_are_chosen_leaving_one_set_out():
    x, ndcg, _ = synthetic()
    # two sets that want opposite things from the same feature: nothing transfers, so the model stays put
    flip = np.arange(len(x)) % 2 == 1
    ndcg[flip] = ndcg[flip][:, ::-1]
    groups = np.where(flip, "b", "a")
    grouped = wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.5, folds=4, groups=groups)
    assert grouped.model.provenance["selection"] == "leave one set out"
    alone = wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.5, folds=4)
    assert alone.model.provenance["selection"] == "4 folds"
    with pytest.raises(ValueError, match="groups must name the set"):
        wm.train(x, ndcg, ev.DEFAULT_ALPHAS, 0.5, folds=4, groups=groups[:-1])


def test_search_cli_uses_the_weight_model_and_says_why(tmp_path, monkeypatch, capsys):
    import hybrid.semantic
    from hybrid import cli

    monkeypatch.setattr(hybrid.semantic, "load_embedder", lambda *a, **kw: LoadedEmbedder(OneHotEncoder(), "auto"))
    n, grid = len(wm.FEATURE_NAMES), np.round(np.linspace(0, 1, 11), 1)
    coefficients = np.zeros((grid.size, n))
    coefficients[9, wm.FEATURE_NAMES.index("matched_share")] = -1.0
    means = np.zeros(n)
    means[wm.FEATURE_NAMES.index("matched_share")] = 1.0
    path = wm.WeightModel(wm.FEATURE_NAMES, means, np.ones(n), grid, 0.7, np.zeros(grid.size), coefficients
                          ).save(tmp_path / "m.json")
    kb = tmp_path / "kb.txt"
    kb.write_text("\n".join(t for _, t in TRAIN_CORPUS), encoding="utf-8")
    try:
        code = cli.main(["search", "--kb", str(kb), "--query", "苹果 capital", "--fusion", "learned",
                         "--weight-model", str(path), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        data = json.loads(out)
        choice = data["weight_choice"]
        assert choice["chosen"] == 0.9 and choice["used"] == data["alpha_used"] > 0.9
        assert choice["reasons"] == ["few of your words matched: more semantic",
                                     "the best keyword match holds 38% of your words (by rarity), so the semantic "
                                     f"weight rises from 0.9 to {data['alpha_used']:.2f}"]
        code = cli.main(["search", "--kb", str(kb), "--query", "苹果 capital", "--fusion", "learned",
                         "--weight-model", str(path)])
        assert code == 0 and "learned weight: alpha 0.9 (given 0.7)" in capsys.readouterr().out
    finally:
        wm.use(None)
    code = cli.main(["search", "--kb", str(kb), "--query", "苹果", "--fusion", "learned",
                     "--weight-model", str(tmp_path / "none.json")])
    assert code == 2 and "cannot read the weight model" in capsys.readouterr().err
    # an explicit model is never loaded and then ignored, and an empty one (an unset variable) is no model
    code = cli.main(["search", "--kb", str(kb), "--query", "苹果", "--weight-model", str(path)])
    assert code == 2 and "--weight-model is used only by fusion 'learned'" in capsys.readouterr().err
    code = cli.main(["search", "--kb", str(kb), "--query", "苹果", "--fusion", "learned", "--weight-model", " "])
    assert code == 2 and "--weight-model is empty" in capsys.readouterr().err
    # a model trained with another embedding model: said, with the fix
    other = wm.WeightModel.load(path)
    other = wm.WeightModel(other.features, other.means, other.scales, other.alphas, other.default_alpha,
                           other.intercepts, other.coefficients, provenance={"model": "Qwen/Qwen3-Embedding-4B"})
    try:
        code = cli.main(["search", "--kb", str(kb), "--query", "苹果", "--fusion", "learned",
                         "--weight-model", str(other.save(tmp_path / "qwen.json"))])
        err = capsys.readouterr().err
        assert code == 0 and "trained with the embedding model Qwen/Qwen3-Embedding-4B, this run uses fake-onehot" \
            in err and "retrain it with this model" in err
    finally:
        wm.use(None)


def test_cli_checks_train_weight_arguments_before_any_embedding(tmp_path, monkeypatch, capsys):
    import hybrid.semantic

    def no_embedding(*a, **kw):
        raise AssertionError("the arguments should have been refused before the embedder was loaded")

    monkeypatch.setattr(hybrid.semantic, "load_embedder", no_embedding)
    data = write_training_set(tmp_path / "handmade")
    twin = write_training_set(tmp_path / "elsewhere" / "handmade")
    cases = [
        (["--folds", "1", "--out", str(tmp_path / "m.json")], "--folds must be at least 2"),
        (["--out", str(tmp_path / "nowhere" / "m.json")], "does not exist; create it or write elsewhere (--out of the weight model)"),
        (["--out", str(tmp_path)], "is a folder; give a file name"),
        (["--out", str(data / "qrels.tsv")], "is one of the training set's own files"),
    ]
    for extra, message in cases:
        assert ev.main(["--train-weight", str(data), *extra]) == 2
        assert message in capsys.readouterr().err, extra
    assert ev.main(["--train-weight", str(data), "--folds", "7", "--out", str(tmp_path / "m.json")]) == 1
    assert "12 queries cannot be split into 7 cross-validation folds: label at least 14 queries or lower --folds" \
        in capsys.readouterr().err
    assert ev.main(["--train-weight", str(data), str(data), "--out", str(tmp_path / "m.json")]) == 2
    assert "is given twice" in capsys.readouterr().err
    assert ev.main(["--train-weight", str(data), str(twin), "--out", str(tmp_path / "m.json")]) == 2
    assert "are both named 'handmade'" in capsys.readouterr().err
    assert (data / "qrels.tsv").read_text(encoding="utf-8").startswith("q1\td1")  # untouched
    assert not (tmp_path / "m.json").exists()
    assert ev.main(["--train-weight", str(data), "--data", str(twin), "--out", str(tmp_path / "m.json")]) == 2
    assert "--data" in capsys.readouterr().err and not (tmp_path / "m.json").exists()


def test_an_evaluation_never_writes_over_what_it_reads(tmp_path, monkeypatch, capsys):
    import hybrid.semantic

    def no_embedding(*a, **kw):
        raise AssertionError("the arguments should have been refused before the embedder was loaded")

    monkeypatch.setattr(hybrid.semantic, "load_embedder", no_embedding)
    data = write_training_set(tmp_path / "handmade")
    before = {f: (data / f).read_bytes() for f in ev.LABELLED_FILES}
    model = wm.WeightModel.load(wm.PACKAGED).save(tmp_path / "model.json")
    cases = [
        (["--out", str(data / "qrels.tsv")], "is --data's qrels.tsv, which this run reads"),
        (["--plot", str(data / "corpus.jsonl")], "is --data's corpus.jsonl, which this run reads"),
        (["--out", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.json")], "--out and --plot are the same file"),
        (["--fusion", "learned", "--weight-model", str(model), "--out", str(model)], "is the --weight-model file"),
    ]
    for extra, message in cases:
        assert ev.main(["--data", str(data), *extra]) == 2
        assert message in capsys.readouterr().err, extra
    assert {f: (data / f).read_bytes() for f in ev.LABELLED_FILES} == before
    wm.WeightModel.load(model)  # still the model
    (tmp_path / "judgements.zip").write_bytes(b"PK")
    assert ev.main(["--data", str(tmp_path / "judgements.zip")]) == 1
    assert "unzip it and give its folder" in capsys.readouterr().err


def test_a_setting_file_given_as_the_weight_model_is_named_for_what_it_is(tmp_path):
    from hybrid import config

    path = config.save_config(config.Config(), tmp_path / "setting.json")
    with pytest.raises(wm.WeightModelError, match="is a setting file .* give it with --config"):
        wm.WeightModel.load(path)


def test_the_explanation_names_the_weight_used_when_the_blind_spot_rule_overrides_the_learned_one(
        tmp_path, monkeypatch, capsys):
    import hybrid.semantic
    from hybrid import cli

    monkeypatch.setattr(hybrid.semantic, "load_embedder", lambda *a, **kw: LoadedEmbedder(OneHotEncoder(), "auto"))
    n, grid = len(wm.FEATURE_NAMES), np.round(np.linspace(0, 1, 11), 1)
    coefficients = np.zeros((grid.size, n))
    coefficients[3, wm.FEATURE_NAMES.index("matched_share")] = 1.0  # words matched: alpha 0.3, more keyword
    path = wm.WeightModel(wm.FEATURE_NAMES, np.zeros(n), np.ones(n), grid, 0.7, np.zeros(grid.size), coefficients
                          ).save(tmp_path / "m.json")
    kb = tmp_path / "kb.txt"
    # the English entry is among the best semantic hits of a Chinese query: keyword matching cannot judge it
    kb.write_text("\n".join([t for _, t in TRAIN_CORPUS] + ["The capital of France is Paris."]), encoding="utf-8")
    argv = ["search", "--kb", str(kb), "--query", "法国首都", "--fusion", "learned", "--weight-model", str(path)]
    try:
        assert cli.main([*argv, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        choice = data["weight_choice"]
        assert (choice["given"], choice["chosen"], choice["used"], data["alpha_used"]) == (0.7, 0.3, 1.0, 1.0)
        assert choice["reasons"] == [
            "semantic only, overriding the learned alpha 0.3: some of the best semantic hits share no script with "
            "your words, so keyword matching cannot judge them",
            "overridden: most of your words matched: more keyword"]
        assert cli.main(argv) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("learned weight"))
        assert line.startswith("learned weight: alpha 0.3 (given 0.7), semantic weight 1.00: semantic only, "
                               "overriding the learned alpha 0.3")
    finally:
        wm.use(None)
