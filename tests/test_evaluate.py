import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from hybrid import evaluate as ev
from hybrid.cache import EmbeddingCache
from hybrid.engine import HybridEngine
from hybrid.fusion import FUSERS
from hybrid.metrics import mean_scores, score_query
from hybrid.semantic import LoadedEmbedder
from hybrid.settings import DEFAULT_SETTINGS
from tests.fakes import OneHotEncoder

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"

CORPUS = [
    ("d1", "苹果是一种很好吃的水果。"),  # food x3 (苹果, 吃, 水果); tokens 苹果 好吃 水果
    ("d2", "香蕉是黄色的。"),  # food x1; tokens 香蕉 黄色
    ("d3", "法国的首都是巴黎。"),  # capital x2, france x2; tokens 法国 首都 巴黎
    ("d4", "我的笔记本电脑黑屏了怎么办"),  # laptop
    ("d5", "今天天气晴朗，适合散步。"),  # weather; six tokens
]
QUERIES = [
    ("q1", "饿了"),  # token 饿 is in no document: keyword finds nothing; semantic: food
    ("q2", "法国首都"),
    ("q3", "电脑黑屏"),
    ("q4", "巴黎天气"),  # keyword: d3 (3 tokens) before d5 (6 tokens); semantic: d3 (2 concepts) before d5
    ("q5", "没有答案"),  # judged non-relevant only: dropped
]
QRELS = [("q1", "d1", 1), ("q1", "d2", 2), ("q2", "d3", 1), ("q3", "d4", 1), ("q4", "d5", 1), ("q5", "d1", 0)]


def write_set(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in CORPUS), encoding="utf-8")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in QUERIES), encoding="utf-8")
    (folder / "qrels.tsv").write_text("".join(f"{q}\t{d}\t{r}\n" for q, d, r in QRELS), encoding="utf-8")
    return folder


@pytest.fixture
def tiny(tmp_path):
    return write_set(tmp_path / "tiny")


def test_a_labelled_set_in_gbk_is_read_and_one_in_neither_encoding_names_its_file(tiny, capsys):
    """As the page reads an uploaded set: UTF-8 or GBK/GB18030; anything else names the file (it was a bare
    "'utf-8' codec can't decode byte 0xb9 in position 22")."""
    corpus = tiny / "corpus.jsonl"
    corpus.write_bytes(corpus.read_text(encoding="utf-8").encode("gbk"))
    gbk = ev.load_labelled_set(tiny)
    assert [d.text for d in gbk.documents] == [t for _, t in CORPUS]
    (tiny / "qrels.tsv").write_bytes(b"q1\td1\t1\n\xff\xfe\x80\n")
    with pytest.raises(ev.LabelledSetError, match=r"tiny/qrels.tsv: cannot decode as UTF-8, GBK/GB18030 or Big5"):
        ev.load_labelled_set(tiny)
    assert ev.main(["--data", str(tiny)]) == 1
    assert "tiny/qrels.tsv: cannot decode" in capsys.readouterr().err


def test_load_labelled_set(tiny):
    labelled = ev.load_labelled_set(tiny)
    assert labelled.name == "tiny"
    assert [d.id for d in labelled.documents] == ["d1", "d2", "d3", "d4", "d5"]
    assert [q for q, _ in labelled.queries] == ["q1", "q2", "q3", "q4"]  # q5 has no relevant document
    assert labelled.qrels["q1"] == {"d1": 1, "d2": 2}
    assert len(ev.load_labelled_set(tiny, max_queries=2).queries) == 2


def test_qrels_in_trec_layout_and_with_a_header(tiny):
    corpus, queries = (tiny / "corpus.jsonl").read_text(), (tiny / "queries.jsonl").read_text()
    trec = "query-id\tcorpus-id\tscore\n" + "".join(f"{q} 0 {d} {r}\n" for q, d, r in QRELS)
    assert ev.parse_labelled_set(corpus, queries, trec).qrels == ev.load_labelled_set(tiny).qrels


@pytest.mark.parametrize("broken,message", [
    ({"qrels.tsv": "q1\td1\tmany\nq2\td3\t1\n"}, "qrels.tsv line 1"),
    ({"qrels.tsv": "q1\td1\t1\nq2 d3\n"}, "qrels.tsv line 2"),
    ({"corpus.jsonl": '{"id": "d1", "text": "a"}\n{"id": "d1", "text": "b"}\n'}, "appears twice"),
    ({"queries.jsonl": '{"id": "q1", "text": "a"}\n{"id": "q1", "text": "b"}\n'}, "query id 'q1' appears twice"),
    ({"corpus.jsonl": '{"id": "d1"}\n'}, "corpus.jsonl line 1"),
    ({"queries.jsonl": "not json\n"}, "queries.jsonl line 1"),
    ({"qrels.tsv": "q1\tnope\t1\n"}, "no query has a relevant document"),
])
def test_bad_sets_say_what_is_wrong(tiny, broken, message):
    for name, text in broken.items():
        (tiny / name).write_text(text, encoding="utf-8")
    with pytest.raises(ev.LabelledSetError, match=message):
        ev.load_labelled_set(tiny)


def test_duplicate_query_ids_are_explained_in_both_languages(tiny):
    from webui.i18n import explain

    (tiny / "queries.jsonl").write_text('{"id": "q1", "text": "a"}\n{"id": "q1", "text": "b"}\n', encoding="utf-8")
    with pytest.raises(ev.LabelledSetError) as caught:
        ev.load_labelled_set(tiny)
    assert explain(caught.value, "zh") == "queries.jsonl 中查询 id 'q1' 出现了两次：id 必须唯一。"
    assert explain(caught.value, "en") == "queries.jsonl: query id 'q1' appears twice; ids must be unique."


def test_missing_file(tiny):
    (tiny / "qrels.tsv").unlink()
    with pytest.raises(ev.LabelledSetError, match="lacks qrels.tsv"):
        ev.load_labelled_set(tiny)


