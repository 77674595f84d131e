"""Reranking throughput of the Qwen3-Reranker-0.6B and -4B architectures (query-document pairs/s).

Usage: python -m bench.gpu_rerank [--models 0.6b,4b] [--pairs 2048] [--batch-size 32] [--tokens 256] [--json FILE]
       python -m bench.gpu_rerank --cpu     (0.6B in float32 on the CPU, 20 pairs: what --reranker costs there)
       python -m bench.gpu_rerank --tiny    (CPU smoke run of the same code path, tiny model)

The models are transformers' Qwen3ForCausalLM with the real shapes (0.6B: 28 layers, hidden 1024, 16 query /
8 key-value heads of dim 128, FFN 3072; 4B: 36 layers, hidden 2560, 32 / 8 heads, FFN 9728; vocabulary
151,669, tied embeddings) and random weights, bfloat16 on the GPU: the weights cannot be downloaded here, and
random values run at exactly the speed of the real ones. Attention is flash-attn 2 when the flash_attn package
is installed, else PyTorch SDPA. Each pair is the official Qwen3-Reranker prompt (hybrid.rerank.qwen3_prompt:
system, instruction, a generated Chinese query and passage, the assistant prefix with the empty think block)
tokenised by the real Qwen3 tokenizer and cut to exactly --tokens tokens the way the reranker cuts (the
document's end goes, the prompt's end stays); batches are left-padded; the score is sigmoid(logit "yes" -
logit "no") at the last position, computing logits for that position only (logits_to_keep=1), as the
sentence-transformers CrossEncoder does. Timing covers tokenising each batch and the forward passes (with
CUDA synchronisation), after warm-up batches.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, load_vocabulary, machine, report, sample_documents, to_text, write_json  # noqa: E402
from bench.gpu_embed import QWEN3_4B, TINY  # noqa: E402

QWEN3_06B = dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128)
SHAPES = {"0.6b": QWEN3_06B, "4b": QWEN3_4B}
YES, NO = 9693, 2152  # the Qwen3 tokenizer's ids of "yes" and "no"


def qwen3_tokenizer():
    """The Qwen3 LLM tokenizer Qwen3-Reranker uses (nothing appended, left padding), built offline."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from transformers import PreTrainedTokenizerFast

    from tests.tiny_qwen3 import ENDOFTEXT, build_qwen3_backend_tokenizer

    return PreTrainedTokenizerFast(tokenizer_object=build_qwen3_backend_tokenizer(append_eos=False),
                                   pad_token=ENDOFTEXT, eos_token="<|im_end|>", padding_side="left")


def pair_ids(tokenizer, n: int, tokens: int, seed: int = 0) -> list[list[int]]:
    """``n`` pairs as token ids of the official prompt, each exactly ``tokens`` long (documents cut at the end)."""
    from hybrid.rerank import DEFAULT_INSTRUCTION, QWEN3_PAIR, QWEN3_PREFIX, QWEN3_SUFFIX

    rng = np.random.default_rng(seed)
    vocab = load_vocabulary()
    # Passages of ~300 words (~750 characters) are longer than any budget used here, so every pair is cut.
    docs = [to_text(w, rng) for w in sample_documents(vocab, n, seed=seed, median_words=300)]
    queries = [to_text(w, rng) for w in sample_documents(vocab, n, seed=seed + 1, median_words=6)]
    prefix = tokenizer.encode(QWEN3_PREFIX, add_special_tokens=False)
    suffix = tokenizer.encode(QWEN3_SUFFIX, add_special_tokens=False)
    budget = tokens - len(prefix) - len(suffix)
    if budget < 16:
        raise SystemExit(f"--tokens {tokens} leaves no room for a document: the prompt alone takes "
                         f"{len(prefix) + len(suffix)} tokens")
    out = []
    for query, doc in zip(queries, docs):
        middle = tokenizer.encode(QWEN3_PAIR.format(instruction=DEFAULT_INSTRUCTION, query=query, document=doc),
                                  add_special_tokens=False)
        while len(middle) < budget:  # a rare short passage: repeat it
            middle = middle + middle
        out.append(prefix + middle[:budget] + suffix)
    return out


