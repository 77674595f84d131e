"""The reranker layer: a tiny random-weight Qwen3 reranker (real Qwen3 tokenizer) through the real load_reranker path."""

import numpy as np
import pytest

from hybrid import rerank
from hybrid.rerank import (
    DEFAULT_INSTRUCTION,
    RERANKER_ALIASES,
    RERANKERS,
    CrossEncoderReranker,
    LoadedReranker,
    Reranker,
    RerankerLoadError,
    load_reranker,
    rerank_order,
)

# The authors' reference code passes max_length to tokenizer.pad, which transformers warns about.
pytestmark = [pytest.mark.model, pytest.mark.filterwarnings("ignore:`max_length` is ignored:UserWarning")]

QUERY = "笔记本电脑突然黑屏怎么办"
DOCUMENTS = [
    "电脑开机后屏幕没有显示，可以先检查显示器的电源线。",
    "今天天气很好，适合出去散步。",
    "My laptop screen went black after the update; restarting fixed it.",
    "苹果和香蕉都是常见的水果。",
    "BM25 是一种经典的关键词排序函数，jieba 负责中文分词。",
    "",
]

# The official prompt of Qwen3-Reranker, written out by hand (not built by the code under test).
OFFICIAL = (
    "<|im_start|>system\n"
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
    "Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n"
    "<|im_start|>user\n"
    "<Instruct>: Given a web search query, retrieve relevant passages that answer the query\n"
    "<Query>: 笔记本电脑突然黑屏怎么办\n"
    "<Document>: My laptop screen went black after the update; restarting fixed it.<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n\n</think>\n\n"
)


