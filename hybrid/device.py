"""Accelerator facts shared by the model loaders: device choice, attention kernel, out-of-memory handling."""

from __future__ import annotations

import importlib
import logging
from typing import Callable, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA GPU."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def mps_available() -> bool:
    """Whether torch is installed and Apple MPS is usable."""
    try:
        import torch
    except ImportError:
        return False
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" if available, else "mps", else "cpu"; an explicit device is checked.

    Raises:
        ValueError: an unknown device, or one that is not available here.
    """
    if device == "auto":
        if cuda_available():
            return "cuda"
        return "mps" if mps_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if not cuda_available():
            raise ValueError(f"device={device!r} was requested but CUDA is not available "
                             "(no GPU, or a CPU-only torch build). Use device='auto' or 'cpu'.")
        return device
    if device == "mps":
        if not mps_available():
            raise ValueError("device='mps' was requested but Apple MPS is not available. Use 'auto' or 'cpu'.")
        return device
    raise ValueError(f"Unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'.")


def cuda_attention() -> str:
    """The attention implementation for CUDA: flash-attention 2 when flash_attn imports, else PyTorch SDPA."""
    try:
        importlib.import_module("flash_attn")
    except Exception:
        return "sdpa"
    return "flash_attention_2"


def load_on_device(build: Callable[[dict | None], T], device: str, name: str) -> T:
    """Call ``build(model_kwargs)`` the way this project loads transformer models on ``device``.

    On CUDA: bfloat16 with flash-attention 2 (when installed), then SDPA, then the model's default
    attention; a later attempt is made only when the failure was about attention. Elsewhere: ``build(None)``.

    Args:
        build: loads the model given ``from_pretrained`` keywords (None = the defaults).
        device: the resolved device.
        name: the model, for the log.
    Returns:
        What ``build`` returned.
    Raises:
        The last attempt's exception.
    """
    if not device.startswith("cuda"):
        return build(None)
    import torch

    preferred = cuda_attention()
    attempts: list[dict] = [{"dtype": torch.bfloat16, "attn_implementation": preferred}]
    if preferred != "sdpa":
        attempts.append({"dtype": torch.bfloat16, "attn_implementation": "sdpa"})
    attempts.append({"dtype": torch.bfloat16})
    for number, model_kwargs in enumerate(attempts, 1):
        try:
            return build(model_kwargs)
        except Exception as exc:
            # Only a model that rejects the attention implementation is worth another try.
            if number == len(attempts) or ("attn" not in str(exc).lower() and "attention" not in str(exc).lower()):
                raise
            logger.info("Loading %s with %s failed (%s); retrying", name, model_kwargs, exc)
    raise AssertionError("unreachable")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an accelerator (or host) out-of-memory error."""
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def run_in_batches(total: int, batch_size: int, step: Callable[[int, int], None], name: str, unit: str,
                   log: logging.Logger = logger) -> None:
    """Call ``step(start, stop)`` over consecutive batches of ``total`` items, halving the batch when the
    accelerator runs out of memory (down to one item; then the error is raised).

    Args:
        total: items to process.
        batch_size: items per batch at first.
        step: processes items ``start..stop-1``; must not leave partial results when it raises.
        name: the model, for the log.
        unit: what an item is ("texts", "pairs"), for the log.
        log: where the warning about a smaller batch goes.
    """
    done, size = 0, batch_size
    while done < total:
        stop = min(total, done + size)
        try:
            step(done, stop)
        except Exception as exc:
            if size == 1 or not is_out_of_memory(exc):
                raise
            size = max(1, size // 2)
            free_accelerator_memory()
            log.warning("%s ran out of memory on a batch of %d %s; retrying with batches of %d",
                        name, stop - done, unit, size)
            continue
        done = stop


def free_accelerator_memory() -> None:
    """Return cached CUDA memory to the driver (best effort)."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - best effort
        pass
