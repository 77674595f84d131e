"""The demo and reranking: the --reranker option and the service that loads it."""

from __future__ import annotations

import demo
from hybrid.rerank import LoadedReranker
from hybrid.semantic import LoadedEmbedder
from hybrid.service import ModelService
from tests.fakes import OneHotEncoder, WordReranker


def test_reranker_option_defaults_to_auto_and_reaches_the_loader():
    assert demo.build_parser().parse_args([]).reranker == "auto"
    assert demo.build_parser().parse_args(["--reranker", "qwen3-0.6b"]).reranker == "qwen3-0.6b"
    calls = []

    def load_reranker(model, **options):
        calls.append((model, options))
        return LoadedReranker(WordReranker(["x"]), model)

    service = ModelService(cache=False, loader=lambda model, **_: LoadedEmbedder(OneHotEncoder(), model),
                           device="cpu", reranker="qwen3-0.6b", reranker_loader=load_reranker).start()
    assert service.wait_reranker(30) is not None
    assert calls == [("qwen3-0.6b", {"device": "cpu"})]
    assert service.new_engine(["a", "b"]).reranker is service.reranker
    none = ModelService(cache=False, loader=lambda model, **_: LoadedEmbedder(OneHotEncoder(), model),
                        reranker_loader=load_reranker).start()
    assert none.wait_reranker(30) is None and len(calls) == 1  # "none" (the service default) loads nothing
    assert none.reranker_status().state == "off"


