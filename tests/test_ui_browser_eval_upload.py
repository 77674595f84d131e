"""The evaluation tab's upload box in Chromium (1440 px Chinese, 390 px English): a new upload replaces the files
the box held (it used to list them beside the new ones, and the run refused two of a kind), and each upload says
at once what the page read from it, or what is wrong with it, without running the evaluation.

The page is served in its own process (``tests/ui_server.py``, the fake one-hot model); after each test the
server's log must hold no exception and no error record (``tests/conftest.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import BROWSER_MARKS, english, idle
from tests.test_evaluate import CORPUS, QRELS, QUERIES
from tests.test_ui_browser_lab import LAYOUTS, _jsonl, _open_tab, write_lab_set

pytestmark = BROWSER_MARKS


def write_small_set(folder: Path, qrels: str | None = None) -> list[str]:
    """small-corpus.jsonl (5 documents), small-queries.jsonl and small-qrels.tsv (4 queries with a relevant
    document) in ``folder``, or ``qrels`` as the qrels file's text; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "small-corpus.jsonl").write_text(_jsonl(CORPUS), encoding="utf-8")
    (folder / "small-queries.jsonl").write_text(_jsonl(QUERIES), encoding="utf-8")
    (folder / "small-qrels.tsv").write_text(qrels if qrels is not None else
                                            "".join(f"{q}\t{d}\t{r}\n" for q, d, r in QRELS), encoding="utf-8")
    return [str(folder / n) for n in ("small-corpus.jsonl", "small-queries.jsonl", "small-qrels.tsv")]


@pytest.mark.parametrize("width,locale", LAYOUTS)
def test_a_new_upload_replaces_the_last_and_says_what_was_read(page, tmp_path, width, locale):
    """Uploads, none cleared with the box's ×: set A (9 documents, 5 queries with labels), set B (5 documents,
    4 queries), "run" (B is evaluated), then B's corpus and queries with a broken qrels file (the error shows at
    once; the corpus and queries are the same files as B's, so the same paths on the server), then a set whose
    queries.jsonl repeats an id (refused at once and by "run")."""
    from playwright.sync_api import expect

    lang = "zh" if locale.startswith("zh") else "en"
    p = page(width=width, locale=locale)
    if lang == "en":
        english(p)
    _open_tab(p, lang)
    upload = p.locator("#eval-files input[type=file]")
    listed = p.locator("#eval-files .file-preview td.filename")
    status = p.locator("#eval-status")

    upload.set_input_files(write_lab_set(tmp_path / "a"))
    expect(status).to_contain_text("已读入：3 个文件，5 个查询，9 篇文档。" if lang == "zh" else
                                   "Read 3 files: 5 queries, 9 documents.")
    expect(listed).to_have_count(3)
    idle(p)

    upload.set_input_files(write_small_set(tmp_path / "b"))
    expect(status).to_contain_text("已读入：3 个文件，4 个查询，5 篇文档。" if lang == "zh" else
                                   "Read 3 files: 4 queries, 5 documents.")
    # q5 has no relevant document: left out, and said (it was only left out)
    expect(status).to_contain_text("1 个查询在语料里没有相关文档（q5），不参与评测" if lang == "zh" else
                                   "Queries without a relevant document in the corpus are left out (1: q5)")
    expect(listed).to_have_count(3)
    for row in listed.all():
        expect(row).to_contain_text("small-")
    idle(p)

    p.click("#eval-run")
    expect(status).to_contain_text("small")
    expect(status).to_contain_text("4 个查询，5 篇文档" if lang == "zh" else "4 queries, 5 documents")
    expect(p.locator("#eval-table")).to_contain_text("nDCG@10")
    idle(p)

    upload.set_input_files(write_small_set(tmp_path / "broken", qrels="q1\td1\tnot-a-grade\n"))
    expect(status).to_contain_text("无法读取评测文件：qrels.tsv 第 1 行" if lang == "zh" else
                                   "Cannot read the labelled set: qrels.tsv line 1")
    expect(status).not_to_contain_text("上传了不止一个" if lang == "zh" else "more than one")
    expect(listed).to_have_count(3)
    idle(p)

    # a query id given twice would count its query twice in every mean: refused, in the page's language
    twice = write_small_set(tmp_path / "twice")
    Path(twice[1]).write_text(_jsonl([("q1", "饿了"), ("q2", "法国首都"), ("q1", "电脑黑屏")]), encoding="utf-8")
    upload.set_input_files(twice)
    duplicate = ("queries.jsonl 中查询 id 'q1' 出现了两次：id 必须唯一。" if lang == "zh" else
                 "queries.jsonl: query id 'q1' appears twice; ids must be unique.")
    expect(status).to_contain_text(duplicate)
    idle(p)
    p.click("#eval-run")
    idle(p)
    expect(status).to_contain_text(duplicate)
    idle(p)

    # one file at a time (the sixth user review: the first was dropped and the message named only the file missing)
    separate = write_small_set(tmp_path / "separate")
    upload.set_input_files(separate[0])
    expect(status).to_contain_text("缺少 queries.jsonl, qrels.tsv" if lang == "zh" else "missing queries.jsonl, qrels.tsv")
    expect(listed).to_have_count(1)  # the box shows the new upload alone before the next one is handed to it
    idle(p)
    upload.set_input_files(separate[1:])
    expect(listed).to_have_count(2)
    expect(status).to_contain_text("缺少 corpus.jsonl" if lang == "zh" else "missing corpus.jsonl")
    expect(status).to_contain_text("请把一个评测集的文件一起上传" if lang == "zh" else "Upload a set's files together")
    idle(p)

    # a misnamed file (the user review: corpus2.jsonl was left out unremarked, the set read as one without labels)
    misnamed = write_small_set(tmp_path / "misnamed")
    other = Path(misnamed[0]).with_name("corpus2.jsonl")
    other.write_text(Path(misnamed[0]).read_text(encoding="utf-8"), encoding="utf-8")
    upload.set_input_files([misnamed[0], str(other), misnamed[1]])
    expect(status).to_contain_text("corpus2.jsonl 不是评测集的文件" if lang == "zh" else
                                   "corpus2.jsonl: not a file of a labelled set")