def test_pairs_csv():
    labelled = ev.parse_pairs_csv("query,text\n饿了,香蕉是黄色的。\n饿了,苹果是水果\n法国首都,巴黎\n")
    assert len(labelled.documents) == 3 and len(labelled.queries) == 2
    assert labelled.qrels["q1"] == {"d1": 1, "d2": 1}
    with pytest.raises(ev.LabelledSetError, match="row 1"):
        ev.parse_pairs_csv("饿了\n")
    with pytest.raises(ev.LabelledSetError, match="no rows"):
        ev.parse_pairs_csv("query,text\n")
    for header in ("用户问题,标准答案", "Question,Answer", "q,a", "问,答", "搜索,文本,相关度", "ask,reply,grade"):
        labelled = ev.parse_pairs_csv(f"{header}\n饿了,香蕉是黄色的。,1\n")
        assert [q for _, q in labelled.queries] == ["饿了"], header
    labelled = ev.parse_pairs_csv("饿了,香蕉是黄色的。\n法国首都,巴黎\n")  # no header: every row is a pair
    assert [q for _, q in labelled.queries] == ["饿了", "法国首都"] and labelled.notes == {}
    # a real first row is never taken for a header (third review: "…,0.5" and "什么是字母,a" were dropped)
    assert [q for _, q in ev.parse_pairs_csv("什么是字母,a\n饿了,香蕉\n").queries] == ["什么是字母", "饿了"]
    for grade in ("0.5", "高"):  # refused on its row, as before: never dropped as a header
        with pytest.raises(ev.LabelledSetError, match="row 1"):
            ev.parse_pairs_csv(f"怎么退货,七天内可退货,{grade}\n怎么开发票,在订单页申请,1\n")
    assert ev.parse_pairs_csv("Question,Answer\n饿了,香蕉\n").notes == {"header": ("Question, Answer",)}


def _run(tiny, cache_dir, **kw):
    encoder = OneHotEncoder()
    report = ev.run(ev.load_labelled_set(tiny), encoder, EmbeddingCache(cache_dir), **kw)
    return report, encoder


def test_metrics_on_the_tiny_set_by_hand(tiny, tmp_path):
    report, _ = _run(tiny, tmp_path / "cache", k=1)
    kw, sem = report["results"]["keyword"], report["results"]["semantic"]
    # keyword: q1 nothing; q2, q3 first; q4 relevant d5 second behind d3.
    assert kw["ndcg@10"] == pytest.approx((0 + 1 + 1 + 1 / math.log2(3)) / 4)
    assert kw["recall@10"] == pytest.approx(3 / 4)
    assert kw["mrr@10"] == pytest.approx((0 + 1 + 1 + 0.5) / 4)
    assert kw["ndcg@1"] == pytest.approx(2 / 4)
    # semantic: q1 ranks d2 (grade 2, pure food) then d1 (grade 1): ideal; q4 as keyword.
    assert sem["ndcg@10"] == pytest.approx((1 + 1 + 1 + 1 / math.log2(3)) / 4)
    assert sem["recall@10"] == 1.0
    assert sem["mrr@10"] == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    assert sem["ndcg@1"] == pytest.approx(3 / 4)
    assert report["queries"] == 4 and report["docs"] == 5 and report["model"] == "fake-onehot"


def test_hybrid_is_what_search_returns_with_the_default_settings(tiny, tmp_path):
    report, _ = _run(tiny, tmp_path / "cache")
    labelled = ev.load_labelled_set(tiny)
    engine = HybridEngine(list(labelled.documents), embedder=OneHotEncoder())
    rows = []
    for qid, text in labelled.queries:
        response = engine.search(text, k=10, mode="all")
        rows.append(score_query([h.id for h in response.hybrid], labelled.qrels[qid], (10,)))
    expected = mean_scores(rows)
    assert report["results"]["hybrid"] == pytest.approx(expected)
    config = report["hybrid_config"]
    assert (config["fusion"], config["alpha"]) == (engine.settings.fusion, engine.settings.alpha)


def test_sweep(tiny, tmp_path):
    report, _ = _run(tiny, tmp_path / "cache", alphas=(0.0, 0.5, 1.0))
    assert {(p["fusion"], p["alpha"]) for p in report["sweep"]} == {(f, a) for f in FUSERS for a in (0.0, 0.5, 1.0)}
    weighted_semantic = next(p for p in report["sweep"] if p["fusion"] == "weighted" and p["alpha"] == 1.0)
    # alpha 1 gives keyword no weight: every document is a semantic candidate here, so the order is semantic.
    assert weighted_semantic["ndcg@10"] == report["results"]["semantic"]["ndcg@10"]
    assert report["best"]["ndcg@10"] == max(p["ndcg@10"] for p in report["sweep"])
    with pytest.raises(ValueError, match=", ".join(FUSERS)):
        _run(tiny, tmp_path / "cache", fusions=["magic"])


def test_per_query_columns_by_hand(tiny, tmp_path):
    report, _ = _run(tiny, tmp_path / "cache", alphas=(0.0, 0.5, 1.0))
    rows = report["per_query"]
    assert [r["query_id"] for r in rows] == [r["id"] for r in rows] == ["q1", "q2", "q3", "q4"]
    third = 1 / math.log2(3)  # q4's relevant d5 is second in both lists
    assert [r["keyword"] for r in rows] == pytest.approx([0, 1, 1, third])
    assert [r["semantic"] for r in rows] == pytest.approx([1, 1, 1, third])
    assert [r["keyword ndcg@10"] for r in rows] == [r["keyword"] for r in rows]  # the older keys stay
    assert {"tokens", "keyword_hits", "flag", "query"} <= set(rows[0])
    for name in ("keyword", "semantic", "hybrid"):
        assert np.mean([r[name] for r in rows]) == pytest.approx(report["results"][name]["ndcg@10"])
    assert np.mean([r["best"] for r in rows]) == pytest.approx(report["best"]["ndcg@10"])


def test_sweep_intervals_and_paired_difference_from_the_default(tiny, tmp_path):
    report, _ = _run(tiny, tmp_path / "cache", alphas=(0.0, 0.5, 1.0))
    hybrid = [r["hybrid"] for r in report["per_query"]]
    assert hybrid == pytest.approx([1, 1, 1, 1 / math.log2(3)])
    # weighted alpha 0 is keyword's order: q1 (nothing matched) loses 1 against the default, the rest tie
    keyword_end = next(p for p in report["sweep"] if (p["fusion"], p["alpha"]) == ("weighted", 0.0))
    assert keyword_end["ndcg@10"] == pytest.approx(report["results"]["keyword"]["ndcg@10"])
    # -j/4 with j ~ B(4, 1/4) resampled copies of q1: P(j = 0) = 0.32, P(j = 4) = 0.004 < 0.025 < P(j >= 3)
    assert keyword_end["delta_vs_default"] == {"mean": pytest.approx(-0.25), "ci95": pytest.approx([-0.75, 0.0])}
    # its per-query values are 0, 1, 1, 0.63; P(mean < 0.25) = 5/256 < 0.025 < P(mean <= 0.25) = 13/256,
    # P(mean = 1) = 1/16 > 0.025
    assert keyword_end["ci95"] == pytest.approx([0.25, 1.0])
    for point in report["sweep"]:
        lo, hi = point["ci95"]
        assert lo <= point["ndcg@10"] <= hi
        delta = point["delta_vs_default"]
        assert delta["mean"] == pytest.approx(point["ndcg@10"] - report["results"]["hybrid"]["ndcg@10"])
        assert delta["ci95"][0] <= delta["mean"] <= delta["ci95"][1]
    assert all("ci95" not in p for h in report["halves"] for p in h["sweep"])  # whole set only


