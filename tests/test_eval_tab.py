import pytest

from hybrid.evaluate import LabelledSetError, run
from hybrid.fusion import FUSERS
from tests.fakes import OneHotEncoder
from tests.test_evaluate import write_set
from webui import plots
from webui.eval_tab import best_point, best_setting, build_eval_tab, parse_upload, report_note, report_table
from webui.i18n import Translator


@pytest.fixture
def tiny(tmp_path):
    return write_set(tmp_path / "tiny")


def test_three_files_are_recognised_by_name_in_any_order(tiny, tmp_path):
    paths = [tiny / "qrels.tsv", tiny / "corpus.jsonl", tiny / "queries.jsonl"]
    labelled = parse_upload([str(p) for p in paths])
    assert len(labelled.documents) == 5 and len(labelled.queries) == 4
    assert len(parse_upload(paths, max_queries=1).queries) == 1


def test_gbk_csv_of_query_and_relevant_text(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_bytes("query,relevant\n饿了,香蕉是黄色的。\n法国首都,巴黎是法国的首都\n".encode("gb18030"))
    labelled = parse_upload([path])
    assert [t for _, t in labelled.queries] == ["饿了", "法国首都"]
    assert [d.text for d in labelled.documents] == ["香蕉是黄色的。", "巴黎是法国的首都"]
    assert len(parse_upload([path], max_queries=1).queries) == 1


@pytest.mark.parametrize("names,message", [
    ([], "no file uploaded"),
    (["corpus.jsonl", "queries.jsonl"], "missing qrels.tsv"),
    (["pairs.csv", "corpus.jsonl"], "one CSV on its own"),
])
def test_wrong_uploads_say_what_to_upload(tiny, tmp_path, names, message):
    (tmp_path / "pairs.csv").write_text("q,t\n", encoding="utf-8")
    paths = [tiny / n if (tiny / n).exists() else tmp_path / n for n in names]
    with pytest.raises(LabelledSetError, match=message):
        parse_upload(paths)


def test_table_and_best_setting_in_both_languages(tiny):
    report = run(parse_upload([tiny / "corpus.jsonl", tiny / "queries.jsonl", tiny / "qrels.tsv"]),
                 OneHotEncoder(), None, alphas=(0.2, 0.8))
    header, rows = report_table(report, "en")
    assert header == ["method", "nDCG@10", "Recall@10", "MRR@10"]
    assert [r[0].split(" ")[0] for r in rows] == ["keyword", "semantic", "hybrid", "best"]
    assert rows[0][1] == pytest.approx(report["results"]["keyword"]["ndcg@10"], abs=1e-4)
    header, rows = report_table(report, "zh")
    assert header[0] == "方法" and rows[0][0] == "关键词 (BM25)" and rows[3][0].startswith("最好的扫描点")
    shown = [float(r[1]) for r in rows]  # nDCG@10 of keyword, semantic, hybrid default and best
    assert shown[3] == max(shown)
    assert best_setting(None) is None and report_note(None) == ""
    assert "queries" in report_note(report, "en") and "个查询" in report_note(report, "zh")
    fig = plots.eval_curve(report, "zh")
    assert "随 α 变化" in fig.layout.title.text and fig.layout.xaxis.title.text == "α（语义权重）"
    assert sorted(a.text.split(" ")[0] for a in fig.layout.annotations) == ["只用关键词", "只用语义"]
    assert fig.data[-1].name == "默认（adaptive）"


def test_a_tie_goes_to_a_real_mix_near_the_default_not_to_keyword_only():
    def point(fusion, alpha, ndcg):
        return {"fusion": fusion, "alpha": alpha, "ndcg@10": ndcg}

    report = {"hybrid_config": {"alpha": 0.3, "fusion": "adaptive"},
              "sweep": [point("weighted", 0.0, 0.9), point("weighted", 0.5, 0.9), point("adaptive", 0.0, 0.9),
                        point("adaptive", 0.4, 0.9), point("adaptive", 0.2, 0.9), point("rrf", 1.0, 0.9),
                        point("rrf", 0.6, 0.8)]}
    assert best_setting(report) in ((0.2, "adaptive"), (0.4, "adaptive"))
    assert best_setting(report, alpha=0.45, fusion="weighted") == (0.5, "weighted")
    report["sweep"].append(point("weighted", 0.0, 0.95))  # a clear winner wins, even keyword only
    assert best_point(report)["alpha"] == 0.0


def test_tab_builds_inside_blocks():
    import gradio as gr

    class Service:
        embedder = None
        cache = None

    with gr.Blocks() as demo:
        alpha = gr.Slider(0, 1, value=0.6)
        fusion = gr.Dropdown(choices=list(FUSERS), value="adaptive")
        language = gr.Radio(["zh", "en"], value="en")
        tab = build_eval_tab(Translator("en"), Service(), alpha, fusion, language)
    assert any(isinstance(b, gr.Plot) for b in demo.blocks.values())
    assert all(fn.api_visibility == "private" for fn in demo.fns.values())
    assert len(tab.outputs()) == 3


def test_a_corpus_over_the_page_limit_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "pairs.csv"
    rows = "".join(f"问题{i},答案{i}\n" for i in range(30))
    path.write_text("query,relevant\n" + rows, encoding="utf-8")
    assert len(parse_upload([path], max_documents=30).documents) == 30
    with pytest.raises(LabelledSetError, match=r"30 documents; this page evaluates at most 29 .*python -m hybrid.evaluate"):
        parse_upload([path], max_documents=29)


def test_the_best_setting_is_never_below_a_row_the_table_shows():
    def point(fusion, alpha, ndcg):
        return {"fusion": fusion, "alpha": alpha, "ndcg@10": ndcg}

    # the table: keyword only scored 1.0, the sweep's best 0.959
    report = {"hybrid_config": {"alpha": 0.7, "fusion": "adaptive"},
              "results": {"keyword": {"ndcg@10": 1.0}, "semantic": {"ndcg@10": 0.9}, "hybrid": {"ndcg@10": 0.95}},
              "sweep": [point("weighted", 0.7, 0.959), point("adaptive", 0.7, 0.95)]}
    assert best_setting(report) == (0.0, "weighted")  # keyword only, as the fusion that reproduces it
    report["results"]["hybrid"]["ndcg@10"] = 1.01  # the default beats every sweep point: it is the best
    assert best_setting(report) == (0.7, "adaptive")


@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
def test_alpha_ends_score_as_the_single_lists(tiny, fusion):
    report = run(parse_upload([tiny / "corpus.jsonl", tiny / "queries.jsonl", tiny / "qrels.tsv"]),
                 OneHotEncoder(), None, fusions=[fusion], alphas=(0.0, 1.0))
    ends = {p["alpha"]: p for p in report["sweep"]}
    for alpha, single in ((0.0, "keyword"), (1.0, "semantic")):
        for metric, value in report["results"][single].items():
            assert ends[alpha][metric] == pytest.approx(value), (alpha, metric)
def test_a_second_upload_beside_the_first_is_refused_and_names_come_from_files(tiny, tmp_path):
    """Issue 20.5: the upload box keeps earlier files; two queries.jsonl were run without a word, and the set
    was named after Gradio's hash folder."""
    from webui.i18n import explain

    files = [tiny / n for n in ("corpus.jsonl", "queries.jsonl", "qrels.tsv")]
    again = tmp_path / "again"
    again.mkdir()
    (again / "queries.jsonl").write_bytes((tiny / "queries.jsonl").read_bytes())
    with pytest.raises(LabelledSetError) as twice:
        parse_upload([*files, again / "queries.jsonl"])
    assert "queries.jsonl" in explain(twice.value, "zh") and "上传了不止一个" in explain(twice.value, "zh")
    assert "more than one queries.jsonl" in explain(twice.value, "en")
    hashed = tmp_path / ("0" * 64)
    hashed.mkdir()
    for f in files:
        (hashed / f.name).write_bytes(f.read_bytes())
    assert parse_upload([hashed / f.name for f in files]).name == ""
    (hashed / "scifact-corpus.jsonl").write_bytes(files[0].read_bytes())
    named = [hashed / "scifact-corpus.jsonl", hashed / "queries.jsonl", hashed / "qrels.tsv"]
    assert parse_upload(named).name == "scifact"