def reference_scores(folder, query, documents, instruction=DEFAULT_INSTRUCTION, max_length=8192):
    """The model authors' reference computation (Qwen3-Reranker model card, transformers usage)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    token_false_id = tokenizer.convert_tokens_to_ids("no")
    token_true_id = tokenizer.convert_tokens_to_ids("yes")
    prefix = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
              "Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n")
    suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    prefix_tokens = tokenizer.encode(prefix, add_special_tokens=False)
    suffix_tokens = tokenizer.encode(suffix, add_special_tokens=False)

    def format_instruction(instruction, query, doc):
        return "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}".format(
            instruction=instruction, query=query, doc=doc)

    def process_inputs(pairs):
        inputs = tokenizer(pairs, padding=False, truncation="longest_first", return_attention_mask=False,
                           max_length=max_length - len(prefix_tokens) - len(suffix_tokens))
        for i, ele in enumerate(inputs["input_ids"]):
            inputs["input_ids"][i] = prefix_tokens + ele + suffix_tokens
        return tokenizer.pad(inputs, padding=True, return_tensors="pt", max_length=max_length)

    @torch.no_grad()
    def compute_logits(inputs):
        batch_scores = model(**inputs).logits[:, -1, :]
        true_vector = batch_scores[:, token_true_id]
        false_vector = batch_scores[:, token_false_id]
        batch_scores = torch.stack([false_vector, true_vector], dim=1)
        batch_scores = torch.nn.functional.log_softmax(batch_scores, dim=1)
        return batch_scores[:, 1].exp().tolist()

    pairs = [format_instruction(instruction, query, doc) for doc in documents]
    return np.array(compute_logits(process_inputs(pairs)))


def test_loaded_through_load_reranker_with_a_yes_no_head(tiny_reranker, tiny_reranker_path):
    from sentence_transformers.cross_encoder.modules import LogitScore

    assert isinstance(tiny_reranker, CrossEncoderReranker) and isinstance(tiny_reranker, Reranker)
    assert tiny_reranker.name == str(tiny_reranker_path) and tiny_reranker.is_qwen3
    head = list(tiny_reranker._ce)[-1]
    assert isinstance(head, LogitScore) and (head.true_token_id, head.false_token_id) == (9693, 2152)
    assert tiny_reranker.instruction == DEFAULT_INSTRUCTION and tiny_reranker.max_tokens == 8192


def test_rendered_prompt_is_the_official_one_byte_for_byte(tiny_reranker):
    document = DOCUMENTS[2]
    transformer = tiny_reranker._ce[0]
    formatter = transformer.input_formatter
    messages = formatter.prepend_prompt_to_messages([formatter.pair_to_messages((QUERY, document))],
                                                    DEFAULT_INSTRUCTION)[0]
    rendered = transformer.tokenizer.apply_chat_template(messages, tokenize=False)
    assert rendered.encode("utf-8") == OFFICIAL.encode("utf-8")
    # And the token ids the model reads are those of the official string.
    ids = tiny_reranker._features([(QUERY, document)])["input_ids"][0].tolist()
    assert ids == transformer.tokenizer.encode(OFFICIAL, add_special_tokens=False)
    assert transformer.tokenizer.decode(ids) == OFFICIAL


def test_a_checkpoint_with_the_chat_llm_template_still_reads_the_official_prompt(tiny_reranker_chatml):
    ids = tiny_reranker_chatml._features([(QUERY, DOCUMENTS[2])])["input_ids"][0].tolist()
    assert tiny_reranker_chatml.tokenizer.decode(ids) == OFFICIAL


def test_scores_equal_the_authors_reference_computation(tiny_reranker, tiny_reranker_path):
    scores = tiny_reranker.score(QUERY, DOCUMENTS)
    expected = reference_scores(tiny_reranker_path, QUERY, DOCUMENTS)
    assert scores.dtype == np.float32 and scores.shape == (len(DOCUMENTS),)
    assert np.ptp(expected) > 1e-3  # the pairs score differently, so agreement below means something
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-5)


def test_another_instruction_is_used_and_matches_the_reference(tiny_reranker, tiny_reranker_path):
    task = "Given a question about computers, find the troubleshooting note that answers it"
    variant = tiny_reranker.variant(instruction=task)
    ids = variant._features([(QUERY, "x")])["input_ids"][0].tolist()
    assert f"<Instruct>: {task}\n<Query>: {QUERY}\n" in variant.tokenizer.decode(ids)
    np.testing.assert_allclose(variant.score(QUERY, DOCUMENTS[:3]),
                               reference_scores(tiny_reranker_path, QUERY, DOCUMENTS[:3], instruction=task),
                               rtol=0, atol=1e-5)
    assert tiny_reranker.instruction == DEFAULT_INSTRUCTION  # the original is untouched
    with pytest.raises(ValueError, match="non-empty"):
        tiny_reranker.variant(instruction="  ")


def test_batch_and_single_scores_are_identical(tiny_reranker):
    batch = tiny_reranker.score(QUERY, DOCUMENTS)
    single = np.array([tiny_reranker.score(QUERY, [d])[0] for d in DOCUMENTS], dtype=np.float32)
    # Padding changes only float32 rounding inside the matrix products.
    np.testing.assert_allclose(batch, single, rtol=0, atol=1e-6)
    small_batches = tiny_reranker.variant()
    small_batches.batch_size = 2
    np.testing.assert_allclose(small_batches.score(QUERY, DOCUMENTS), batch, rtol=0, atol=1e-6)
    assert tiny_reranker.score(QUERY, []).shape == (0,)


def test_long_documents_are_cut_but_the_prompt_end_is_kept(tiny_reranker, tiny_reranker_path):
    cap = 120
    short = tiny_reranker.variant(max_tokens=cap)
    long_doc = "显示器黑屏的原因有很多，例如电源、线缆或显卡驱动。" * 40 + "结尾"
    features = short._features([(QUERY, long_doc), (QUERY, DOCUMENTS[1])])
    ids = features["input_ids"][0].tolist()
    suffix = short.tokenizer.encode("<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
                                    add_special_tokens=False)
    assert len(ids) == cap and ids[-len(suffix):] == suffix
    assert "结尾" not in short.tokenizer.decode(ids)  # the document's end is what was cut
    assert short.count_tokens(QUERY, [long_doc, DOCUMENTS[1]]) == [cap, int(features["attention_mask"][1].sum())]
    np.testing.assert_allclose(short.score(QUERY, [long_doc, DOCUMENTS[1]]),
                               reference_scores(tiny_reranker_path, QUERY, [long_doc, DOCUMENTS[1]], max_length=cap),
                               rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="max_tokens must be between"):
        tiny_reranker.variant(max_tokens=20)


def test_a_model_that_does_not_score_with_yes_no_is_refused(minilm_path, tiny_qwen3_path):
    # sentence-transformers would convert embedding models silently (a BERT one gets a fresh random head).
    for embedding_model in (minilm_path, tiny_qwen3_path):
        with pytest.raises(RerankerLoadError, match="SentenceTransformer model .an embedding model., not a reranker"):
            load_reranker(str(embedding_model), device="cpu")


def test_a_sequence_classifier_is_refused_for_its_head(tmp_path, minilm_path):
    # Plain transformers folder of a BERT model: a classification head, not the yes/no logits.
    from transformers import AutoModel, AutoTokenizer

    AutoModel.from_pretrained(minilm_path).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(tmp_path)
    with pytest.raises(RerankerLoadError, match="not a yes/no reranker") as info:
        load_reranker(str(tmp_path), device="cpu")
    assert "Transformer" in str(info.value) and "qwen3-0.6b" in str(info.value)


def test_a_non_qwen3_causal_lm_needs_a_template_that_carries_the_pair(tmp_path):
    from tests.tiny_qwen3 import build_tiny_qwen3_reranker

    bare = build_tiny_qwen3_reranker(tmp_path / "bare", model_type="llama")
    with pytest.raises(RerankerLoadError, match="no chat template"):
        load_reranker(str(bare), device="cpu")
    chatml = build_tiny_qwen3_reranker(tmp_path / "chatml", model_type="llama",
                                       chat_template="{{ messages[0].content }}")
    with pytest.raises(RerankerLoadError, match="cannot rank"):
        load_reranker(str(chatml), device="cpu")


def test_load_reranker_none_auto_and_explicit_failures(monkeypatch, tmp_path):
    import torch

    assert load_reranker("none") == LoadedReranker(None, "none", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = load_reranker("auto", device="auto")
    assert loaded.reranker is None and "no CUDA GPU" in loaded.reason and "--reranker qwen3-0.6b" in loaded.reason
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))
    with pytest.raises(RerankerLoadError, match="hf download Qwen/Qwen3-Reranker-0.6B") as info:
        load_reranker("qwen3-0.6b", device="cpu")
    assert "Could not load reranker 'Qwen/Qwen3-Reranker-0.6B'" in str(info.value)
    with pytest.raises(RerankerLoadError, match="Could not load reranker"):
        load_reranker(str(tmp_path / "missing-folder"), device="cpu")
    with pytest.raises(ValueError, match=r"choose one of \['sentence-transformers'\]"):
        load_reranker("qwen3-0.6b", backend="vllm")
    with pytest.raises(ValueError, match="CUDA is not available"):
        load_reranker("qwen3-0.6b", device="cuda")
    assert list(RERANKERS) == ["sentence-transformers"]


def test_auto_with_cuda_leaves_reranking_off_with_the_reason_when_the_gpu_model_cannot_load(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))
    loaded = load_reranker("auto")
    assert loaded.reranker is None
    assert loaded.reason.startswith(f"{rerank.DEFAULT_GPU_RERANKER} could not be loaded")


def test_rerank_order_sorts_by_score_and_keeps_first_stage_order_on_ties():
    scores = np.array([0.2, 0.9, 0.5, 0.9, 0.2], dtype=np.float32)
    assert rerank_order(scores).tolist() == [1, 3, 2, 0, 4]
    assert rerank_order(np.zeros(0)).tolist() == []


def test_out_of_memory_halves_the_batch(tiny_reranker, monkeypatch, caplog):
    expected = tiny_reranker.score(QUERY, DOCUMENTS[:3])
    reranker = tiny_reranker.variant()
    reranker.batch_size = 4
    real = reranker._ce.predict
    sizes = []

    def predict(pairs, **kwargs):
        sizes.append(len(pairs))
        if len(pairs) > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(pairs, **kwargs)

    monkeypatch.setattr(reranker._ce, "predict", predict)
    scores = reranker.score(QUERY, DOCUMENTS[:3])
    assert sizes[:3] == [3, 2, 1] and len(scores) == 3
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-6)
    assert "ran out of memory" in caplog.text


def test_rerank_imports_no_ui():
    source = open(rerank.__file__, encoding="utf-8").read()
    for forbidden in ("gradio", "fastapi", "from .engine", "from .keyword", "from .fusion"):
        assert forbidden not in source


def test_on_cuda_the_reranker_loads_in_bfloat16_with_the_best_attention(monkeypatch, tiny_reranker_path):
    import sentence_transformers
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    calls = []

    def cross_encoder(model, **kwargs):  # the outside world: a GPU this machine does not have
        calls.append(kwargs)
        raise RuntimeError("CUDA driver initialization failed")

    monkeypatch.setattr(sentence_transformers, "CrossEncoder", cross_encoder)
    with pytest.raises(RerankerLoadError, match="CUDA driver initialization failed"):
        load_reranker(str(tiny_reranker_path), device="cuda")
    attention = "flash_attention_2" if _has_flash_attn() else "sdpa"
    assert calls[0]["device"] == "cuda"
    assert calls[0]["model_kwargs"] == {"dtype": torch.bfloat16, "attn_implementation": attention}
    assert len(calls) == 1  # an error that is not about attention is not retried


def _has_flash_attn() -> bool:
    import importlib.util

    return importlib.util.find_spec("flash_attn") is not None


def test_load_on_device_retries_only_attention_failures():
    import torch

    from hybrid.device import load_on_device

    seen = []

    def build(model_kwargs):
        seen.append(model_kwargs)
        if model_kwargs and "attn_implementation" in model_kwargs:
            raise ValueError(f"{model_kwargs['attn_implementation']} attention is not supported by this model")
        return "loaded"

    assert load_on_device(build, "cuda:1", "m") == "loaded"
    assert seen[-1] == {"dtype": torch.bfloat16} and all(s["dtype"] == torch.bfloat16 for s in seen)
    seen.clear()
    assert load_on_device(build, "cpu", "m") == "loaded" and seen == [None]
    with pytest.raises(OSError, match="disk"):
        load_on_device(lambda kwargs: (_ for _ in ()).throw(OSError("disk full")), "cuda", "m")


def test_a_missing_folder_is_named_as_a_folder_not_as_a_bad_hub_id(tmp_path):
    for name in (str(tmp_path / "no-such-reranker"), "./no-such-reranker", "models/rerankers/no-such"):
        with pytest.raises(RerankerLoadError) as info:
            load_reranker(name, device="cpu")
        message = str(info.value)
        assert "does not exist" in message and "Repo id" not in message and "hf download" not in message
        for alias in RERANKER_ALIASES:
            assert alias in message
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(RerankerLoadError, match="is a file, not a folder"):
        load_reranker(str(tmp_path / "weights.bin"), device="cpu")