def test_ceiling_counts_relevant_documents_no_candidate_list_holds(tiny, tmp_path):
    report, _ = _run(tiny, tmp_path / "cache")
    assert report["ceiling"] == {"window": 100, "unreachable_queries": 0, "unreachable": [],
                                 "recall": {"keyword": 0.75, "semantic": 1.0}}  # keyword misses q1's both
    # one candidate each: q1's semantic top is d2 (pure food), so d1 is lost; q4's top is d3 in both lists
    labelled = ev.load_labelled_set(tiny)
    narrow = ev.run(labelled, OneHotEncoder(), None, settings=DEFAULT_SETTINGS.with_(window=1))
    assert narrow["ceiling"] == {"window": 1, "unreachable_queries": 2,
                                 "unreachable": [{"query_id": "q1", "documents": ["d1"]},
                                                 {"query_id": "q4", "documents": ["d5"]}],
                                 "recall": {"keyword": (0 + 1 + 1 + 0) / 4, "semantic": (0.5 + 1 + 1 + 0) / 4}}


def test_overlap_of_the_rankings_by_hand(tiny, tmp_path):
    report, _ = _run(tiny, tmp_path / "cache", alphas=(0.0, 0.5, 1.0))
    overlap = report["overlap"]
    assert set(overlap) == {"keyword|semantic", "keyword|hybrid", "semantic|hybrid", "default|chosen"}
    # semantic ranks all 5 documents; keyword finds nothing for q1, d3 for q2, d4 for q3, d3 d5 for q4, each
    # semantic's first ones, so RBO_ext extrapolates full agreement there
    assert overlap["keyword|semantic"] == pytest.approx({
        "jaccard@10": (0 + 1 / 5 + 1 / 5 + 2 / 5) / 4, "rbo@0.9": (0 + 1 + 1 + 1) / 4,
        "shared": (0 + 1 + 1 + 2) / 4, "only_left": 0.0, "only_right": (5 + 4 + 4 + 3) / 4})
    # hybrid fuses semantic's 5 candidates with keyword's (a subset): the same 5 documents
    assert overlap["semantic|hybrid"]["jaccard@10"] == 1.0 and overlap["semantic|hybrid"]["shared"] == 5.0
    assert 0 < overlap["semantic|hybrid"]["rbo@0.9"] <= 1.0


def test_report_gap_and_halves(tiny, tmp_path):
    report, _ = _run(tiny, tmp_path / "cache")
    assert report["gap"] == pytest.approx(report["best"]["ndcg@10"] - report["results"]["hybrid"]["ndcg@10"])
    assert report["gap"] >= 0  # the default configuration is one of the sweep's points
    halves = report["halves"]
    assert [h["queries"] for h in halves] == [sum(ev.query_half(t) == i for _, t in ev.load_labelled_set(tiny).queries)
                                              for i in (0, 1)]
    assert sum(h["queries"] for h in halves) == report["queries"]


def test_query_half_is_a_stable_hash_of_the_text():
    assert ev.query_half("法国首都") == ev.query_half(" 法国首都 ")
    halves = [ev.query_half(f"query {i}") for i in range(400)]
    assert 150 < sum(halves) < 250  # about half each
    labelled = ev.parse_pairs_csv("\n".join(f"question {i},answer {i}" for i in range(40)))
    one, other = ev.split_half(labelled, 0), ev.split_half(labelled, 1)
    assert len(one.queries) + len(other.queries) == 40 and not set(one.queries) & set(other.queries)
    assert all(ev.query_half(t) == 1 for _, t in other.queries) and other.documents == labelled.documents
    with pytest.raises(ValueError, match="0 or 1"):
        ev.split_half(labelled, 2)


def test_split_half_report_chooses_on_half_0_and_reports_half_1():
    labelled = ev.parse_pairs_csv("\n".join(
        ["饿了,苹果是一种很好吃的水果。", "法国首都,法国的首都是巴黎。", "电脑黑屏,我的笔记本电脑黑屏了怎么办",
         "巴黎天气,今天天气晴朗，适合散步。", "想吃水果,香蕉是黄色的水果。", "首都在哪,北京是中国的首都。",
         "屏幕坏了,笔记本的屏幕坏了", "下雨吗,明天可能会下雨。"]))
    report = ev.run(labelled, OneHotEncoder(), None, alphas=(0.0, 0.5, 1.0))
    split = ev.split_half_report(report)
    choose, held_out = report["halves"]
    assert (split["chosen"]["fusion"], split["chosen"]["alpha"]) == (choose["best"]["fusion"], choose["best"]["alpha"])
    assert split["queries"] == held_out["queries"] and split["results"] == held_out["results"]
    # the hybrid default (adaptive 0.7, outside this sweep) is a candidate too
    candidates = ev.table_settings({**held_out, "hybrid_config": report["hybrid_config"]})
    assert split["chosen_point"] in candidates and split["best"] == held_out["best"]
    assert "chosen on half 0" in ev.format_split_half(report)


def test_with_distractors_adds_only_the_asked_script_unjudged():
    base = ev.parse_pairs_csv("法国首都,法国的首都是巴黎。\n电脑黑屏,我的笔记本电脑黑屏了怎么办\n", name="zh")
    other = ev.parse_pairs_csv("capital,The capital of France is Paris.\nhungry,苹果是一种很好吃的水果。\n"
                               "code,Python 虚拟环境用 python -m venv .venv 创建\n", name="mix")
    mixed = ev.with_distractors(base, other, "en")
    added = mixed.documents[len(base.documents):]
    assert [d.text for d in added] == ["The capital of France is Paris."]  # Chinese quoting code stays out
    assert mixed.queries == base.queries and mixed.qrels == base.qrels and mixed.name == "zh+mix en"
    assert all(d.id not in {x.id for x in base.documents} for d in added)
    assert [d.text for d in ev.with_distractors(base, other, "zh").documents[2:]] == [
        "苹果是一种很好吃的水果。", "Python 虚拟环境用 python -m venv .venv 创建"]
    assert len(ev.with_distractors(base, other, "zh", max_docs=1).documents) == 3
    with pytest.raises(ValueError, match="zh, cjk, en, alphabetic"):
        ev.with_distractors(base, other, "fr")
    clean, dirty = ev.run(base, OneHotEncoder(), None), ev.run(mixed, OneHotEncoder(), None)
    loss = ev.distractor_report(clean, dirty)
    assert loss["hybrid_excess"] == pytest.approx(loss["hybrid"] - loss["semantic"])
    assert "distractors; nDCG@10 lost" in ev.format_distractors(clean, dirty)


