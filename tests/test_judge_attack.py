"""The page's events as an attacker meets them, on the real server on loopback (Gradio's wire protocol): forged
judgement clicks of any shape, server paths and hostile zips for the upload, the events refused without the key,
downloads clicked in a loop, values outside a control's choices."""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest
from gradio.utils import get_upload_folder

from hybrid import judgements as judging
from hybrid.settings import DEFAULT_SETTINGS as d
from server import ApiSettings
from tests.test_security import KEY, config, fn_index_of, serve_demo

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

pytestmark = [
    pytest.mark.server,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

KB = "法国的首都是巴黎。\n香蕉是一种水果。\n机器学习模型可以理解文本语义。"
QUERY = "法国的首都"


@pytest.fixture(scope="module")
def running():
    """``python demo.py`` (open, the fake model), its page's own knowledge base typed in each session."""
    server = serve_demo(None)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keyed():
    server = serve_demo(None, api_settings=ApiSettings(api_key="k123"))
    yield server
    server.stop()


def join(url: str, fn_index: int, data: list, session: str, event_data=None, headers=None) -> list[dict]:
    """One event as the page sends it (with ``event_data``, what a gr.HTML ``trigger`` carries), its messages."""
    with httpx.Client(base_url=url, headers=headers or {}, timeout=60) as http:
        r = http.post("/gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                                      "event_data": event_data, "trigger_id": None})
        if r.status_code != 200:
            return [{"msg": "refused", "status": r.status_code}]
        messages = []
        with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    messages.append(json.loads(line[5:]))
                    if messages[-1].get("msg") in ("process_completed", "close_stream", "unexpected_error"):
                        break
        return messages


def completed(messages: list[dict]) -> list:
    done = [m for m in messages if m.get("msg") == "process_completed"]
    assert done and done[-1]["success"], messages[-3:]
    return done[-1]["output"]["data"]


def judge_event(cfg: dict) -> int:
    return fn_index_of(cfg, "col-keyword", "click")


def judge_data() -> list:
    return [None, None, KB, False, "zh"]  # judgements, engine (states), the knowledge base, split, language


def saved_judgements(url: str, cfg: dict, session: str) -> dict:
    """What the session holds, as its download gives it ({} when it holds nothing)."""
    out = completed(join(url, fn_index_of(cfg, "judge-download", "click"), [None, KB, False, "zh"], session))
    if not out[0] or not out[0].get("value"):
        assert "还没有评判" in out[1]
        return {}
    path = Path(out[0]["value"]["path"])
    assert path.is_file() and Path(get_upload_folder()) in path.resolve().parents  # in the swept upload folder
    loaded, _ = judging.from_files(judging.read_zip(path.read_bytes()))
    return loaded


FORGED = [None, [], "2", 7, {"query": QUERY}, {"query": QUERY, "id": "1", "grade": 5},
          {"query": QUERY, "id": "1", "grade": "2"}, {"query": QUERY, "id": "1", "grade": True},
          {"query": QUERY, "id": "1", "grade": 1.0}, {"query": ["x"], "id": "1", "grade": 1},
          {"query": "", "id": "1", "grade": 1}, {"query": "x" * 100_000, "id": "1", "grade": 1},
          {"query": QUERY, "id": "../../etc/passwd", "grade": 1}, {"query": QUERY, "id": "99", "grade": 1},
          {"query": QUERY, "id": "0", "grade": 1}, {"query": QUERY, "id": "-1", "grade": 1},
          {"query": QUERY, "id": "9" * 5000, "grade": 1}, {"query": QUERY, "id": 1, "grade": 1},
          {"query": QUERY, "id": None, "grade": None}]


def test_a_judgement_click_with_any_event_data_changes_nothing_and_raises_nothing(running, caplog):
    cfg = config(running.url)
    session = uuid.uuid4().hex
    with caplog.at_level(logging.ERROR):
        for forged in FORGED:
            out = completed(join(running.url, judge_event(cfg), judge_data(), session, forged))
            assert "Traceback" not in json.dumps(out, ensure_ascii=False)
        assert saved_judgements(running.url, cfg, session) == {}
        # the page's own click is kept: entry 1 of the typed knowledge base (a keyword-only search numbers from 1)
        completed(join(running.url, judge_event(cfg), judge_data(), session, {"query": QUERY, "id": "1", "grade": 2}))
        assert saved_judgements(running.url, cfg, session) == {QUERY: {"法国的首都是巴黎。": 2}}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.records


def test_the_upload_reads_only_received_files_and_refuses_hostile_zips(running, tmp_path):
    cfg = config(running.url)
    upload = fn_index_of(cfg, "judge-upload", "upload")
    session = uuid.uuid4().hex
    outside = tmp_path / "judgements.zip"
    outside.write_bytes(judging.to_zip({QUERY: {"秘密": 2}}, ["秘密"]))
    file_data = {"path": str(outside), "meta": {"_type": "gradio.FileData"}, "orig_name": "judgements.zip"}
    messages = join(running.url, upload, [file_data, None, KB, False, "zh", None], session)
    done = [m for m in messages if m.get("msg") == "process_completed"][-1]
    assert not done["success"] and "never fetches a URL" in done["output"]["error"]  # the server's file guard
    assert saved_judgements(running.url, cfg, session) == {}

    def uploaded(data: bytes) -> dict:
        r = httpx.post(f"{running.url}/gradio_api/upload", files={"files": ("judgements.zip", data)})
        assert r.status_code == 200, r.text
        return {"path": r.json()[0], "meta": {"_type": "gradio.FileData"}, "orig_name": "judgements.zip"}

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        files = judging.to_files({QUERY: {"法国的首都是巴黎。": 2}}, KB.splitlines())
        for name, content in {**files, "qrels.tsv": "\n" * (judging.MAX_ZIP_BYTES + 10)}.items():
            archive.writestr(name, content)
    for hostile, reason in ((bomb.getvalue(), "解压后）超过了"), (b"PK\x03\x04 broken", "这不是 zip 文件")):
        out = completed(join(running.url, upload, [uploaded(hostile), None, KB, False, "zh", None], session))
        assert reason in json.dumps(out, ensure_ascii=False)
    assert saved_judgements(running.url, cfg, session) == {}

    good = judging.to_zip({QUERY: {"法国的首都是巴黎。": 2}}, KB.splitlines())
    out = completed(join(running.url, upload, [uploaded(good), None, KB, False, "zh", None], session))
    assert "已载入 1 条评判" in json.dumps(out, ensure_ascii=False)
    assert saved_judgements(running.url, cfg, session) == {QUERY: {"法国的首都是巴黎。": 2}}


def test_the_judgement_events_are_refused_without_the_key(keyed):
    cfg = config(keyed.url, KEY)
    session = uuid.uuid4().hex
    for fn, data in ((judge_event(cfg), judge_data()), (fn_index_of(cfg, "judge-download", "click"),
                                                          [None, KB, False, "zh"])):
        refused = join(keyed.url, fn, data, session, {"query": QUERY, "id": "1", "grade": 2})
        assert refused[0].get("status") in (401, 403), refused[:2]
        assert completed(join(keyed.url, fn, data, session, {"query": QUERY, "id": "1", "grade": 2}, KEY)) is not None


def test_downloads_clicked_in_a_loop_keep_at_most_a_few_files(running, monkeypatch):
    """The setting export (and the judgements zip, written by the same ``save_download``) are written on a click,
    outside the upload routes' quota: an attacker clicking export in a loop (22 a second, measured) must not fill
    the upload folder and so refuse everyone's uploads. At most MAX_DOWNLOADS are kept, the oldest go first, and
    the newest is served."""
    import server.uploads as uploads

    monkeypatch.setattr(uploads, "MAX_DOWNLOADS", 4)
    cfg = httpx.get(f"{running.url}/config").json()
    export = fn_index_of(cfg, "export-setting", "click")
    dep = next(d for d in cfg["dependencies"] if d["id"] == export)
    values = {c["id"]: c.get("props", {}).get("value") for c in cfg["components"]}
    data = [values.get(i) for i in dep["inputs"]]
    session = uuid.uuid4().hex
    shelf = Path(get_upload_folder()) / uploads.DOWNLOADS
    paths = []
    for _ in range(10):
        out = completed(join(running.url, export, data, session))
        paths.append(Path(out[0]["value"][0]["path"]))  # the setting file (a dictionary would follow it)
        assert len([p for p in shelf.iterdir()]) <= 4
    assert [p.is_file() for p in paths] == [False] * 6 + [True] * 4
    assert sorted(shelf.iterdir()) == sorted(p.parent for p in paths[-4:])
    assert shelf in paths[-1].resolve().parents
    r = httpx.get(f"{running.url}/gradio_api/file={paths[-1]}")
    assert r.status_code == 200 and json.loads(r.content)["settings"]["alpha"] == d.alpha
    monkeypatch.setattr(uploads, "MAX_DOWNLOADS", 100)
    monkeypatch.setattr(uploads, "MAX_DOWNLOAD_BYTES", 1)  # every kept one is over: only the newest stays
    completed(join(running.url, export, data, session))
    assert len(list(shelf.iterdir())) == 1


def test_values_outside_a_controls_choices_are_refused_without_a_traceback(running, capfd):
    """Found by the attacker review: a forged event whose dropdown, radio or checkbox value is none of the
    control's choices printed some 40 lines of traceback each time (no limit). It is still refused, quietly."""
    cfg = httpx.get(f"{running.url}/config").json()
    values = {c["id"]: c.get("props", {}).get("value") for c in cfg["components"]}
    kinds = {c["id"]: c.get("type") for c in cfg["components"]}
    checked = set()
    for dep in cfg["dependencies"]:
        choice_inputs = [i for i in dep["inputs"] if kinds.get(i) in ("dropdown", "radio", "checkboxgroup")]
        if not choice_inputs or not dep.get("backend_fn") or kinds[choice_inputs[0]] in checked:
            continue
        target = choice_inputs[0]
        data = [(["<b>x"] if kinds[i] == "checkboxgroup" else "<b>x") if i == target else values.get(i)
                for i in dep["inputs"]]
        messages = join(running.url, dep["id"], data, uuid.uuid4().hex)
        done = [m for m in messages if m.get("msg") == "process_completed"]
        assert done and not done[-1]["success"], (dep["id"], messages[-2:])
        assert "not in the list of choices" in json.dumps(done[-1], ensure_ascii=False)
        checked.add(kinds[target])
    assert checked == {"dropdown", "radio", "checkboxgroup"}
    # a list of valid choices where a dropdown takes one value (Gradio let it through: a TypeError in the handler)
    for dep in cfg["dependencies"]:
        dropdowns = [i for i in dep["inputs"] if kinds.get(i) == "dropdown" and values.get(i)]
        if not dropdowns or not dep.get("backend_fn"):
            continue
        data = [[values[i]] if i == dropdowns[0] else values.get(i) for i in dep["inputs"]]
        done = [m for m in join(running.url, dep["id"], data, uuid.uuid4().hex) if m.get("msg") == "process_completed"]
        assert done and not done[-1]["success"] and "takes one value, not a list" in json.dumps(done[-1]), dep["id"]
    # other shapes are refused before Gradio writes the whole value into its message (25 MB took 4 s)
    for forged, kind in (({"a": list(range(50_000))}, "dropdown"), ({"x": 1}, "radio"), ([["zscore"]], "checkboxgroup"),
                         (True, "radio")):
        dep = next(d for d in cfg["dependencies"] if d.get("backend_fn")
                   and any(kinds.get(i) == kind for i in d["inputs"]))
        target = next(i for i in dep["inputs"] if kinds.get(i) == kind)
        data = [forged if i == target else values.get(i) for i in dep["inputs"]]
        done = [m for m in join(running.url, dep["id"], data, uuid.uuid4().hex) if m.get("msg") == "process_completed"]
        assert done and not done[-1]["success"] and "this control takes" in json.dumps(done[-1], ensure_ascii=False)
        assert "50000" not in json.dumps(done[-1]) and len(json.dumps(done[-1])) < 2000
    err = capfd.readouterr().err
    assert "Traceback" not in err and "not in the list of choices" not in err, err[-3000:]


def test_the_judgements_zip_takes_no_more_knowledge_base_than_the_page_indexes(running):
    """Found by the third attacker review: the download zipped whatever knowledge base the event carried (5.1 M
    entries: 15 s, 2 GB at the peak, a 25 MB zip) with no limit on how many ran at once. It now refuses what the
    page would refuse to index, and runs in the search group's bounded turns."""
    from webui.handlers import MAX_ENTRIES

    cfg = config(running.url)
    session = uuid.uuid4().hex
    completed(join(running.url, judge_event(cfg), judge_data(), session, {"query": QUERY, "id": "1", "grade": 2}))
    huge = "\n".join(f"条目{i}" for i in range(MAX_ENTRIES + 1))
    out = completed(join(running.url, fn_index_of(cfg, "judge-download", "click"), [None, huge, False, "zh"], session))
    assert not (out[0] or {}).get("value") and f"{MAX_ENTRIES:,}" in out[1], out[1][:300]
    from starlette.routing import Mount

    blocks = next(r.app.blocks for r in running.app.routes if isinstance(r, Mount) and hasattr(r.app, "blocks"))
    fn = blocks.fns[fn_index_of(cfg, "judge-download", "click")]
    assert fn.concurrency_id == "search" and isinstance(fn.concurrency_limit, int)
    assert saved_judgements(running.url, cfg, session) == {QUERY: {"法国的首都是巴黎。": 2}}  # the page's own works
