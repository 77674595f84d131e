"""The demo's handlers called directly (fake encoder), build_demo and the command line of demo.py."""

from __future__ import annotations

import argparse
import html
import threading

import gradio as gr
import pytest

import demo
from hybrid.semantic import LoadedEmbedder
from hybrid.service import ModelService
from tests.fakes import OneHotEncoder
from webui.handlers import DemoHandlers, SearchOutputs
from webui.i18n import text
from webui.samples import sample_text
from webui.thresholds import DEFAULT_THRESHOLD

KB = "\n".join(["苹果是一种很好吃的水果。", "法国的首都是巴黎。", "机器学习模型可以理解文本语义。",
                "明天可能会下雨，出门记得带伞。", "香蕉富含钾元素，适合运动后补充能量。", "北京是中国的首都。"])
CONTROLS = dict(alpha=0.6, fusion="weighted", normalizer="minmax", k=3, k1=1.2, b=0.75, threshold=0.5)


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
                    values["k1"], values["b"], values["threshold"], lang)


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
    assert handlers.count(long_line, False, "en") == text("kb_count", "en", n=1)
    assert handlers.count(long_line, True, "en") == text("kb_count", "en", n=15)
    engine, _ = handlers.index(None, long_line, True, "en", progress=FakeProgress())
    assert len(engine) == 15


def test_empty_and_oversized_knowledge_bases_give_messages(encoder):
    h = DemoHandlers(_service(encoder), max_entries=5)
    assert h.count("  \n\n", False, "en") == text("kb_empty", "en")
    engine, info = h.index(None, "", False, "en", progress=FakeProgress())
    assert engine is None and info == ""
    assert "6 entries" in h.count(KB, False, "en") and "limit of 5" in h.count(KB, False, "en")
    engine, info = h.index(None, KB, False, "en", progress=FakeProgress())
    assert engine is None and info == ""
    assert encoder.documents_embedded == 0
    out = _search(h, None, "苹果", kb=KB)
    assert "limit of 5" in out.notice and 'class="hit' not in out.keyword


def test_a_100k_line_paste_is_refused_with_a_message(handlers, encoder):
    paste = "\n".join(f"第 {i} 条知识" for i in range(100_000))
    info = handlers.count(paste, False, "zh")
    assert "100,000" in info and "20,000" in info
    engine, info = handlers.index(None, paste, False, "zh", progress=FakeProgress())
    assert engine is None and info == "" and encoder.documents_embedded == 0


def test_upload_utf8_gbk_csv_jsonl(encoder, tmp_path):
    handlers = DemoHandlers(_service(encoder), upload_root=tmp_path)
    (tmp_path / "kb.txt").write_text("苹果\n\n香蕉\n", encoding="utf-8")
    (tmp_path / "gbk.txt").write_bytes("中文编码测试\n第二行".encode("gbk"))
    (tmp_path / "kb.csv").write_text("id,text\n1,苹果很甜\n2,香蕉很软\n", encoding="utf-8")
    (tmp_path / "kb.jsonl").write_text('{"text": "巴黎"}\n{"text": "东京"}\n', encoding="utf-8")
    assert handlers.upload(str(tmp_path / "kb.txt"), "en")[0] == "苹果\n香蕉"
    assert handlers.upload(str(tmp_path / "gbk.txt"), "en")[0] == "中文编码测试\n第二行"
    value, message, box = handlers.upload(str(tmp_path / "kb.csv"), "en")
    assert value == "苹果很甜\n香蕉很软" and "Read 2 entries from kb.csv" in message and box is None
    assert handlers.upload(str(tmp_path / "kb.jsonl"), "en")[0] == "巴黎\n东京"