def build_model(shape: dict, device: str, dtype, attention: str):
    """Qwen3ForCausalLM of ``shape`` with random weights, created directly on ``device`` in ``dtype``."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from tests.tiny_qwen3 import ENDOFTEXT_ID, QWEN3_VOCAB_SIZE

    config = Qwen3Config(vocab_size=QWEN3_VOCAB_SIZE, max_position_embeddings=40960, rms_norm_eps=1e-6,
                         rope_theta=1000000.0, tie_word_embeddings=True, bos_token_id=ENDOFTEXT_ID,
                         eos_token_id=151645, **shape)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen3ForCausalLM._from_config(config, dtype=dtype, attn_implementation=attention)
    return model.eval()


def measure(name: str, shape: dict, device: str, dtype, attention: str, pairs: list[list[int]], tokenizer,
            batch_size: int, warmup: int) -> dict:
    """Pairs/s of one architecture over ``pairs`` (after ``warmup`` untimed batches)."""
    import torch

    tick = time.perf_counter()
    model = build_model(shape, device, dtype, attention)
    build_s = time.perf_counter() - tick
    params = sum(p.numel() for p in model.parameters())

    def score(batch_ids: list[list[int]]) -> torch.Tensor:
        enc = tokenizer.pad({"input_ids": batch_ids}, padding=True, return_tensors="pt")
        enc = {k: v.to(device) for k, v in enc.items()}
        with torch.inference_mode():
            logits = model(**enc, logits_to_keep=1).logits[:, -1]
            return torch.sigmoid((logits[:, YES] - logits[:, NO]).float())

    def run(ids: list[list[int]]) -> None:
        for start in range(0, len(ids), batch_size):
            scores = score(ids[start:start + batch_size])
        if device == "cuda":
            torch.cuda.synchronize()
        assert bool(torch.isfinite(scores).all())

    warm, timed = pairs[: warmup * batch_size], pairs[warmup * batch_size:]
    if warm:
        run(warm)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tick, cpu_tick = time.perf_counter(), time.process_time()
    run(timed)
    seconds, cpu_seconds = time.perf_counter() - tick, time.process_time() - cpu_tick
    out = {
        "model": f"Qwen3-Reranker-{name} shape, random weights" if name != "tiny" else "tiny Qwen3 (2 layers, 64 wide)",
        "parameters (millions)": params / 1e6,
        "dtype": str(dtype).replace("torch.", ""),
        "attention": attention,
        "batch size": batch_size,
        "pairs timed": len(timed),
        "tokens per pair": len(timed[0]),
        "model build s": build_s,
        "reranking s": seconds,
        # On a shared machine the wall time includes waiting for the cores; this is the time the process ran.
        "process CPU s (all threads)": cpu_seconds,
        "PAIRS/S": len(timed) / seconds,
        "ms per 20 pairs (one query, default depth)": 20 * 1000 * seconds / len(timed),
    }
    if device == "cuda":
        out["peak GPU memory GiB"] = torch.cuda.max_memory_allocated() / 2**30
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="0.6b,4b", help="architectures to time: 0.6b, 4b or both")
    parser.add_argument("--pairs", type=int, default=None, help="pairs in the timed part (GPU 2048, --cpu 20)")
    parser.add_argument("--batch-size", type=int, default=None, help="pairs per forward pass (GPU 32, --cpu 16)")
    parser.add_argument("--tokens", type=int, default=256, help="tokens per pair, prompt included")
    parser.add_argument("--warmup", type=int, default=None, help="untimed batches first (GPU 2, --cpu 0)")
    parser.add_argument("--cpu", action="store_true", help="the 0.6B architecture in float32 on the CPU")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run: 2-layer, 64-wide model, float32")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    import torch

    from hybrid.rerank import DEFAULT_BATCH_SIZE

    if args.tiny or args.cpu:
        device, dtype, attention = "cpu", torch.float32, "sdpa"
        shapes = {"tiny": TINY} if args.tiny else {"0.6b": QWEN3_06B}
        n, batch, warmup = args.pairs or 20, args.batch_size or DEFAULT_BATCH_SIZE, args.warmup or 0
    else:
        if not torch.cuda.is_available():
            raise SystemExit(
                "gpu_rerank needs a CUDA GPU: torch.cuda.is_available() is False here "
                f"(torch {torch.__version__}). Run it on a machine with an NVIDIA GPU and a CUDA build of torch, "
                "or use --cpu for the 0.6B architecture on the CPU (float32, 20 pairs), or --tiny for a smoke run.")
        unknown = [m for m in args.models.split(",") if m not in SHAPES]
        if unknown:
            raise SystemExit(f"unknown --models {unknown}; choose from {', '.join(SHAPES)}")
        device, dtype = "cuda", torch.bfloat16
        attention = "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"
        shapes = {m: SHAPES[m] for m in args.models.split(",")}
        n, batch = args.pairs or 2048, args.batch_size or 32
        warmup = 2 if args.warmup is None else args.warmup

    tokenizer = qwen3_tokenizer()
    pairs = pair_ids(tokenizer, n + warmup * batch, args.tokens)
    where = torch.cuda.get_device_name(0) if device == "cuda" else f"cpu, {torch.get_num_threads()} torch threads"
    out: dict = {"machine": machine(), "device": where}
    for name, shape in shapes.items():
        figures = measure(name, shape, device, dtype, attention, pairs, tokenizer, batch, warmup)
        report(f"Qwen3-Reranker-{name} reranking throughput ({where})" if name != "tiny"
               else "gpu_rerank --tiny smoke run", figures)
        out[name] = figures
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
