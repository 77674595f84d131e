"""The demo's handlers called directly (fake encoder), build_demo's wiring and the command line of demo.py.

What a visitor sees and clicks is tested in tests/test_ui_browser*.py; these tests pin the handlers' logic.
"""

from __future__ import annotations

import argparse
import html
import threading

import gradio as gr
import pytest

import demo
from hybrid.engine import HybridEngine
from hybrid.semantic import LoadedEmbedder
from hybrid.service import ModelService
from tests.fakes import OneHotEncoder
from webui import format as fmt
from webui import handlers as handlers_module
from webui import wiring
from webui.calibration import UNCALIBRATED
from webui.handlers import APPEND, REPLACE, DemoHandlers, SearchOutputs, fit_query, render_message, sample_of
from webui.i18n import TEXTS, text
from webui.samples import example_queries, sample_text

KB = "\n".join(["苹果是一种很好吃的水果。", "法国的首都是巴黎。", "机器学习模型可以理解文本语义。",
                "明天可能会下雨，出门记得带伞。", "香蕉富含钾元素，适合运动后补充能量。", "北京是中国的首都。"])
CONTROLS = dict(alpha=0.6, fusion="weighted", normalizer="minmax", k=3, k1=1.2, b=0.75, threshold=0.5, window=100)


def _service(encoder: OneHotEncoder, gate: threading.Event | None = None) -> ModelService:
    def loader(model, device="auto", dimension=None):
        if gate is not None:
            gate.wait(30)
        return LoadedEmbedder(encoder, model)

    service = ModelService(cache=False, loader=loader).start()
    if gate is None:
        service.wait(30)
    return service


