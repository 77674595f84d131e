"""The access policy's parts on their own: sessions, credentials, the middleware over a bare ASGI app."""

from __future__ import annotations

import asyncio

import pytest

from server import ApiSettings
from server.access import Access, AccessMiddleware, AccessPolicy, Sessions, cookie, counts_as_work
from server.security import RateLimiter


def test_sessions_expire_are_bounded_and_end():
    now = [0.0]
    sessions = Sessions(ttl_s=10, max_sessions=2, clock=lambda: now[0])
    a, b = sessions.create("user:a"), sessions.create("user:b")
    assert sessions.principal(a) == "user:a" and sessions.principal("forged") is None
    c = sessions.create("user:c")  # a third session drops the oldest
    assert sessions.principal(a) is None and sessions.principal(c) == "user:c"
    sessions.end(c)
    assert sessions.principal(c) is None
    now[0] = 11
    assert sessions.principal(b) is None
    assert a not in repr(sessions._sessions) and len(a) >= 40  # only digests are kept


def test_credentials():
    policy = AccessPolicy(Access(("k1", "k2"), (("admin", "pw"),)), ApiSettings())
    assert policy.key_principal("k2") == "key:1" and policy.key_principal("k") is None
    assert policy.login_principal("admin", "pw") == "user:admin"
    assert policy.login_principal("admin", "PW") is None and policy.login_principal("Admin", "pw") is None
    assert policy.login_principal("", "k1") == "key:0"  # a key typed into the login page
    assert policy.principal({"authorization": "Bearer k1"}) == ("key:0", None, False)
    assert policy.principal({"authorization": "bearer k3"}) == (None, None, True)
    token = policy.sessions.create("user:admin")
    assert policy.principal({"cookie": f"other=1; hybrid_session={token}"}) == ("user:admin", token, False)
    assert cookie({}, "a") is None and cookie({"cookie": "b=1"}, "a") is None
    assert policy.principal({"cookie": 'hybrid_session="unterminated'}) == (None, None, False)
    # Found by the sixth attacker review: http.cookies dropped every cookie of a header holding one it could not
    # parse, so another app of the same host (any port) setting such a cookie logged every visitor out (a login
    # loop). Browsers and Starlette skip the bad pair and keep the others.
    for other in ('a="b', 'other={"a":1}', "x=hello world", "x=é", "x=a\\b", "theme=dark;", "y", 'x=a"b'):
        assert policy.principal({"cookie": f"{other}; hybrid_session={token}"}) == ("user:admin", token, False), other


def test_what_counts_for_the_rate_limit():
    assert counts_as_work("POST", "/gradio_api/queue/join") and counts_as_work("GET", "/v1/models")
    assert not counts_as_work("GET", "/gradio_api/queue/data") and not counts_as_work("GET", "/assets/x.js")


def _middleware(access: Access) -> tuple[AccessMiddleware, list]:
    reached: list = []

    async def app(scope, receive, send):
        reached.append(scope["type"])
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept"})

    return AccessMiddleware(app, AccessPolicy(access, ApiSettings()), RateLimiter(0), RateLimiter(10),
                            ApiSettings()), reached


def _websocket(middleware: AccessMiddleware, headers: list) -> list:
    sent: list = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "websocket", "path": "/gradio_api/mcp/ws", "headers": headers, "client": ("127.0.0.1", 5)}
    asyncio.run(middleware(scope, receive, send))
    return sent


@pytest.mark.parametrize("headers, allowed", [([], False), ([(b"authorization", b"Bearer nope")], False),
                                              ([(b"authorization", b"Bearer k1")], True)])
def test_websockets_need_credentials_too(headers, allowed):
    middleware, reached = _middleware(Access(("k1",)))
    sent = _websocket(middleware, headers)
    if allowed:
        assert reached == ["websocket"] and sent == [{"type": "websocket.accept"}]
    else:
        assert reached == [] and sent == [{"type": "websocket.close", "code": 1008}]


def test_a_loopback_server_closes_websockets_addressed_to_another_name():
    middleware, reached = _middleware(Access())
    middleware.policy.hosts = set()  # what server.app.start sets for a server on loopback
    assert _websocket(middleware, [(b"host", b"evil.example")]) == [{"type": "websocket.close", "code": 1008}]
    assert _websocket(middleware, [(b"host", b"127.0.0.1:7860")]) == [{"type": "websocket.accept"}]
    assert reached == ["websocket"]
