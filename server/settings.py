"""API limits and security knobs: one frozen dataclass, its defaults and the environment variables that set them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Mapping

# Environment variable of each field (read by ``ApiSettings.from_env``).
ENV_VARS: dict[str, str] = {
    "api_key": "HYBRID_API_KEY",
    "max_inputs": "HYBRID_MAX_INPUTS",
    "max_input_chars": "HYBRID_MAX_INPUT_CHARS",
    "max_documents": "HYBRID_MAX_DOCUMENTS",
    "max_body_bytes": "HYBRID_MAX_BODY_BYTES",
    "max_k": "HYBRID_MAX_K",
    "max_rerank": "HYBRID_MAX_RERANK",
    "max_tokens": "HYBRID_MAX_TOKENS",
    "embed_concurrency": "HYBRID_EMBED_CONCURRENCY",
    "embed_wait_s": "HYBRID_EMBED_WAIT",
    "rate_limit_per_minute": "HYBRID_RATE_LIMIT",
    "cors_origins": "HYBRID_CORS_ORIGINS",
    "login_attempts_per_minute": "HYBRID_LOGIN_RATE",
    "header_timeout_s": "HYBRID_HEADER_TIMEOUT",
    "body_idle_timeout_s": "HYBRID_BODY_TIMEOUT",
    "connections_per_address": "HYBRID_CONNECTIONS_PER_ADDRESS",
    "upload_bytes_per_minute": "HYBRID_UPLOAD_RATE",
    "upload_disk_bytes": "HYBRID_UPLOAD_DISK",
}


# Uploads to the page (Gradio's /gradio_api/upload): one file, and one upload request (the three files of a labelled
# set at most). Gradio itself has no limit: without these any visitor could fill the server's disk in one request.
MAX_UPLOAD_BYTES = 10_000_000
MAX_UPLOAD_REQUEST_BYTES = 3 * MAX_UPLOAD_BYTES + 1_000_000
# Files in one upload request: the page sends one (a knowledge base) or three (a labelled set). Gradio takes 1,000,
# each stored in a folder of its own.
MAX_UPLOAD_FILES = 3
# The least an upload request counts against HYBRID_UPLOAD_RATE, however small: the budget bounds requests (and so
# stored files) as well as bytes.
MIN_UPLOAD_CHARGE = 1_000_000


@dataclass(frozen=True)
class ApiSettings:
    """Limits and security of the JSON API. Defaults live here and nowhere else.

    Attributes:
        api_key: when set, every JSON route needs ``Authorization: Bearer <key>``; several keys may be
            given separated by commas. None: the API is open (bind to 127.0.0.1 then).
        max_inputs: texts per /v1/embeddings request.
        max_input_chars: characters per text (embedding input, search query, ad-hoc document).
        max_documents: ad-hoc ``documents`` per /search request.
        max_body_bytes: request body size of the JSON routes, and the size of a search's ad-hoc documents together.
        max_k: largest top-k of /search.
        max_rerank: documents per /v1/rerank request and the largest ``rerank`` of /search (each costs a
            reranker forward pass).
        max_tokens: tokens one request may have embedded (its /v1/embeddings inputs, its ad-hoc ``documents``),
            by the model's tokenizer; the budget that bounds the work of one request.
        embed_concurrency: embedding chunks running at once for everyone together (API, UI, the ``--kb``
            indexing); callers take turns a chunk at a time (``hybrid.gate``).
        embed_wait_s: how long an API request waits for its first embedding turn before a 429.
        rate_limit_per_minute: requests a minute per client on the JSON routes and the UI's events (every POST);
            0 = off. A client is a key, a login session, else an address (forwarded headers count only from
            the proxies named by --forwarded-allow-ips). It may burst up to this many, then one every 60/limit s.
        cors_origins: browser origins allowed to call the API cross-site; empty = CORS closed.
        retry_after_s: the Retry-After of 503 answers while the model loads or the knowledge base is embedded.
        login_attempts_per_minute: logins (right or wrong), wrong keys and new anonymous sessions per client
            address a minute; always on, so a password cannot be guessed at speed.
        session_hours: how long a login lasts.
        header_timeout_s: a request's headers must arrive within this many seconds of the connection opening
            (or of the previous answer on it); else the connection is closed.
        body_idle_timeout_s: a request body that sends no byte for this many seconds closes its connection.
        connections_per_address: connections one client address may hold open (not counted for 127.0.0.1,
            ::1 and the proxies of --forwarded-allow-ips, whose clients all share their address).
        upload_bytes_per_minute: bytes a client may upload to the page a minute (token bucket, bursts up to this
            many); each upload request counts its declared size, at least ``MIN_UPLOAD_CHARGE``. Always on, so
            no visitor fills the server's disk at network speed. Anonymous clients of one address (each browser
            session of an open server) also share ``ANONYMOUS_BUCKETS_PER_ADDRESS`` times this budget.
        upload_disk_bytes: bytes the server's upload folder may hold, all visitors together (uploads stay up to
            a day); an upload that would pass it is refused (507). Always on.
    """

    api_key: str | None = field(default=None, repr=False)
    max_inputs: int = 256
    max_input_chars: int = 8192
    max_documents: int = 1000
    max_body_bytes: int = 4 * 1024 * 1024
    max_k: int = 100
    max_rerank: int = 100
    max_tokens: int = 16_384
    embed_concurrency: int = 1
    embed_wait_s: int = 10
    rate_limit_per_minute: int = 0
    cors_origins: tuple[str, ...] = ()
    retry_after_s: int = 5
    login_attempts_per_minute: int = 10
    session_hours: int = 24 * 7
    header_timeout_s: int = 10
    body_idle_timeout_s: int = 30
    connections_per_address: int = 64
    upload_bytes_per_minute: int = 64_000_000
    upload_disk_bytes: int = 2_000_000_000

    def __post_init__(self) -> None:
        for name in ("max_inputs", "max_input_chars", "max_documents", "max_body_bytes", "max_k", "max_rerank",
                     "max_tokens", "embed_concurrency", "embed_wait_s", "retry_after_s", "login_attempts_per_minute",
                     "session_hours", "header_timeout_s", "body_idle_timeout_s", "connections_per_address",
                     "upload_bytes_per_minute", "upload_disk_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} ({ENV_VARS.get(name, 'no variable')}) must be a positive integer, "
                                 f"got {value!r}")
        if not isinstance(self.rate_limit_per_minute, int) or self.rate_limit_per_minute < 0:
            raise ValueError(f"rate_limit_per_minute ({ENV_VARS['rate_limit_per_minute']}) must be an integer "
                             f">= 0 (0 = off), got {self.rate_limit_per_minute!r}")
        if self.api_key is not None and not self.api_keys:
            raise ValueError(f"api_key ({ENV_VARS['api_key']}) is set but holds no key")

    @property
    def api_keys(self) -> tuple[str, ...]:
        """The accepted API keys (empty when the API is open)."""
        if self.api_key is None:
            return ()
        return tuple(key.strip() for key in self.api_key.split(",") if key.strip())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ApiSettings":
        """Settings from ``HYBRID_*`` environment variables (see ``ENV_VARS``); unset ones keep their defaults.

        Args:
            environ: the variables; ``os.environ`` when None.
        Returns:
            The settings.
        Raises:
            ValueError: a variable that is not a valid value, naming the variable.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        types = {f.name: f.type for f in fields(cls)}
        for name, var in ENV_VARS.items():
            raw = environ.get(var)
            if raw is None or raw.strip() == "":
                continue
            if name == "api_key":
                values[name] = raw.strip()
            elif name == "cors_origins":
                values[name] = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
            else:
                assert types[name] in (int, "int"), name
                try:
                    values[name] = int(raw.strip())
                except ValueError:
                    raise ValueError(f"{var} must be an integer, got {raw!r}") from None
        return cls(**values)  # type: ignore[arg-type]


DEFAULT_API_SETTINGS = ApiSettings()