def test_bad_uploads_keep_the_text_box_and_say_why(encoder, tmp_path):
    h = DemoHandlers(_service(encoder), max_upload_bytes=100, upload_root=tmp_path)
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\xfa\xfb\x80\x81" * 3)
    (tmp_path / "kb.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "big.txt").write_text("长" * 200, encoding="utf-8")
    (tmp_path / "blank.txt").write_text("\n \n", encoding="utf-8")
    for name, expected in (("bad.txt", "UTF-8"), ("kb.pdf", ".pdf"), ("big.txt", "limit"), ("blank.txt", "no usable")):
        value, message, box = h.upload(str(tmp_path / name), "en")
        assert isinstance(value, type(gr.skip())), name  # the text box keeps what the user typed
        assert expected in html.unescape(message) and 'class="notice error"' in message, name
        assert box is None  # the upload box is emptied for the next try


def test_upload_reads_only_files_inside_the_upload_folder(encoder, tmp_path):
    uploads, elsewhere = tmp_path / "uploads", tmp_path / "home"
    (uploads / "abc").mkdir(parents=True)
    elsewhere.mkdir()
    (uploads / "abc" / "kb.txt").write_text("上传的知识\n", encoding="utf-8")
    (elsewhere / "secret.txt").write_text("服务器上的秘密\n", encoding="utf-8")
    (uploads / "abc" / "link.txt").symlink_to(elsewhere / "secret.txt")
    (uploads / "abc" / "dir-link").symlink_to(elsewhere, target_is_directory=True)
    h = DemoHandlers(_service(encoder), upload_root=uploads)
    assert h.upload(str(uploads / "abc" / "kb.txt"), "en")[0] == "上传的知识"
    refused = [str(elsewhere / "secret.txt"),                       # any path on the server
               f"{uploads}/abc/../../home/secret.txt",              # starts in the folder, climbs out
               str(uploads / "abc" / "link.txt"),                   # a link pointing out
               str(uploads / "abc" / "dir-link" / "secret.txt"),    # through a linked folder
               str(uploads), str(uploads / "abc"),                 # folders
               str(uploads / "abc" / "missing.txt"), "kb.txt", "/etc/hostname", "a\x00b"]
    for path in refused:
        value, message, box = h.upload(path, "en")
        assert isinstance(value, type(gr.skip())), path
        assert "was not uploaded here" in html.unescape(message) and "秘密" not in message, path
        assert box is None
    assert "只能读取通过本页面上传的文件" in h.upload(str(elsewhere / "secret.txt"), "zh")[1]


def test_sample_picker_and_examples(handlers):
    kb, dataset = handlers.pick_sample("tech_faq")
    assert kb == sample_text("tech_faq")
    assert dataset.samples[0] == ["如何给表格排序"]
    assert handlers.pick_example(1, "tech_faq") == "显存不够怎么办"
    assert isinstance(handlers.pick_example(99, "tech_faq"), type(gr.skip()))


# ---------------------------------------------------------------- search


def test_search_fills_three_columns_and_panels(handlers):
    engine, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    out = _search(handlers, engine, "我饿了想吃东西", k=2)
    assert out.notice == ""
    assert 'class="hit' not in out.keyword  # BM25 matches none of these words ...
    assert _top_text(out.semantic) == "苹果是一种很好吃的水果。"  # ... the (fake) semantic model does
    assert _top_text(out.hybrid) == "苹果是一种很好吃的水果。"
    assert "kw new" in out.hybrid
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
    assert _top_text(keyword_only.hybrid) == _top_text(keyword_only.keyword)
    assert _top_text(semantic_only.hybrid) == _top_text(semantic_only.semantic)
    assert first.hybrid != keyword_only.hybrid


def test_threshold_paints_hits(handlers):
    engine, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    low = _search(handlers, engine, "苹果", threshold=0.0)
    high = _search(handlers, engine, "苹果", threshold=1.0)
    assert 'class="hit relevant"' in low.semantic and 'class="hit relevant"' not in high.semantic


def test_bad_queries_and_knowledge_bases_give_messages_not_traces(handlers):
    engine, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    assert text("notice_empty_query", "en") in _search(handlers, engine, "   ").notice
    assert text("notice_empty_query", "en") in _search(handlers, engine, None).notice
    assert html.escape(text("notice_empty_kb", "en")) in _search(handlers, engine, "苹果", kb="\n\n").notice
    bad = _search(handlers, engine, "苹果", fusion="nope")
    assert "unknown fusion method 'nope'" in html.unescape(bad.notice) and "weighted" in bad.notice


def test_search_after_an_edit_is_keyword_only_until_indexed(handlers):
    engine, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    edited = KB + "\n东京是日本的首都。"
    out = _search(handlers, engine, "东京", kb=edited)
    assert text("notice_indexing", "en") in html.unescape(out.notice)
    assert _top_text(out.keyword) == "东京是日本的首都。"
    assert 'class="hit' not in out.semantic
    engine, _ = handlers.index(engine, edited, False, "en", progress=FakeProgress())
    assert _search(handlers, engine, "东京", kb=edited).notice == ""


def test_keyword_search_works_while_the_model_loads(encoder):
    gate = threading.Event()
    service = _service(encoder, gate)
    h = DemoHandlers(service)
    status_html, state, timer = h.status("zh")
    assert state == "loading" and "正在加载向量引擎" in status_html and timer.active is True
    assert isinstance(h.threshold("zh"), type(gr.skip()))
    engine, info = h.index(None, KB, False, "en", progress=FakeProgress())
    assert not engine.has_vectors and info == text("kb_keyword_only", "en", n=6)
    out = _search(h, engine, "巴黎")
    assert text("notice_loading", "en") in html.unescape(out.notice)
    assert _top_text(out.keyword) == "法国的首都是巴黎。"
    gate.set()
    service.wait(30)
    status_html, state, timer = h.status("zh")
    assert state == "ready" and "向量空间已展开" in status_html and timer.active is False
    slider = h.threshold("en")
    assert slider.value == DEFAULT_THRESHOLD and "fake-onehot" in slider.info
    upgraded, info = h.index(engine, KB, False, "en", progress=FakeProgress())
    assert upgraded is not engine and upgraded.has_vectors and not engine.has_vectors
    assert _search(h, upgraded, "巴黎").notice == ""


def test_failed_model_keeps_keyword_search():
    def loader(model, device="auto", dimension=None):
        raise RuntimeError("no weights here")

    service = ModelService(cache=False, loader=loader).start()
    service.wait(30)
    h = DemoHandlers(service)
    status_html, state, _ = h.status("en")
    assert state == "failed" and "no weights here" in status_html
    engine, _ = h.index(None, KB, False, "en", progress=FakeProgress())
    out = _search(h, engine, "巴黎")
    assert text("notice_failed", "en") in html.unescape(out.notice) and "巴黎" in out.keyword


def test_each_session_engine_is_its_own(handlers):
    a, _ = handlers.index(None, KB, False, "en", progress=FakeProgress())
    b, _ = handlers.index(None, "东京是日本的首都。", False, "en", progress=FakeProgress())
    a2, _ = handlers.index(a, KB + "\n新的一行。", False, "en", progress=FakeProgress())
    assert a2 is a and [d.text for d in b.documents] == ["东京是日本的首都。"]


def test_search_if_query_skips_without_a_query(handlers):
    skipped = handlers.search_if_query(None, "", KB, False, *CONTROLS.values(), "en")
    assert len(skipped) == len(SearchOutputs._fields)
    assert all(isinstance(v, type(gr.skip())) for v in skipped)


# ---------------------------------------------------------------- build_demo and main


def test_build_demo_wires_state_and_concurrency_groups(encoder):
    service = _service(encoder)
    blocks = demo.build_demo(service, kb_text="苹果\n香蕉", lang="en")
    assert isinstance(blocks, gr.Blocks)
    fns = {fn.name: fn for fn in blocks.fns.values()}
    assert fns["index"].concurrency_id == "embed" and fns["index"].concurrency_limit == demo.EMBED_CONCURRENCY
    assert fns["search"].concurrency_id == "search" and fns["search"].concurrency_limit == demo.SEARCH_CONCURRENCY
    assert fns["index"].concurrency_id != fns["search"].concurrency_id
    kb_box = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "kb")
    assert kb_box.value == "苹果\n香蕉"
    states = [b for b in blocks.blocks.values() if isinstance(b, gr.State)]
    assert any(s.value is None for s in states)  # per-session engine slot, empty until the first index


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
    assert (defaults.host, defaults.port, defaults.model, defaults.kb, defaults.document_prompt) == \
        ("127.0.0.1", 7860, "auto", None, None)


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