def test_csv_pairs_are_evaluated_on_the_search_tabs_knowledge_base(page, tmp_path):
    """A CSV of (query, relevant text) pairs is searched in the knowledge base typed in the search tab (8 entries),
    with the one relevant text it lacks added: 9 documents, not the pairs' 3 relevant texts alone."""
    from playwright.sync_api import expect

    from tests.browser import type_knowledge_base

    p = page()
    type_knowledge_base(p, "\n".join(["香蕉是黄色的。", "巴黎是法国的首都", "苹果是红色的。", "北京是中国的首都",
                                      "跑步前要热身。", "明天可能下雨。", "猫喜欢睡觉。", "咖啡含有咖啡因。"]))
    expect(p.locator("#index-info")).to_contain_text("8 条")
    idle(p)
    _open_tab(p, "zh")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("query,relevant\n饿了,香蕉是黄色的。\n法国首都,巴黎是法国的首都\n法国首都,巴黎有埃菲尔铁塔\n",
                     encoding="utf-8")
    p.locator("#eval-files input[type=file]").set_input_files(str(pairs))
    expect(p.locator("#eval-status")).to_contain_text("2 个查询，9 篇文档")
    idle(p)
    p.click("#eval-run")
    expect(p.locator("#eval-table")).to_contain_text("nDCG@10")
    expect(p.locator("#eval-status")).to_contain_text("2 个查询，9 篇文档")


def test_new_files_take_away_the_last_runs_figures_apply_and_export(page, tmp_path):
    """Found by the new-user review: after a run, uploading another set left the old set's table, band and best
    setting on the page, and "apply" and "export" used them; a run without labels exported a "best setting" whose
    figures were all 0; a refused export left the previous export's file to download. Clicks: upload set A, run,
    export (a file), upload set B (the figures, the picker and the file go; apply and export ask for a run), run B,
    then B's corpus and queries without labels, run, apply and export (refused: no labels)."""
    from playwright.sync_api import expect

    from tests.browser import upload_eval_files

    p = page()
    _open_tab(p, "zh")
    status, table, band = p.locator("#eval-status"), p.locator("#eval-table"), p.locator("#eval-band")
    upload_eval_files(p, write_lab_set(tmp_path / "a"))
    p.click("#eval-run")
    expect(table).to_contain_text("nDCG@10")
    expect(band).not_to_have_text("")
    idle(p)
    p.click("#eval-export-setting")
    exported = p.locator("#eval-export-file")
    expect(exported).to_be_visible()
    idle(p)

    upload_eval_files(p, write_small_set(tmp_path / "b"))
    expect(status).to_contain_text("已读入：3 个文件，4 个查询，5 篇文档。")
    expect(table).not_to_contain_text("0.")  # no figures of set A
    expect(band).to_have_text("")
    expect(exported).to_be_hidden()
    expect(p.locator("#eval-point input")).to_have_value("")
    _apply_and_export_refused(p, "请先运行一次评测。", "请先运行一次评测。")
    idle(p)

    b = write_small_set(tmp_path / "b")
    upload_eval_files(p, b[:2])  # corpus and queries: no labels
    p.click("#eval-run")
    expect(band).to_contain_text("没有相关度标注")
    idle(p)
    # the refusals come under the run's status line, which they replaced (fresh-eyes review)
    _apply_and_export_refused(p, "这次评测没有相关度标注", "没有可用或可导出的“最好设置”", kept="5 个查询（没有标注）")


def _apply_and_export_refused(p, applied: str, exported: str, kept: str = "") -> None:
    """Click "apply" and "export the best setting": each says ``applied`` / ``exported`` beside ``kept`` (the
    run's status line) and no file is offered."""
    from playwright.sync_api import expect

    status = p.locator("#eval-status")
    p.click("#eval-apply")
    expect(status).to_contain_text(applied)
    expect(status).to_contain_text(kept)
    idle(p)
    p.click("#eval-export-setting")
    expect(status).to_contain_text(exported)
    expect(status).to_contain_text(kept)
    expect(p.locator("#eval-export-file")).to_be_hidden()
