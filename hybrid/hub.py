"""Whether a Hugging Face model id can be loaded here: held in the local cache, or the hub reachable."""

from __future__ import annotations

import os

PROBE_TIMEOUT_S = 5.0


def reach(name: str) -> tuple[str | None, bool]:
    """Whether ``name`` can be loaded here, found in one short request: ``(reason, cached)``.

    ``reason`` says why the hub cannot be reached ("cannot connect to https://huggingface.co: ..."), None when it
    can or need not be (a local folder, offline mode, whose own handling is immediate); ``cached``: the model is in
    huggingface_hub's local cache. huggingface_hub retries a hub it cannot connect to five times, with pauses,
    before it gives up or reads its cache: over a minute on machines without network, at every start.

    Args:
        name: a model id (``namespace/name``) or a local folder.
    """
    if os.path.isdir(os.path.expanduser(name)):
        return None, False
    try:
        from huggingface_hub import constants, try_to_load_from_cache
        from huggingface_hub.utils import get_session
    except ImportError:
        return None, False
    if constants.HF_HUB_OFFLINE:
        return None, False
    try:
        cached = try_to_load_from_cache(name, "config.json") is not None
    except ValueError:  # not a repo id huggingface_hub accepts: its own loader says so
        return None, False
    try:
        get_session().head(constants.ENDPOINT, timeout=PROBE_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001 - any failure to connect is the answer
        return f"cannot connect to {constants.ENDPOINT} ({type(error).__name__}: {str(error)[:120]})", cached
    return None, cached

