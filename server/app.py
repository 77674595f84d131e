"""The web server: the JSON API and (optionally) the Gradio UI on one port, with an optional Gradio share link."""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import signal
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.routing import Mount

from hybrid.engine import HybridEngine
from hybrid.service import ModelService
from hybrid.store import Store

from .access import (ANONYMOUS_BUCKETS_PER_ADDRESS, Access, AccessMiddleware, AccessPolicy, is_api_path, is_loopback,
                     request_client, resolve_access)
from .api import build_router
from .client_fix import ClientFix, fixed_client
from .connections import guarded_protocol
from .errors import install_error_handlers
from .gradio_guard import GradioGuard, refuse_missing_values
from .knowledge import ServerKnowledgeBase
from .openapi import build_openapi
from .security import BodyLimitMiddleware, RateLimiter, UntrustedForwardingMiddleware, UploadLimitMiddleware
from .settings import (ENV_VARS, MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES, MAX_UPLOAD_REQUEST_BYTES, MIN_UPLOAD_CHARGE,
                       ApiSettings)
from .uploads import RUN_FOLDER, FolderSize, refuse_foreign_files, use_run_folder

if TYPE_CHECKING:
    import gradio as gr
    import uvicorn

log = logging.getLogger(__name__)

API_ROUTES = ("/v1/embeddings", "/v1/rerank", "/v1/models", "/search", "/health")
# Presentation options Gradio 6 takes at launch/mount time rather than in the Blocks constructor.
_UI_OPTIONS = ("theme", "css", "css_paths", "js", "head", "head_paths")


def is_upload_path(path: str) -> bool:
    """Whether ``path`` is Gradio's upload route (bounded by ``UploadLimitMiddleware``)."""
    return path.rstrip("/") == "/gradio_api/upload"


def create_app(service: ModelService, kb_engine: HybridEngine | ServerKnowledgeBase | None = None,
               settings: ApiSettings | None = None, access: Access | None = None) -> FastAPI:
    """The FastAPI app of the JSON API (no UI), behind the access policy.

    Args:
        service: the shared model service (started here if it was not).
        kb_engine: the server's knowledge base: an engine served as is, a ``ServerKnowledgeBase``, or None.
        settings: limits and security; ``ApiSettings.from_env()`` when None.
        access: who may use the server; the keys of ``settings.api_key`` (none: open) when None.
    Returns:
        The app; ``app.state`` holds service, kb, settings and the access policy.
    """
    settings = settings if settings is not None else ApiSettings.from_env()
    access = access if access is not None else resolve_access(settings.api_key, None)
    service.start()
    kb = ServerKnowledgeBase.from_engine(kb_engine, service) if isinstance(kb_engine, HybridEngine) else kb_engine
    app = FastAPI(title="Hybrid search API", version="1", summary="OpenAI-compatible embeddings and hybrid search",
                  docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    policy = AccessPolicy(access, settings)
    app.state.service, app.state.kb, app.state.settings, app.state.access = service, kb, settings, policy
    install_error_handlers(app)
    app.include_router(build_router(service, kb, settings))
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    # Outermost last: CORS answers preflights and decorates every answer, then the access policy and rate
    # limit see every request (API and UI), then bodies are bounded before a route reads them.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes, applies=is_api_path)
    app.add_middleware(UploadLimitMiddleware, limit=MAX_UPLOAD_REQUEST_BYTES, file_limit=MAX_UPLOAD_BYTES,
                       applies=is_upload_path, max_files=MAX_UPLOAD_FILES,
                       budget=RateLimiter(settings.upload_bytes_per_minute), min_charge=MIN_UPLOAD_CHARGE,
                       address_budget=RateLimiter(settings.upload_bytes_per_minute * ANONYMOUS_BUCKETS_PER_ADDRESS),
                       client=lambda scope: request_client(policy, scope),
                       disk=FolderSize(), disk_limit=settings.upload_disk_bytes)
    # Gradio reads an event's JSON body whole, with no limit of its own; an event carries at most the page's
    # knowledge base (an upload of MAX_UPLOAD_BYTES read into the text box) and a few controls.
    app.add_middleware(BodyLimitMiddleware, limit=MAX_UPLOAD_REQUEST_BYTES, methods=("POST", "PUT", "PATCH"),
                       applies=lambda path: not is_api_path(path) and not is_upload_path(path), setting=None)
    app.add_middleware(AccessMiddleware, policy=policy, limiter=RateLimiter(settings.rate_limit_per_minute),
                       login_limiter=RateLimiter(settings.login_attempts_per_minute), settings=settings)
    # Always installed, closed unless HYBRID_CORS_ORIGINS names origins: Gradio's own CORS middleware answers
    # any localhost origin (every origin when the server is reached by a name) with credentials, and stands
    # aside only when the parent app has Starlette's CORSMiddleware.
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                       allow_headers=["Authorization", "Content-Type"])
    return app


