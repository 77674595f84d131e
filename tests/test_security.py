"""The server as an attacker meets it: the demo and the API on a loopback port (uvicorn started here), probed over
real HTTP and with gradio_client, without credentials, with forged headers, with server paths and oversized input."""

from __future__ import annotations

import json
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

KB_LINES = ["苹果是一种很好吃的水果。", "法国的首都是巴黎。", "机密条目：季度预算是三百万。"]
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


@pytest.fixture(scope="module")
def keyed(files):
    """``HYBRID_API_KEY=k123 python demo.py --kb kb.txt``."""
    running = serve_demo(files["kb"], api_settings=ApiSettings(api_key="k123"))
    yield running
    running.stop()


KEY = {"Authorization": "Bearer k123"}


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


def run_event(url: str, fn_index: int, data: list, headers: dict | None = None, timeout: float = 30) -> list[dict]:
    """Call an event the way the page does (queue/join, then read its stream); returns the stream's messages."""
    session = uuid.uuid4().hex
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
        messages = run_event(keyed.url, upload, [file_data(path), "en"], KEY)
        assert SECRET not in json.dumps(messages, ensure_ascii=False), path
        done = messages[-1]
        assert done.get("msg") in ("process_completed", "refused"), messages
        if done.get("msg") == "process_completed":
            assert done["success"] is False or "was not uploaded here" in json.dumps(done["output"]), done
    named = {d.get("api_name") for d in cfg["dependencies"] if d.get("api_visibility", "public") != "private"}
    if "upload" in named:  # the curl route of the report, while the event has a public name
        for path in [*attack_paths(files["note"]), str(link_in_uploads)]:
            status, body = call_api(keyed.url, "upload", [file_data(path), "en"], KEY)
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
                         [file_data(stored), "en"], KEY)
    assert messages[-1]["msg"] == "process_completed" and messages[-1]["success"], messages[-1]
    assert messages[-1]["output"]["data"][0] == "我上传的知识\n第二条"
