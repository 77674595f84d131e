"""The server as an attacker meets it: the demo and the API on a loopback port (uvicorn started here), probed over
real HTTP and with gradio_client, without credentials, with forged headers, with server paths and oversized input."""

from __future__ import annotations

import json
import threading
import os
import shutil
import uuid
from pathlib import Path

import httpx
import pytest
from gradio.utils import get_upload_folder

import demo
from hybrid.semantic import LoadedEmbedder
from hybrid.service import ModelService
from server import ApiSettings
from tests.fakes import OneHotEncoder

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

pytestmark = [
    pytest.mark.server,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

# Lines no sample knowledge base holds: finding one in an answer means the --kb file leaked.
KB_LINES = ["内部条目：服务器迁移定在周五夜里。", "内部条目：巴黎办公室下月搬家。", "机密条目：季度预算是三百万。"]
SECRET = "绝密：服务器上的私人笔记 4711"


def fake_service() -> ModelService:
    service = ModelService(cache=False, loader=lambda model, **_: LoadedEmbedder(OneHotEncoder(), model)).start()
    service.wait(30)
    return service


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A knowledge-base file and a private note elsewhere on the server."""
    folder = tmp_path_factory.mktemp("security")
    kb = folder / "kb.txt"
    kb.write_text("\n".join(KB_LINES), encoding="utf-8")
    home = folder / "home"
    home.mkdir()
    note = home / "note.txt"
    note.write_text(SECRET + "\n", encoding="utf-8")
    return {"kb": kb, "note": note}


def serve_demo(kb: Path | None = None, **start_options):
    """The whole demo (UI + API) on a free loopback port, as ``python demo.py`` serves it."""
    from server.app import start

    service = fake_service()
    kb_text = kb.read_text(encoding="utf-8") if kb else None
    blocks = demo.build_demo(service, kb_text)
    options = {"api_settings": ApiSettings(), **start_options}
    return start(blocks, service, host="127.0.0.1", port=0, kb_path=str(kb) if kb else None, **options)


# Logins are limited per address; the shared servers allow many so that only the test of that limit meets it.
MANY_LOGINS = 10_000


@pytest.fixture(scope="module")
def keyed(files):
    """``HYBRID_API_KEY=k123 python demo.py --kb kb.txt --mcp``."""
    running = serve_demo(files["kb"], api_settings=ApiSettings(api_key="k123", login_attempts_per_minute=MANY_LOGINS),
                         ui_options={"mcp_server": True})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def logged(files):
    """``python demo.py --auth admin:pw --kb kb.txt``."""
    running = serve_demo(files["kb"], auth=("admin", "pw"),
                         api_settings=ApiSettings(login_attempts_per_minute=MANY_LOGINS))
    yield running
    running.stop()


KEY = {"Authorization": "Bearer k123"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


# ----------------------------------------------------------------------------- helpers: Gradio's wire protocol


def config(url: str, headers: dict | None = None) -> dict:
    r = httpx.get(f"{url}/config", headers=headers or {})
    assert r.status_code == 200, r.text[:300]
    return r.json()


def fn_index_of(cfg: dict, elem_id: str, trigger: str) -> int:
    """The event listener of component ``elem_id`` for ``trigger`` (e.g. the upload box's "upload")."""
    ids = {c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id") == elem_id}
    for dep in cfg["dependencies"]:
        if any(t[0] in ids and t[1] == trigger for t in dep["targets"]):
            return dep["id"]
    raise AssertionError(f"no {trigger} event on #{elem_id}")


def run_event(url: str, fn_index: int, data: list, headers: dict | None = None, timeout: float = 30,
              session: str | None = None) -> list[dict]:
    """Call an event the way the page does (queue/join, then read its stream) in ``session`` (a new one when
    None); returns the stream's messages."""
    session = session or uuid.uuid4().hex
    with httpx.Client(base_url=url, headers=headers or {}, timeout=timeout) as http:
        r = http.post("/gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                                      "event_data": None, "trigger_id": None})
        if r.status_code != 200:
            return [{"msg": "refused", "status": r.status_code, "text": r.text}]
        messages = []
        with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    messages.append(message)
                    if message.get("msg") in ("process_completed", "close_stream", "unexpected_error"):
                        break
        return messages


def call_api(url: str, api_name: str, data: list, headers: dict | None = None) -> tuple[int, str]:
    """``POST /gradio_api/call/NAME`` then ``GET .../EVENT_ID``, as in Gradio's curl docs; returns (status, text)."""
    with httpx.Client(base_url=url, headers=headers or {}, timeout=30) as http:
        r = http.post(f"/gradio_api/call/{api_name}", json={"data": data})
        if r.status_code != 200:
            return r.status_code, r.text
        event = r.json()["event_id"]
        r = http.get(f"/gradio_api/call/{api_name}/{event}")
        return r.status_code, r.text


def file_data(path: str | Path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


# ----------------------------------------------------------------------------- 1. no server file is ever read


def attack_paths(note: Path) -> list[str]:
    """Ways to name the private note: directly, climbing out of the upload folder, through a link inside it."""
    uploads = Path(get_upload_folder())
    climb = f"{uploads}/x/" + "../" * (len(uploads.parts) + 1) + str(note).lstrip("/")
    return [str(note), climb]


@pytest.fixture()
def link_in_uploads(files):
    """A symbolic link placed inside Gradio's upload folder that points at the private note."""
    folder = Path(get_upload_folder()) / f"attack-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    link = folder / "note.txt"
    link.symlink_to(files["note"])
    yield link
    shutil.rmtree(folder)


def test_the_upload_event_never_reads_a_server_file(keyed, files, link_in_uploads):
    """Issue reproducer: FileData naming any file (or climbing out with .., or a link) gave its contents back."""
    cfg = config(keyed.url, KEY)
    upload = fn_index_of(cfg, "upload", "upload")
    for path in [*attack_paths(files["note"]), str(link_in_uploads)]:
        messages = run_event(keyed.url, upload, [file_data(path), "replace", "typed", "en"], KEY)
        assert SECRET not in json.dumps(messages, ensure_ascii=False), path
        done = messages[-1]
        assert done.get("msg") in ("process_completed", "refused"), messages
        if done.get("msg") == "process_completed":
            assert done["success"] is False or "was not uploaded here" in json.dumps(done["output"]), done
    # The evaluation tab reads the files of its event too: a CSV of (query, relevant text) would show the note.
    evaluate = fn_index_of(cfg, "eval-run", "click")
    for path in [*attack_paths(files["note"]), str(link_in_uploads)]:
        messages = run_event(keyed.url, evaluate, [[file_data(path)], 0, "en"], KEY)
        assert SECRET not in json.dumps(messages, ensure_ascii=False), path
        done = messages[-1]
        assert done["success"] is False or "was not uploaded here" in json.dumps(done["output"]), done
    named = {d.get("api_name") for d in cfg["dependencies"] if d.get("api_visibility", "public") != "private"}
    if "upload" in named:  # the curl route of the report, while the event has a public name
        for path in [*attack_paths(files["note"]), str(link_in_uploads)]:
            status, body = call_api(keyed.url, "upload", [file_data(path), "replace", "typed", "en"], KEY)
            assert SECRET not in body and ("event: error" in body or status >= 400), (path, status, body[:300])


def test_a_file_uploaded_through_gradio_is_read(keyed, tmp_path):
    """What the upload box does: send the file to /gradio_api/upload, then run the event on the stored copy."""
    source = tmp_path / "mine.txt"
    source.write_text("我上传的知识\n第二条\n", encoding="utf-8")
    with httpx.Client(base_url=keyed.url, headers=KEY) as http:
        r = http.post("/gradio_api/upload", files={"files": ("mine.txt", source.read_bytes(), "text/plain")})
        assert r.status_code == 200, r.text
        stored = r.json()[0]
    assert Path(stored).resolve().is_relative_to(Path(get_upload_folder()).resolve())
    messages = run_event(keyed.url, fn_index_of(config(keyed.url, KEY), "upload", "upload"),
                         [file_data(stored), "replace", "", "en"], KEY)
    assert messages[-1]["msg"] == "process_completed" and messages[-1]["success"], messages[-1]
    assert messages[-1]["output"]["data"][0] == "我上传的知识\n第二条"


def _raw_post(url: str, path: str, headers: dict[str, str], body: bytes = b"", timeout: float = 10) -> tuple[int, str]:
    """A POST sent as written (declared sizes and framing the test chooses); returns (status, body)."""
    import http.client
    from urllib.parse import urlparse

    where = urlparse(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=timeout)
    try:
        conn.putrequest("POST", path)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        if body:
            conn.send(body)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_uploads_are_bounded_by_file_and_by_request(keyed):
    """Found by the attacker probe: Gradio's upload route stored files of any size (up to 1,000 a request) for
    any visitor who got in, an open share link's included, so one request could fill the server's disk."""
    from server.settings import MAX_UPLOAD_BYTES, MAX_UPLOAD_REQUEST_BYTES

    with httpx.Client(base_url=keyed.url, headers=KEY, timeout=60) as http:
        big = http.post("/gradio_api/upload", files={"files": ("big.txt", b"x" * (MAX_UPLOAD_BYTES + 1), "text/plain")})
        assert big.status_code == 413, big.text[:200]
        fits = http.post("/gradio_api/upload", files={"files": ("fits.txt", "巴黎\n".encode() * 10, "text/plain")})
        assert fits.status_code == 200, fits.text[:200]
    boundary = "b0undary"
    multipart = {**KEY, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    # Declared over the request limit: refused at once, the body is never read (a server waiting for it would
    # time out here).
    status, body = _raw_post(keyed.url, "/gradio_api/upload",
                             {**multipart, "Content-Length": str(MAX_UPLOAD_REQUEST_BYTES + 1)})
    assert status == 413 and str(MAX_UPLOAD_REQUEST_BYTES) in body, body
    part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n").encode()
    chunked = f"{len(part):x}\r\n".encode() + part + b"\r\n0\r\n\r\n"
    status, body = _raw_post(keyed.url, "/gradio_api/upload", {**multipart, "Transfer-Encoding": "chunked"}, chunked)
    assert status == 411 and "Content-Length" in body, body
    status, body = _raw_post(keyed.url, "/gradio_api/upload", {**multipart, "Content-Length": str(len(part))}, part)
    assert status == 200 and "a.txt" in body, body


def test_gradio_event_bodies_are_bounded():
    """Found by the attacker probe: POST /gradio_api/queue/join took a 60 MB JSON body (Gradio reads an event's
    body whole, with no limit) from anyone an open server lets in."""
    from server.settings import MAX_UPLOAD_REQUEST_BYTES

    running = serve_demo()  # python demo.py: no credentials on loopback
    try:
        join = {"data": ["巴黎"], "fn_index": 0, "session_hash": "s1", "event_data": None, "trigger_id": None}
        padding = "字" * (MAX_UPLOAD_REQUEST_BYTES // 3 + 1)  # 3 bytes each in UTF-8
        with httpx.Client(base_url=running.url, timeout=60) as http:
            big = http.post("/gradio_api/queue/join", json={**join, "data": [padding]})
            assert big.status_code == 413 and str(MAX_UPLOAD_REQUEST_BYTES) in big.json()["message"], big.text[:300]
            # Declared too large: refused before the body is read.
            status, body = _raw_post(running.url, "/gradio_api/queue/join", {
                "Content-Type": "application/json", "Content-Length": str(10 * MAX_UPLOAD_REQUEST_BYTES)})
            assert status == 413, body
            assert http.post("/gradio_api/queue/join", json=join).status_code == 200  # an ordinary event
    finally:
        running.stop()


@pytest.fixture()
def page_elsewhere():
    """A page on another server (loopback here, standing for a public address: there is no internet in the tests)
    and safehttpx's public-address check admitting it, as it admits any public host."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import safehttpx

    hits: list[str] = []

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            body = SECRET.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    original = safehttpx.async_validate_url

    async def admit(hostname: str) -> str:
        return "127.0.0.1" if hostname == "relay.test" else await original(hostname)

    safehttpx.async_validate_url = admit
    try:
        yield f"http://relay.test:{server.server_address[1]}/inside", hits
    finally:
        safehttpx.async_validate_url = original
        server.shutdown()


def test_the_server_fetches_no_url_for_a_visitor(keyed, page_elsewhere):
    """Found by the attacker probe: GET /gradio_api/file=http://HOST/... made the server fetch the URL and stream
    it back, a relay for anyone who got in (an open share link: the internet)."""
    url, hits = page_elsewhere
    running = serve_demo()  # python demo.py: no credentials on loopback
    try:
        for base, headers in ((running.url, {}), (keyed.url, KEY)):
            for path in (f"/gradio_api/file={url}", f"/gradio_api/file/{url}", f"/gradio_api/file={url.upper()}",
                         "/gradio_api/proxy=" + url):
                r = httpx.get(f"{base}{path}", headers=headers)
                assert r.status_code == 403 and SECRET not in r.text, (path, r.status_code, r.text[:200])
                assert "does not fetch URLs" in r.json()["message"]
        assert hits == []
        assert httpx.get(f"{keyed.url}/gradio_api/file={url}").status_code == 401  # no key: refused as ever
    finally:
        running.stop()


# ----------------------------------------------------------------------------- 2. one access policy, every route


def every_route(app) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, FastAPI's and the mounted Gradio app's, parameters filled."""
    from starlette.routing import Mount, Route

    found: list[tuple[str, str]] = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount) and not route.routes:  # an ASGI app of its own (e.g. the MCP server)
                found.extend([("GET", f"{prefix}{route.path}/"), ("POST", f"{prefix}{route.path}/")])
            elif isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            elif isinstance(route, Route):
                found.extend((method, prefix + route.path) for method in sorted(route.methods or {"GET"}))
            elif hasattr(route, "original_router"):  # FastAPI's included routers
                walk(route.original_router.routes, prefix + route.include_context.prefix)

    walk(app.routes, "")
    return sorted(set(found))


def filled(path: str, kb: Path) -> str:
    """A route pattern with its parameters filled in; file parameters name the knowledge-base file."""
    import re

    path = re.sub(r"\{(path_or_url|path)(:path)?\}", str(kb).lstrip("/") if "file/" in path else str(kb), path)
    return re.sub(r"\{[^}]+\}", "x", path)


PUBLIC = {("POST", "/login"), ("POST", "/login/"), ("GET", "/logout")}


def probe(running, kb: Path, headers: dict, routes: list[tuple[str, str]], accepts=({}, BROWSER)) -> list[str]:
    """Request ``routes`` with ``headers``; returns every answer other than a refusal, and every leak."""
    problems = []
    with httpx.Client(base_url=running.url, timeout=30) as http:
        for method, pattern in routes:
            if (method, pattern) in PUBLIC:
                continue
            path = filled(pattern, kb)
            for accept in accepts:
                r = http.request(method, path, headers={**headers, **accept}, json={} if method == "POST" else None)
                body = r.text
                named = str(kb) in path  # the login page's "next" field repeats the path asked for
                if any(line in body for line in KB_LINES) or SECRET in body or (str(kb) in body and not named):
                    problems.append(f"{method} {path}: leaks data ({r.status_code})")
                if pattern == "/health":
                    if r.json() != {"status": "alive"}:
                        problems.append(f"{method} {path}: {body[:100]}")
                elif r.status_code != 401:
                    problems.append(f"{method} {path}: {r.status_code} {body[:100]}")
    return problems


# One route of each kind, for the forged headers (the full sweep runs without credentials).
SAMPLE = [("GET", "/"), ("GET", "/config"), ("GET", "/gradio_api/info"), ("POST", "/gradio_api/queue/join"),
          ("GET", "/gradio_api/file={path_or_url:path}"), ("POST", "/gradio_api/upload"), ("POST", "/search"),
          ("GET", "/v1/models"), ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/health"),
          ("GET", "/gradio_api/mcp/schema"), ("POST", "/gradio_api/mcp/")]

FORGED = [
    {"Authorization": "Bearer k12"}, {"Authorization": "Bearer k1234"}, {"Authorization": "Bearer"},
    {"Authorization": "Basic YWRtaW46cHc="}, {"Authorization": "k123"},
    {"Cookie": "hybrid_session=k123"}, {"Cookie": "access-token-x=k123; access-token-unsecure-x=k123"},
    {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1", "Forwarded": "for=127.0.0.1"},
    {"Host": "localhost", "Origin": "http://127.0.0.1", "Referer": "http://127.0.0.1/"},
]


@pytest.mark.parametrize("server", ["keyed", "logged"])
def test_every_route_ui_included_is_refused_without_credentials(server, files, request):
    """Issue reproducers: without the key /config gave the --kb text, and /, /gradio_api/info and
    /gradio_api/openapi.json answered 200; with --auth, POST /search answered without a login."""
    running = request.getfixturevalue(server)
    routes = every_route(running.app)
    assert len(routes) > 60 and ("POST", "/gradio_api/queue/join") in routes  # Gradio's routes are in the list
    if server == "keyed":  # and the MCP server's
        assert ("POST", "/gradio_api/mcp/") in routes and ("GET", "/gradio_api/mcp/schema") in routes
    assert probe(running, files["kb"], {}, routes) == []


@pytest.mark.parametrize("server", ["keyed", "logged"])
def test_forged_credentials_and_headers_are_refused(server, files, request):
    running = request.getfixturevalue(server)
    problems = [p for headers in FORGED for p in probe(running, files["kb"], headers, SAMPLE, accepts=({},))]
    assert problems == []


def test_a_bearer_key_may_use_the_mcp_server(keyed):
    assert httpx.get(f"{keyed.url}/gradio_api/mcp/schema").status_code == 401
    schema = httpx.get(f"{keyed.url}/gradio_api/mcp/schema", headers=KEY)
    assert schema.status_code == 200 and "search" in schema.text


def test_the_login_page_carries_nothing_of_the_knowledge_base(logged, keyed):
    for running, field in ((logged, 'name="username"'), (keyed, "Access key")):
        r = httpx.get(f"{running.url}/", headers=BROWSER)
        assert r.status_code == 401 and "text/html" in r.headers["content-type"]
        page = r.text
        assert field in page and 'action="/login"' in page
        assert not any(line in page for line in KB_LINES)
        for leak in ("gradio_config", "gradio_api_info", "window.__gradio"):
            assert leak not in page


def test_a_logged_in_browser_may_use_the_page_and_the_json_api(logged):
    with httpx.Client(base_url=logged.url) as http:
        assert http.post("/search", json={"query": "巴黎"}).status_code == 401
        wrong = http.post("/login", data={"username": "admin", "password": "nope", "next": "/"}, headers=BROWSER)
        assert wrong.status_code == 401 and "wrong user name or password" in wrong.text and not http.cookies
        r = http.post("/login", data={"username": "admin", "password": "pw", "next": "/?lang=en"}, headers=BROWSER)
        assert r.status_code == 303 and r.headers["location"] == "/?lang=en"
        assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=Lax" in r.headers["set-cookie"]
        page = http.get("/", headers=BROWSER)
        assert page.status_code == 200 and KB_LINES[2] in page.text  # the page itself shows the --kb text
        found = http.post("/search", json={"query": "巴黎", "mode": "keyword"})
        assert found.status_code == 200 and found.json()["keyword"][0]["text"] == KB_LINES[1]
        assert http.get("/health").json()["knowledge_base"]["path"] == "kb.txt"  # a name, not a server path
        assert http.get("/gradio_api/info").status_code == 200
        http.get("/logout")
        assert http.post("/search", json={"query": "巴黎"}).status_code == 401


def test_an_open_redirect_after_login_is_refused(logged):
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example"):
        r = httpx.post(f"{logged.url}/login", data={"username": "admin", "password": "pw", "next": target},
                       headers=BROWSER)
        assert r.status_code == 303 and r.headers["location"] == "/", target


@pytest.fixture(scope="module")
def tiny_app():
    """A small Blocks app with one public endpoint, to call through gradio_client."""
    import gradio as gr

    with gr.Blocks() as blocks:
        box, out = gr.Textbox(), gr.Textbox()
        box.submit(lambda s: s[::-1], box, out, api_name="reverse")
    return blocks


def test_gradio_client_with_a_bearer_key_or_a_login(tiny_app):
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    from server.app import start

    running = start(tiny_app, fake_service(), host="127.0.0.1", port=0, auth=("admin", "pw"),
                    api_settings=ApiSettings(api_key="k123", login_attempts_per_minute=MANY_LOGINS))
    try:
        with pytest.raises(AuthenticationError):
            Client(running.url, verbose=False)
        with pytest.raises(AuthenticationError):
            Client(running.url, verbose=False, headers={"Authorization": "Bearer k12"})
        with pytest.raises(AuthenticationError):
            Client(running.url, verbose=False, auth=("admin", "wrong"))
        by_key = Client(running.url, verbose=False, headers={"Authorization": "Bearer k123"})
        assert by_key.predict("abc", api_name="/reverse") == "cba"
        by_login = Client(running.url, verbose=False, auth=("admin", "pw"))
        assert by_login.predict("xyz", api_name="/reverse") == "zyx"
        # The key typed into the login page is a login too.
        assert Client(running.url, verbose=False, auth=("", "k123")).predict("ab", api_name="/reverse") == "ba"
    finally:
        running.stop()


def test_wrong_logins_and_keys_are_limited_per_address(tiny_app):
    from server.app import start

    running = start(tiny_app, fake_service(), host="127.0.0.1", port=0, auth=("admin", "pw"),
                    api_settings=ApiSettings(api_key="k123", login_attempts_per_minute=3))
    try:
        with httpx.Client(base_url=running.url) as http:
            codes = [http.post("/login", data={"username": "admin", "password": f"guess{i}"}).status_code
                     for i in range(3)]
            assert codes == [401, 401, 401]
            r = http.post("/login", data={"username": "admin", "password": "pw"})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            assert "HYBRID_LOGIN_RATE" in r.json()["message"]
            r = http.get("/config", headers={"Authorization": "Bearer guess"})
            assert r.status_code == 429  # wrong keys count too
            assert http.get("/config", headers={"Authorization": "Bearer k123"}).status_code == 200
    finally:
        running.stop()


# ----------------------------------------------------------------------------- 3. sharing is protected by default


def test_access_decisions():
    from server.access import resolve_access

    local = resolve_access(None, None)
    assert not local.protected and not local.exposed and local.generated_key is None and local.shows_kb
    for share, host in ((True, "127.0.0.1"), (False, "0.0.0.0"), (False, "192.168.1.5"), (True, "::")):
        made = resolve_access(None, None, share=share, host=host, make_key=lambda: "generated")
        assert made.protected and made.api_keys == ("generated",) and made.generated_key == "generated"
    assert resolve_access("k1,k2", None, share=True).api_keys == ("k1", "k2")
    assert resolve_access(None, ("u", "p"), share=True).generated_key is None
    opened = resolve_access(None, None, share=True, open_access=True)
    assert not opened.protected and opened.exposed and not opened.shows_kb
    assert resolve_access(None, None, open_access=True).shows_kb  # --open on loopback changes nothing
    with pytest.raises(ValueError, match="--open"):
        resolve_access("k", None, share=True, open_access=True)


@pytest.fixture()
def launched(monkeypatch):
    """``demo.main(argv)`` as ``python demo.py`` runs it, with the share tunnel faked (it needs the internet) and
    without blocking; yields a function returning (running server, printed text)."""
    from gradio import networking

    from server.app import RunningServer

    servers: list[RunningServer] = []
    monkeypatch.setattr(networking, "setup_tunnel", lambda **_: "http://abc123.gradio.live")
    monkeypatch.setattr(RunningServer, "wait", lambda self: servers.append(self))

    def launch(argv: list[str], capsys) -> tuple[RunningServer, str]:
        assert demo.main(["--port", "0", "--model", "multilingual-e5-small", *argv]) == 0
        return servers[-1], capsys.readouterr().out

    yield launch
    for running in servers:
        running.stop()


def test_share_without_credentials_generates_a_key_and_prints_it(launched, files, capsys):
    running, printed = launched(["--share", "--kb", str(files["kb"])], capsys)
    key = running.access.generated_key
    assert key and len(key) >= 32
    assert f"https://abc123.gradio.live/?token={key}" in printed and f"{running.url}/?token={key}" in printed
    assert "Bearer" in printed and "--open" in printed
    with httpx.Client(base_url=running.url) as http:
        page = http.get("/", headers=BROWSER)
        assert page.status_code == 401 and not any(line in page.text for line in KB_LINES)
        assert http.post("/search", json={"query": "巴黎", "mode": "keyword"}).status_code == 401
        assert http.get("/?token=wrong", headers=BROWSER).status_code == 401
        link = http.get(f"/?token={key}&lang=en", headers=BROWSER)
        assert link.status_code == 303 and link.headers["location"] == "/?lang=en"  # the key leaves the URL
        assert http.get("/", headers=BROWSER).status_code == 200  # the link logged this browser in
        assert http.post("/search", json={"query": "巴黎", "mode": "keyword"}).status_code == 200
    r = httpx.post(f"{running.url}/search", json={"query": "巴黎", "mode": "keyword"},
                   headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json()["keyword"][0]["text"] == KB_LINES[1]


def test_an_open_share_reads_no_server_file_and_never_lists_the_knowledge_base(launched, files, capsys,
                                                                               link_in_uploads):
    running, printed = launched(["--share", "--open", "--kb", str(files["kb"])], capsys)
    assert running.access.generated_key is None and "searchable (POST /search) but not shown" in printed
    with httpx.Client(base_url=running.url) as http:
        for path in ("/", "/config", "/gradio_api/info", "/gradio_api/openapi.json", "/health"):
            r = http.get(path)
            assert r.status_code == 200, path
            assert not any(line in r.text for line in KB_LINES) and str(files["kb"]) not in r.text, path
        found = http.post("/search", json={"query": "预算", "mode": "keyword", "k": 1})
        assert found.json()["keyword"][0]["text"] == KB_LINES[2]  # searchable
        for path in (files["kb"], files["note"], Path("/etc/hostname")):
            assert http.get(f"/gradio_api/file={path}").status_code == 403
        upload = fn_index_of(http.get("/config").json(), "upload", "upload")
    for path in [*attack_paths(files["note"]), str(link_in_uploads), str(files["kb"])]:
        messages = run_event(running.url, upload, [file_data(path), "append", "", "en"])
        assert SECRET not in json.dumps(messages, ensure_ascii=False)
        done = messages[-1]
        assert done["success"] is False or "was not uploaded here" in json.dumps(done["output"]), done


@pytest.mark.parametrize("argv, message", [
    (["--share", "--open", "--auth", "u:p"], "--open"),
    (["--share", "--open", "--api-key", "k"], "--open"),
    (["--share", "--forwarded-allow-ips", "127.0.0.1"], "--forwarded-allow-ips"),
    (["--share", "--forwarded-allow-ips", "*"], "--forwarded-allow-ips"),
])
def test_contradictory_access_options_are_refused_before_serving(argv, message, capsys):
    assert demo.main(argv) == 2
    assert message in capsys.readouterr().err


# ----------------------------------------------------------------------------- 4. rate limits count real clients


def _statuses(http: httpx.Client, n: int, headers=lambda i: {}) -> list[int]:
    return [http.get("/v1/models", headers=headers(i)).status_code for i in range(n)]


def test_forged_forwarded_headers_do_not_make_new_clients():
    """Issue reproducer: with HYBRID_RATE_LIMIT=5, six requests with six forged X-Forwarded-For all got 200."""
    from server.app import start

    running = start(None, fake_service(), host="127.0.0.1", port=0, api_settings=ApiSettings(rate_limit_per_minute=5))
    try:
        with httpx.Client(base_url=running.url) as http:
            forged = _statuses(http, 6, lambda i: {"X-Forwarded-For": f"203.0.113.{i}", "X-Real-IP": f"198.51.100.{i}",
                                                   "Forwarded": f"for=192.0.2.{i}"})
            assert forged == [200] * 5 + [429]
            r = http.get("/search")
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            assert "HYBRID_RATE_LIMIT" in r.json()["message"]
    finally:
        running.stop()


def test_forwarded_headers_are_believed_from_the_named_proxy_only():
    from server.app import start

    running = start(None, fake_service(), host="127.0.0.1", port=0, api_settings=ApiSettings(rate_limit_per_minute=2),
                    forwarded_allow_ips="127.0.0.1")  # a reverse proxy on this machine, no share link
    try:
        with httpx.Client(base_url=running.url) as http:
            assert _statuses(http, 4, lambda i: {"X-Forwarded-For": f"203.0.113.{i}"}) == [200] * 4
            assert _statuses(http, 3, lambda i: {"X-Forwarded-For": "203.0.113.77"}) == [200, 200, 429]
    finally:
        running.stop()


def test_sessions_and_keys_have_their_own_buckets_and_ui_events_count(tiny_app):
    """Everyone through the share tunnel arrives from 127.0.0.1: buckets are per login session and per key."""
    from server.app import start

    running = start(tiny_app, fake_service(), host="127.0.0.1", port=0, auth=("admin", "pw"),
                    api_settings=ApiSettings(api_key="k123", rate_limit_per_minute=3,
                                             login_attempts_per_minute=MANY_LOGINS))
    try:
        sessions = []
        for _ in range(2):
            http = httpx.Client(base_url=running.url)
            assert http.post("/login", data={"username": "admin", "password": "pw"}).status_code == 200
            sessions.append(http)
        assert _statuses(sessions[0], 4) == [200, 200, 200, 429]
        assert _statuses(sessions[1], 3) == [200] * 3  # the other visitor is not slowed down
        with httpx.Client(base_url=running.url, headers=KEY) as by_key:
            assert _statuses(by_key, 3) == [200] * 3
            join = {"data": ["abc"], "fn_index": 0, "session_hash": "s1", "event_data": None, "trigger_id": None}
            assert by_key.post("/gradio_api/queue/join", json=join).status_code == 429  # UI events count too
        for http in sessions:
            http.close()
    finally:
        running.stop()


def test_an_open_server_limits_each_browser_on_its_own(tiny_app):
    from server.app import start

    running = start(tiny_app, fake_service(), host="127.0.0.1", port=0, share=False,
                    api_settings=ApiSettings(rate_limit_per_minute=2))
    try:
        browsers = [httpx.Client(base_url=running.url) for _ in range(2)]
        for http in browsers:
            assert http.get("/").status_code == 200 and "hybrid_session" in http.cookies  # an anonymous session
        assert _statuses(browsers[0], 3) == [200, 200, 429]
        assert _statuses(browsers[1], 2) == [200, 200]
        with httpx.Client(base_url=running.url) as script:  # no cookies kept: one bucket for its address
            assert _statuses(script, 3) == [200, 200, 429]
        for http in browsers:
            http.close()
    finally:
        running.stop()


def test_minted_anonymous_sessions_share_their_address_budget(tiny_app):
    """Issue reproducer: with HYBRID_RATE_LIMIT=5, ten anonymous cookies from one address gave 50 requests in 4 s.
    Anonymous clients of one address now share ``ANONYMOUS_BUCKETS_PER_ADDRESS`` times the limit."""
    from server.access import ANONYMOUS_BUCKETS_PER_ADDRESS
    from server.app import start

    running = start(tiny_app, fake_service(), host="127.0.0.1", port=0,
                    api_settings=ApiSettings(rate_limit_per_minute=3, login_attempts_per_minute=MANY_LOGINS))
    try:
        browsers = [httpx.Client(base_url=running.url) for _ in range(10)]
        for http in browsers:
            assert http.get("/").status_code == 200 and "hybrid_session" in http.cookies
        statuses = [s for http in browsers for s in _statuses(http, 3)]
        budget = 3 * ANONYMOUS_BUCKETS_PER_ADDRESS
        assert statuses.count(200) == budget < 30 and statuses.count(429) == 30 - budget, statuses
        with httpx.Client(base_url=running.url) as fresh:  # an eleventh session, or none, of that address
            assert fresh.get("/").status_code == 200 and "hybrid_session" in fresh.cookies
            r = fresh.get("/search")
            assert r.status_code == 429 and "anonymous clients of this address" in r.json()["message"]
            fresh.cookies.clear()
            assert _statuses(fresh, 1) == [429]
        for http in browsers:
            http.close()
    finally:
        running.stop()


# ----------------------------------------------------------------------------- the login page in a browser


@pytest.mark.browser
def test_a_visitor_logs_in_through_the_page(files, caplog):
    from playwright.sync_api import expect, sync_playwright

    from tests.browser import CHROMIUM_ARGS, ensure_chromium

    running = serve_demo(files["kb"], auth=("admin", "pw"))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=ensure_chromium(), args=CHROMIUM_ARGS)
            page = browser.new_page(locale="zh-CN")
            page.set_default_timeout(60_000)
            page.goto(f"{running.url}/")
            expect(page.locator("#login")).to_contain_text("登录 / Sign in")
            assert not any(line in page.content() for line in KB_LINES)
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", "wrong")
            page.click("button[type=submit]")
            expect(page.locator("#login-error")).to_contain_text("wrong user name or password")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", "pw")
            page.click("button[type=submit]")
            page.wait_for_selector("#model-status .status.ready")
            page.locator("#kb-panel .label-wrap").click()  # the knowledge-base panel opens on a click
            expect(page.locator("#kb textarea")).to_have_value("\n".join(KB_LINES))  # the --kb, once logged in
            browser.close()
    finally:
        running.stop()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


# ----------------------------------------------------------------------------- 5. bounded work


def slow_server(delay: float, **settings):
    """The API (no UI) over a fake model taking ``delay`` seconds a document, one embedding slot."""
    from server.app import start
    from tests.fakes import SlowEncoder

    encoder = SlowEncoder(delay)
    service = ModelService(cache=False, loader=lambda model, **_: LoadedEmbedder(encoder, model), embed_slots=1)
    service.start().wait(30)
    return start(None, service, host="127.0.0.1", port=0, api_settings=ApiSettings(**settings)), encoder, service


def test_work_stops_when_its_client_disconnects():
    """Issue reproducer: one /search with 1,000 ad-hoc documents in mode all (within the default limits) went on
    embedding long after its client had given up."""
    import time

    running, encoder, _ = slow_server(0.01)  # 1,000 documents: 10 s of embedding
    try:
        documents = [f"第{i}条：笔记本电脑黑屏怎么办" for i in range(1000)]
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{running.url}/search", json={"query": "黑屏", "mode": "all", "documents": documents},
                       timeout=1.0)
        time.sleep(1.5)  # the server notices within a poll and stops after the chunk it is on
        stopped_at = encoder.documents_embedded
        time.sleep(1.0)
        assert encoder.documents_embedded == stopped_at and stopped_at < 400, stopped_at
        r = httpx.post(f"{running.url}/search", json={"query": "黑屏", "documents": documents[:5]})
        assert r.status_code == 200  # the slot was given back
    finally:
        running.stop()


def test_one_cap_on_embedding_for_api_requests_ui_sessions_and_the_knowledge_base():
    running, encoder, service = slow_server(0.002)
    try:
        texts = [f"第{i}条" for i in range(48)]
        calls = [lambda: httpx.post(f"{running.url}/v1/embeddings", json={"input": texts}, timeout=60),
                 lambda: httpx.post(f"{running.url}/search", json={"query": "条", "documents": texts}, timeout=60),
                 lambda: service.new_engine(texts),  # what a UI session's index event does
                 lambda: service.new_engine(texts)]
        threads = [threading.Thread(target=call) for call in calls * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert encoder.documents_embedded == 8 * 48 and encoder.most_at_once == 1
    finally:
        running.stop()


def test_a_request_that_gets_no_turn_in_time_is_429_and_budgets_are_413():
    running, encoder, _ = slow_server(0.2, embed_wait_s=1, max_tokens=500)  # a 16-text turn takes 3.2 s
    try:
        first = threading.Thread(target=lambda: httpx.post(f"{running.url}/v1/embeddings",
                                                           json={"input": ["甲"] * 16}, timeout=30))
        first.start()
        import time

        time.sleep(0.5)
        r = httpx.post(f"{running.url}/v1/embeddings", json={"input": ["乙"]}, timeout=30)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["code"] == "busy" and "HYBRID_EMBED_WAIT" in r.json()["error"]["message"]
        first.join()
        over = httpx.post(f"{running.url}/search", json={"query": "甲", "documents": ["字" * 300, "字" * 300]})
        assert over.status_code == 413 and "HYBRID_MAX_TOKENS" in over.json()["message"]
        assert "600" in over.json()["message"] and "500" in over.json()["message"]
    finally:
        running.stop()


def _search_data(query: str, kb: str) -> list:
    from hybrid.settings import DEFAULT_SETTINGS as d

    return [None, query, kb, False, d.alpha, d.fusion, d.normalizer, d.k, d.k1, d.b, 0.5, "en"]


def _completed(messages: list[dict]) -> list:
    done = [m for m in messages if m.get("msg") == "process_completed"]
    assert done and done[-1]["success"], messages[-3:]
    return done[-1]["output"]["data"]


def test_page_events_bound_a_huge_query_and_a_huge_entry():
    """Issue reproducers: a 6 MB query cost 4.6 s of tokenising per page event; one 20,000-character line held the
    shared model 25.7 s. A query is cut to ``MAX_TEXT_CHARS`` before any work; such an entry is refused unembedded."""
    import time

    from webui.handlers import MAX_TEXT_CHARS

    from server.app import start

    service = fake_service()
    encoder = service.embedder.inner
    running = start(demo.build_demo(service), service, host="127.0.0.1", port=0, api_settings=ApiSettings())
    try:
        cfg = config(running.url)
        kb_ids = {c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id") == "kb"}
        on_kb = {len(d["inputs"]): d["id"] for d in cfg["dependencies"] if any(t[0] in kb_ids for t in d["targets"])}
        count, index = on_kb[3], on_kb[4]  # h.count(kb, split, lang); h.index(engine, kb, split, lang)
        search = fn_index_of(cfg, "search-button", "click")
        kb = "笔记本电脑黑屏怎么办\n巴黎有哪些博物馆"
        started = time.monotonic()
        notice = _completed(run_event(running.url, search, _search_data("巴黎博物馆" * 1_200_000, kb)))[0]
        took = time.monotonic() - started
        assert f"first {MAX_TEXT_CHARS:,} characters" in notice and "6,000,000" in notice, notice
        assert took < 10, took  # the body itself (18 MB of JSON) is most of it
        before = encoder.documents_embedded
        long_kb = "巴黎有哪些博物馆\n" + "字" * 20_000
        _completed(run_event(running.url, index, [None, long_kb, False, "en"]))
        assert encoder.documents_embedded == before, "the 20,000-character entry was embedded"
        line = _completed(run_event(running.url, count, [long_kb, False, "en"]))[0]
        assert "Entry 2 has 20,000 characters" in line, line
    finally:
        running.stop()


def _abandon(url: str, start: dict, path: str, stream: str, params: dict | None = None) -> None:
    """Start a queued Gradio call, listen to its event stream for half a second, and leave (a closed tab, an
    interrupted gradio_client)."""
    import time

    with httpx.Client(base_url=url, timeout=httpx.Timeout(30, read=0.5)) as http:
        r = http.post(path, json=start)
        assert r.status_code == 200, r.text[:300]
        target = stream.format(event_id=r.json()["event_id"])
        leave = time.monotonic() + 0.5
        try:
            with http.stream("GET", target, params=params or {}) as events:
                for line in events.iter_lines():
                    assert "complete" not in line, line
                    if time.monotonic() > leave:
                        break
        except httpx.ReadTimeout:
            pass


def test_abandoned_gradio_calls_stop_their_work():
    """Issue reproducer: 40 abandoned calls of the public ``search`` kept embedding (/v1/embeddings waited 8-19 s,
    /health 6 s). A call whose event stream closes stops within a turn, on the public endpoint and the page."""
    import time

    from server.app import start
    from tests.fakes import SlowEncoder

    encoder = SlowEncoder(0.01)  # 600 documents: 6 s of embedding a call
    service = ModelService(cache=False, loader=lambda model, **_: LoadedEmbedder(encoder, model)).start()
    service.wait(30)
    running = start(demo.build_demo(service), service, host="127.0.0.1", port=0, api_settings=ApiSettings())
    try:
        documents = [f"第{i}条：笔记本电脑黑屏怎么办" for i in range(600)]
        call = {"data": ["黑屏", documents, 5, 0.5, "adaptive", "all", 0]}
        for _ in range(3):
            _abandon(running.url, call, "/gradio_api/call/search", "/gradio_api/call/search/{event_id}")
        with pytest.raises(httpx.ReadTimeout):  # not queued: the call runs inside its own request
            httpx.post(f"{running.url}/gradio_api/run/search", json=call, timeout=0.5)
        cfg = config(running.url)
        kb_ids = {c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id") == "kb"}
        index = next(d["id"] for d in cfg["dependencies"]
                     if len(d["inputs"]) == 4 and any(t[0] in kb_ids for t in d["targets"]))
        session = uuid.uuid4().hex
        _abandon(running.url, {"data": [None, "\n".join(documents), False, "en"], "fn_index": index,
                               "session_hash": session, "event_data": None, "trigger_id": None},
                 "/gradio_api/queue/join", "/gradio_api/queue/data", {"session_hash": session})
        time.sleep(1.5)  # the queue notices the closed streams; each call stops after the turn it is on
        stopped_at = encoder.documents_embedded
        time.sleep(1.0)
        assert encoder.documents_embedded == stopped_at < 300, stopped_at
        started = time.monotonic()
        assert httpx.get(f"{running.url}/health", timeout=10).status_code == 200
        r = httpx.post(f"{running.url}/v1/embeddings", json={"input": ["黑屏"]}, timeout=10)
        assert r.status_code == 200 and time.monotonic() - started < 2, (r.status_code, time.monotonic() - started)
    finally:
        running.stop()


def test_session_engines_expire_and_are_bounded_in_number():
    """Issue reproducer: each session kept its own engine in memory with no expiry (sessions that never open a page
    never close). An engine goes ``session_ttl_s`` after it was built; at most ``max_sessions`` sessions keep state."""
    import time

    from server.app import start

    kb = "笔记本电脑黑屏怎么办\n巴黎有哪些博物馆"
    no_index = "no vector index"

    def serve(**limits):
        service = fake_service()
        running = start(demo.build_demo(service, **limits), service, host="127.0.0.1", port=0,
                        api_settings=ApiSettings())
        cfg = config(running.url)
        kb_ids = {c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id") == "kb"}
        index = next(d["id"] for d in cfg["dependencies"]
                     if len(d["inputs"]) == 4 and any(t[0] in kb_ids for t in d["targets"]))
        search = fn_index_of(cfg, "search-button", "click")

        def indexed(session: str) -> None:
            _completed(run_event(running.url, index, [None, kb, False, "en"], session=session))

        def notice(session: str) -> str:
            return _completed(run_event(running.url, search, _search_data("巴黎博物馆", kb), session=session))[0]

        return running, indexed, notice

    running, indexed, notice = serve(session_ttl_s=1)
    try:
        indexed("a")
        assert no_index not in notice("a")  # the session's engine answers
        time.sleep(2.5)  # Gradio sweeps expired state every second
        assert no_index in notice("a")
    finally:
        running.stop()
    running, indexed, notice = serve(max_sessions=2)
    try:
        for session in ("b", "c", "d"):
            indexed(session)
        assert no_index not in notice("d") and no_index in notice("b")  # the least recently used went
    finally:
        running.stop()


def test_uploaded_files_are_swept_from_the_server(files, monkeypatch, tmp_path):
    """A visitor's uploaded file does not stay on the server's disk: Gradio's sweep (``demo.UPLOAD_KEEP``, here
    shortened to one second) removes it, and stopping the server removes what is left."""
    import time

    monkeypatch.setattr(demo, "UPLOAD_KEEP", (1, 1))
    running = serve_demo(files["kb"], api_settings=ApiSettings(api_key="k123", login_attempts_per_minute=MANY_LOGINS))
    try:
        with httpx.Client(base_url=running.url, headers=KEY) as http:
            r = http.post("/gradio_api/upload", files={"files": ("secret.txt", "私人笔记\n".encode(), "text/plain")})
            assert r.status_code == 200, r.text
        stored = Path(r.json()[0])
        assert stored.exists()
        deadline = time.monotonic() + 30
        while stored.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not stored.exists(), "the uploaded file is still on the server after its sweep"
    finally:
        running.stop()
