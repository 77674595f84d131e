"""bench/gpu_rerank.py: its pairs are the official prompt cut like the reranker cuts, it runs end to end at tiny
size, says so without CUDA, and builds the real 0.6B and 4B shapes (on the meta device: no memory)."""

import pytest
import torch

from bench import gpu_rerank
from hybrid.rerank import QWEN3_SUFFIX, qwen3_prompt


def test_pairs_are_the_official_prompt_cut_to_the_token_budget():
    tokenizer = gpu_rerank.qwen3_tokenizer()
    pairs = gpu_rerank.pair_ids(tokenizer, 3, 256)
    suffix = tokenizer.encode(QWEN3_SUFFIX, add_special_tokens=False)
    start = tokenizer.encode(qwen3_prompt("QUERY", "DOC").split(" QUERY")[0], add_special_tokens=False)
    for ids in pairs:
        assert len(ids) == 256 and ids[-len(suffix):] == suffix and ids[:len(start)] == start
    assert (tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")) == (gpu_rerank.YES,
                                                                                            gpu_rerank.NO)


def test_tiny_cpu_run():
    out = gpu_rerank.main(["--tiny", "--pairs", "6", "--batch-size", "4", "--tokens", "96"])
    figures = out["tiny"]
    assert figures["pairs timed"] == 6 and figures["tokens per pair"] == 96 and figures["PAIRS/S"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present: the full run would start")
def test_without_cuda_it_says_so():
    with pytest.raises(SystemExit, match="needs a CUDA GPU"):
        gpu_rerank.main(["--pairs", "8"])


@pytest.mark.parametrize("name, params, layers, hidden, heads, kv_heads, ffn", [
    ("0.6b", 0.596e9, 28, 1024, 16, 8, 3072),  # Qwen3-Reranker-0.6B: 0.6 billion parameters, tied embeddings
    ("4b", 4.02e9, 36, 2560, 32, 8, 9728),     # Qwen3-Reranker-4B: 4.02 billion
])
def test_builds_the_real_shapes(name, params, layers, hidden, heads, kv_heads, ffn):
    model = gpu_rerank.build_model(gpu_rerank.SHAPES[name], "meta", torch.bfloat16, "sdpa")
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(params, rel=0.005)
    attention = model.model.layers[0].self_attn
    assert len(model.model.layers) == layers and model.config.hidden_size == hidden
    assert attention.q_proj.weight.shape == (heads * 128, hidden) and attention.k_proj.weight.shape == (kv_heads * 128,
                                                                                                        hidden)
    assert model.model.layers[0].mlp.up_proj.weight.shape == (ffn, hidden)
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied, as in the released models