def mount_ui(app: FastAPI, blocks: "gr.Blocks", ui_options: Mapping[str, Any] | None = None) -> FastAPI:
    """Serve ``blocks`` at ``/`` of ``app``; the API routes, registered first, keep precedence.

    The app's access policy covers the UI too (its middleware sees every request); Gradio is also given the
    policy as its ``auth_dependency``, so its own route checks agree with it.

    Args:
        app: from ``create_app``.
        blocks: the Gradio UI.
        ui_options: more ``gr.mount_gradio_app`` keywords (theme, css, js, head, ...); theme/css/js/head
            given to the Blocks constructor are used when not given here.
    Returns:
        ``app``.
    """
    import gradio as gr

    from . import session_state

    options = {name: getattr(blocks, f"_deprecated_{name}", None) for name in _UI_OPTIONS}
    options = {k: v for k, v in options.items() if v is not None}
    # No run history: its routes make the server call the Hugging Face hub on a visitor's behalf.
    options["run_history"] = False
    # An unexpected error's text (paths of the server's files, say) stays in the log; gr.Error messages, written
    # for the visitor, are still shown.
    options["show_error"] = False
    # Gradio stores uploads of any size unless told otherwise; the page reads no file larger than this.
    options["max_file_size"] = MAX_UPLOAD_BYTES
    # Gradio's usage summary (/monitoring/summary: each event's calls and success rate) is served unless this is
    # False exactly; None, its default, left it open to anyone who can reach the page.
    options["enable_monitoring"] = False
    options.update(ui_options or {})
    policy: AccessPolicy = app.state.access
    if policy.protected:
        options.setdefault("auth_dependency", policy.gradio_user)
    mounted = gr.mount_gradio_app(app, blocks, path="/", **options)
    if getattr(blocks, "mcp_server_obj", None) is not None:
        _json_tool_answers(blocks.mcp_server_obj)
    for route in mounted.routes:  # the Mount just added: Gradio's app, behind the guard of its routes
        if isinstance(route, Mount) and getattr(route.app, "blocks", None) is blocks:
            # Sessions go fairly when too many hold state: the client holding the most loses one first.
            sessions = session_state.install(route.app, blocks)
            route.app = GradioGuard(ClientFix(route.app, fixed_client()), blocks,
                                    client=lambda scope: request_client(policy, scope), sessions=sessions)
    # Gradio refuses event file data naming a path outside its upload folder only for a Blocks it launched
    # itself (processing_utils._check_allowed); a mounted Blocks must say it is live, or any client could
    # make an event read any file on the server.
    blocks.has_launched = True
    refuse_foreign_files(blocks)
    refuse_missing_values(blocks)
    return mounted