class FakeProgress:
    """Records what the handler reports to gr.Progress."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, value, desc=None, total=None, unit="steps"):
        self.calls.append((value, desc, unit))


@pytest.fixture()
def encoder():
    return OneHotEncoder()


@pytest.fixture()
def handlers(encoder):
    return DemoHandlers(_service(encoder))


def _search(h: DemoHandlers, engine, query: str, kb: str = KB, lang: str = "en", **controls) -> SearchOutputs:
    values = {**CONTROLS, **controls}
    return h.search(engine, query, kb, False, values["alpha"], values["fusion"], values["normalizer"], values["k"],
                    values["k1"], values["b"], values["threshold"], values["window"], lang)


def _col(out: SearchOutputs, name: str) -> str:
    return out.columns[("keyword", "semantic", "hybrid").index(name)]


def _top_text(column_html: str) -> str:
    start = column_html.index('<div class="hit-text">') + len('<div class="hit-text">')
    return column_html[start : column_html.index("</div>", start)].replace("<mark>", "").replace("</mark>", "")


# ---------------------------------------------------------------- knowledge base


def test_index_embeds_with_progress_and_never_twice(handlers, encoder):
    progress = FakeProgress()
    engine, info = handlers.index(None, KB, False, "en", progress=progress)
    assert engine.has_vectors and len(engine) == 6
    assert info == text("kb_indexed", "en", n=6, model="fake-onehot")
    assert progress.calls[-1] == ((6, 6), text("progress_embed", "en"), text("progress_unit", "en"))
    embedded = encoder.documents_embedded

    same, _ = handlers.index(engine, KB, False, "en", progress=FakeProgress())
    assert same is engine and encoder.documents_embedded == embedded  # unchanged: nothing re-embedded

    edited = KB.replace("法国的首都是巴黎。", "法国的首都是巴黎，也是时尚之都。")
    same, _ = handlers.index(engine, edited, False, "en", progress=FakeProgress())
    assert same is engine and encoder.documents_embedded == embedded + 1  # one changed line costs one line
    assert "法国的首都是巴黎，也是时尚之都。" in [d.text for d in engine.documents]


def test_split_switch_cuts_long_paragraphs(handlers):
    long_line = "第一句话讲苹果。" * 10 + "第二句话讲香蕉！" * 5
    assert handlers.count(long_line, False, "en")[0] == text("kb_count", "en", n=1)
    assert handlers.count(long_line, True, "en")[0] == text("kb_count", "en", n=15)
    engine, _ = handlers.index(None, long_line, True, "en", progress=FakeProgress())
    assert len(engine) == 15


def test_empty_and_oversized_knowledge_bases_give_messages(encoder):
    h = DemoHandlers(_service(encoder), max_entries=5)
    assert h.count("  \n\n", False, "en")[0] == text("kb_empty", "en")
    engine, info = h.index(None, "", False, "en", progress=FakeProgress())
    assert engine is None and info == ""
    assert "6 entries" in h.count(KB, False, "en")[0] and "limit of 5" in h.count(KB, False, "en")[0]
    engine, info = h.index(None, KB, False, "en", progress=FakeProgress())
    assert engine is None and info == ""
    assert encoder.documents_embedded == 0
    out = _search(h, None, "苹果", kb=KB)
    assert "limit of 5" in out.notice and 'class="hit' not in _col(out, "keyword")


def test_an_overlong_entry_is_sent_to_the_split_switch_only_where_it_would_cut_it(encoder):
    """Found by the fresh-eyes review: a 9,000-character line without a sentence end was said to be fixed by the
    split switch while the switch was on and could not cut it."""
    h = DemoHandlers(_service(encoder), max_text_chars=100)
    sentences = "短条目一\n" + "这是一句话。" * 30 + "\n短条目二"
    assert h.count(sentences, False, "en")[0] == text("kb_entry_too_long", "en", n=2, chars="180", limit="100")
    assert h.count(sentences, True, "en")[0] == text("kb_count", "en", n=32)  # the switch fixes it
    one_run = "短条目一\n" + "一" * 180 + "\n短条目二"
    for split in (False, True):
        line = h.count(one_run, split, "en")[0]
        assert line == text("kb_entry_too_long_unsplittable", "en", n=2, chars="180", limit="100")
        assert "no sentence end" in line and "tick" not in line
    assert "拆句也拆不开" in h.count(one_run, True, "zh")[0]


def test_a_100k_line_paste_is_refused_with_a_message(handlers, encoder):
    paste = "\n".join(f"第 {i} 条知识" for i in range(100_000))
    info = handlers.count(paste, False, "zh")[0]
    assert "100,000" in info and "20,000" in info
    engine, info = handlers.index(None, paste, False, "zh", progress=FakeProgress())
    assert engine is None and info == "" and encoder.documents_embedded == 0


def test_upload_utf8_gbk_csv_jsonl(encoder, tmp_path):
    handlers = DemoHandlers(_service(encoder), upload_root=tmp_path)
    (tmp_path / "kb.txt").write_text("苹果\n\n香蕉\n", encoding="utf-8")
    (tmp_path / "gbk.txt").write_bytes("中文编码测试\n第二行".encode("gbk"))
    (tmp_path / "kb.csv").write_text("id,text\n1,苹果很甜\n2,香蕉很软\n", encoding="utf-8")
    (tmp_path / "kb.jsonl").write_text('{"text": "巴黎"}\n{"text": "东京"}\n', encoding="utf-8")
    assert handlers.upload(str(tmp_path / "kb.txt"), REPLACE, "", "en").kb == "苹果\n香蕉"
    assert handlers.upload(str(tmp_path / "gbk.txt"), REPLACE, "", "en").kb == "中文编码测试\n第二行"
    change = handlers.upload(str(tmp_path / "kb.csv"), REPLACE, "旧的一条", "en")
    assert change.kb == "苹果很甜\n香蕉很软" and change.upload is None
    assert "Replaced the knowledge base (1 entry) with 2 entries from kb.csv" in html.unescape(change.notice)
    assert handlers.upload(str(tmp_path / "kb.jsonl"), REPLACE, "", "en").kb == "巴黎\n东京"


def test_an_upload_past_the_limits_is_read_kept_and_said_not_indexed(encoder, tmp_path):
    """Found by the fresh-eyes review: 25,000 lines were announced as a plain replacement, though never indexed."""
    h = DemoHandlers(_service(encoder), upload_root=tmp_path, max_entries=5)
    (tmp_path / "many.txt").write_text("\n".join(f"第 {i} 条" for i in range(6)), encoding="utf-8")
    change = h.upload(str(tmp_path / "many.txt"), REPLACE, "旧的一条", "en")
    assert change.kb.count("\n") == 5 and change.message[0] == "upload_replaced_unindexed"
    assert 'class="notice error"' in change.notice
    assert "was not indexed (the line under the text box says why)" in html.unescape(change.notice)
    assert "未建立索引" in html.unescape(render_message(change.message, "zh"))
    appended = h.upload(str(tmp_path / "many.txt"), APPEND, "旧的一条", "en")
    assert appended.message[0] == "upload_appended_unindexed" and "not indexed" in html.unescape(appended.notice)
    assert "`" not in h.count(change.kb, False, "en")[0] and "`" not in h.count(change.kb, False, "zh")[0]
    # with the split switch on, a long paragraph that splits within the limits is indexed: no warning
    (tmp_path / "long.txt").write_text("这是一句话。" * 30, encoding="utf-8")  # 180 characters, 30 sentences
    cut = DemoHandlers(_service(encoder), upload_root=tmp_path, max_text_chars=100)
    assert cut.upload(str(tmp_path / "long.txt"), REPLACE, "", "en").message[0] == "upload_replaced_unindexed"
    assert cut.upload(str(tmp_path / "long.txt"), REPLACE, "", "en", None, True).message[0] == "upload_replaced"
    (tmp_path / "few.txt").write_text("一\n二", encoding="utf-8")
    assert h.upload(str(tmp_path / "few.txt"), REPLACE, "旧的一条", "en").message[0] == "upload_replaced"


def test_a_csv_without_a_text_column_is_refused_in_the_pages_language(encoder, tmp_path):
    """It used to index its header row as an entry and drop every other column without a word."""
    handlers = DemoHandlers(_service(encoder), upload_root=tmp_path)
    (tmp_path / "faq.csv").write_text("问题,答案\n黑屏,重启\n", encoding="utf-8")
    for lang, words in (("zh", "其中一列名为 text"), ("en", "one of them text")):
        change = handlers.upload(str(tmp_path / "faq.csv"), REPLACE, "旧的一条", lang)
        assert words in html.unescape(change.notice) and "'问题', '答案'" in html.unescape(change.notice)
        assert change.kb == gr.skip()  # the text box keeps what was there


def test_upload_replace_is_undoable_and_append_keeps_the_typed_text(encoder, tmp_path):
    h = DemoHandlers(_service(encoder), upload_root=tmp_path)
    (tmp_path / "kb.txt").write_text("上传的一条\n上传的两条\n", encoding="utf-8")
    typed = "我自己输入的知识。\n第二条。"

    appended = h.upload(str(tmp_path / "kb.txt"), APPEND, typed, "zh")
    assert appended.kb == typed + "\n上传的一条\n上传的两条"
    assert appended.message == ("upload_appended", {"name": "kb.txt", "n": 2, "total": 4}, False)
    assert "现在共 4 条" in appended.notice and appended.undo_text.previous == typed

    replaced = h.upload(str(tmp_path / "kb.txt"), REPLACE, typed, "zh")
    assert replaced.kb == "上传的一条\n上传的两条" and replaced.undo_text.previous == typed
    assert replaced.undo_button["visible"] is True and "原来 2 条" in replaced.notice
    assert replaced.sample is None and replaced.examples["visible"] is False  # no sample's examples any more

    # Undo swaps: the typed text comes back, and a second click would bring the upload back.
    undone = h.undo(replaced.undo_text, replaced.kb, "en")
    assert undone.kb == typed and undone.undo_text.previous == replaced.kb
    assert "Swapped to the other knowledge base (2 entries)" in html.unescape(undone.notice)
    assert h.undo(undone.undo_text, undone.kb, "en").kb == replaced.kb
    # Two uploads (or a sample and an upload) in a row: the typed text stays one click away (fresh-eyes review:
    # undo swapped between the two files, the typed text gone)
    (tmp_path / "other.txt").write_text("另一个文件\n", encoding="utf-8")
    first = h.upload(str(tmp_path / "kb.txt"), REPLACE, typed, "en")
    second = h.upload(str(tmp_path / "other.txt"), REPLACE, first.kb, "en", first.undo_text)
    sample = h.pick_sample("tech_faq", second.kb, "en", second.undo_text)
    third = h.upload(str(tmp_path / "kb.txt"), REPLACE, sample.kb, "en", sample.undo_text)
    back = h.undo(third.undo_text, third.kb, "en")
    assert back.kb == typed
    assert h.undo(back.undo_text, back.kb, "en").kb == third.kb  # and the swap still swaps
    # text edited after a load is the user's: the next upload keeps it one click away, not the older one
    edited = first.kb + "\n我加的一条"
    after_edit = h.upload(str(tmp_path / "other.txt"), REPLACE, edited, "en", first.undo_text)
    assert h.undo(after_edit.undo_text, after_edit.kb, "en").kb == edited
    # typed text brought back by an undo is typed text again: the next upload keeps it one click away
    undone = h.undo(first.undo_text, first.kb, "en")
    later = h.upload(str(tmp_path / "other.txt"), REPLACE, undone.kb, "en", undone.undo_text)
    assert h.undo(later.undo_text, later.kb, "en").kb == typed
    # swapped back to the file, another upload still keeps the typed text
    redone = h.undo(undone.undo_text, undone.kb, "en")
    assert redone.kb == first.kb
    assert h.undo((u := h.upload(str(tmp_path / "other.txt"), REPLACE, redone.kb, "en", redone.undo_text)).undo_text,
                  u.kb, "en").kb == typed
    # an append is the user's composition, not a load: the next replacement keeps it one click away
    appended = h.upload(str(tmp_path / "other.txt"), APPEND, typed, "en", None)
    replaced = h.upload(str(tmp_path / "kb.txt"), REPLACE, appended.kb, "en", appended.undo_text)
    assert h.undo(replaced.undo_text, replaced.kb, "en").kb == appended.kb
    # Appending to an empty box is a plain load.
    assert h.upload(str(tmp_path / "kb.txt"), APPEND, "  ", "en").kb == "上传的一条\n上传的两条"


def test_bad_uploads_keep_the_text_box_and_say_why(encoder, tmp_path):
    h = DemoHandlers(_service(encoder), max_upload_bytes=100, upload_root=tmp_path)
    (tmp_path / "bad.txt").write_bytes(b"\x80\xff\xfe\xfa\xfb\x80\x81" * 3)
    (tmp_path / "kb.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "big.txt").write_text("长" * 200, encoding="utf-8")
    (tmp_path / "blank.txt").write_text("\n \n", encoding="utf-8")
    for name, expected in (("bad.txt", "UTF-8"), ("kb.pdf", ".pdf"), ("big.txt", "limit"), ("blank.txt", "no usable")):
        for mode in (REPLACE, APPEND):
            change = h.upload(str(tmp_path / name), mode, "typed", "en")
            assert isinstance(change.kb, type(gr.skip())), name  # the text box keeps what the user typed
            assert expected in html.unescape(change.notice) and 'class="notice error"' in change.notice, name
            assert change.message[2] is True  # kept as an error, re-rendered on a language switch
            assert change.upload is None  # the upload box is emptied for the next try


def test_upload_reads_only_files_inside_the_upload_folder(encoder, tmp_path):
    uploads, elsewhere = tmp_path / "uploads", tmp_path / "home"
    (uploads / "abc").mkdir(parents=True)
    elsewhere.mkdir()
    (uploads / "abc" / "kb.txt").write_text("上传的知识\n", encoding="utf-8")
    (elsewhere / "secret.txt").write_text("服务器上的秘密\n", encoding="utf-8")
    (uploads / "abc" / "link.txt").symlink_to(elsewhere / "secret.txt")
    (uploads / "abc" / "dir-link").symlink_to(elsewhere, target_is_directory=True)
    h = DemoHandlers(_service(encoder), upload_root=uploads)
    assert h.upload(str(uploads / "abc" / "kb.txt"), REPLACE, "", "en").kb == "上传的知识"
    refused = [str(elsewhere / "secret.txt"),                       # any path on the server
               f"{uploads}/abc/../../home/secret.txt",              # starts in the folder, climbs out
               str(uploads / "abc" / "link.txt"),                   # a link pointing out
               str(uploads / "abc" / "dir-link" / "secret.txt"),    # through a linked folder
               str(uploads), str(uploads / "abc"),                 # folders
               str(uploads / "abc" / "missing.txt"), "kb.txt", "/etc/hostname", "a\x00b"]
    for path in refused:
        change = h.upload(path, APPEND, "typed", "en")
        assert isinstance(change.kb, type(gr.skip())), path
        assert "was not uploaded here" in html.unescape(change.notice) and "秘密" not in change.notice, path
        assert change.upload is None
    assert "只能读取通过本页面上传的文件" in h.upload(str(elsewhere / "secret.txt"), REPLACE, "", "zh").notice


def test_sample_picker_loads_the_sample_and_its_examples_and_keeps_the_old_text(handlers):
    change = handlers.pick_sample("tech_faq", "我的知识", "zh")
    assert change.kb == sample_text("tech_faq") and change.sample == "tech_faq"
    assert change.examples["samples"][0] == ["如何给表格排序"] and change.examples["visible"] is True
    assert change.undo_text.previous == "我的知识" and "技术问答" in change.notice
    same = handlers.pick_sample("tech_faq", sample_text("tech_faq"), "zh")
    assert isinstance(same.undo_text, type(gr.skip()))  # nothing to undo when the text did not change
    assert sample_of(sample_text("mixed_zh_en") + "\n") == "mixed_zh_en" and sample_of("别的") is None
    # A chip passes its own query: it can never search a query of another sample.
    assert handlers.pick_example(["显存不够怎么办"]) == "显存不够怎么办"
    assert isinstance(handlers.pick_example(None), type(gr.skip()))


def test_a_sample_event_sent_twice_keeps_the_text_from_before_the_run_of_loads(handlers):
    """Chromium's sample picker sends its event twice; the second can read the box as it was before the first's
    answer arrived. Applied again, it made the first sample what undo brings back, and the typed text was lost
    (seen in the browser test of every sample, 2 runs in 9)."""
    typed = "我自己输入的知识"
    first = handlers.pick_sample("mixed_zh_en", typed, "zh")
    again = handlers.pick_sample("mixed_zh_en", typed, "zh", first.undo_text)  # the repeat, box read stale
    assert again.undo_text.previous == typed
    second = handlers.pick_sample("tech_faq", first.kb, "zh", again.undo_text)
    repeat = handlers.pick_sample("tech_faq", first.kb, "zh", second.undo_text)  # box still the first sample
    assert repeat.undo_text == second.undo_text and repeat.undo_text.previous == typed
    assert handlers.undo(repeat.undo_text, repeat.kb, "zh").kb == typed
    # The same load after the user edited the box is no repeat: the edit is kept one click away
    edited = first.kb + "\n我加的一行"
    after_edit = handlers.pick_sample("mixed_zh_en", edited, "zh", first.undo_text)
    assert handlers.undo(after_edit.undo_text, after_edit.kb, "zh").kb == edited


def test_count_and_panel_label_name_the_sample(handlers):
    line, panel = handlers.count(sample_text("everyday"), False, "zh")
    assert line == "共 18 条" and "日常知识 · 共 18 条" in panel["label"]
    line, panel = handlers.count("一\n二", False, "en")
    assert line == "2 entries" and "Knowledge base · 2 entries" in panel["label"]


# ---------------------------------------------------------------- search


def test_search_fills_three_columns_and_panels(handlers):
    engine, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    out = _search(handlers, engine, "我饿了想吃东西", k=2)
    assert "Keyword search found nothing" in out.notice and "饿 吃 东西" in out.notice
    assert 'class="hit' not in _col(out, "keyword")  # BM25 matches none of these words ...
    assert _top_text(_col(out, "semantic")) == "苹果是一种很好吃的水果。"  # ... the (fake) semantic model does
    assert _top_text(_col(out, "hybrid")) == "苹果是一种很好吃的水果。"
    assert "kw new" not in _col(out, "hybrid") and "kw " not in _col(out, "hybrid")  # no keyword list to move in
    assert len(out.why) == 2 and out.alpha_note
    assert "**dimension** 7" in out.vector_summary and "fake-onehot" in out.vector_summary
    assert out.vector_table.shape == (1, 11) and len(out.vector_bar.data[0].y) == 7
    assert set(out.timings.iloc[:, 0]) >= {"tokenise", "embed query", "total"}


def test_controls_rerank_without_re_embedding(handlers, encoder):
    engine, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    first = _search(handlers, engine, "首都巴黎", alpha=0.5)
    embedded, queries = encoder.documents_embedded, encoder.query_calls
    keyword_only = _search(handlers, engine, "首都巴黎", alpha=0.0, k=6)
    semantic_only = _search(handlers, engine, "首都巴黎", alpha=1.0, k=6)
    _search(handlers, engine, "首都巴黎", fusion="rrf", normalizer="zscore", k1=2.0, b=0.3, threshold=0.9, k=1)
    assert encoder.documents_embedded == embedded and encoder.query_calls == queries
    assert _top_text(_col(keyword_only, "hybrid")) == _top_text(_col(keyword_only, "keyword"))
    assert _top_text(_col(semantic_only, "hybrid")) == _top_text(_col(semantic_only, "semantic"))
    assert _col(first, "hybrid") != _col(keyword_only, "hybrid")


def test_threshold_paints_hits(handlers):
    engine, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    low = _search(handlers, engine, "苹果", threshold=0.0)
    high = _search(handlers, engine, "苹果", threshold=1.0)
    # the slider is the share of the query's words an entry must hold; the cosine's standing counts beside it
    shown = _col(low, "semantic").count('class="hit ')
    assert _col(low, "semantic").count('class="hit relevant"') == shown > 1
    assert 0 < _col(high, "semantic").count('class="hit relevant"') < shown


def test_bad_queries_and_knowledge_bases_give_messages_not_traces(handlers):
    engine, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    assert text("notice_empty_query", "en") in _search(handlers, engine, "   ").notice
    assert text("notice_empty_query", "en") in _search(handlers, engine, None).notice
    assert html.escape(text("notice_empty_kb", "en")) in _search(handlers, engine, "苹果", kb="\n\n").notice
    bad = _search(handlers, engine, "苹果", fusion="nope")
    assert "unknown fusion method 'nope'" in html.unescape(bad.notice) and "weighted" in bad.notice


def test_a_query_over_the_model_limit_is_cut_with_a_notice(handlers):
    engine, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    encoder = engine.embedder  # the fake counts one token a character; its limit is 512 tokens
    long_query = "巴黎" * 2500
    fitted, limit = fit_query(long_query, encoder)
    assert limit == 512 and len(fitted) == 512 - 32 and long_query.startswith(fitted)
    assert fit_query("巴黎", encoder) == ("巴黎", None) and fit_query(long_query, None) == (long_query, None)
    out = _search(handlers, engine, long_query)
    notice = html.unescape(out.notice)
    assert "5,000 characters" in notice and "512 tokens" in notice and "first 480 characters" in notice
    assert _top_text(_col(out, "keyword")) == "法国的首都是巴黎。"


def test_no_keyword_match_is_said_in_words(handlers):
    engine, _ = handlers.index(None, KB, False, "zh", progress=FakeProgress())
    emoji = _search(handlers, engine, "😀🎉", lang="zh")
    assert "关键词搜索没有找到" in emoji.notice and 'class="hit' not in _col(emoji, "keyword")
    assert 'class="hit' in _col(emoji, "semantic")
    unknown = _search(handlers, engine, "量子纠缠", lang="en")
    assert "none of the query's words" in html.unescape(unknown.notice)
    assert _search(handlers, engine, "巴黎", lang="en").notice == ""


def test_search_after_an_edit_is_keyword_only_until_indexed(handlers):
    engine, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    edited = KB + "\n东京是日本的首都。"
    out = _search(handlers, engine, "东京", kb=edited)
    assert text("notice_indexing", "en") in html.unescape(out.notice)
    assert _top_text(_col(out, "keyword")) == "东京是日本的首都。"
    assert 'class="hit' not in _col(out, "semantic")
    engine, _ = handlers.index(engine, edited, False, "en", progress=FakeProgress())
    assert _search(handlers, engine, "东京", kb=edited).notice == ""


def test_an_undo_says_the_index_is_updated_and_an_edit_counts_the_entries_it_embeds(handlers, encoder):
    """An undo puts back entries whose vectors the engine kept: the page said "embedding 6 entries again" for the
    moment the index took (user review); an edit's line counted every entry, not the ones it embeds."""
    model = handlers.service.status().model
    engine, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    edited = KB + "\n东京是日本的首都。\n大阪是日本的城市。"
    assert handlers.index_line(engine, edited, False, "en") == html.escape(text("kb_reembedding", "en", n=2,
                                                                                model=model))
    engine, _ = handlers.index(engine, edited, False, "en", progress=FakeProgress())
    embedded = encoder.documents_embedded
    undone = _search(handlers, engine, "巴黎", kb=KB)  # the text box holds the old text again; not yet indexed
    assert text("notice_reindexing", "en") in html.unescape(undone.notice)
    assert text("semantic_reindexing", "en", n=6) in html.unescape(_col(undone, "hybrid"))
    assert handlers.index_line(engine, KB, False, "en") == html.escape(text("kb_reindexing", "en"))
    c = CONTROLS
    answers = list(handlers.index_and_search(FakeProgress(), engine, "巴黎", KB, False, c["alpha"], c["fusion"],
                                             c["normalizer"], c["k"], c["k1"], c["b"], c["threshold"], c["window"],
                                             "en"))
    assert len(answers) == 1 and answers[0][0].has_vectors  # no "updating" answer first: nothing to wait for
    assert encoder.documents_embedded == embedded  # nothing was embedded
    assert handlers.index_line(answers[0][0], KB, False, "en") == html.escape(text("kb_indexed", "en", n=6,
                                                                                   model=model))


