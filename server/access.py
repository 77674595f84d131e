"""Who may use the server: one access policy (API key, login, or open) over every route, the UI's included."""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import json
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problem import ApiError, error_body
from .security import RateLimiter
from .settings import ENV_VARS, ApiSettings

SESSION_COOKIE = "hybrid_session"
_LOGIN_BODY_BYTES = 16_384
# Anonymous clients of one address (cookie-less, or each with the anonymous session an open server hands every
# browser) share this many times the rate limit, on top of each one's own bucket: minting sessions cannot multiply
# the address's budget, while visitors behind one address (a share tunnel) still get a few buckets' worth together.
ANONYMOUS_BUCKETS_PER_ADDRESS = 4


@dataclass(frozen=True)
class Access:
    """Who may use the server.

    Attributes:
        api_keys: accepted keys (``Authorization: Bearer KEY``, or typed into the login page).
        users: accepted (user, password) logins.
        open: the operator asked for no credentials although the server is reachable from other machines.
        exposed: reachable from other machines (a share link, or a host other than loopback).
        generated_key: the key made up for an exposed server started without credentials (printed at start).
    """

    api_keys: tuple[str, ...] = field(default=(), repr=False)
    users: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    open: bool = False
    exposed: bool = False
    generated_key: str | None = field(default=None, repr=False)

    @property
    def protected(self) -> bool:
        """Whether every route but /health and the login page needs a key or a login."""
        return bool(self.api_keys or self.users)

    @property
    def shows_kb(self) -> bool:
        """Whether the page may show the ``--kb`` text: not to anonymous visitors from other machines."""
        return self.protected or not self.exposed


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a --host value, or the name in a Host header) names this machine only: localhost,
    127.x.x.x, ::1 (bracketed or not)."""
    name = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


_HOST_HEADER = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^:\[\]@/\\\s]+)(?::\d{1,5})?")


def host_name(header: str) -> str | None:
    """The name in a Host header (``name``, ``name:port``, ``[v6]:port``), lower case; None when malformed."""
    found = _HOST_HEADER.fullmatch(header)
    return found.group(1).lower().rstrip(".") if found else None


def resolve_access(api_key: str | None, auth: tuple[str, str] | None, *, share: bool = False,
                   host: str = "127.0.0.1", open_access: bool = False,
                   make_key: Callable[[], str] = lambda: secrets.token_urlsafe(24)) -> Access:
    """Decide the access of a server about to start.

    A server reachable from other machines (``share``, or ``host`` not loopback) without a key or a login gets a
    generated key, unless ``open_access`` says it should be open.

    Args:
        api_key: key(s), comma-separated (``HYBRID_API_KEY`` / ``--api-key``), or None.
        auth: (user, password) of ``--auth``, or None.
        share, host: where the server will be reachable.
        open_access: ``--open``: no credentials even when exposed.
        make_key: makes the generated key.
    Returns:
        The access.
    Raises:
        ValueError: ``open_access`` together with a key or a login.
    """
    keys = tuple(k.strip() for k in (api_key or "").split(",") if k.strip())
    users = (auth,) if auth else ()
    exposed = share or not is_loopback(host)
    if open_access and (keys or users):
        raise ValueError(f"--open serves without credentials; it cannot be combined with --auth, --api-key or "
                         f"{ENV_VARS['api_key']}")
    if exposed and not keys and not users and not open_access:
        key = make_key()
        return Access((key,), (), False, True, key)
    return Access(keys, users, open_access, exposed)


class Sessions:
    """Logged-in browser sessions: random tokens kept only as SHA-256 digests, expiring, bounded in number.

    Args:
        ttl_s: lifetime of a session.
        max_sessions: the oldest session is dropped beyond this many.
        clock: seconds (injectable for tests).
    """

    def __init__(self, ttl_s: float, max_sessions: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self.clock = clock
        self._sessions: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

    def create(self, principal: str) -> str:
        """A new session of ``principal``; returns its token (the cookie value)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[self._digest(token)] = (principal, self.clock() + self.ttl_s)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return token

    def principal(self, token: str) -> str | None:
        """Who holds session ``token``; None for an unknown or expired one."""
        # Looked up by digest: the dictionary's timing can tell nothing about valid tokens.
        digest = self._digest(token)
        with self._lock:
            found = self._sessions.get(digest)
            if found is None:
                return None
            if found[1] < self.clock():
                del self._sessions[digest]
                return None
            return found[0]

    def end(self, token: str) -> None:
        """Forget session ``token``."""
        with self._lock:
            self._sessions.pop(self._digest(token), None)


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