@dataclass
class RunningServer:
    """A server started by ``start``: its URLs, and ``stop()``/``wait()``."""

    app: FastAPI
    host: str
    port: int
    server: "uvicorn.Server" = field(repr=False)
    thread: threading.Thread = field(repr=False)
    share_url: str | None = None
    access: Access | None = None
    upload_folder: Path | None = None  # this process's upload folder (``server.uploads.RunFolder``), UI only

    @property
    def url(self) -> str:
        """Local base URL (loopback when bound to every interface)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else ("[::1]" if self.host == "::" else self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def wait(self) -> None:
        """Block until the server stops (Ctrl+C or SIGTERM stops it, and its upload folder goes with it)."""
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
        try:
            while self.thread.is_alive():
                self.thread.join(0.5)
        except KeyboardInterrupt:
            print("Stopping...")
        finally:
            self.stop()
            if main:
                signal.signal(signal.SIGTERM, previous)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down, wait for it, and remove what visitors uploaded (the last server of the process)."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.upload_folder is not None:
            self.upload_folder = None
            RUN_FOLDER.release()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); the port may be taken by another "
                      "server: choose another with --port or stop the other one") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def open_share_link(host: str, port: int, blocks: "gr.Blocks | None" = None) -> str | None:
    """Open Gradio's share tunnel to ``host:port`` (the whole server: UI and API) and return its public URL.

    The tunnel forwards every path to the local port, so the API routes travel with the UI. Returns None
    (after logging why) when the tunnel cannot be opened, e.g. without internet; the server keeps running.
    """
    from gradio import networking

    token = getattr(blocks, "share_token", None) or secrets.token_urlsafe(32)
    local = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    try:
        raw = networking.setup_tunnel(local_host=local, local_port=port, share_token=token,
                                      share_server_address=None, share_server_tls_certificate=None)
    except Exception as exc:  # noqa: BLE001 - any tunnel failure: say so, keep serving locally
        log.error("could not create the share link (%s: %s); the server is reachable locally only",
                  type(exc).__name__, exc)
        print(f"Could not create the share link ({type(exc).__name__}: {exc}). "
              "Check the internet connection; the server is reachable locally only.")
        return None
    url = urlunparse(("https",) + tuple(urlparse(raw))[1:])
    if blocks is not None:
        blocks.share, blocks.share_url = True, url
    return url


def start(blocks: "gr.Blocks | None", service: ModelService, *, host: str = "127.0.0.1", port: int = 7860,
          share: bool = False, auth: tuple[str, str] | None = None, kb_path: str | None = None,
          api_settings: ApiSettings | None = None, ui_options: Mapping[str, Any] | None = None,
          access: Access | None = None, open_access: bool = False, forwarded_allow_ips: str | None = None,
          log_level: str = "warning", store: Store | None = None,
          kb: ServerKnowledgeBase | None = None) -> RunningServer:
    """Start the server in a background thread and return once it accepts connections.

    Arguments as for ``serve``; ``port=0`` picks a free port. ``kb``: the server's knowledge base already
    built (the one the UI's search endpoint searches too); made from ``store`` or ``kb_path`` when None.
    Raises:
        OSError: the port cannot be bound. KnowledgeBaseError, FileNotFoundError: a bad ``kb_path``.
        ValueError: contradictory access options.
    """
    import uvicorn

    settings = api_settings if api_settings is not None else ApiSettings.from_env()
    if access is None:
        access = resolve_access(settings.api_key, auth, share=share, host=host, open_access=open_access)
    check_forwarded_allow_ips(forwarded_allow_ips, share)
    service.start()
    if kb is None and store is not None:
        kb = ServerKnowledgeBase.from_store(store, service).start()
    elif kb is None and kb_path:
        kb = ServerKnowledgeBase.from_file(kb_path, service).start()
    app = create_app(service, kb, settings, access)
    folder = None
    if blocks is not None:
        folder = RUN_FOLDER.acquire()
        use_run_folder(blocks, folder)
        mount_ui(app, blocks, ui_options)
    if access.open and access.exposed:
        log.warning("--open: anyone who can reach this server%s may use the UI and the API without a key",
                    " (the share link is public)" if share else f" (host {host})")
    try:
        sock = _bind(host, port)
    except OSError:
        if folder is not None:
            RUN_FOLDER.release()
        raise
    # Forwarded headers (X-Forwarded-For) are believed only from the proxies the operator names; uvicorn's own
    # default would believe them from 127.0.0.1, which is where the share tunnel and every local program connect.
    trusted = [v.strip() for v in (forwarded_allow_ips or "").split(",") if v.strip()]
    protocol = guarded_protocol(settings.header_timeout_s, settings.body_idle_timeout_s,
                                settings.connections_per_address, exempt=["127.0.0.1", "::1", *trusted])
    served: Any = app
    if forwarded_allow_ips:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        served = ProxyHeadersMiddleware(app, trusted_hosts=forwarded_allow_ips)
    served = UntrustedForwardingMiddleware(served, forwarded_allow_ips)  # outermost: it sees the real peer
    config = uvicorn.Config(served, log_level=log_level, timeout_graceful_shutdown=5, http=protocol,
                            proxy_headers=False)
    logging.getLogger("uvicorn.access").addFilter(_HIDE_TOKENS)  # after Config, which sets up uvicorn's logging
    if is_loopback(host):
        app.state.access.hosts = set()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            sock.close()
            if folder is not None:
                RUN_FOLDER.release()
            raise OSError(f"the server on {host}:{port} stopped during start-up; see the log above")
        thread.join(0.05)
    running = RunningServer(app, host, sock.getsockname()[1], server, thread, access=access, upload_folder=folder)
    if share:
        running.share_url = open_share_link(host, running.port, blocks)
        if running.share_url and app.state.access.hosts is not None:
            # The tunnel passes the visitor's Host (the link's name) through unchanged.
            app.state.access.hosts.add(urlparse(running.share_url).hostname)
    return running


_LOOPBACK_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"),
                      ipaddress.ip_network("::ffff:127.0.0.0/104"))


def check_forwarded_allow_ips(value: str | None, share: bool) -> None:
    """Refuse trusting forwarded headers from the share tunnel's own address.

    Every entry is read as uvicorn reads it (an address or a network); with ``share`` each must be one, and none
    may hold a loopback address (``0.0.0.0/0``, ``::/0`` and ``*`` do).

    Raises:
        ValueError: ``share`` with loopback (or ``*``, or a name) among the trusted proxies.
    """
    if not value or not share:
        return
    why = ("every share-link visitor arrives from the local tunnel on 127.0.0.1, so each could claim any address "
           "and guess passwords without limit; name your proxies by their own addresses (e.g. 10.0.0.5 or "
           "10.0.0.0/24), or leave --forwarded-allow-ips out")
    for entry in (v.strip() for v in value.split(",")):
        if not entry:
            continue
        if entry == "*":
            raise ValueError(f"--forwarded-allow-ips cannot be * (every address) with --share: {why}")
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"--forwarded-allow-ips: {entry!r} is not an IP address or network; with --share it "
                             f"must be one that does not hold 127.0.0.1 ({why})") from None
        if any(network.version == loop.version and network.overlaps(loop) for loop in _LOOPBACK_NETWORKS):
            raise ValueError(f"--forwarded-allow-ips cannot hold 127.0.0.1 or ::1 with --share: {entry} does ({why})")


class _HideTokens(logging.Filter):
    """Writes ``token=[hidden]`` for the key of a login link (``?token=KEY``) in uvicorn's access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_hide_token(arg) if isinstance(arg, str) and "?" in arg else arg
                                for arg in record.args)
        return True