def test_keyword_search_works_while_the_model_loads(encoder):
    gate = threading.Event()
    service = _service(encoder, gate)
    h = DemoHandlers(service)
    status_html, state, timer, threshold = h.status_on_load("loading", "zh")
    assert state == "loading" and "正在加载向量引擎" in status_html and timer.active is True
    assert isinstance(threshold, type(gr.skip()))
    engine, info = h.index(None, KB, False, "en", progress=FakeProgress())
    assert not engine.has_vectors and info == text("kb_keyword_only", "en", n=6)
    out = _search(h, engine, "巴黎")
    assert text("notice_loading", "en") in html.unescape(out.notice)
    assert _top_text(_col(out, "keyword")) == "法国的首都是巴黎。"
    gate.set()
    service.wait(30)
    status_html, state, timer, slider = h.status_on_load("loading", "en")
    assert state == "ready" and "Vector space ready" in status_html and timer.active is False
    assert slider.value == UNCALIBRATED.threshold and "not a probability" in slider.info
    assert isinstance(h.status_on_load("ready", "en")[3], type(gr.skip()))  # set once, then the visitor's
    # the model is ready, this session's knowledge base (unchanged) not yet embedded with it: no "just changed"
    waiting = _search(h, engine, "巴黎")
    assert text("notice_embedding", "en") in html.unescape(waiting.notice)
    assert text("notice_indexing", "en") not in html.unescape(waiting.notice)
    assert text("semantic_embedding", "en", n=6) in html.unescape(_col(waiting, "hybrid"))
    assert h.index_line(engine, KB, False, "en") == html.escape(text("kb_embedding", "en", n=6, model=service.status().model))
    upgraded, info = h.index(engine, KB, False, "en", progress=FakeProgress())
    assert upgraded is not engine and upgraded.has_vectors and not engine.has_vectors
    assert _search(h, upgraded, "巴黎").notice == ""