class AccessPolicy:
    """Checks credentials: keys, logins and sessions, every comparison in constant time.

    Args:
        access: who may use the server.
        settings: limits (session lifetime).
    """

    def __init__(self, access: Access, settings: ApiSettings) -> None:
        self.access = access
        self.sessions = Sessions(settings.session_hours * 3600.0)
        # Host names answered besides the loopback ones (``server.app.start`` adds the share link's); None: any
        # name (a server on another interface, or an app not started by ``start``).
        self.hosts: set[str] | None = None

    def answers_host(self, header: str | None) -> bool:
        """Whether a request addressed to ``header`` (its Host) is for this server: on loopback only loopback
        names and the share link's, so a page whose name was re-pointed at 127.0.0.1 (DNS rebinding) gets nothing.
        """
        if self.hosts is None or header is None:  # no Host at all: no browser sent it
            return True
        name = host_name(header)
        return name is not None and (is_loopback(name) or name in self.hosts)

    @property
    def protected(self) -> bool:
        return self.access.protected

    def key_principal(self, token: str) -> str | None:
        """``key:N`` for the N-th accepted key, None when ``token`` is none of them."""
        found = None
        for i, key in enumerate(self.access.api_keys):  # every key compared, so timing tells nothing
            if _equal(token, key):
                found = f"key:{i}"
        return found

    def login_principal(self, username: str, password: str) -> str | None:
        """``user:NAME`` for a matching login, ``key:N`` for a key typed as the password, else None."""
        found = None
        for user, secret in self.access.users:
            if _equal(username, user) & _equal(password, secret):
                found = f"user:{user}"
        return found or self.key_principal(password)

    def principal(self, headers: dict[str, str]) -> tuple[str | None, str | None, bool]:
        """Who sends a request: (principal, session token, whether a Bearer key was sent and is wrong)."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            key = self.key_principal(token.strip())
            if key is not None:
                return key, None, False
            return None, None, True
        session = cookie(headers, SESSION_COOKIE)
        if session:
            who = self.sessions.principal(session)
            if who is not None:
                return who, session, False
        return None, None, False

    def gradio_user(self, request) -> str | None:  # noqa: ANN001 - a fastapi.Request from the mounted UI
        """Gradio's ``auth_dependency``: the principal of a UI request (a second check behind the middleware)."""
        who, _, _ = self.principal({k.lower(): v for k, v in request.headers.items()})
        return who


def cookie(headers: dict[str, str], name: str) -> str | None:
    """The value of cookie ``name`` in the request headers."""
    raw = headers.get("cookie")
    if not raw:
        return None
    # As browsers and Starlette read it: a pair http.cookies cannot parse (a space, JSON, a bare name, set by
    # another app of the same host) is skipped; SimpleCookie dropped every cookie of the header with it.
    return cookie_parser(raw).get(name)


def client_bucket(who: str | None, session: str | None, address: str) -> str:
    """The client a limit counts: a login (or anonymous) session, else a key, else the address."""
    return f"session:{Sessions._digest(session)[:16]}" if session else (who or f"ip:{address}")


def request_client(policy: AccessPolicy, scope: Scope) -> tuple[str, str | None]:
    """``client_bucket`` of an ASGI request (for limits applied behind ``AccessMiddleware``), and its address when
    the client is anonymous (no key, no login: its budget is shared with the address's other anonymous clients,
    ``ANONYMOUS_BUCKETS_PER_ADDRESS``), else None."""
    who, session, _ = policy.principal(_headers(scope))
    address = scope["client"][0] if scope.get("client") else "unknown"
    return client_bucket(who, session, address), address if who in (None, "anonymous") else None


