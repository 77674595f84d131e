"""The server as an attacker meets it: the demo and the API on a loopback port (uvicorn started here), probed over
real HTTP and with gradio_client, without credentials, with forged headers, with server paths and oversized input."""

from __future__ import annotations

import contextlib

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
              session: str | None = None, event_data: object = None) -> list[dict]:
    """Call an event the way the page does (queue/join, then read its stream) in ``session`` (a new one when
    None); returns the stream's messages."""
    session = session or uuid.uuid4().hex
    with httpx.Client(base_url=url, headers=headers or {}, timeout=timeout) as http:
        r = http.post("/gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                                      "event_data": event_data, "trigger_id": None})
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
        messages = run_event(keyed.url, upload, [file_data(path), "replace", "typed", "en", None, False], KEY)
        assert SECRET not in json.dumps(messages, ensure_ascii=False), path
        done = messages[-1]
        assert done.get("msg") in ("process_completed", "refused"), messages
        if done.get("msg") == "process_completed":
            assert done["success"] is False or "was not uploaded here" in json.dumps(done["output"]), done
    # The evaluation tab reads the files of its event too: a CSV of (query, relevant text) would show the note.
    evaluate = fn_index_of(cfg, "eval-run", "click")
    for path in [*attack_paths(files["note"]), str(link_in_uploads)]:
        messages = run_event(keyed.url, evaluate, [[file_data(path)], 0, ["minmax"], [100], "", False, None, "en"],
                             KEY)
        assert SECRET not in json.dumps(messages, ensure_ascii=False), path
        done = messages[-1]
        assert done["success"] is False or "was not uploaded here" in json.dumps(done["output"]), done
    named = {d.get("api_name") for d in cfg["dependencies"] if d.get("api_visibility", "public") != "private"}
    if "upload" in named:  # the curl route of the report, while the event has a public name
        for path in [*attack_paths(files["note"]), str(link_in_uploads)]:
            status, body = call_api(keyed.url, "upload", [file_data(path), "replace", "typed", "en", None, False], KEY)
            assert SECRET not in body and ("event: error" in body or status >= 400), (path, status, body[:300])


def test_the_pages_private_events_are_not_called_by_name(keyed):
    """Gradio let any event be called by its name on run/, api/ and call/ (``count_on_edit``, a search of the
    page), outside the queue's concurrency limits; only the documented endpoints are, the page's events go through
    the queue by fn_index."""
    cfg = config(keyed.url, KEY)
    private = sorted({d["api_name"] for d in cfg["dependencies"]
                      if d.get("api_name") and d.get("api_visibility") == "private"})
    assert "count_on_edit" in private and len(private) > 10, private
    with httpx.Client(base_url=keyed.url, headers=KEY, timeout=30) as http:
        for name in private:
            for route in ("run", "api", "call", "call/v2"):
                r = http.post(f"/gradio_api/{route}/{name}", json={"data": ["x", False, "zh"]})
                assert r.status_code == 404 and "no endpoint named" in r.json()["message"], (route, name, r.text)
        r = http.post("/gradio_api/run/search", json={"data": ["巴黎", None, 3, 0.5, "adaptive", "keyword", 0]})
        assert "no_knowledge_base" in r.text, r.text  # the documented endpoint is: its handler answered
        # Gradio runs the event a body's fn_index names, whatever the URL says (third review: the page's search
        # ran as run/search with its fn_index; 999 was a KeyError traceback)
        page_search = fn_index_of(cfg, "search-button", "click")
        public = next(d["id"] for d in cfg["dependencies"] if d.get("api_name") == "search"
                      and d.get("api_visibility", "public") != "private")
        for route in ("run", "api"):
            for index in (page_search, 999, -1, "x"):
                r = http.post(f"/gradio_api/{route}/search", json={"data": ["巴黎"], "fn_index": index})
                assert r.status_code == 404 and "fn_index" in r.json()["message"], (route, index, r.text)
        r = http.post("/gradio_api/run/search", json={"data": ["巴黎", None, 3, 0.5, "adaptive", "keyword", 0],
                                                      "fn_index": public})
        assert "no_knowledge_base" in r.text, r.text  # its own fn_index is fine


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
                         [file_data(stored), "replace", "", "en", None, False], KEY)
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
    # A large text file: the secret line, then 4 MB a download would write to the server's disk.
    document = (SECRET + "\n" + ("远方的文本" * 800 + "\n") * 1000).encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            body = document
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
        yield f"http://relay.test:{server.server_address[1]}/x.txt", hits
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


def remote_file(url: str) -> dict:
    """File data naming a URL, as a client may send it in any event."""
    return {"path": url, "url": url, "orig_name": "x.txt", "meta": {"_type": "gradio.FileData"}}


def test_event_file_data_never_makes_the_server_fetch_a_url(keyed, page_elsewhere):
    """Issue 21 reproducer: the upload event given {"path": "http://…"} downloaded the URL (no size limit) into the
    upload folder and returned its text as the knowledge base; the evaluation run read a download as well."""
    url, hits = page_elsewhere
    cfg = config(keyed.url, KEY)
    events = {"upload": (fn_index_of(cfg, "upload", "upload"), [remote_file(url), "replace", "typed", "en", None, False]),
              "evaluate": (fn_index_of(cfg, "eval-run", "click"),
                           [[remote_file(url)], 0, ["minmax"], [100], "", False, None, "en"])}
    for name, (fn_index, data) in events.items():
        messages = run_event(keyed.url, fn_index, data, KEY)
        done = messages[-1]
        assert done.get("msg") == "process_completed" and done["success"] is False, (name, done)
        assert "never fetches a URL" in done["output"]["error"], done
        assert SECRET not in json.dumps(messages, ensure_ascii=False), name
        api_name = next(d.get("api_name") for d in cfg["dependencies"] if d["id"] == fn_index)
        status, body = call_api(keyed.url, str(api_name), data, KEY)  # the curl route
        assert SECRET not in body and ("event: error" in body or status >= 400), (name, status, body[:300])
    assert hits == []
    assert not list(Path(get_upload_folder()).rglob("x.txt"))  # nothing was downloaded


