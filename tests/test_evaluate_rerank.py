"""Evaluation with a second stage: `--rerank N --reranker NAME` adds a reranked row scored like the others."""

import json

import pytest

from hybrid import evaluate as ev
from hybrid.engine import HybridEngine
from hybrid.metrics import mean_scores, score_query
from hybrid.rerank import LoadedReranker
from hybrid.semantic import LoadedEmbedder
from tests.fakes import OneHotEncoder, WordReranker
from tests.test_evaluate import write_set


@pytest.fixture
def tiny(tmp_path):
    return write_set(tmp_path / "tiny")


def test_the_reranked_row_is_what_search_reranks_with_the_rest_in_hybrid_order(tiny):
    labelled = ev.load_labelled_set(tiny)
    reranker = WordReranker(["天气"])
    report = ev.run(labelled, OneHotEncoder(), None, reranker=reranker, rerank=2)
    engine = HybridEngine(list(labelled.documents), embedder=OneHotEncoder(), reranker=reranker)
    rows = []
    for qid, text in labelled.queries:
        reranked = engine.search(text, k=10, rerank=2).reranked
        rest = engine.search(text, k=10, rerank=0).hybrid[2:]
        rows.append(score_query([h.id for h in (*reranked, *rest)], labelled.qrels[qid], (10,)))
    assert report["results"]["reranked"] == pytest.approx(mean_scores(rows))
    assert report["rerank"]["depth"] == 2 and report["rerank"]["model"] == "fake-reranker"
    assert report["rerank"]["seconds"] >= 0 and report["rerank"]["instruction"] == "fake"
    # 巴黎天气 (q4): the hybrid list has 法国的首都是巴黎 first; the reranker lifts 今天天气晴朗 above it.
    assert report["results"]["reranked"]["mrr@10"] > report["results"]["hybrid"]["mrr@10"]


def test_without_reranking_the_report_has_no_reranked_row(tiny):
    report = ev.run(ev.load_labelled_set(tiny), OneHotEncoder(), None)
    assert report["rerank"] is None and "reranked" not in report["results"]
    assert len(ev.summary_rows(report)) == 4
    with pytest.raises(ValueError, match="reranker"):
        ev.run(ev.load_labelled_set(tiny), OneHotEncoder(), None, rerank=5)


def test_table_markdown_and_figure_show_the_reranked_row(tiny):
    report = ev.run(ev.load_labelled_set(tiny), OneHotEncoder(), None, reranker=WordReranker(["天气"]), rerank=3)
    rows = ev.summary_rows(report)
    assert rows[3][0] == "hybrid + rerank top 3 (fake-reranker)"
    assert rows[3][1] == report["results"]["reranked"]["ndcg@10"]
    assert "hybrid + rerank top 3 (fake-reranker)" in ev.format_table(report)
    assert "| hybrid + rerank top 3 (fake-reranker) |" in ev.markdown_rows(report)
    assert any(trace.name == "default + rerank top 3" for trace in ev.make_figure(report).data)


def test_cli_rerank_options(tiny, tmp_path, monkeypatch, capsys):
    import hybrid.rerank
    import hybrid.semantic

    monkeypatch.setattr(hybrid.semantic, "load_embedder", lambda *a, **kw: LoadedEmbedder(OneHotEncoder(), "auto"))
    asked = []

    def load_reranker(name, **options):
        asked.append(name)
        return LoadedReranker(WordReranker(["天气"]), name)

    monkeypatch.setattr(hybrid.rerank, "load_reranker", load_reranker)
    out = tmp_path / "report.json"
    common = ["--data", str(tiny), "--fusion", "weighted", "--alphas", "0.5", "--cache-dir", str(tmp_path / "c")]
    assert ev.main([*common, "--rerank", "3", "--reranker", "qwen3-0.6b", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "hybrid + rerank top 3 (fake-reranker)" in printed and "of which reranking" in printed
    assert json.loads(out.read_text(encoding="utf-8"))["rerank"]["depth"] == 3 and asked == ["qwen3-0.6b"]
    assert ev.main([*common, "--reranker", "qwen3-4b", "--out", str(out)]) == 0  # a named reranker: depth 20
    assert json.loads(out.read_text(encoding="utf-8"))["rerank"]["depth"] == 20 and asked[-1] == "qwen3-4b"
    assert ev.main([*common, "--out", str(out)]) == 0 and len(asked) == 2  # neither option: no reranker loaded
    assert json.loads(out.read_text(encoding="utf-8"))["rerank"] is None
    capsys.readouterr()
    assert ev.main([*common, "--rerank", "-1"]) == 2 and "--rerank must be >= 0" in capsys.readouterr().err

    monkeypatch.setattr(hybrid.rerank, "load_reranker",
                        lambda name, **_: LoadedReranker(None, name, "no CUDA GPU, so no reranker is loaded"))
    assert ev.main([*common, "--rerank", "5"]) == 1
    assert "--rerank 5 needs a reranker: no CUDA GPU" in capsys.readouterr().err


@pytest.mark.model
def test_cli_with_the_tiny_qwen3_reranker_by_folder(tiny, tmp_path, monkeypatch, capsys, tiny_reranker_path):
    import hybrid.semantic

    monkeypatch.setattr(hybrid.semantic, "load_embedder", lambda *a, **kw: LoadedEmbedder(OneHotEncoder(), "auto"))
    out = tmp_path / "report.json"
    assert ev.main(["--data", str(tiny), "--alphas", "0.5", "--cache-dir", str(tmp_path / "c"), "--device", "cpu",
                    "--rerank", "4", "--reranker", str(tiny_reranker_path), "--out", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["rerank"]["model"] == str(tiny_reranker_path)
    assert set(report["results"]["reranked"]) == set(report["results"]["hybrid"])