def _hide_token(target: str) -> str:
    path, _, query = target.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name.strip().lower() == "token" for name, _ in pairs):
        return target
    return path + "?" + urlencode([(n, "[hidden]" if n.strip().lower() == "token" else v) for n, v in pairs],
                                  safe="[]")


_HIDE_TOKENS = _HideTokens()


def access_lines(running: RunningServer) -> list[str]:
    """What ``serve`` prints about access: the generated key and links that log in with it."""
    access = running.access
    if access is None or access.generated_key is None:
        return []
    key = access.generated_key
    lines = [f"* Access key (generated; the server is reachable from other machines): {key}",
             f"  Open {running.url}/?token={key}" + (f" or {running.share_url}/?token={key}" if running.share_url
                                                       else "") + " to log in, or send 'Authorization: Bearer <key>'.",
             f"  Choose your own with {ENV_VARS['api_key']} / --api-key or --auth USER:PASSWORD; "
             "--open serves without credentials."]
    return lines


def serve(blocks: "gr.Blocks | None", service: ModelService, *, host: str = "127.0.0.1", port: int = 7860,
          share: bool = False, auth: tuple[str, str] | None = None, kb_path: str | None = None,
          api_settings: ApiSettings | None = None, ui_options: Mapping[str, Any] | None = None,
          access: Access | None = None, open_access: bool = False, forwarded_allow_ips: str | None = None,
          store: Store | None = None, kb: ServerKnowledgeBase | None = None) -> None:
    """Serve the JSON API and, when ``blocks`` is given, the Gradio UI on the same port until Ctrl+C.

    Args:
        blocks: the UI; None serves the API alone (``--no-ui``).
        service: the shared model service (loading starts here if it has not).
        host, port: where to listen.
        share: open a Gradio share link; it tunnels to this port, so it carries the UI and the API.
        auth: (user, password) of the login; it protects every route, as the key does.
        kb_path: the server's knowledge base file for /search (embedded in the background).
        api_settings: limits and security; ``ApiSettings.from_env()`` when None.
        ui_options: extra ``gr.mount_gradio_app`` keywords (theme, css, js, head, mcp_server, ...).
        store: serve this store (e.g. a Milvus collection, opened read-only) as the knowledge base instead of
            ``kb_path``.
        access: who may use the server (``resolve_access``); decided from the key, ``auth``, ``share``, ``host``
            and ``open_access`` when None.
        open_access: ``--open``: no generated key for a server reachable from other machines.
        forwarded_allow_ips: proxies whose X-Forwarded-For is believed (uvicorn's setting); none when None.
        kb: the server's knowledge base already built (shared with the UI's search endpoint); made from
            ``store`` or ``kb_path`` when None.
    """
    running = start(blocks, service, host=host, port=port, share=share, auth=auth, kb_path=kb_path,
                    api_settings=api_settings, ui_options=ui_options, access=access, open_access=open_access,
                    forwarded_allow_ips=forwarded_allow_ips, log_level="info", store=store, kb=kb)
    if blocks is not None:
        print(f"* UI:  {running.url}/")
    print(f"* API: {running.url}  ({', '.join(API_ROUTES)}; schema at /openapi.json)")
    if running.share_url:
        print(f"* Public URL (UI and API): {running.share_url}")
    for line in access_lines(running):
        print(line)
    running.wait()


def _json_tool_answers(mcp_server: object) -> None:
    """Make Gradio's MCP server send a tool's dict or list answer as JSON text: it sent ``str()`` of it, Python's
    repr (single quotes, None, True), which an MCP client cannot parse as JSON."""
    from gradio_client.utils import is_file_obj_with_meta  # a file stays a file (Gradio sends it as an image)

    original = mcp_server.postprocess_output_data

    def postprocess_output_data(data, root_url):
        data = [json.dumps(item, ensure_ascii=False)
                if isinstance(item, (dict, list)) and not is_file_obj_with_meta(item) else item for item in data]
        return original(data, root_url)

    mcp_server.postprocess_output_data = postprocess_output_data