def test_no_event_of_any_page_fetches_a_url(page_elsewhere, tmp_path):
    """The refusal is Gradio's event processing, not one handler's check: a page whose public event reads any
    file it is given still never makes the server fetch a URL, by the queue or by /gradio_api/call."""
    import gradio as gr

    from server.app import start

    url, hits = page_elsewhere
    with gr.Blocks() as blocks:
        box, out = gr.File(), gr.Textbox()
        box.upload(lambda f: Path(f).read_text(encoding="utf-8")[:100], box, out, api_name="read")
    running = start(blocks, fake_service(), host="127.0.0.1", port=0, api_settings=ApiSettings())
    try:
        status, body = call_api(running.url, "read", [remote_file(url)])
        assert status == 200 and "event: error" in body and "never fetches a URL" in body, body[:300]
        messages = run_event(running.url, 0, [remote_file(url)])
        assert messages[-1]["success"] is False and SECRET not in json.dumps(messages, ensure_ascii=False)
        assert hits == []
        mine = tmp_path / "mine.txt"  # an upload still works
        mine.write_text("上传的内容", encoding="utf-8")
        stored = httpx.post(f"{running.url}/gradio_api/upload",
                            files={"files": ("mine.txt", mine.read_bytes(), "text/plain")}).json()[0]
        status, body = call_api(running.url, "read", [file_data(stored)])
        assert "event: complete" in body and json.loads(body.split("data:", 1)[1]) == ["上传的内容"], body[:300]
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
        http.post("/logout")
        assert http.post("/search", json={"query": "巴黎"}).status_code == 401


# ----------------------------------------------------------------------------- 2b. other sites, other names


def lands_on_this_server(base: str, location: str) -> bool:
    """Whether a browser following ``Location: location`` from ``base`` stays on ``base``'s origin: browsers drop
    tabs and newlines, trim control characters and spaces, and read a backslash as a slash."""
    import re
    from urllib.parse import urljoin, urlsplit

    cleaned = re.sub(r"[\t\n\r]", "", location).strip("".join(map(chr, range(0x21)))).replace("\\", "/")
    target = urlsplit(urljoin(base + "/", cleaned))
    return (target.scheme, target.netloc) == tuple(urlsplit(base)[:2])


NEXT_ATTACKS = ["https://evil.example/", "//evil.example", "/\\evil.example", "\\/evil.example", "/\t/evil.example",
                "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example", " //evil.example", "/\\\t/evil.example",
                "/\x00/evil.example", "///evil.example", "https:evil.example", "javascript:alert(1)",
                "/\u3000/evil.example", "/\\/evil.example"]


def _raw_request(url: str, method: str, target: str, headers: dict[str, str] | None = None,
                 body: bytes = b"") -> tuple[int, dict[str, str]]:
    """A request sent as written (the path not normalised, a Location header not parsed); returns (status,
    headers)."""
    import http.client
    from urllib.parse import urlparse

    where = urlparse(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in {"Accept": BROWSER["Accept"], "Content-Length": str(len(body)), **(headers or {})}.items():
            conn.putheader(name, value)
        conn.endheaders(body or None)
        r = conn.getresponse()
        r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


def _login_to(url: str, target: str) -> tuple[int, dict[str, str]]:
    from urllib.parse import urlencode

    form = urlencode({"username": "admin", "password": "pw", "next": target}).encode()
    return _raw_request(url, "POST", "/login", {"Content-Type": "application/x-www-form-urlencoded"}, form)


def test_an_open_redirect_after_login_is_refused(logged):
    """Issue 21 reproducer: next=/<TAB>/evil.example passed the check; a browser drops the tab and goes to
    //evil.example."""
    for target in NEXT_ATTACKS:
        status, headers = _login_to(logged.url, target)
        assert status == 303 and lands_on_this_server(logged.url, headers["location"]), (target, headers)
    for target in ("/?lang=en", "/gradio_api/info", "/%09/x"):  # same-site paths are kept
        assert _login_to(logged.url, target)[1]["location"] == target


TOKEN_ATTACKS = ["//evil.example/", "//evil.example", "///evil.example/", "/%5Cevil.example/x", "/%5cevil.example",
                 "/%5C%5Cevil.example/", "/\\evil.example/x", "/%2F%2Fevil.example/", "/%2F/evil.example",
                 "/%09/evil.example", "/%0A/evil.example", "/%5C/evil.example", "/%2f%5Cevil.example",
                 "/.//evil.example", "//%65vil.example/", "/%E3%80%80/evil.example"]


def test_a_token_link_never_redirects_to_another_site(keyed):
    """Issue 21 reproducer: GET //evil.example/?token=KEY and /%5Cevil.example/x?token=KEY logged the browser in
    and sent it (with the key's session) to evil.example."""
    for path in TOKEN_ATTACKS:
        for query in ("?token=k123", "?lang=en&token=k123"):
            status, headers = _raw_request(keyed.url, "GET", path + query)
            assert status in (303, 400, 404), (path, status)
            if "location" in headers:
                assert lands_on_this_server(keyed.url, headers["location"]), (path, headers["location"])
                assert "k123" not in headers["location"]
    status, headers = _raw_request(keyed.url, "GET", "/gradio_api/info?token=k123&x=1")
    assert status == 303 and headers["location"] == "/gradio_api/info?x=1"  # an ordinary link keeps its path


@pytest.fixture()
def shared_open(monkeypatch):
    """``python demo.py --share --open``, the tunnel faked (it needs the internet) as abc123.gradio.live."""
    from gradio import networking

    monkeypatch.setattr(networking, "setup_tunnel", lambda **_: "http://abc123.gradio.live")
    running = serve_demo(share=True, open_access=True)
    yield running
    running.stop()


CROSS_ORIGINS = ["http://localhost:9999", "http://127.0.0.1:9999", "http://evil.example", "null",
                 "https://abc123.gradio.live.evil.example"]
CORS_PATHS = ["/config", "/gradio_api/info", "/theme.css", "/", "/v1/models", "/gradio_api/openapi.json",
              "/gradio_api/mcp/schema"]


def cors_leaks(running, headers: dict[str, str], hosts: list[str]) -> list[str]:
    """Requests from other origins (simple, the search endpoint, preflights) with each Host; returns every
    answer that lets the other origin read it."""
    leaks = []
    with httpx.Client(base_url=running.url, timeout=30) as http:
        for host in hosts:
            for origin in CROSS_ORIGINS:
                sent = {**headers, "Host": host, "Origin": origin}
                answers = [http.get(path, headers=sent) for path in CORS_PATHS]
                answers.append(http.post("/gradio_api/call/search", json={"data": ["巴黎", None, 3, 0.5, "adaptive", "keyword", 0]},
                                         headers=sent))
                answers.append(http.post("/search", json={"query": "巴黎"}, headers=sent))
                for path in [*CORS_PATHS, "/gradio_api/call/search", "/search"]:
                    answers.append(http.options(path, headers={
                        **sent, "Access-Control-Request-Method": "POST",
                        "Access-Control-Request-Headers": "content-type,authorization"}))
                for r in answers:
                    allowed = {k: v for k, v in r.headers.items() if k.lower().startswith("access-control-allow")}
                    if "access-control-allow-origin" in allowed:
                        leaks.append(f"{r.request.method} {r.request.url.path} Host {host} Origin {origin}: "
                                     f"{r.status_code} {allowed}")
    return leaks


def test_no_other_origin_may_read_any_route(keyed, logged, shared_open):
    """Issue 21 reproducer: /config, /gradio_api/* and /theme.css answered Access-Control-Allow-Origin (with
    credentials) to any localhost origin, and to every origin when the server was reached by a name: a page on
    another port read the --kb text with a logged-in visitor's cookie, and a cross-site page called
    /gradio_api/call/search on an --open server."""
    local = serve_demo()  # python demo.py: no credentials on loopback
    try:
        with httpx.Client(base_url=logged.url) as browser:
            assert browser.post("/login", data={"username": "admin", "password": "pw"}).status_code == 200
            session = {"Cookie": f"hybrid_session={browser.cookies['hybrid_session']}"}
        servers = [(local, {}, []), (keyed, KEY, []), (logged, session, []),
                   (shared_open, {}, ["abc123.gradio.live"])]
        leaks = []
        for running, headers, names in servers:
            port = running.port
            hosts = [f"127.0.0.1:{port}", f"localhost:{port}", "127.0.0.1", "evil.example", *names]
            leaks += cors_leaks(running, headers, hosts)
        assert leaks == []
        # The share link's own page works through its name.
        assert httpx.get(f"{shared_open.url}/config", headers={"Host": "abc123.gradio.live"}).status_code == 200
    finally:
        local.stop()


REBOUND_HOSTS = ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "localhost.evil.example",
                 "10.0.0.1", "[::2]", "0.0.0.0", "abc123.gradio.live", "127.0.0.1@evil.example", "", "localhost:x"]