def counts_as_work(method: str, path: str) -> bool:
    """Whether a request is counted by the rate limit: the JSON API, and every POST (Gradio events, uploads,
    logins); page assets, the UI's event streams and heartbeats are not."""
    return method == "POST" or path.startswith("/v1/") or path in ("/search", "/health", "/openapi.json", "/docs")


# Gradio's file routes fetch an http(s) URL given in place of a path and stream it back (to public addresses only):
# a visitor could use the server as a relay. Nothing on the page needs it.
_FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/", "/gradio_api/proxy=")


def fetches_url(path: str) -> bool:
    """Whether a request makes the server fetch a URL for the visitor (Gradio's file routes given a URL)."""
    for prefix in _FILE_ROUTES:
        if path.startswith(prefix):
            target = path[len(prefix):].strip().lower()
            return prefix.endswith("proxy=") or target.startswith(("http:", "https:"))
    return False


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}


def _wants_html(headers: dict[str, str]) -> bool:
    return "text/html" in headers.get("accept", "")


def _safe_next(value: str | None) -> str:
    """A redirect target that stays on this server: a path of printable ASCII without backslashes that does not
    start with two slashes. Browsers drop tabs and newlines and read ``\\`` as ``/``, so ``/<TAB>/evil.example``
    and ``/\\evil.example`` lead to another site; such a target becomes ``/``."""
    if (not value or not value.startswith("/") or value[1:2] in ("/", "\\")
            or any(not "!" <= c <= "~" or c == "\\" for c in value)):
        return "/"
    return value


def _path_link(path: str) -> str:
    """A request's (decoded) path as it goes back into a link: percent-encoded, so nothing in it is read as
    another host."""
    return quote(path, safe="/:@!$&'()*+,;=~")


def is_api_path(path: str) -> bool:
    """Whether ``path`` belongs to the JSON API (its own limits; other sites may call it per HYBRID_CORS_ORIGINS)
    rather than the page."""
    return path.startswith("/v1/") or path in ("/search", "/health")