def test_second_run_only_reranks(tiny, tmp_path):
    first, encoder = _run(tiny, tmp_path / "cache")
    assert encoder.documents_embedded == 5 and encoder.query_calls > 0
    second, encoder = _run(tiny, tmp_path / "cache")
    assert encoder.documents_embedded == 0 and encoder.query_calls == 0
    assert second["results"] == first["results"]


def test_subset_corpus_keeps_every_judged_document(tiny):
    labelled = ev.load_labelled_set(tiny, max_queries=2)  # q1 judges d1, d2; q2 judges d3
    small = ev.subset_corpus(labelled, max_docs=3)
    assert [d.id for d in small.documents] == ["d1", "d2", "d3"]
    assert {d.id for d in ev.subset_corpus(labelled, max_docs=4).documents} >= {"d1", "d2", "d3"}
    assert len(ev.subset_corpus(labelled, max_docs=4).documents) == 4
    assert len(ev.subset_corpus(labelled, max_docs=1).documents) == 3  # judged documents always stay
    assert small.qrels == labelled.qrels and small.queries == labelled.queries


def test_split_into_sentences_counts_the_paragraph(tmp_path):
    folder = tmp_path / "paragraphs"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text(
        json.dumps({"id": "p1", "text": "今天天气晴朗。法国的首都是巴黎。"}, ensure_ascii=False) + "\n"
        + json.dumps({"id": "p2", "text": "我的笔记本电脑黑屏了。香蕉是黄色的。"}, ensure_ascii=False) + "\n",
        encoding="utf-8")
    (folder / "queries.jsonl").write_text('{"id": "q", "text": "法国首都"}\n', encoding="utf-8")
    (folder / "qrels.tsv").write_text("q\tp1\t1\n", encoding="utf-8")
    labelled = ev.split_into_sentences(ev.load_labelled_set(folder))
    assert [d.id for d in labelled.documents] == ["p1#0", "p1#1", "p2#0", "p2#1"]
    report = ev.run(labelled, OneHotEncoder(), None)
    assert report["docs"] == 2
    assert report["results"]["keyword"]["ndcg@10"] == 1.0  # p1 found through its second sentence