def test_auto_without_a_gpu_is_settled_before_the_page_is_built(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    gate_never_opens = []

    def slow_embedder(model, **_):
        gate_never_opens.append(model)
        import time

        time.sleep(30)

    service = ModelService(cache=False, loader=slow_embedder, reranker="auto")  # not even started
    status = service.reranker_status()
    assert status.state == "off" and "no CUDA GPU" in status.reason and "--reranker qwen3-0.6b" in status.reason
    assert service.reranker is None and gate_never_opens == []  # the embedding model was not needed for it


# ---------------------------------------------------------------- the fourth column: handlers and build_demo

import html as html_module  # noqa: E402
import threading  # noqa: E402

import gradio as gr  # noqa: E402
import pytest  # noqa: E402

from webui import format as fmt  # noqa: E402
from webui.calibration import UNCALIBRATED  # noqa: E402
from webui.handlers import DemoHandlers, SearchOutputs  # noqa: E402
from webui.i18n import text  # noqa: E402

KB = "\n".join(["苹果是一种很好吃的水果。", "香蕉是黄色的水果。", "我想吃苹果和香蕉。", "水果店今天打折，苹果便宜。",
                "法国的首都是巴黎。", "明天可能会下雨，出门记得带伞。"])
CONTROLS = dict(alpha=0.5, fusion="weighted", normalizer="minmax", k=3, k1=1.2, b=0.75, threshold=0.5, window=100)


def _service(reranker: str = "fake", gate: threading.Event | None = None, error: Exception | None = None):
    def load_reranker(model, **_):
        if gate is not None:
            gate.wait(30)
        if error is not None:
            raise error
        return LoadedReranker(WordReranker(["香蕉", "黄色"], name="org/fake-reranker"), model)

    service = ModelService(cache=False, loader=lambda model, **_: LoadedEmbedder(OneHotEncoder(), model),
                           reranker=reranker, reranker_loader=load_reranker).start()
    service.wait(30)
    if gate is None:
        service.wait_reranker(30)  # loaded, or failed
    return service


def _search(h: DemoHandlers, query: str = "苹果", lang: str = "zh", rerank_n: int | None = 5, **controls):
    engine, _ = h.index(None, KB, False, lang, progress=lambda *a, **k: None)
    values = {**CONTROLS, **controls}
    return h.search(engine, query, KB, False, *values.values(), lang, rerank_n)


def _cards(column_html: str) -> list[str]:
    """The texts of a column's hit cards, best first."""
    out, at = [], 0
    while (start := column_html.find('<div class="hit-text">', at)) != -1:
        start += len('<div class="hit-text">')
        end = column_html.index("</div>", start)
        out.append(html_module.unescape(column_html[start:end].replace("<mark>", "").replace("</mark>", "")))
        at = end
    return out


def test_with_a_reranker_the_fourth_column_shows_the_reranked_hits_and_their_movement():
    h = DemoHandlers(_service())
    assert [c.name for c in h.columns] == ["keyword", "semantic", "hybrid", "reranked"]
    out = _search(h)
    assert len(out.values()) == SearchOutputs.size(4)
    reranked, hybrid = out.columns[3], out.columns[2]
    assert "精排 (fake-reranker, 前 5 条)" in reranked  # the last part of the model's name
    top = _cards(reranked)
    assert "香蕉" in top[0] and top[0] != _cards(hybrid)[0]  # the reranker's favourite, lifted above hybrid
    assert 'class="move up"' in reranked and "混合 ↑" in reranked
    assert text("bar_note_rerank", "zh") in reranked
    assert "精排" in out.timings[out.timings.columns[0]].tolist()


def test_the_top_n_control_sets_how_many_hybrid_hits_are_reranked():
    service = _service()
    h = DemoHandlers(service)
    _search(h, rerank_n=2, k=3)
    assert len(service.reranker.calls[-1][1]) == 2
    out = _search(h, rerank_n=2, k=3)
    assert len(_cards(out.columns[3])) == 2 and "前 2 条" in out.columns[3]
    _search(h, rerank_n=None)
    assert len(service.reranker.calls[-1][1]) == min(20, len(KB.splitlines()))  # the engine default


def test_without_a_reranker_there_are_three_columns_and_a_hint():
    h = DemoHandlers(_service(reranker="none"))
    assert [c.name for c in h.columns] == ["keyword", "semantic", "hybrid"]
    out = _search(h, rerank_n=None)
    assert len(out.columns) == 3 and len(out.values()) == SearchOutputs.size()
    blocks = demo.build_demo(h.service, lang="zh")
    by_id = {getattr(b, "elem_id", None): b for b in blocks.blocks.values()}
    assert "col-reranked" not in by_id and "rerank-n" not in by_id
    assert "--reranker qwen3-0.6b" in by_id["rerank-hint"].value and "精排" in by_id["rerank-hint"].value


def test_build_demo_with_a_reranker_has_the_column_the_slider_and_no_hint():
    service = _service()
    blocks = demo.build_demo(service, lang="en")
    by_id = {getattr(b, "elem_id", None): b for b in blocks.blocks.values()}
    assert "col-reranked" in by_id and "rerank-hint" not in by_id
    assert by_id["rerank-n"].value == 20 and by_id["rerank-n"].maximum == 50
    picker = by_id["column-picker"]
    assert ("Reranked", "reranked") in picker.choices
    fns = {fn.name: fn for fn in blocks.fns.values()}
    assert fns["rerank_on_tick"].api_visibility == "private"
    search_inputs = [getattr(b, "elem_id", None) for b in fns["on_search"].inputs]
    assert search_inputs[-2] == "rerank-n"  # then the judgements (a State)


def test_while_the_reranker_loads_the_column_says_so_and_a_failure_says_why():
    gate = threading.Event()
    service = _service(gate=gate)
    h = DemoHandlers(service)
    try:
        assert [c.name for c in h.columns][-1] == "reranked"
        state, timer = h.rerank_on_tick(None)
        assert state == "loading" and timer.active
        out = _search(h)
        assert "精排模型加载中" in out.columns[3] and not _cards(out.columns[3])
        assert _cards(out.columns[2])  # hybrid does not wait
    finally:
        gate.set()
    service.wait_reranker(30)
    state, timer = h.rerank_on_tick("loading")
    assert state == "ready" and not timer.active
    assert _cards(_search(h).columns[3])

    failed = DemoHandlers(_service(error=RuntimeError("no weights in /models/x")))
    out = _search(failed)
    # The reason, naming the folder without where it lives on the server.
    assert "精排模型加载失败" in out.columns[3] and "no weights in x" in out.columns[3]
    assert "/models/" not in out.columns[3]


def test_keyword_only_searches_leave_the_reranked_column_waiting():
    service = _service()
    h = DemoHandlers(service)
    # An engine that does not hold the typed text: the handler searches keyword-only meanwhile.
    values = {**CONTROLS}
    out = h.search(None, "苹果", KB, False, *values.values(), "en", 5)
    assert text("rerank_waiting", "en") in out.columns[3]


@pytest.mark.parametrize("score, width", [(0.25, 25.0), (1.0, 100.0), (0.0, 0.0)])
def test_reranked_bars_are_the_rerankers_probability(score, width):
    from hybrid.results import Hit

    hit = Hit(rank=1, id="1", text="x", score=score, rerank_score=score, hybrid_rank=3)
    assert fmt.bar_percent(hit, "reranked", UNCALIBRATED, top_score=0.5) == width
    card = fmt.hit_card(hit, "reranked", UNCALIBRATED, 0.5, lang="en")
    assert "hyb ↑2" in card and text("score_rerank", "en") in card
    assert fmt.column_titles("m", "weighted", 0.5, "en", fmt.page_columns(True), "/tmp/models/tiny/", 8)[3] == \
        "Reranked (tiny, top 8)"
    assert fmt.column_titles(None, None, None, "en", fmt.page_columns(True))[3] == "Reranked"