def test_failed_model_keeps_keyword_search():
    def loader(model, device="auto", dimension=None):
        raise RuntimeError("no weights here")

    service = ModelService(cache=False, loader=loader).start()
    service.wait(30)
    h = DemoHandlers(service)
    status_html, state, _, _ = h.status_on_load("loading", "en")
    assert state == "failed" and "no weights here" in status_html
    engine, _ = h.index(None, KB, False, "en", progress=FakeProgress())
    out = _search(h, engine, "巴黎")
    assert text("notice_failed", "en") in html.unescape(out.notice) and "巴黎" in _col(out, "keyword")
    # every status element says it failed, and why; none promises an embedding
    assert "no weights here" in html.unescape(_col(out, "hybrid")) and "no weights here" in html.unescape(
        h.index_line(engine, KB, False, "en"))


def test_each_session_engine_is_its_own(handlers):
    a, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    b, _ = handlers.index(None, "东京是日本的首都。", False, "en", progress=FakeProgress())
    a2, _ = handlers.index(a, KB + "\n新的一行。", False, "en", progress=FakeProgress())
    assert a2 is a and [d.text for d in b.documents] == ["东京是日本的首都。"]


def test_a_search_over_a_knowledge_base_with_an_overlong_entry_says_why_nothing_was_searched(handlers):
    """Found by the sixth user review: one entry over the limit keeps the whole knowledge base from being indexed,
    and after a search the columns still asked the visitor to search."""
    import html

    kb = "短条目一。\n" + "长" * 10_000 + "\n短条目二。"
    for lang, said, columns in (("en", "Entry 2 has 10,000 characters", "Nothing was searched"),
                                ("zh", "整个知识库未建立索引", "这次没有搜索")):
        out = _search(handlers, None, "短条目", kb, lang=lang)
        assert said in html.unescape(out.notice), out.notice
        assert all(columns in html.unescape(column) for column in out.columns), out.columns[0][:300]
    ok = _search(handlers, None, "短条目", "短条目一。\n短条目二。")
    assert "Nothing was searched" not in html.unescape(_col(ok, "keyword"))
    # the seventh review: a text far past the limit was "empty" to a search, and an empty one asked for a search
    overlong = _search(handlers, None, "短条目", "短\n" * 500_000)
    assert "up to 500,001 entries" in html.unescape(overlong.notice), overlong.notice
    assert "Nothing was searched" in html.unescape(_col(overlong, "keyword"))
    empty = _search(handlers, None, "短条目", "  \n ")
    assert "Nothing was searched" in html.unescape(_col(empty, "keyword")), _col(empty, "keyword")[:300]
    assert "Nothing was searched" not in html.unescape(_col(_search(handlers, None, "  ", "短"), "keyword"))