def _same_origin(headers: dict[str, str]) -> bool:
    """Whether a browser sent the request from this server's own pages: its Sec-Fetch-Site says same-origin (or
    none: typed in), or, from a browser without it, its Origin (when sent) names the Host it was sent to. A request
    with neither header is no browser's. Sec-Fetch-Site decides first: a proxy may rewrite the Host."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = headers.get("origin")
    return origin is None or urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


class AccessMiddleware:
    """The access policy, the rate limit and the login routes, in front of the whole app (API and UI).

    Args:
        app: the app (FastAPI routes and the mounted Gradio UI).
        policy: credentials.
        limiter: requests per client (``counts_as_work``); buckets per key, per session, else per address; the
            anonymous clients of an address also share ``ANONYMOUS_BUCKETS_PER_ADDRESS`` times its limit.
        login_limiter: login attempts and wrong keys per client address.
        settings: limits (named in the messages).
    """

    def __init__(self, app: ASGIApp, policy: AccessPolicy, limiter, login_limiter, settings: ApiSettings) -> None:
        self.app = app
        self.policy = policy
        self.limiter = limiter
        self.login_limiter = login_limiter
        self.settings = settings
        per_minute = getattr(limiter, "per_minute", 0)
        self.address_limiter = RateLimiter(per_minute * ANONYMOUS_BUCKETS_PER_ADDRESS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope.get("method", "GET")
        headers = _headers(scope)
        if not self.policy.answers_host(headers.get("host")):
            await self._wrong_host(scope, receive, send, headers.get("host", ""))
            return
        address = scope["client"][0] if scope.get("client") else "unknown"
        who, session, wrong_key = self.policy.principal(headers)

        if scope["type"] == "websocket":
            if self.policy.protected and who is None:
                await receive()
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if path in ("/login", "/login/") and method == "POST":
            await self._login(scope, receive, send, headers, address)
            return
        if path in ("/logout", "/logout/"):
            await self._logout(scope, send, method, headers, session)
            return
        if wrong_key:
            wait = self.login_limiter.acquire(address)
            if wait > 0:
                await self._error(scope, send, self._too_many_logins(wait))
                return
        if self.policy.protected and who is None:
            await self._refuse(scope, receive, send, path, method, headers, address, wrong_key)
            return

        if method == "POST" and not is_api_path(path) and not _same_origin(headers):
            # The page's routes take POSTs from its own pages only: a multipart upload needs no CORS preflight, so
            # any site a visitor opens could otherwise store files on a server the visitor reaches (loopback).
            await self._error(scope, send, ApiError(
                403, "cross_site", f"POST {path[:100]} came from another site's page; this server's page routes "
                "take requests only from its own pages (or from programs, which send no Origin)"))
            return
        if fetches_url(path):
            await self._error(scope, send, ApiError(
                403, "url_not_fetched", "this server does not fetch URLs for its visitors; open the URL yourself"))
            return

        new_cookie = None
        if who is None and path == "/" and method == "GET" and self.login_limiter.acquire(address) == 0:
            # An open server: each browser gets an anonymous session, so it has its own rate-limit bucket
            # even when every visitor arrives from one address (the share tunnel).
            session = self.policy.sessions.create("anonymous")
            who, new_cookie = "anonymous", session
        if counts_as_work(method, path):
            bucket = client_bucket(who, session, address)
            limit, client = self.settings.rate_limit_per_minute, "this client"
            wait = self.limiter.acquire(bucket)
            if wait == 0 and who in (None, "anonymous"):
                wait = self.address_limiter.acquire(address)
                limit, client = limit * ANONYMOUS_BUCKETS_PER_ADDRESS, "the anonymous clients of this address"
            if wait > 0:
                await self._error(scope, send, ApiError(
                    429, "rate_limited", f"more than {limit} requests a minute from {client} "
                    f"({ENV_VARS['rate_limit_per_minute']}); retry in {math.ceil(wait)} s",
                    headers={"Retry-After": str(math.ceil(wait))}))
                return
        if new_cookie is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", self._cookie(scope, new_cookie).encode())]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    # ------------------------------------------------------------------ refusals

    async def _wrong_host(self, scope: Scope, receive: Receive, send: Send, host: str) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            return
        port = (scope.get("server") or ("", 7860))[1]
        names = ", ".join(["localhost", "127.0.0.1", "[::1]", *sorted(self.policy.hosts or ())])
        await self._error(scope, send, ApiError(
            421, "wrong_host", f"this server listens on loopback and answers only requests addressed to this "
            f"machine (Host: {names}); this one was addressed to Host {host!r}. Open http://127.0.0.1:{port}/, or "
            "start the server with --host 0.0.0.0 to serve it under other names (it then needs a key or a login)"))

    async def _logout(self, scope: Scope, send: Send, method: str, headers: dict[str, str],
                      session: str | None) -> None:
        # A GET only shows the button: a link or an image on another site must not end the session (the
        # SameSite=Lax cookie travels with a cross-site navigation).
        if method != "POST":
            if _wants_html(headers):
                await self._send(send, 200, logout_page().encode(), "text/html; charset=utf-8")
            else:
                await self._error(scope, send, ApiError(
                    405, "method_not_allowed", "log out with POST /logout (the page's button does)",
                    headers={"Allow": "POST"}))
            return
        if not _same_origin(headers):
            await self._error(scope, send, ApiError(
                403, "cross_site", "logging out takes a POST from a page of this same site; open /logout here"))
            return
        if session:
            self.policy.sessions.end(session)
        await self._redirect(send, "/", clear_cookie=True)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, path: str, method: str,
                      headers: dict[str, str], address: str, wrong_key: bool) -> None:
        if path == "/health" and method in ("GET", "HEAD"):
            await self._json(send, 200, {"status": "alive"})
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("token") or [""])[0]
        if token and method in ("GET", "HEAD"):
            principal = self.policy.key_principal(token)
            wait = self.login_limiter.acquire(address)  # right or wrong, a link is a login: each mints a session
            if wait > 0:
                seconds = str(math.ceil(wait)).encode()
                if _wants_html(headers):  # a visitor who opened the share link: a page that tries again by itself
                    await self._send(send, 429, wait_page(math.ceil(wait)).encode(), "text/html; charset=utf-8",
                                     [(b"retry-after", seconds), (b"refresh", seconds)])
                else:
                    await self._error(scope, send, self._too_many_logins(wait))
                return
            if principal is not None:  # a link with ?token=KEY (printed at start): log in, drop it from the URL
                rest = urlencode({k: v for k, v in query.items() if k != "token"}, doseq=True)
                await self._redirect(send, _safe_next(_path_link(path) + (f"?{rest}" if rest else "")),
                                     set_session=self.policy.sessions.create(principal), scope=scope)
                return
        if method in ("GET", "HEAD") and _wants_html(headers):
            page = login_page(self.policy.access, _path_link(path), "")
            await self._send(send, 401, page.encode(), "text/html; charset=utf-8",
                             [(b"www-authenticate", b"Bearer")])
            return
        reason = "the API key is wrong" if wrong_key else "no API key or login session was sent"
        await self._error(scope, send, ApiError(
            401, "unauthorized", f"{reason}: send 'Authorization: Bearer <key>' with a key the server accepts "
            f"({ENV_VARS['api_key']}, --api-key or the key printed at start), or log in at /",
            headers={"WWW-Authenticate": "Bearer"}))

    def _too_many_logins(self, wait: float) -> ApiError:
        return ApiError(429, "rate_limited",
                        f"more than {self.settings.login_attempts_per_minute} login attempts or wrong keys a minute "
                        f"from this address ({ENV_VARS['login_attempts_per_minute']}); retry in {math.ceil(wait)} s",
                        headers={"Retry-After": str(math.ceil(wait))})

    # ------------------------------------------------------------------ login

    async def _login(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], address: str) -> None:
        # Another site's form could log a visitor in as the attacker (login CSRF): what the visitor then types or
        # uploads would land in the attacker's session.
        if not _same_origin(headers):
            await self._error(scope, send, ApiError(
                403, "cross_site", "logging in takes a POST from a page of this same site; open / here and log in"))
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > _LOGIN_BODY_BYTES:
                await self._error(scope, send, ApiError(413, "body_too_large", "a login is a user name and a "
                                                        "password; this body is too large"))
                return
            if not message.get("more_body", False):
                break
        wait = self.login_limiter.acquire(address)
        if wait > 0:
            await self._error(scope, send, self._too_many_logins(wait))
            return
        form = _login_form(body, headers.get("content-type", ""))
        principal = self.policy.login_principal(form.get("username", ""), form.get("password", ""))
        browser = _wants_html(headers)
        if not self.policy.protected:  # nothing to log in to: say yes, as Gradio does without auth
            if browser:
                await self._redirect(send, _safe_next(form.get("next")))
            else:
                await self._json(send, 200, {"success": True})
            return
        if principal is None:
            message = "wrong user name or password" if self.policy.access.users else "wrong key"
            if browser:
                page = login_page(self.policy.access, _safe_next(form.get("next")), message)
                await self._send(send, 401, page.encode(), "text/html; charset=utf-8")
                return
            await self._error(scope, send, ApiError(401, "unauthorized", message))
            return
        token = self.policy.sessions.create(principal)
        if browser:
            await self._redirect(send, _safe_next(form.get("next")), set_session=token, scope=scope)
            return
        await self._json(send, 200, {"success": True}, [(b"set-cookie", self._cookie(scope, token).encode())])

    def _cookie(self, scope: Scope, token: str, max_age: int | None = None) -> str:
        age = int(self.settings.session_hours * 3600) if max_age is None else max_age
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        return f"{SESSION_COOKIE}={token}; Path=/; Max-Age={age}; HttpOnly; SameSite=Lax{secure}"

    # ------------------------------------------------------------------ answers

    async def _redirect(self, send: Send, location: str, *, set_session: str | None = None,
                        clear_cookie: bool = False, scope: Scope | None = None) -> None:
        extra = [(b"location", location.encode("latin-1", "replace"))]
        if set_session is not None:
            extra.append((b"set-cookie", self._cookie(scope or {}, set_session).encode()))
        if clear_cookie:
            extra.append((b"set-cookie", self._cookie({}, "", max_age=0).encode()))
        await self._send(send, 303, b"", "text/plain", extra)

    async def _error(self, scope: Scope, send: Send, error: ApiError) -> None:
        extra = [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
        await self._send(send, error.status, json.dumps(error_body(scope["path"], error), ensure_ascii=False).encode(),
                         "application/json", extra)

    async def _json(self, send: Send, status: int, body: object,
                    extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        await self._send(send, status, json.dumps(body).encode(), "application/json", extra)

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, content_type: str,
                    extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                   (b"cache-control", b"no-store"), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _login_form(body: bytes, content_type: str) -> dict[str, str]:
    text = body.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def login_page(access: Access, next_path: str, error: str) -> str:
    """The sign-in page: a form and nothing else (no knowledge-base text, no app configuration)."""
    user_field = ('<label>用户名 / User <input name="username" autocomplete="username" required autofocus></label>'
                  if access.users else '<input type="hidden" name="username" value="">')
    secret = "密码 / Password" if access.users else "访问密钥 / Access key"
    hint = ("" if access.users else
            "<p class=hint>The key was printed when the server started (or is the server's "
            f"{ENV_VARS['api_key']}).</p>")
    problem = f'<p class="error" id="login-error">{html.escape(error)}</p>' if error else ""
    return f"""{_page_head("登录 / Sign in")}