def test_a_loopback_server_answers_only_its_own_names(keyed, shared_open):
    """Issue 21 reproducer (DNS rebinding): a server on loopback answered any Host, so a page whose name was
    re-pointed at 127.0.0.1 could read it as its own origin."""
    local = serve_demo()
    try:
        for running, headers in ((local, {}), (keyed, KEY), (shared_open, {})):
            port = running.port
            with httpx.Client(base_url=running.url, headers=headers) as http:
                for host in REBOUND_HOSTS:
                    if running is shared_open and host == "abc123.gradio.live":
                        continue
                    for r in (http.get("/config", headers={"Host": host}), http.get("/", headers={"Host": host}),
                              http.post("/search", json={"query": "巴黎"}, headers={"Host": host})):
                        assert r.status_code == 421, (host, r.status_code, r.text[:200])
                        assert "Host" in r.json()["message"] and "--host" in r.json()["message"]
                for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", "LOCALHOST", "127.5.6.7",
                             f"[::1]:{port}", "[::1]"):
                    assert http.get("/config", headers={"Host": host}).status_code == 200, host
        r = httpx.get(f"{shared_open.url}/config", headers={"Host": "abc123.gradio.live"})
        assert r.status_code == 200
        assert httpx.get(f"{shared_open.url}/config", headers={"Host": "other.gradio.live"}).status_code == 421
    finally:
        local.stop()


def test_a_server_on_every_interface_answers_any_name():
    from server.app import start

    running = start(None, fake_service(), host="0.0.0.0", port=0, api_settings=ApiSettings(api_key="k1"))
    try:
        for host in ("evil.example", "10.0.0.1", f"127.0.0.1:{running.port}"):
            r = httpx.get(f"{running.url}/v1/models", headers={"Host": host, "Authorization": "Bearer k1"})
            assert r.status_code == 200, host
    finally:
        running.stop()


def test_the_key_of_a_token_link_is_not_written_to_the_access_log(files):
    """Issue 21 reproducer: uvicorn's access log wrote GET /?token=KEY, the key in clear."""
    import logging

    from server.app import start

    service = fake_service()
    running = start(demo.build_demo(service), service, host="127.0.0.1", port=0, log_level="info",
                    api_settings=ApiSettings(api_key="k123", login_attempts_per_minute=MANY_LOGINS))
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect()
    access_log = logging.getLogger("uvicorn.access")
    access_log.addHandler(handler)
    try:
        for target in ("/?token=k123", "/?lang=en&token=k123", "/config?TOKEN=k123&x=1", "/?token=k124",
                       "/?a=1&token=k123&token=k123",
                       "/?%74oken=k123"):
            _raw_request(running.url, "GET", target)
    finally:
        access_log.removeHandler(handler)
        running.stop()
    assert len(lines) >= 6, lines  # the requests were logged
    assert not [line for line in lines if "k123" in line or "k124" in line], lines