def test_search_if_query_skips_without_a_query(handlers):
    skipped = handlers.search_if_query(None, "", KB, False, *CONTROLS.values(), "en")
    assert len(skipped) == SearchOutputs.size()
    assert all(isinstance(v, type(gr.skip())) for v in skipped)


# ---------------------------------------------------------------- build_demo and main


def test_build_demo_wires_state_and_concurrency_groups(encoder):
    service = _service(encoder)
    blocks = demo.build_demo(service, kb_text="苹果\n香蕉", lang="en")
    assert isinstance(blocks, gr.Blocks)
    fns = {fn.name: fn for fn in blocks.fns.values()}
    index = fns["index_and_search"]
    assert index.concurrency_id == "embed" and index.concurrency_limit == wiring.EMBED_CONCURRENCY
    assert fns["on_search"].concurrency_id == "search"
    assert fns["on_search"].concurrency_limit == wiring.SEARCH_CONCURRENCY
    assert index.concurrency_id != fns["on_search"].concurrency_id
    kb_box = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "kb")
    assert kb_box.value == "苹果\n香蕉"
    states = [b for b in blocks.blocks.values() if isinstance(b, gr.State)]
    assert any(s.value is None for s in states)  # per-session engine slot, empty until the first index


def test_one_public_endpoint_and_every_other_event_private(encoder):
    blocks = demo.build_demo(_service(encoder), lang="en")
    public = [fn for fn in blocks.fns.values() if fn.api_visibility != "private"]
    assert [(fn.api_name, fn.api_visibility) for fn in public] == [("search", "public")]
    info = blocks.get_api_info()
    assert list(info["named_endpoints"]) == ["/search"]
    params = [p["parameter_name"] for p in info["named_endpoints"]["/search"]["parameters"]]
    assert params == ["query", "knowledge_base", "k", "alpha", "fusion", "mode", "rerank"]