<body><form method="post" action="/login" id="login">
<h1>登录 / Sign in</h1>{problem}
{user_field}
<label>{secret} <input type="password" name="password" autocomplete="current-password" required
{"" if access.users else "autofocus"}></label>
<input type="hidden" name="next" value="{html.escape(next_path)}">
<button type="submit">登录 / Sign in</button>{hint}
</form></body></html>
"""


def _page_head(title: str) -> str:
    # Referrer "same-origin", not "no-referrer": under no-referrer a browser sends "Origin: null" with the form's
    # POST, which the same-site check of /login and /logout must refuse.
    return f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin"><title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;display:flex;min-height:90vh;align-items:center;justify-content:center}}
form{{display:flex;flex-direction:column;gap:12px;width:320px}} label{{display:flex;flex-direction:column;gap:4px}}
input{{padding:8px;font-size:1rem}} button{{padding:10px;font-size:1rem}} .error{{color:#b00020}}
.hint{{color:#666;font-size:.85rem}}
</style></head>"""


def wait_page(seconds: int) -> str:
    """The page a browser gets when the logins of its address are used up for the minute (sent with a ``Refresh``
    header, so the browser opens the same link again after ``seconds``)."""
    return f"""{_page_head("请稍候 / Please wait")}
<body><div>
<h1>请稍候 / Please wait</h1>
<p id="wait">这一分钟内经这个地址打开的新访问太多，{int(seconds)} 秒后自动重试。<br>
Too many new visitors from this address this minute; trying again in {int(seconds)} s.</p>
</div></body></html>
"""


def logout_page() -> str:
    """The page of GET /logout: a button that logs out (a POST from this site)."""
    return f"""{_page_head("退出登录 / Log out")}
<body><form method="post" action="/logout" id="logout">
<h1>退出登录 / Log out</h1>
<button type="submit">退出登录 / Log out</button>
</form></body></html>
"""
