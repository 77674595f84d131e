"""Whether a Hugging Face model id can be loaded here at all: held in the local cache, or the hub reachable."""

from __future__ import annotations

import os

PROBE_TIMEOUT_S = 5.0


def unreachable(name: str) -> str | None:
    """Why ``name`` cannot be loaded here, found in one short request; None when it may be (a local folder, a
    model in the local cache, a reachable hub, or offline mode, whose own error is immediate).

    huggingface_hub retries a hub it cannot connect to five times, with pauses, before its error: over a minute
    spent on a model that is in no cache, with no network (the case on machines without a model hub).

    Args:
        name: a model id (``namespace/name``) or a local folder.
    Returns:
        The reason ("cannot connect to https://huggingface.co: ..."), or None.
    """
    if os.path.isdir(os.path.expanduser(name)):
        return None
    try:
        from huggingface_hub import constants, try_to_load_from_cache
        from huggingface_hub.utils import get_session
    except ImportError:
        return None
    if constants.HF_HUB_OFFLINE:
        return None
    try:
        if try_to_load_from_cache(name, "config.json") is not None:
            return None
    except ValueError:  # not a repo id huggingface_hub accepts: its own loader says so
        return None
    try:
        get_session().head(constants.ENDPOINT, timeout=PROBE_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001 - any failure to connect is the answer
        return f"cannot connect to {constants.ENDPOINT} ({type(error).__name__}: {str(error)[:120]})"
    return None