def test_language_switch_relabels_every_translated_component(encoder):
    tr_components = []
    blocks = demo.build_demo(_service(encoder), lang="zh")
    relabel = next(fn for fn in blocks.fns.values() if fn.name == "relabel")
    tr_components = relabel.outputs
    translator = relabel.fn.__self__
    assert len(tr_components) == len(translator.components) > 30
    english = translator.relabel("en")
    labels = {c.elem_id: u for c, u in zip(translator.components, english) if getattr(c, "elem_id", None)}
    assert labels["search-button"]["value"] == "Search" and labels["kb"]["label"] == TEXTS["en"]["kb_label"]
    assert labels["eval-run"]["value"] == "Run evaluation" and labels["tab-evaluate"]["label"] == "Evaluate"
    assert labels["sample"]["choices"][0] == ("Everyday facts", "everyday")
    chinese_values = {str(v) for u in translator.relabel("zh") for v in u.values()}
    english_values = {str(v) for u in english for v in u.values()}
    assert not chinese_values & english_values - {"update", "BM25 k1", "BM25 b"}


def test_share_link_carries_query_sample_and_settings(handlers):
    button, note = handlers.share_link("http://host:7860/?old=1#x", "喵星人", "everyday", sample_text("everyday"),
                                       False, 0.45, "rrf", "zscore", 3, 1.5, 0.5, 0.7, 50, "en")
    link = button.value
    assert link.startswith("http://host:7860/?q=%E5%96%B5") and "?old=" not in link and "#" not in link
    assert "sample=everyday" in link and "alpha=0.45" in link and "fusion=rrf" in link and "lang=en" in link
    assert "window=50" in link
    assert note == ""
    _, note = handlers.share_link("http://host/", "q", "everyday", "我自己的知识", False, 0.3, "adaptive",
                                  "minmax", 5, 1.2, 0.75, 0.5, 100, "zh")
    assert "不包含你自己输入或上传的知识库" in note

    # a language switch hides a link made in the other language, and keeps one made after the switch
    box, shown_note = handlers.hide_link(link, "zh")
    assert box.visible is False and shown_note == ""
    assert handlers.hide_link(link, "en") == (gr.skip(), gr.skip())
    assert handlers.hide_link("", "en")[0].visible is False
    assert handlers.hide_link("http://host/?q=x&lang=fr", "en")[0].visible is False
    assert handlers.hide_link("http://[::1/?lang=en", "en")[0].visible is False  # not a URL: hidden, no error

    class Request:
        query_params = {"q": "喵星人", "sample": "tech_faq", "alpha": "0.45", "fusion": "nope", "k": "99",
                        "lang": "en", "split": "1", "window": "50"}

    restored = dict(zip(handlers_module.RESTORED, handlers.restore(None, Request())))
    assert restored["query"] == "喵星人" and restored["alpha"] == 0.45 and restored["language"] == "en"
    assert restored["window"] == 50
    assert restored["kb"] == sample_text("tech_faq") and restored["sample"] == "tech_faq"
    assert restored["examples"]["samples"][0] == [example_queries("tech_faq")[0]] and restored["split"] is True
    assert isinstance(restored["fusion"], type(gr.skip())) and isinstance(restored["k"], type(gr.skip()))
    assert all(isinstance(restored[n], type(gr.skip())) for n in ("engine", "tok_mode", "tok_fold"))