def test_logging_out_takes_a_post_from_this_site(logged):
    """Issue 21 reproducer: GET /logout ended the session, so any site could log a visitor out with a link or an
    image (the SameSite=Lax cookie travels with a cross-site navigation)."""
    with httpx.Client(base_url=logged.url) as http:
        assert http.post("/login", data={"username": "admin", "password": "pw"}).status_code == 200
        origin = f"http://127.0.0.1:{logged.port}"
        page = http.get("/logout", headers={**BROWSER, "Sec-Fetch-Site": "cross-site"})
        assert page.status_code == 200 and 'method="post"' in page.text and 'action="/logout"' in page.text
        assert http.get("/config").status_code == 200  # still logged in
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                        {"Origin": "http://localhost:9999"}, {"Sec-Fetch-Site": "cross-site"},
                        {"Origin": f"http://127.0.0.1:{logged.port}.evil.example"}):
            r = http.post("/logout", headers={**BROWSER, **headers})
            assert r.status_code == 403 and "same site" in r.text, (headers, r.text)
            assert http.get("/config").status_code == 200, headers
        r = http.post("/logout", headers={**BROWSER, "Origin": origin, "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert http.get("/config").status_code == 401


def test_another_site_cannot_log_a_visitor_in(logged):
    """Issue 21 reproducer (login CSRF): a form on another site posting to /login logged the visitor's browser in
    as the attacker (303 with a session cookie)."""
    form = {"username": "admin", "password": "pw", "next": "/"}
    with httpx.Client(base_url=logged.url) as http:
        for headers in ({"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, {"Origin": "null"},
                        {"Origin": "http://localhost:9999", "Sec-Fetch-Site": "same-site"},
                        {"Sec-Fetch-Site": "cross-site"}, {"Origin": f"http://127.0.0.1:{logged.port}.evil.example"}):
            for accept in (BROWSER, {}):
                r = http.post("/login", data=form, headers={**accept, **headers})
                assert r.status_code == 403 and "same site" in r.text and "set-cookie" not in r.headers, headers
                assert http.get("/config").status_code == 401, headers
        r = http.post("/login", data=form, headers={**BROWSER, "Origin": f"http://127.0.0.1:{logged.port}",
                                                    "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 303 and http.get("/config").status_code == 200  # the page's own form
    with httpx.Client(base_url=logged.url) as http:  # a program (gradio_client) sends neither header
        assert http.post("/login", data=form).status_code == 200 and http.get("/config").status_code == 200


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


def test_token_links_are_logins_so_no_one_mints_sessions_past_the_login_limit(tiny_app):
    """Attacker review: every GET /?token=KEY minted a session unlimited (10,050 in 12.6 s), which dropped the oldest
    sessions (other users logged out) and gave each request a fresh rate-limit bucket. A link is a login now."""
    from server.app import start

    running = start(tiny_app, fake_service(), host="127.0.0.1", port=0, auth=("admin", "pw"),
                    api_settings=ApiSettings(api_key="k123", login_attempts_per_minute=3))
    try:
        with httpx.Client(base_url=running.url) as alice:
            assert alice.post("/login", data={"username": "admin", "password": "pw"}).status_code == 200
            assert alice.get("/config").status_code == 200
            codes = []
            for _ in range(4):
                with httpx.Client(base_url=running.url) as fresh:  # no cookie: each link would mint a session
                    codes.append(fresh.get("/?token=k123").status_code)
            assert codes == [303, 303, 429, 429]
            with httpx.Client(base_url=running.url) as fresh:
                r = fresh.get("/config?token=k123")
                assert r.status_code == 429 and "HYBRID_LOGIN_RATE" in r.json()["message"]
                assert "set-cookie" not in r.headers
                page = fresh.get("/?token=k123", headers=BROWSER)  # a visitor opening the link: a page, not JSON
                assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
                assert "trying again in" in page.text and int(page.headers["refresh"]) >= 1
                assert page.headers["retry-after"] == page.headers["refresh"]
                assert "k123" not in page.text and "set-cookie" not in page.headers
            assert alice.get("/config").status_code == 200  # her session is still there
            assert alice.get("/config", headers={"Authorization": "Bearer k123"}).status_code == 200
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
        messages = run_event(running.url, upload, [file_data(path), "append", "", "en", None, False])
        assert SECRET not in json.dumps(messages, ensure_ascii=False)
        done = messages[-1]
        assert done["success"] is False or "was not uploaded here" in json.dumps(done["output"]), done


# Trusted proxies that hold the share tunnel's address (127.0.0.1): networks, other spellings, mixed lists.
LOOPBACK_PROXIES = ["0.0.0.0/0", "0.0.0.0/1", "::/0", "127.0.0.0/8", "127.0.0.1/32", "127.1.2.3", "::1", "::1/128",
                    "::ffff:127.0.0.1", "::ffff:0:0/96", "localhost", "10.0.0.1, 0.0.0.0/0", " * ", "10.0.0.1,*",
                    "0000:0000::1", "127.000.000.001", "0.0.0.0/0.0.0.0", "not an address"]


@pytest.mark.parametrize("argv, message", [
    (["--share", "--open", "--auth", "u:p"], "--open"),
    (["--share", "--open", "--api-key", "k"], "--open"),
    (["--share", "--forwarded-allow-ips", "127.0.0.1"], "--forwarded-allow-ips"),
    (["--share", "--forwarded-allow-ips", "*"], "--forwarded-allow-ips"),
    *[(["--share", "--forwarded-allow-ips", proxies], "--forwarded-allow-ips") for proxies in LOOPBACK_PROXIES],
])
def test_contradictory_access_options_are_refused_before_serving(argv, message, capsys, monkeypatch):
    def served(*args, **kwargs):
        raise AssertionError(f"{argv} was not refused: the server started")

    monkeypatch.setattr(demo, "ModelService", served)
    assert demo.main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_share_link_refuses_trusting_any_network_holding_the_tunnel(monkeypatch):
    """Issue 21 reproducer: --share refused 127.0.0.1 as a trusted proxy but took 0.0.0.0/0, 0.0.0.0/1 or ::/0,
    which hold 127.0.0.1 too: every share-link visitor could then forge X-Forwarded-For and guess passwords
    without limit."""
    from gradio import networking

    from server.app import check_forwarded_allow_ips, start

    monkeypatch.setattr(networking, "setup_tunnel", lambda **_: "http://abc123.gradio.live")
    for proxies in LOOPBACK_PROXIES:
        with pytest.raises(ValueError, match="--forwarded-allow-ips"):
            start(None, fake_service(), host="127.0.0.1", port=0, share=True, forwarded_allow_ips=proxies)
    for proxies in ("10.0.0.0/8", "192.168.1.7", "203.0.113.0/24, 2001:db8::/32"):
        check_forwarded_allow_ips(proxies, share=True)
    # The same networks are fine without a share link: a reverse proxy on this machine is the operator's.
    check_forwarded_allow_ips("127.0.0.1, 0.0.0.0/0", share=False)
    # What uvicorn does with such a setting: the forged address is believed, a new client each time.
    running = start(None, fake_service(), host="127.0.0.1", port=0, api_settings=ApiSettings(rate_limit_per_minute=2),
                    forwarded_allow_ips="0.0.0.0/1")
    try:
        with httpx.Client(base_url=running.url) as http:
            assert _statuses(http, 4, lambda i: {"X-Forwarded-For": f"203.0.113.{i}"}) == [200] * 4
    finally:
        running.stop()


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
            page.goto(f"{running.url}/logout")  # the logout page's button (a POST from this site) logs out
            page.click("#logout button[type=submit]")
            expect(page.locator("#login")).to_contain_text("登录 / Sign in")
            assert page.request.get(f"{running.url}/config").status == 401
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

    return [None, query, kb, False, d.alpha, d.fusion, d.normalizer, d.k, d.k1, d.b, 0.5, d.window, "en", None, {}]


def _index_event(cfg: dict) -> int:
    """The page's embedding event (``DemoHandlers.index_and_search``, the search's inputs): of the events writing
    the index line and the results, the one that also writes the session's engine (one output more)."""
    line = next(c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id") == "index-info")
    return max((d for d in cfg["dependencies"] if line in d["outputs"]), key=lambda d: len(d["outputs"]))["id"]


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
        count, index = on_kb[3], _index_event(cfg)  # h.count(kb, split, lang); h.index_and_search
        search = fn_index_of(cfg, "search-button", "click")
        kb = "笔记本电脑黑屏怎么办\n巴黎有哪些博物馆"
        started = time.monotonic()
        notice = _completed(run_event(running.url, search, _search_data("巴黎博物馆" * 1_200_000, kb)))[0]
        took = time.monotonic() - started
        assert f"first {MAX_TEXT_CHARS:,} characters" in notice and "6,000,000" in notice, notice
        assert took < 10, took  # the body itself (18 MB of JSON) is most of it
        before = encoder.documents_embedded
        long_kb = "巴黎有哪些博物馆\n" + "字" * 20_000
        _completed(run_event(running.url, index, _search_data("", long_kb)))
        assert encoder.documents_embedded == before, "the 20,000-character entry was embedded"
        line = _completed(run_event(running.url, count, [long_kb, False, "en"]))[0]
        assert "Entry 2 has 20,000 characters" in line, line
    finally:
        running.stop()


def test_a_search_over_a_huge_unindexed_text_waits_for_the_index_instead_of_tokenising_it(monkeypatch):
    """Attacker review: a forged search event carrying a 24 MB text box (never indexed in that session) built a
    keyword-only engine of it per call, 62 s each, and eight of them held every search slot of the page for minutes.
    Above ``ON_THE_FLY_CHARS`` such a search is answered at once with a notice; smaller text still gets keyword hits."""
    import time

    from server.app import start
    from webui import handlers

    monkeypatch.setattr(handlers, "ON_THE_FLY_CHARS", 2_000)
    service = fake_service()
    running = start(demo.build_demo(service), service, host="127.0.0.1", port=0, api_settings=ApiSettings())
    try:
        cfg = config(running.url)
        search = fn_index_of(cfg, "search-button", "click")
        huge = "\n".join(f"巴黎有哪些博物馆 第{i}条" for i in range(300))  # 3,989 characters, never indexed
        started = time.monotonic()
        out = _completed(run_event(running.url, search, _search_data("巴黎博物馆", huge)))
        assert time.monotonic() - started < 10
        assert "not indexed yet" in out[0] and "2,000 characters" in out[0], out[0]
        assert "shown hits" not in json.dumps(out)  # no hits: nothing was built
        small = "笔记本电脑黑屏怎么办\n巴黎有哪些博物馆"
        out = _completed(run_event(running.url, search, _search_data("巴黎博物馆", small)))
        assert "1 of 1 shown hits" in json.dumps(out) and "not indexed yet" not in out[0]
    finally:
        running.stop()


def test_a_forged_share_event_without_the_pages_address_gets_a_link_and_logs_no_traceback(caplog, capfd):
    """Attacker review: the share event sent with its inputs' defaults (no page address: the page's script fills
    it) raised a TypeError with a traceback in the log per request."""
    from server.app import start

    service = fake_service()
    running = start(demo.build_demo(service), service, host="127.0.0.1", port=0, api_settings=ApiSettings())
    try:
        share_event = fn_index_of(config(running.url), "share-button", "click")
        data = [None, "巴黎", "everyday", None, False, 0.7, "adaptive", "minmax", 5, 1.2, 0.75, 0.65, 100, "en",
                "search", True, None]
        out = _completed(run_event(running.url, share_event, data))
        assert out[0]["value"].startswith("/?q=") and "kb=own" in out[0]["value"], out
        printed = caplog.text + "".join(capfd.readouterr())
        assert "Traceback" not in printed and "TypeError" not in printed, printed[-2000:]
    finally:
        running.stop()


def _abandon(url: str, start: dict, path: str, stream: str, params: dict | None = None) -> None:
    """Start a queued Gradio call, listen to its event stream for half a second, and leave (a closed tab, an
    interrupted gradio_client)."""
    import time

    with httpx.Client(base_url=url, timeout=httpx.Timeout(30, read=0.5)) as http:
        r = http.post(path, json=start, timeout=30)  # a loaded machine may take over 0.5 s to queue it
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
        index = _index_event(cfg)
        session = uuid.uuid4().hex
        _abandon(running.url, {"data": _search_data("", "\n".join(documents)), "fn_index": index,
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
        index = _index_event(cfg)
        search = fn_index_of(cfg, "search-button", "click")

        def indexed(session: str) -> None:
            _completed(run_event(running.url, index, _search_data("", kb), session=session))

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


NO_INDEX = "no vector index"


@contextlib.contextmanager
def _sessions_server(max_sessions: int):
    """The real server keeping ``max_sessions`` sessions; yields (browser, indexed, notice): a new browser's cookie
    header, indexing a small knowledge base in a session, and the notice of a search there (``NO_INDEX`` in it when
    the session's state was dropped)."""
    from server.app import start

    kb = "笔记本电脑黑屏怎么办\n巴黎有哪些博物馆"
    service = fake_service()
    running = start(demo.build_demo(service, max_sessions=max_sessions), service, host="127.0.0.1", port=0,
                    api_settings=ApiSettings())
    try:
        cfg = config(running.url)
        index, search = _index_event(cfg), fn_index_of(cfg, "search-button", "click")

        def browser() -> dict:  # a browser opening the page gets an anonymous session of its own
            r = httpx.get(f"{running.url}/", timeout=10)
            assert r.status_code == 200 and "hybrid_session" in r.cookies, r.headers
            return {"Cookie": f"hybrid_session={r.cookies['hybrid_session']}"}

        def indexed(session: str, headers: dict | None = None) -> None:
            _completed(run_event(running.url, index, _search_data("", kb), headers=headers, session=session))

        def notice(session: str, headers: dict | None = None) -> str:
            return _completed(run_event(running.url, search, _search_data("巴黎博物馆", kb), headers=headers,
                                        session=session))[0]

        yield browser, indexed, notice
    finally:
        running.stop()


def test_a_client_minting_sessions_pushes_out_its_own_not_a_visitors(caplog, capfd):
    """Known limit closed: session ids cost nothing, and Gradio dropped the least recently used session of all, so
    one client naming 500 new ids pushed every visitor's knowledge base out. A full server now drops a session of
    the client holding the most (``server.session_state.FairStateHolder``)."""
    with _sessions_server(3) as (browser, indexed, notice):
        visitor, attacker = browser(), browser()
        indexed("visitor", visitor)
        for i in range(8):  # a browser, and a program without cookies, each mint more sessions than the server keeps
            indexed(f"minted-{i}", attacker)
            indexed(f"bare-{i}")
        assert NO_INDEX not in notice("visitor", visitor)  # the visitor's knowledge base is still indexed
        assert NO_INDEX not in notice("bare-7") and NO_INDEX not in notice("minted-7", attacker)
        assert NO_INDEX in notice("minted-0", attacker) and NO_INDEX in notice("bare-0")  # their own went
    printed = caplog.text + "".join(capfd.readouterr())
    assert "Traceback" not in printed, printed[-2000:]


def test_one_client_or_one_address_holds_a_bounded_share_of_sessions(monkeypatch):
    """A session holds tens of MB; one client naming many sessions loses its own oldest beyond its share, and the
    anonymous clients of one address (a browser each, one request apiece) share one bound, long before the server
    is full; a visitor's session stays."""
    from server import session_state

    monkeypatch.setattr(session_state, "SESSIONS_PER_CLIENT", 3)
    monkeypatch.setattr(session_state, "SESSIONS_PER_ADDRESS", 5)
    holder = session_state.FairStateHolder()
    holder.capacity = 500

    def use(session, client, address=None):
        holder.claim(session, client, address)
        holder.session_data[session] = object()
        holder.update(session)

    use("visitor", "session:visitor", "10.0.0.2")
    for i in range(10):
        use(f"key-{i}", "key:service")  # a program with a key: a client of its own, no address share
    assert [s for s in holder.session_data if s.startswith("key-")] == ["key-7", "key-8", "key-9"]
    for i in range(12):  # four anonymous browsers of one address, three sessions each
        use(f"anon-{i}", f"session:anon-{i % 4}", "10.0.0.1")
    held = [s for s in holder.session_data if s.startswith("anon-")]
    assert held == [f"anon-{i}" for i in range(7, 12)]
    assert "visitor" in holder.session_data and len(holder.session_data) == 9
    for i in range(8):  # a share link's visitors all come from its tunnel on loopback: no address share there
        use(f"link-{i}", f"session:link-{i}", "127.0.0.1")
    assert all(f"link-{i}" in holder.session_data for i in range(8))


def test_a_program_naming_sessions_on_a_server_with_room_keeps_only_its_share(monkeypatch, caplog, capfd):
    """On the real server, a cookie-less program naming more sessions than its share loses its oldest at once,
    while the server still has room: a visitor's knowledge base stays indexed."""
    from server import session_state

    monkeypatch.setattr(session_state, "SESSIONS_PER_CLIENT", 2)
    with _sessions_server(20) as (browser, indexed, notice):
        visitor = browser()
        indexed("visitor", visitor)
        for i in range(4):
            indexed(f"bare-{i}")
        assert NO_INDEX not in notice("visitor", visitor)
        assert NO_INDEX not in notice("bare-3")
        assert NO_INDEX in notice("bare-0")  # its own oldest went, with 16 places of 20 free
    printed = caplog.text + "".join(capfd.readouterr())
    assert "Traceback" not in printed, printed[-2000:]


def test_session_owners_stay_bounded_when_claimed_sessions_never_hold_state():
    """Claims of session ids whose events were refused (no state made) are forgotten beyond a bound."""
    from server.session_state import OWNERS_PER_SESSION, FairStateHolder

    from server import session_state

    holder = FairStateHolder()
    holder.capacity = 5
    holder.session_data["kept"] = object()
    holder.claim("kept", "visitor")
    holder.claim("queued", "visitor")  # its event still waits: no state yet
    for i in range(10_000):  # within the grace, young claims are kept, pruned at doubling sizes (amortised)
        holder.claim(f"young-{i}", "attacker")
    assert holder.owner("kept") == holder.owner("queued") == "visitor" and len(holder.owners) == 10_002
    session_state.CLAIM_GRACE_S, grace = 0.0, session_state.CLAIM_GRACE_S
    try:
        for i in range(10_000):
            holder.claim(f"never-{i}", "attacker")
    finally:
        session_state.CLAIM_GRACE_S = grace
    assert len(holder.owners) <= 2 * OWNERS_PER_SESSION * 5 and holder.owner("kept") == "visitor"


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


# ----------------------------------------------------------------------------- 6. uploads: bounded, and gone at stop


def _upload(http: httpx.Client, *names: str) -> httpx.Response:
    return http.post("/gradio_api/upload", files=[("files", (name, f"{name}\n".encode(), "text/plain"))
                                                   for name in names])


def test_an_upload_request_carries_at_most_the_pages_three_files():
    """Issue 21 reproducer: one upload request stored 1,000 files (2,000 inodes: a folder each)."""
    from server.settings import MAX_UPLOAD_FILES

    running = serve_demo()
    try:
        with httpx.Client(base_url=running.url) as http:
            names = [f"many-{i}-{uuid.uuid4().hex}.txt" for i in range(MAX_UPLOAD_FILES + 1)]
            r = _upload(http, *names)
            assert r.status_code == 413 and f"the limit is {MAX_UPLOAD_FILES}" in r.json()["message"], r.text
            assert not [p for name in names for p in Path(get_upload_folder()).rglob(name)]  # none was stored
            # Written by hand: line breaks before the first part (python-multipart skips them), a quoted boundary.
            part = ("--b0\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{}\"\r\n"
                    "Content-Type: text/plain\r\n\r\nx\r\n")
            body = ("\r\n\n" + "".join(part.format(name) for name in names) + "--b0--\r\n").encode()
            status, text = _raw_post(running.url, "/gradio_api/upload", {
                "Content-Type": 'multipart/form-data; boundary="b0"', "Content-Length": str(len(body))}, body)
            assert status == 413, text
            assert not [p for name in names for p in Path(get_upload_folder()).rglob(name)]
            r = _upload(http, *names[:MAX_UPLOAD_FILES])  # a labelled set's three files
            assert r.status_code == 200 and len(r.json()) == MAX_UPLOAD_FILES, r.text
            # Gradio's deep links write a session's state to the upload folder; the page makes none.
            assert http.get("/gradio_api/deep_link", params={"session_hash": "s1"}).status_code == 404
    finally:
        running.stop()


def test_a_burst_of_uploads_over_the_default_budget_is_429():
    """Issue 21 reproducer: uploads filled the disk at ~100 MB/s (no default limit on upload volume)."""
    import time

    from server.settings import MIN_UPLOAD_CHARGE

    running = serve_demo()  # python demo.py: default settings
    allowed = ApiSettings().upload_bytes_per_minute // MIN_UPLOAD_CHARGE  # small requests count at least this
    try:
        with httpx.Client(base_url=running.url) as http:
            began, accepted = time.monotonic(), 0
            while (r := _upload(http, f"burst-{accepted}.txt")).status_code == 200 and accepted <= 2 * allowed:
                accepted += 1
            refilled = (time.monotonic() - began) * allowed / 60  # the bucket refills while the burst runs
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1, r.text
            assert allowed <= accepted <= allowed + refilled + 1, (accepted, allowed, refilled)
            assert "HYBRID_UPLOAD_RATE" in r.json()["message"]
        with httpx.Client(base_url=running.url) as browser:  # another visitor (its own session) is not held up
            assert browser.get("/").status_code == 200 and "hybrid_session" in browser.cookies
            assert _upload(browser, "mine.txt").status_code == 200
    finally:
        running.stop()


CHILD = """
from gradio.utils import get_upload_folder
from tests.test_security import serve_demo
running = serve_demo()
print(running.url, get_upload_folder(), flush=True)
running.wait()
"""


class Child:
    """``python demo.py`` (with the fake model) in a process of its own, its uploads under ``base``."""

    def __init__(self, base: Path) -> None:
        import queue
        import subprocess
        import sys

        env = {**os.environ, "GRADIO_TEMP_DIR": str(base), "GRADIO_ANALYTICS_ENABLED": "False"}
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=Path(__file__).parent.parent, env=env,
                                     stdout=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        self.url, folder = lines.get(timeout=120).split()
        self.folder = Path(folder)

    def upload(self) -> Path:
        r = httpx.post(f"{self.url}/gradio_api/upload",
                       files={"files": ("note.txt", "私人笔记".encode(), "text/plain")})
        assert r.status_code == 200, r.text
        return Path(r.json()[0])

    def end(self, sig: int) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(30)


def test_uploads_are_removed_when_the_server_stops(tmp_path):
    """Issue 21 reproducer: uploads survived a server stop in Gradio's shared folder, never swept by a later run."""
    import signal

    base = tmp_path / "uploads"
    child = Child(base)
    try:
        stored = child.upload()
        assert stored.exists() and stored.resolve().is_relative_to(child.folder) and child.folder.parent == base
    finally:
        child.end(signal.SIGTERM)  # as a service manager stops it (Ctrl+C: SIGINT, the same)
    assert child.proc.returncode == 0
    assert not stored.exists() and not child.folder.exists()


def test_a_start_sweeps_the_uploads_of_dead_runs_only(tmp_path):
    """A server killed outright leaves its uploads: the next start removes them, never a running server's."""
    import signal

    base = tmp_path / "uploads"
    killed, running = Child(base), Child(base)
    try:
        left = killed.upload()
        kept = running.upload()
        killed.end(signal.SIGKILL)
        assert left.exists()  # nothing could clean up
        later = Child(base)
        try:
            folders = sorted(p.name for p in base.iterdir())
            assert not left.exists() and not killed.folder.exists(), (killed.folder.name, folders)
            assert kept.exists() and running.folder.exists(), (running.folder.name, folders)  # it still runs
            assert later.folder.exists() and later.folder != killed.folder
        finally:
            later.end(signal.SIGINT)
    finally:
        running.end(signal.SIGTERM)
    assert not any(base.glob("run-*"))


def test_minted_anonymous_sessions_share_their_addresss_upload_budget():
    """Issue 21 (8) reproducer: the upload budget was per session, so each anonymous session minted on an open
    server (``GET /``) brought a fresh HYBRID_UPLOAD_RATE; six sessions uploaded six budgets a minute."""
    from server.access import ANONYMOUS_BUCKETS_PER_ADDRESS
    from server.settings import MIN_UPLOAD_CHARGE

    per_session = 5  # small uploads count MIN_UPLOAD_CHARGE each: five a session, 20 an address
    running = serve_demo(api_settings=ApiSettings(upload_bytes_per_minute=per_session * MIN_UPLOAD_CHARGE,
                                                  login_attempts_per_minute=MANY_LOGINS))
    try:
        browsers = [httpx.Client(base_url=running.url) for _ in range(ANONYMOUS_BUCKETS_PER_ADDRESS + 2)]
        accepted, last = 0, None
        for i, http in enumerate(browsers):
            assert http.get("/", headers=BROWSER).status_code == 200 and "hybrid_session" in http.cookies
            for j in range(per_session):
                last = _upload(http, f"minted-{i}-{j}.txt")
                accepted += last.status_code == 200
        budget = ANONYMOUS_BUCKETS_PER_ADDRESS * per_session
        assert budget <= accepted <= budget + 2, accepted  # the bucket refills a little while the test runs
        assert last.status_code == 429 and "anonymous clients of this address" in last.json()["message"], last.text
        assert "HYBRID_UPLOAD_RATE" in last.json()["message"]
        for http in browsers:
            http.close()
    finally:
        running.stop()


def test_the_upload_folder_holds_at_most_its_disk_limit():
    """Issue 21 (8): nothing bounded the bytes all visitors together leave in the upload folder within the day
    they stay; an upload that would pass HYBRID_UPLOAD_DISK is 507, counted before any of it is stored."""
    limit = 2_000_000
    running = serve_demo(api_settings=ApiSettings(upload_disk_bytes=limit, login_attempts_per_minute=MANY_LOGINS))
    try:
        sizes, last = [], None
        for i in range(8):  # several visitors (a client each), 400 KB a file
            with httpx.Client(base_url=running.url) as http:
                last = http.post("/gradio_api/upload", files={"files": (f"big-{i}.txt", b"x" * 400_000, "text/plain")})
                if last.status_code != 200:
                    break
                sizes.append(i)
        assert last.status_code == 507, last.text
        message = last.json()["message"]
        assert "HYBRID_UPLOAD_DISK" in message and str(limit) in message and "retry later" in message, message
        held = sum(p.stat().st_size for p in running.upload_folder.rglob("*") if p.is_file())
        assert 3 <= len(sizes) <= 5 and held <= limit, (sizes, held)
        assert not list(running.upload_folder.rglob(f"big-{len(sizes)}.txt"))  # the refused one was not stored
    finally:
        running.stop()


def _stored(name: str) -> list[Path]:
    return list(Path(get_upload_folder()).rglob(name))


def test_another_sites_page_cannot_post_to_the_pages_routes():
    """Found by the review of issue 21: a multipart upload is a "simple" request (no CORS preflight), so any web
    page a visitor opened stored files on a ``python demo.py`` the visitor's browser could reach (loopback), up to
    the upload budget, without reading the answer. The page's routes now take POSTs only from its own pages."""
    running = serve_demo()  # python demo.py: open, on loopback
    port = running.port
    try:
        with httpx.Client(base_url=running.url) as http:
            for i, headers in enumerate([{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
                                         {"Origin": "http://localhost:9999", "Sec-Fetch-Site": "same-site"},
                                         {"Origin": "null"}, {"Origin": "http://localhost:9999"},
                                         {"Sec-Fetch-Site": "cross-site"}]):
                name = f"cross-{i}-{uuid.uuid4().hex}.txt"
                r = http.post("/gradio_api/upload", files={"files": (name, b"x", "text/plain")}, headers=headers)
                assert r.status_code == 403 and r.json()["error"] and not _stored(name), (headers, r.text)
                r = http.post("/gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "s"},
                              headers=headers)
                assert r.status_code == 403, (headers, r.text)
            for headers in ({}, {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}):
                name = f"own-{uuid.uuid4().hex}.txt"  # a program, and the page itself
                r = http.post("/gradio_api/upload", files={"files": (name, b"x", "text/plain")}, headers=headers)
                assert r.status_code == 200 and _stored(name), (headers, r.text)
        # A real browser: a page on another port of localhost posts a file to the server, as any site could.
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from playwright.sync_api import sync_playwright

        from tests.browser import CHROMIUM_ARGS, ensure_chromium

        name = f"from-a-page-{uuid.uuid4().hex}.txt"
        script = (f"<script>const f = new FormData(); f.append('files', new Blob(['x']), '{name}');"
                  f"fetch('http://127.0.0.1:{port}/gradio_api/upload', {{method: 'POST', mode: 'no-cors', body: f}})"
                  ".then(() => document.title = 'sent', () => document.title = 'failed');</script>").encode()

        class Page(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(script)

            def log_message(self, *args):
                pass

        elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=ensure_chromium(), args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(f"http://localhost:{elsewhere.server_address[1]}/")
                page.wait_for_function("document.title === 'sent'", timeout=30_000)
                browser.close()
        finally:
            elsewhere.shutdown()
        assert not _stored(name)
    finally:
        running.stop()