def test_cli_prints_table_and_writes_json_and_plot(tiny, tmp_path, monkeypatch, capsys):
    import hybrid.semantic

    monkeypatch.setattr(hybrid.semantic, "load_embedder", lambda *a, **kw: LoadedEmbedder(OneHotEncoder(), "auto"))
    out, plot = tmp_path / "report.json", tmp_path / "curve.html"
    status = ev.main(["--data", str(tiny), "--fusion", "weighted", "--alphas", "0,0.5,1", "--k", "3",
                      "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--plot", str(plot)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "keyword (BM25)" in printed and "hybrid default" in printed and "nDCG@3" in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report) >= {"dataset", "model", "queries", "docs", "results", "hybrid_config", "sweep"}
    assert set(report["results"]["hybrid"]) == {f"{m}@{k}" for m in ("ndcg", "recall", "mrr") for k in (10, 3)}
    assert [p["alpha"] for p in report["sweep"]] == [0.0, 0.5, 1.0]
    assert all(len(p["ci95"]) == 2 and len(p["delta_vs_default"]["ci95"]) == 2 for p in report["sweep"])
    assert len(report["per_query"]) == report["queries"]
    assert np.mean([r["hybrid"] for r in report["per_query"]]) == pytest.approx(report["results"]["hybrid"]["ndcg@10"])
    assert report["ceiling"]["unreachable_queries"] == 0
    assert set(report["overlap"]["default|chosen"]) >= {"jaccard@10", "rbo@0.9", "shared", "only_left", "only_right"}
    assert "ceiling: 0 of 4 queries" in printed and "overlap keyword|semantic: Jaccard@10 0.200" in printed
    assert "vs the hybrid default" in printed
    # 4 queries: the best point's lead is not claimed (the new-user review: one query gave a zero-width interval)
    if not report["best"].get("default"):
        assert "warning: only 4 queries: too few to say the best point is better" in printed
    assert "label at least 30" in ev.format_trust({**report, "best": {**report["sweep"][0], "default": False}})
    assert "too few" not in ev.format_trust({**report, "queries": 30, "best": {**report["sweep"][0], "default": False}})
    html = plot.read_text(encoding="utf-8")
    assert "keyword only" in html and "semantic only" in html and '"name":"weighted"' in html
    # a report place that cannot work is refused before the run, and a failed write keeps the last report
    assert ev.main(["--data", str(tiny), "--out", str(tmp_path / "nowhere" / "r.json")]) == 2
    assert "does not exist; create it or write elsewhere (--out is written after the run)" in capsys.readouterr().err
    assert ev.main(["--data", str(tiny), "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file name in it" in capsys.readouterr().err
    before = out.read_bytes()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    import hybrid.atomic

    monkeypatch.setattr(hybrid.atomic.os, "fsync", full_disk)
    status = ev.main(["--data", str(tiny), "--fusion", "weighted", "--alphas", "0.5", "--cache-dir",
                      str(tmp_path / "cache"), "--out", str(out)])
    monkeypatch.undo()
    assert status == 1 and "cannot write the report to" in capsys.readouterr().err
    assert out.read_bytes() == before and not list(tmp_path.glob(".report.json.*"))


def test_cli_refuses_bad_limits_plot_places_and_idle_flags_before_the_run(tiny, tmp_path, monkeypatch, capsys):
    """--max-queries 0 ran the whole evaluation into a KeyError traceback; -5 silently dropped the last five
    queries; a --plot in a missing folder failed with a traceback after the run; --folds without --train-weight
    was ignored."""
    import hybrid.semantic

    loads = []
    monkeypatch.setattr(hybrid.semantic, "load_embedder",
                        lambda *a, **kw: loads.append(1) or LoadedEmbedder(OneHotEncoder(), "auto"))
    for flag, value in (("--max-queries", "0"), ("--max-queries", "-5"), ("--max-docs", "-1"), ("--k", "0"),
                        ("--max-queries", "ten")):
        with pytest.raises(SystemExit) as exit_:
            ev.main(["--data", str(tiny), flag, value])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert flag in err and ("at least 1" in err or "whole number" in err), err
        # "leave it out" means no limit for the limits, but --k 5 for --k
        assert ("leave the option out for no limit" in err) == (flag != "--k"), err
    assert ev.main(["--data", str(tiny), "--plot", str(tmp_path / "nowhere" / "c.html")]) == 2
    assert "(--plot is written after the run)" in capsys.readouterr().err
    assert ev.main(["--data", str(tiny), "--plot", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert ev.main(["--data", str(tiny), "--folds", "3"]) == 2
    assert "--train-weight" in capsys.readouterr().err
    assert not loads  # refused before any model was loaded
    with pytest.raises(ValueError, match="at least 1"):
        ev.load_labelled_set(tiny, max_queries=0)
    # the plot is written whole or not at all, like the report
    plot = tmp_path / "c.html"
    assert ev.main(["--data", str(tiny), "--fusion", "weighted", "--alphas", "0,1", "--max-queries", "2",
                    "--cache-dir", str(tmp_path / "cache"), "--plot", str(plot)]) == 0
    assert "keyword only" in plot.read_text(encoding="utf-8")


def test_a_query_set_without_labels_refuses_repeated_ids_and_unknown_judged_ids_are_named(tiny, caplog):
    """A label-free queries.jsonl with a repeated id counted that query twice in the overlap means; qrels.tsv
    lines naming ids the other files lack were ignored without a word."""
    docs = ev.parse_corpus((tiny / "corpus.jsonl").read_text(encoding="utf-8"))
    with pytest.raises(ev.LabelledSetError, match="query id 'q1' appears twice"):
        ev.parse_query_set('{"id": "q1", "text": "a"}\n{"id": "q1", "text": "b"}\n', docs)
    with pytest.raises(ValueError, match="at least 1"):
        ev.parse_query_set('{"id": "q1", "text": "a"}\n', docs, max_queries=-5)
    corpus, queries = (tiny / "corpus.jsonl").read_text(), (tiny / "queries.jsonl").read_text()
    qrels = "".join(f"{q}\t{d}\t{r}\n" for q, d, r in QRELS) + "q9\td1\t1\nq2\tD3\t1\nq3\td99\t1\n"
    with caplog.at_level("WARNING", logger="hybrid.evaluate"):
        labelled = ev.parse_labelled_set(corpus, queries, qrels)
    assert labelled.qrels["q2"] == {"d3": 1, "D3": 1}
    warned = [r.getMessage() for r in caplog.records]
    assert any("1 of its 6 query ids that queries.jsonl lacks ('q9')" in m for m in warned), warned
    assert any("2 of its 7 document ids that corpus.jsonl lacks ('D3', 'd99')" in m for m in warned), warned


def test_cli_split_half_and_distractors(tiny, tmp_path, monkeypatch, capsys):
    import hybrid.semantic

    monkeypatch.setattr(hybrid.semantic, "load_embedder", lambda *a, **kw: LoadedEmbedder(OneHotEncoder(), "auto"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "corpus.jsonl").write_text('{"id": "e1", "text": "The capital of France is Paris."}\n'
                                        '{"id": "e2", "text": "Apples are my favourite food."}\n', encoding="utf-8")
    (other / "queries.jsonl").write_text('{"id": "x", "text": "capital"}\n', encoding="utf-8")
    (other / "qrels.tsv").write_text("x\te1\t1\n", encoding="utf-8")
    out = tmp_path / "report.json"
    status = ev.main(["--data", str(tiny), "--split-half", "--distractors", str(other), "--distractor-script", "en",
                      "--alphas", "0,0.5,1", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    printed = capsys.readouterr().out  # the tiny set's four queries fall 1 / 3 in the two halves
    assert status == 0 and "split half: chosen on half 0" in printed and "2 distractors; nDCG@10 lost" in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["distractors"]["docs"] == report["docs"] + 2 and "hybrid_excess" in report["distractors"]["loss"]
    assert set(report["split_half"]) == {"chosen", "queries", "results", "chosen_point", "best", "gap"}


def test_cli_errors_are_messages(tmp_path, capsys):
    assert ev.main(["--data", str(tmp_path)]) == 1
    assert "lacks corpus.jsonl" in capsys.readouterr().err
    assert ev.main(["--data", str(tmp_path), "--fusion", "magic"]) == 2
    assert ", ".join(FUSERS) in capsys.readouterr().err


def test_figure_has_a_line_per_fusion_and_both_baselines(tiny, tmp_path):
    report, _ = _run(tiny, tmp_path / "cache", alphas=(0.0, 1.0))
    fig = ev.make_figure(report)
    names = [t.name for t in fig.data]
    assert all(f in names for f in FUSERS)
    texts = [a.text for a in fig.layout.annotations]
    assert any(t.startswith("keyword only") for t in texts) and any(t.startswith("semantic only") for t in texts)
    # user review: learned, equal to adaptive here, hid its line; a curve drawn over an equal one is thin
    lines = {t.name: t for t in fig.data if t.mode == "lines+markers"}
    assert lines["learned"].y == lines["adaptive"].y and lines["learned"].line.width == 1
    assert lines["adaptive"].line.width == 2 and lines["weighted"].line.width == 2


# ------------------------------------------------------------------------------------------ real sets

QUALITY_MAX_QUERIES = 300
# Embedding the corpora is the cost on an empty cache (2 CPU cores, packaged model: ~50 short titles/s,
# ~2 long paragraphs/s). The long-document corpora and the largest one keep their judged documents plus
# random distractors up to these sizes; the others are whole. Measured: 10.5 minutes with an empty cache.
QUALITY_MAX_DOCS = {"qbqtc-dev": 5000, "cmrc2018-dev": 400, "cranfield": 700}


@pytest.fixture(scope="module")
def default_model():
    from hybrid.semantic import load_embedder

    return load_embedder("auto", device="cpu").embedder


@pytest.mark.datasets
@pytest.mark.parametrize("name", ["qbqtc-test_public", "qbqtc-dev", "xquad-mixed", "tatoeba-zh2en",
                                  "cmrc2018-dev", "cranfield"])
def test_quality_goal_on_real_sets(name, default_model):
    """Default hybrid >= max(keyword, semantic) - 0.005, and beats both where both exceed 0.3."""
    folder = DATASETS / name
    if not (folder / "qrels.tsv").is_file():
        pytest.skip(f"{folder} is absent (labelled sets live in ../shared/datasets)")
    labelled = ev.load_labelled_set(folder, max_queries=QUALITY_MAX_QUERIES)
    if name in QUALITY_MAX_DOCS:
        labelled = ev.subset_corpus(labelled, QUALITY_MAX_DOCS[name])
    report = ev.run(labelled, default_model, EmbeddingCache(), fusions=[], alphas=())
    r = {m: report["results"][m]["ndcg@10"] for m in ("keyword", "semantic", "hybrid")}
    assert r["hybrid"] >= max(r["keyword"], r["semantic"]) - 0.005, r
    if r["keyword"] > 0.3 and r["semantic"] > 0.3:
        assert r["hybrid"] > max(r["keyword"], r["semantic"]), r


def test_cli_compares_tokenizers_and_flags_queries_without_keyword_tokens_or_matches(tmp_path, monkeypatch, capsys):
    import hybrid.semantic

    monkeypatch.setattr(hybrid.semantic, "load_embedder", lambda *a, **kw: LoadedEmbedder(OneHotEncoder(), "auto"))
    data = tmp_path / "traditional"
    data.mkdir()
    queries = [("t1", "蘋果"), ("t2", "筆記本電腦"), ("t3", "的了"), ("t4", "饿了")]
    (data / "corpus.jsonl").write_text(
        "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in CORPUS), encoding="utf-8")
    (data / "queries.jsonl").write_text(
        "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in queries), encoding="utf-8")
    (data / "qrels.tsv").write_text("t1\td1\t1\nt2\td4\t1\nt3\td2\t1\nt4\td1\t1\n", encoding="utf-8")
    out = tmp_path / "report.json"
    status = ev.main(["--data", str(data), "--alphas", "0.5", "--fusion", "weighted", "--tokenizer",
                      "search,search+nofold", "--per-query", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    folded, unfolded = report["tokenizers"]
    assert (folded["tokenizer"], unfolded["tokenizer"]) == ("search", "search+nofold")
    assert folded["results"]["keyword"]["ndcg@10"] > unfolded["results"]["keyword"]["ndcg@10"]
    flags = {q["id"]: q["flag"] for q in report["per_query"]}
    assert flags == {"t1": None, "t2": None, "t3": "no keyword token", "t4": "no keyword match"}
    assert folded["flagged"] == {"no keyword token": 1, "no keyword match": 1}
    assert unfolded["flagged"] == {"no keyword token": 1, "no keyword match": 3}
    assert "search+nofold" in printed and "no keyword match" in printed and "苹果" in printed  # folded tokens shown
    assert ev.main(["--data", str(data), "--tokenizer", "search+dict"]) == 1
    assert "--user-dict" in capsys.readouterr().err
def test_the_tokenizer_table_has_columns_as_wide_as_their_headers_and_apart():
    reports = [{"tokenizer": name, "results": {"keyword": {"ndcg@10": 0.5}, "hybrid": {"ndcg@10": 0.75}},
                "flagged": {"no keyword token": 1, "no keyword match": 12}} for name in ("search", "search+nofold")]
    lines = ev.format_tokenizers(reports).splitlines()

    def cells(line):  # (text, end) of each cell: words one space apart belong to one cell
        return [(m.group(), m.end()) for m in re.finditer(r"\S+(?: \S+)*", line)]

    header = cells(lines[0])
    # was "keyword ndcg@10hybrid ndcg@10no keyword token...": 15-16 character headers in 14 wide columns
    assert [text for text, _ in header] == ["tokenizer", "keyword ndcg@10", "hybrid ndcg@10", "no keyword token",
                                            "no keyword match"]
    assert [text for text, _ in cells(lines[2])] == ["search+nofold", "0.5000", "0.7500", "1", "12"]
    for line in lines[1:]:  # each figure ends where its header ends
        assert [end for _, end in cells(line)[1:]] == [end for _, end in header[1:]]


def write_beir_set(folder: Path) -> Path:
    """The tiny set in BEIR's form: ``_id`` (and a title) in the jsonl files, qrels.tsv with BEIR's header."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": i, "title": "", "text": t, "metadata": {}}, ensure_ascii=False) + "\n" for i, t in CORPUS),
        encoding="utf-8")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i, "text": t, "metadata": {}}, ensure_ascii=False) + "\n" for i, t in QUERIES),
        encoding="utf-8")
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{r}\n" for q, d, r in QRELS),
                                      encoding="utf-8")
    return folder


def test_beir_form_reads_like_the_plain_one(tiny, tmp_path):
    """Issue 20.5: BEIR's ``_id`` was refused; its title is read before the text, as BEIR's evaluation does."""
    beir = ev.load_labelled_set(write_beir_set(tmp_path / "beir"))
    plain = ev.load_labelled_set(tiny)
    assert (beir.documents, beir.queries, beir.qrels) == (plain.documents, plain.queries, plain.qrels)
    titled = ev.parse_labelled_set('{"_id": "a", "title": "巴黎", "text": "法国首都"}\n',
                                   '{"_id": "q", "text": "巴黎"}\n', "q\ta\t1\n")
    assert titled.documents[0].text == "巴黎 法国首都"
    with pytest.raises(ev.LabelledSetError, match="line 1") as refused:
        ev.parse_labelled_set('{"title": "no id"}\n', '{"_id": "q", "text": "x"}\n', "q\ta\t1\n")
    assert refused.value.key == "id_text_field" and refused.value.values == {"name": "corpus.jsonl", "line": 1}


# ------------------------------------------------------------------------------------------ sweep axes

class HashEncoder(OneHotEncoder):
    """A fake model whose vectors are random but fixed per text: every cosine differs (no ties to cut)."""

    def _encode(self, texts):
        import hashlib

        rows = [np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little"))
                .standard_normal(16) for t in texts]
        out = np.asarray(rows, dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


WORDS = ["苹果", "香蕉", "电脑", "黑屏", "首都", "巴黎", "天气", "下雨", "模型", "学习", "手机", "充电"]


def _random_corpus(n: int = 60) -> list[str]:
    rng = np.random.default_rng(7)
    return ["".join(rng.choice(WORDS, size=int(rng.integers(2, 6)))) + f"第{i}条" for i in range(n)]


@pytest.mark.parametrize("window", [3, 10, 25])
def test_retrieval_within_a_window_is_what_a_search_at_that_window_retrieves(window):
    engine = HybridEngine(_random_corpus(), embedder=HashEncoder())
    for query in ("苹果电脑", "巴黎天气下雨", "手机"):
        wide, narrow = engine.retrieve(query, window=40).within(window), engine.retrieve(query, window=window)
        for side in ("keyword", "semantic"):
            assert getattr(wide, side).docs.tolist() == getattr(narrow, side).docs.tolist(), (query, side)
            # float32: a looked-up cosine and a searched one may differ in the last bits
            assert getattr(wide, side).scores == pytest.approx(getattr(narrow, side).scores, abs=1e-6)
        assert wide.semantic.own == narrow.semantic.own
        for fusion in FUSERS:
            assert wide.fuse(0.5, fusion).docs.tolist() == narrow.fuse(0.5, fusion).docs.tolist()


def test_sweep_has_normalizer_and_window_axes_each_point_as_the_engine_set_so(tiny, tmp_path):
    report, _ = _run(tiny, tmp_path / "cache", alphas=(0.0, 0.7, 1.0), normalizers=("minmax", "zscore"),
                     windows=(1, 100))
    keys = {(p["fusion"], p["alpha"], p["normalizer"], p["window"]) for p in report["sweep"]}
    # alphas x windows x (weighted x 2 normalisers, and each other method once: it ignores the normaliser)
    assert len(keys) == len(report["sweep"]) == 3 * 2 * (2 + len(FUSERS) - 1)
    assert {n for f, _, n, _ in keys if f != "weighted"} == {"minmax"}  # the others ignore the normaliser
    defaults = [p for p in report["sweep"] if p["default"]]
    assert [(p["fusion"], p["alpha"], p["normalizer"], p["window"]) for p in defaults] == [("adaptive", 0.7, "minmax", 100)]
    assert defaults[0]["ndcg@10"] == pytest.approx(report["results"]["hybrid"]["ndcg@10"])
    assert defaults[0]["delta_vs_default"] == {"mean": 0.0, "ci95": [0.0, 0.0]}
    assert defaults[0]["overlap_vs_default"]["jaccard@10"] == 1.0
    labelled = ev.load_labelled_set(tiny)
    for fusion, normalizer, window in (("weighted", "zscore", 1), ("adaptive", "minmax", 1), ("rrf", "minmax", 1)):
        alone = ev.run(labelled, OneHotEncoder(), None, fusions=[fusion], alphas=(0.7,),
                       settings=DEFAULT_SETTINGS.with_(fusion=fusion, normalizer=normalizer, window=window))
        point = next(p for p in report["sweep"] if (p["fusion"], p["alpha"], p["normalizer"], p["window"])
                     == (fusion, 0.7, normalizer, window))
        assert point["ndcg@10"] == pytest.approx(alone["results"]["hybrid"]["ndcg@10"]), (fusion, normalizer)
        assert np.mean(point["per_query"]) == pytest.approx(point["ndcg@10"])
    # window 1 loses q4's d5 (second in both lists): the sweep sees it
    assert next(p for p in report["sweep"] if p["window"] == 1 and p["fusion"] == "adaptive" and p["alpha"] == 0.7
                )["ndcg@10"] < report["results"]["hybrid"]["ndcg@10"]


def test_cli_sweeps_normalizers_and_windows(tiny, tmp_path, monkeypatch, capsys):
    import hybrid.semantic

    monkeypatch.setattr(hybrid.semantic, "load_embedder", lambda *a, **kw: LoadedEmbedder(OneHotEncoder(), "auto"))
    out = tmp_path / "report.json"
    assert ev.main(["--data", str(tiny), "--fusion", "weighted", "--alphas", "0.5", "--normalizers", "all",
                    "--windows", "1,100", "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
                    "--split-half"]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert sorted((p["normalizer"], p["window"]) for p in report["sweep"]) == sorted(
        (n, w) for n in ("minmax", "max", "zscore", "none") for w in (1, 100))
    assert set(report["split_half"]["chosen"]) == {"fusion", "alpha", "normalizer", "window"}
    printed = capsys.readouterr().out
    best = report["best"]
    assert f"point {ev.point_label(best)}: ndcg@10 {best['ndcg@10']:.4f}" in printed
    point = next(p for p in report["sweep"] if (p["normalizer"], p["window"]) == ("zscore", 1))
    assert ev.point_label(point) == "weighted, alpha 0.5, zscore, window 1"
    for bad in (["--normalizers", "softmax"], ["--windows", "0"], ["--windows", "ten"]):
        with pytest.raises(SystemExit) as exit_:
            ev.main(["--data", str(tiny), *bad])
        assert exit_.value.code == 2
        assert bad[0] in capsys.readouterr().err


def test_figure_draws_a_band_per_line_and_names_the_axes_that_vary(tiny, tmp_path):
    report, _ = _run(tiny, tmp_path / "cache", fusions=["weighted"], alphas=(0.0, 0.5, 1.0),
                     normalizers=("minmax", "zscore"))
    fig = ev.make_figure(report)
    lines = {t.name: t for t in fig.data if t.name in ("weighted minmax", "weighted zscore")}
    assert set(lines) == {"weighted minmax", "weighted zscore"}
    band = next(t for t in fig.data if t.name == "weighted zscore 95% band")
    points = sorted((p for p in report["sweep"] if p["normalizer"] == "zscore"), key=lambda p: p["alpha"])
    assert list(band.y) == [p["ci95"][1] for p in points] + [p["ci95"][0] for p in points][::-1]


def test_past_a_few_lines_only_the_highest_lines_get_a_band(tiny, tmp_path):
    """Fresh-eyes review: every normaliser and window swept stacked 28 bands into one opaque block."""
    report, _ = _run(tiny, tmp_path / "cache", fusions=["weighted", "rrf"], alphas=(0.0, 0.5, 1.0),
                     normalizers=("minmax", "zscore", "max"), windows=(20, 100))
    fig = ev.make_figure(report)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    bands = [t for t in fig.data if str(t.name).endswith("95% band")]
    assert len(lines) > ev.MAX_BANDS and len(bands) == ev.MAX_BANDS
    peak = {t.name: max(t.y) for t in lines}
    lowest_banded = min(peak[b.name.removesuffix(" 95% band")] for b in bands)
    assert all(peak[n] <= lowest_banded for n in peak if f"{n} 95% band" not in {b.name for b in bands})


def test_a_tie_for_the_best_sweep_point_goes_to_the_default(tiny, tmp_path):
    # five documents: windows 200 and 100 retrieve the same candidates, so both points score alike
    report, _ = _run(tiny, tmp_path / "cache", fusions=["adaptive"], alphas=(0.7,), windows=(200, 100))
    assert [p["window"] for p in report["sweep"]] == [200, 100]
    assert report["sweep"][0]["ndcg@10"] == report["sweep"][1]["ndcg@10"]
    assert report["best"]["default"] and report["best"]["window"] == 100


def test_a_fractional_relevance_is_refused_not_read_as_zero(tiny):
    """A qrels grade of 0.5 became 0 (not relevant) without a word; "1.0" is a whole number and reads as 1."""
    (tiny / "qrels.tsv").write_text("q1\td1\t1.0\nq2\td3\t0.5\n", encoding="utf-8")
    with pytest.raises(ev.LabelledSetError, match=r"line 2: the relevance '0.5' is not a whole number") as caught:
        ev.load_labelled_set(tiny)
    assert caught.value.key == "qrels_grade"
    (tiny / "qrels.tsv").write_text("q1\td1\t1.0\n", encoding="utf-8")
    assert ev.load_labelled_set(tiny).qrels["q1"] == {"d1": 1}
    with pytest.raises(ev.LabelledSetError, match="is not a whole number"):
        ev.labelled_set_from_pairs([("饿了", "苹果", "0.5")])


def test_plot_into_a_folder_suggests_an_html_file(tiny, tmp_path, capsys):
    assert ev.main(["--data", str(tiny), "--plot", str(tmp_path)]) == 2
    assert f"e.g. {tmp_path / 'curve.html'}" in capsys.readouterr().err


def _point(fusion, alpha, ndcg, normalizer="minmax", window=100):
    return {"fusion": fusion, "alpha": alpha, "normalizer": normalizer, "window": window, "ndcg@10": ndcg}


def _report(sweep, keyword=0.5, semantic=0.5, hybrid=0.5):
    config = {"fusion": "adaptive", "alpha": 0.7, "normalizer": "minmax", "window": 100, "rrf_k": 60}
    return {"sweep": sweep, "hybrid_config": config,
            "results": {name: {"ndcg@10": v} for name, v in
                        (("keyword", keyword), ("semantic", semantic), ("hybrid", hybrid))}}


def test_best_point_ties_go_to_a_mix_then_the_default_fusion_alpha_normaliser_and_window():
    setting = ("fusion", "alpha", "normalizer", "window")

    def best(report, *args):
        return tuple(ev.best_point(report, *args)[k] for k in setting)

    # keyword only (a table row) ties with a mix: the mix; a difference below TIE is a tie, one above it is not
    assert best(_report([_point("weighted", 0.3, 0.8 - 1e-10)], keyword=0.8)) == ("weighted", 0.3, "minmax", 100)
    assert best(_report([_point("weighted", 0.3, 0.8 - 1e-6)], keyword=0.8)) == ("weighted", 0.0, "minmax", 100)
    # then the default fusion, then the alpha nearest the default, then its normaliser, then its window
    assert best(_report([_point("weighted", 0.7, 0.8), _point("adaptive", 0.4, 0.8)])) == (
        "adaptive", 0.4, "minmax", 100)
    assert best(_report([_point("rrf", 0.3, 0.8), _point("rrf", 0.6, 0.8)])) == ("rrf", 0.6, "minmax", 100)
    assert best(_report([_point("weighted", 0.6, 0.8, "zscore"), _point("weighted", 0.6, 0.8)])) == (
        "weighted", 0.6, "minmax", 100)
    assert best(_report([_point("weighted", 0.6, 0.8, window=50), _point("weighted", 0.6, 0.8)])) == (
        "weighted", 0.6, "minmax", 100)
    # the hybrid default row wins a tie it is part of; alpha and fusion given lean ties their way
    assert best(_report([_point("weighted", 0.6, 0.8)], hybrid=0.8)) == ("adaptive", 0.7, "minmax", 100)
    assert best(_report([_point("weighted", 0.6, 0.8)], hybrid=0.8), 0.6, "weighted") == (
        "weighted", 0.6, "minmax", 100)
    assert ev.best_point(None) is None and ev.best_point(_report([])) is None


def test_the_reports_best_follows_best_point_over_the_sweep_and_the_table_rows(tiny, tmp_path):
    # the default (adaptive 0.7) is outside this sweep; several sweep points tie with it (the sweep's first tied
    # point was the best before)
    report, _ = _run(tiny, tmp_path / "cache", alphas=(0.0, 0.5, 1.0))
    best = ev.best_point(report)
    assert (report["best"]["fusion"], report["best"]["alpha"]) == (best["fusion"], best["alpha"]) == ("adaptive", 0.7)
    assert report["best"]["default"] and report["gap"] == 0
    assert np.mean([r["best"] for r in report["per_query"]]) == pytest.approx(report["best"]["ndcg@10"])
    assert report["best"]["delta_vs_default"]["mean"] == 0  # a table row gets the trust figures too
    for half in report["halves"]:
        assert half["best"] == ev.best_point({**half, "hybrid_config": report["hybrid_config"]})


def test_a_sweep_without_a_point_beating_the_default_says_so(tiny, tmp_path):
    # weighted alpha 0 is keyword only: 0.25 below the default, the sweep's only point
    report, _ = _run(tiny, tmp_path / "cache", fusions=["weighted"], alphas=(0.0,))
    assert (report["best"]["fusion"], report["best"]["alpha"], report["gap"]) == ("adaptive", 0.7, 0)
    table = ev.format_table(report)
    assert "no setting beats the hybrid default on nDCG@10" in table and "-0.2500" not in table
    assert "best (adaptive, alpha 0.7, window 100)" in table  # not called a sweep point: it is a table row


def test_the_gap_line_reads_right_for_either_sign(tiny, tmp_path):
    report, _ = _run(tiny, tmp_path / "cache")
    assert "hybrid default is 0.0062 nDCG@10 below the best point" in ev.format_table({**report, "gap": 0.0062})
    # a report whose best was chosen from the sweep alone (written before best_point) can hold a negative gap
    assert "the best sweep point is 0.0062 nDCG@10 below the hybrid default" in ev.format_table(
        {**report, "gap": -0.0062})
    assert "below" not in ev.format_table({**report, "gap": 0.0}).splitlines()[-1]


def test_config_export_of_a_report_cannot_export_a_setting_worse_than_the_default(tiny, tmp_path, monkeypatch,
                                                                                  capsys):
    import hybrid.semantic
    from hybrid import config as hc

    monkeypatch.setattr(hybrid.semantic, "load_embedder", lambda *a, **kw: LoadedEmbedder(OneHotEncoder(), "auto"))
    out = tmp_path / "report.json"
    assert ev.main(["--data", str(tiny), "--fusion", "weighted", "--alphas", "0.0", "--out", str(out),
                    "--cache-dir", str(tmp_path / "cache")]) == 0
    capsys.readouterr()
    assert hc.main(["export", "--report", str(out), "--target", "config"]) == 0
    settings = json.loads(capsys.readouterr().out)["settings"]
    assert (settings["fusion"], settings["alpha"]) == ("adaptive", 0.7)  # was weighted 0.0: keyword only, -0.25