def test_share_link_carries_the_tokeniser_and_says_a_dictionary_stays_behind(handlers, tmp_path):
    """The tokeniser panel's mode and folding travel in the link (a user dictionary cannot: both sides are told);
    opening it gives the session a first, empty engine with that tokeniser, which the page's first index fills."""
    from hybrid.tokenize import Tokenizer

    (tmp_path / "words.txt").write_text("電腦開機\n", encoding="utf-8")
    own = handlers.service.new_engine(["电脑"], tokenizer=Tokenizer("precise", user_dict=tmp_path / "words.txt",
                                                                    fold=False))
    button, note = handlers.share_link("http://host/", "電腦", "everyday", sample_text("everyday"), False, 0.7,
                                       "adaptive", "minmax", 5, 1.2, 0.75, 0.5, 100, "en", "precise", False, own)
    assert "tok=precise" in button.value and "fold=0" in button.value and "dict=1" in button.value
    assert "words.txt" not in button.value
    assert note == fmt.notice_html(text("share_own_dict", "en", which=text("dict_jieba", "en")))
    # the panel may still hold a dictionary it refused: the link says what the engine uses (the server's here)
    for engine in (handlers.service.new_engine(["电脑"]), None):
        plain, note = handlers.share_link("http://host/", "q", "everyday", sample_text("everyday"), False, 0.7,
                                          "adaptive", "minmax", 5, 1.2, 0.75, 0.5, 100, "en", "search", True, engine)
        assert "tok=search" in plain.value and "fold=1" in plain.value and "dict" not in plain.value and note == ""

    class Request:
        query_params = {"q": "電腦", "sample": "everyday", "tok": "precise", "fold": "0", "dict": "1", "lang": "en"}

    restored = dict(zip(handlers_module.RESTORED, handlers.restore(None, Request())))
    engine = restored["engine"]
    assert isinstance(engine, HybridEngine) and len(engine) == 0
    assert (engine.tokenizer.mode, engine.tokenizer.fold) == ("precise", False)
    assert (restored["tok_mode"], restored["tok_fold"]) == ("precise", False)
    assert text("share_opened_own_dict", "en", which=text("dict_jieba", "en")) in html.unescape(restored["share_note"])
    # the empty engine is the page's first: the index line says "embedding", not "the knowledge base changed"
    assert handlers.page_state(engine, handlers.entries(sample_text("everyday"), False)) == "embedding"
    indexed, _ = handlers.index(engine, sample_text("everyday"), False, "en", progress=FakeProgress())
    assert indexed.tokenizer.signature == engine.tokenizer.signature and len(indexed) > 0
    assert indexed.tokenizer.tokenize("電腦") == ["電腦"]  # not folded

    Request.query_params = {"q": "x", "tok": "search", "fold": "1"}  # the server's own: no engine made
    restored = dict(zip(handlers_module.RESTORED, handlers.restore(None, Request())))
    assert isinstance(restored["engine"], type(gr.skip())) and restored["tok_mode"] == "search"
    Request.query_params = {"q": "x", "tok": "nope", "fold": "maybe"}  # nonsense is ignored
    restored = dict(zip(handlers_module.RESTORED, handlers.restore(None, Request())))
    assert all(isinstance(restored[n], type(gr.skip())) for n in ("engine", "tok_mode", "tok_fold"))


def test_parse_auth():
    assert demo.parse_auth("admin:s3:cret") == ("admin", "s3:cret")
    assert demo.parse_auth(None) is None
    for bad in ("admin", ":pw", "admin:"):
        with pytest.raises(argparse.ArgumentTypeError):
            demo.parse_auth(bad)


def test_command_line_options():
    args = demo.build_parser().parse_args(["--host", "0.0.0.0", "--port", "8000", "--share", "--model", "qwen3-4b",
                                           "--device", "cpu", "--kb", "kb.txt", "--auth", "u:p", "--no-ui",
                                           "--document-prompt", "passage"])
    assert (args.host, args.port, args.share, args.model, args.device, args.kb, args.auth, args.no_ui,
            args.document_prompt) == ("0.0.0.0", 8000, True, "qwen3-4b", "cpu", "kb.txt", ("u", "p"), True, "passage")
    defaults = demo.build_parser().parse_args([])
    assert (defaults.host, defaults.port, defaults.kb, defaults.document_prompt) == ("127.0.0.1", 7860, None, None)
    from hybrid.config import config_from_args

    assert config_from_args(defaults).model == "auto"  # no --model: the --config file's, else auto


def test_service_hands_a_chosen_document_prompt_to_the_loader(encoder):
    calls = []

    def loader(model, **options):
        calls.append(options)
        return LoadedEmbedder(encoder, model)

    ModelService(cache=False, loader=loader, document_prompt="passage").start().wait(30)
    ModelService(cache=False, loader=loader).start().wait(30)
    assert calls[0]["document_prompt"] == "passage"
    assert "document_prompt" not in calls[1]  # the loader's own default applies


