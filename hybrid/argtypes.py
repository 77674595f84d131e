"""argparse types shared by the command lines: whole numbers within bounds, refused with the bounds named."""

from __future__ import annotations

import argparse
from typing import Callable


def whole_number(low: int, high: int | None = None, hint: str = "") -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high`` (no upper bound when None).

    Args:
        low, high: the bounds, both included.
        hint: what the refusal adds in brackets (a special value, a default), e.g. "0: never split".
    Returns:
        The type function.
    """
    tail = f" ({hint})" if hint else ""

    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number{tail}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"{low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {bounds}{tail}, got {value}")
        return value
    return check