def test_main_rejects_a_bad_knowledge_base_or_device_before_serving(tmp_path, capsys):
    assert demo.main(["--kb", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt" in capsys.readouterr().err
    (tmp_path / "kb.pdf").write_bytes(b"%PDF")
    assert demo.main(["--kb", str(tmp_path / "kb.pdf")]) == 2
    assert "unsupported file type" in capsys.readouterr().err
    assert demo.main(["--device", "tpu"]) == 2
    assert "Unknown device 'tpu'" in capsys.readouterr().err
    (tmp_path / "blank.txt").write_text("\n  \n", encoding="utf-8")
    assert demo.main(["--kb", str(tmp_path / "blank.txt")]) == 2
    assert "holds no entries" in capsys.readouterr().err
    assert demo.main(["--mcp", "--no-ui"]) == 2
    assert "--mcp serves the page's search endpoint" in capsys.readouterr().err
    (tmp_path / "weights.json").write_text("{}", encoding="utf-8")
    assert demo.main(["--weight-model", str(tmp_path / "weights.json")]) == 2
    assert "format None" in capsys.readouterr().err
    assert demo.main(["--weight-model", ""]) == 2  # an unset variable is not the packaged model
    assert "--weight-model is empty" in capsys.readouterr().err
    assert demo.build_parser().parse_args(["--mcp"]).mcp is True


def test_the_pages_export_names_the_model_auto_loaded_here_not_every_model_auto_could_be(tmp_path):
    """The search tab's export of a server on "auto": its notes name the model loaded, by its folder's last part."""
    import json
    from pathlib import Path

    from webui.export import loaded_model, page_config, write_setting

    service = _service(OneHotEncoder(name="/srv/models/my-e5"))
    config = page_config(service, None, **{key: CONTROLS[key] for key in ("alpha", "fusion", "normalizer", "k", "k1",
                                                                             "b", "window")})
    assert config.model == "auto" and loaded_model(service) == "my-e5"
    files = write_setting(config, used_model=loaded_model(service))
    assert len(files) == 1  # no dictionary uploaded: the setting alone
    exported = json.loads(Path(files[0]).read_text(encoding="utf-8"))
    notes = json.dumps(exported["exports"], ensure_ascii=False)
    assert '(my-e5, the one \\"auto\\" loaded here)' in notes and "/srv" not in notes
    assert "on a CUDA GPU" not in notes
    gate = threading.Event()
    loading = _service(OneHotEncoder(), gate=gate)  # still loading: the note says what auto picks where
    assert loaded_model(loading) is None
    gate.set()


def test_the_pages_export_pins_a_portable_model_and_names_the_weight_model_it_does_not_carry(tmp_path):
    """Fresh-eyes review: a setting tuned on the packaged e5 was exported as model "auto", which is Qwen3-4B on a
    GPU; and an export of fusion "learned" on a server with its own weight model said nothing of that file."""
    import json
    from pathlib import Path

    from hybrid import weight_model as wm
    from webui.export import loaded_model, page_config, write_setting

    controls = {key: CONTROLS[key] for key in ("alpha", "fusion", "normalizer", "k", "k1", "b", "window")}
    for name in ("multilingual-e5-small", "Qwen/Qwen3-Embedding-4B"):
        service = _service(OneHotEncoder(name=name))
        assert page_config(service, None, **controls).model == name
    service = _service(OneHotEncoder(name="multilingual-e5-small"))
    own = wm.WeightModel.load(wm.PACKAGED).save(tmp_path / "mine.json")
    wm.use(own)
    try:
        config = page_config(service, None, **{**controls, "fusion": "learned"})
        exported = json.loads(Path(write_setting(config, used_model=loaded_model(service))[0]).read_text("utf-8"))
        assert all("give it with --weight-model mine.json" in " ".join(e["notes"])
                   for e in exported["exports"].values())
        assert str(tmp_path) not in json.dumps(exported)
        config = page_config(service, None, **controls)  # another fusion: no such note
        exported = json.loads(Path(write_setting(config, used_model=loaded_model(service))[0]).read_text("utf-8"))
        assert "--weight-model" not in json.dumps(exported)
    finally:
        wm.use(None)
    config = page_config(service, None, **{**controls, "fusion": "learned"})  # the packaged model: nothing to carry
    exported = json.loads(Path(write_setting(config, used_model=loaded_model(service))[0]).read_text("utf-8"))
    assert "--weight-model" not in json.dumps(exported)


def test_a_port_out_of_range_is_refused_before_the_model_loads(capsys):
    for bad in ("-1", "99999", "http"):
        with pytest.raises(SystemExit) as exit_:
            demo.build_parser().parse_args(["--port", bad])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert "--port" in err and ("must be 0 to 65535" in err or "expected a whole number" in err), err
    assert demo.build_parser().parse_args(["--port", "0"]).port == 0


def test_a_links_tokeniser_that_cannot_be_made_leaves_the_rest_of_the_link(encoder, tmp_path, caplog):
    """The server's dictionary gone while it runs: a link asking for another mode restores its query and says why
    in the log, instead of failing the whole restore."""
    from hybrid.tokenize import Tokenizer

    words = tmp_path / "server-words.txt"
    words.write_text("電腦開機\n", encoding="utf-8")
    service = ModelService(cache=False, loader=lambda model, device="auto", dimension=None:
                           LoadedEmbedder(encoder, model), tokenizer=Tokenizer(user_dict=words)).start()
    service.wait(30)
    handlers = DemoHandlers(service)
    words.unlink()

    class Request:
        query_params = {"q": "電腦", "tok": "precise", "fold": "0"}

    restored = dict(zip(handlers_module.RESTORED, handlers.restore(None, Request())))
    assert restored["query"] == "電腦"
    assert all(isinstance(restored[n], type(gr.skip())) for n in ("engine", "tok_mode", "tok_fold"))
    assert "a shared link's tokeniser could not be made" in caplog.text


def test_a_judgements_file_holds_one_copy_of_a_text_judged_for_many_queries(encoder, tmp_path):
    """Third review: a text judged for every query of the zip was copied once per query when read (6,000 queries of
    one 8,000-character text: a 41 KB zip held 199 MB)."""
    from hybrid import judgements as judging

    h = DemoHandlers(_service(encoder), upload_root=tmp_path)
    text = "第一行\n" + "长" * 8000
    judged = {f"问题{i}": {text: 1} for i in range(300)}
    (tmp_path / "j.zip").write_bytes(judging.to_zip(judged, [text]))
    merged = h.load_judgements(str(tmp_path / "j.zip"), None, "", False, "zh")[0]
    assert len(merged) == 300
    assert len({id(t) for grades in merged.values() for t in grades}) == 1  # one string, shared
