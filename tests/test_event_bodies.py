"""Attacks on the page's event bodies against the real server on loopback (sixth attacker review): bodies of
millions of JSON values, knowledge-base text of millions of lines, and file values Gradio's client never sends."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
import tracemalloc
import uuid

import httpx
import pytest

import server.gradio_guard as guard
from tests.test_hardening import server_log  # noqa: F401 - a fixture
from tests.test_security import config, fn_index_of, run_event, serve_demo

pytestmark = pytest.mark.server

NUMBERS = b'{"data":[' + b"0," * 15_000_000 + b'0],"fn_index":0,"session_hash":"abcdefghijk"}'  # 30 MB


@pytest.fixture(scope="module")
def running():
    """``python demo.py`` (open, the fake model)."""
    server = serve_demo(None)
    yield server
    server.stop()


def _join(url: str, body: bytes) -> httpx.Response:
    return httpx.post(url + "/gradio_api/queue/join", content=body, timeout=120,
                      headers={"content-type": "application/json"})


def test_millions_of_values_are_refused_unparsed_and_off_the_servers_loop(running, monkeypatch):
    """A 30 MB body of 15 million numbers was parsed on the server's event loop (2.6 s each, a Python call per
    number) before its values were counted: two clients sending it in a loop held every other request 5 to 8 s.
    Now the values are counted before parsing, and a large body is checked in a worker thread."""
    on_loop: list[bool] = []
    checked = guard._checked_body

    def observed(body: bytes):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return checked(body)

    monkeypatch.setattr(guard, "_checked_body", observed)
    r = _join(running.url, NUMBERS)
    assert r.status_code == 400 and "more than 100,000 values" in r.json()["message"], r.text[:300]
    small = _join(running.url, b'{"data":[' + b"0," * 100_001 + b'0],"fn_index":0,"session_hash":"abcdefghijk"}')
    assert small.status_code == 400 and "more than 100,000 values" in small.text
    assert on_loop == [False, True]  # the large body in a worker thread; a small one (200 KB) is quick on the loop

    stop, latencies, refused = time.monotonic() + 6, [], []

    def attacker() -> None:
        while time.monotonic() < stop:
            refused.append(_join(running.url, NUMBERS).status_code)

    attackers = [threading.Thread(target=attacker) for _ in range(2)]
    for t in attackers:
        t.start()
    while time.monotonic() < stop:
        started = time.monotonic()
        assert httpx.get(running.url + "/health", timeout=30).status_code == 200
        latencies.append(time.monotonic() - started)
        time.sleep(0.2)
    for t in attackers:
        t.join()
    assert refused and set(refused) == {400}
    # before: median 5.0 s, 6 answers in 25 s
    assert len(latencies) >= 10 and statistics.median(latencies) < 1.0, latencies


def test_a_knowledge_base_of_millions_of_lines_is_refused_without_splitting_it(running, server_log):  # noqa: F811
    """The entry count split the typed text into lines before it counted them: seven million short lines (one
    event, 21 MB) became seven million strings, about 400 MB, in events that ran without a limit side by side.
    Now the lines (and, when split, the sentence ends) are counted first, and such a text is not split."""
    cfg = config(running.url)
    index = fn_index_of(cfg, "kb", "change")
    for text, split, most in (("ab\n" * 7_000_000, False, "7,000,001"), ("甲。" * 5_000_000, True, "5,000,001")):
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            messages = run_event(running.url, index, [text, split, "en"], timeout=120)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        done = [m for m in messages if m.get("msg") == "process_completed"]
        assert done and done[-1]["success"], messages[-2:]
        shown = str(done[-1]["output"]["data"][0])
        assert f"up to {most} entries" in shown and "limit of 20,000" in shown, shown[:300]
        # the request's own copies (the client's JSON, the body, the values parsed) took 183 and 230 MB here; the
        # entries as strings took 590 MB in all, both ways
        assert peak < 320_000_000, f"{peak / 1e6:.0f} MB"
    assert not [line for line in server_log if "Traceback" in line], "\n".join(server_log)[-3000:]


def test_a_file_value_gradios_client_never_sends_is_refused_without_a_traceback(running, server_log):  # noqa: F811
    """A file slot holding a bare path, or a path without Gradio's ``meta``, failed Gradio's own validation: a
    traceback in the log for every such event, and an empty error. Now it is refused with a message saying how
    a file is sent."""
    cfg = config(running.url)
    upload = fn_index_of(cfg, "upload", "upload")
    for value in ("/etc/passwd", {"path": "/etc/passwd"}, {"path": "/etc/passwd", "meta": {"_type": "other"}}, 7):
        messages = run_event(running.url, upload, [value, "replace", "", "en", None, False])
        done = [m for m in messages if m.get("msg") == "process_completed"]
        assert done and not done[-1]["success"], messages[-2:]
        assert "as Gradio's client sends it" in str(done[-1]["output"].get("error")), done[-1]
    # Gradio's own form still reaches the handler (which refuses a file not uploaded here, as before)
    messages = run_event(running.url, upload, [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
                                               "replace", "", "en", None, False])
    assert "was not uploaded here" in str(messages[-1]), messages[-1]
    assert not [line for line in server_log if "Traceback" in line], "\n".join(server_log)[-3000:]


def test_the_values_counted_before_parsing_are_never_fewer_than_the_json_holds(monkeypatch):
    """``_most_values`` bounds a body's values without parsing it (commas, brackets and braces outside strings),
    so it must never count fewer than there are: random JSON with escaped quotes and backslashes, strings holding
    commas and brackets, read in chunks of every small size (a string or an escape across a chunk's end)."""
    import json
    import random

    def values(data) -> int:
        count, stack = 0, [data]
        while stack:
            item = stack.pop()
            count += 1
            stack.extend(item.values() if isinstance(item, dict) else item if isinstance(item, list) else ())
        return count

    def random_json(rng: random.Random, depth: int = 0):
        roll = rng.random()
        if depth > 3 or roll < 0.3:
            return rng.choice([1, -2.5, None, True, "a,b[{", 'q"\\"x\\', "\\\\", "", "中文，,", "\\u0022"])
        if roll < 0.65:
            return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(["k", 'a"b', "c,d", "\\", "{["]): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}

    rng = random.Random(0)
    for chunk in (1, 2, 3, 7, guard._SCAN_CHUNK):
        monkeypatch.setattr(guard, "_SCAN_CHUNK", chunk)
        for _ in range(400):
            data = random_json(rng)
            for body in (json.dumps(data), json.dumps(data, ensure_ascii=False, indent=1)):
                assert guard._most_values(body.encode("utf-8")) >= values(data), (chunk, body)
    assert guard._most_values(NUMBERS) == 15_000_005  # the object, its three values, the 15,000,001 numbers
    assert guard._most_values(b'{"data": ["a,b,c\\", [x", 1]}') == 4


def test_a_body_in_utf16_or_utf32_is_refused(running, server_log):  # noqa: F811
    """Found by the seventh review: json.loads reads UTF-16 and UTF-32 too, while the checks before it read UTF-8
    bytes: a lone surrogate in a UTF-16 body reached Gradio (a traceback on the event stream), and a quote byte
    inside a UTF-16 character hid 200,002 values from the count. Gradio's page and gradio_client send UTF-8."""
    import json

    index = fn_index_of(config(running.url), "kb", "change")
    surrogate = '{"data": ["\\ud800", false, "en"], "fn_index": %d, "session_hash": "abcdefghijk"}' % index
    values = '{"data": ["∀", [%s], "en"], "fn_index": %d, "session_hash": "abcdefghijk"}' % (
        ",".join(["0"] * 200_002), index)
    for text in (surrogate, values):
        for encoding in ("utf-16", "utf-16-le", "utf-32", "utf-32-be"):
            r = _join(running.url, text.encode(encoding))
            assert r.status_code == 400 and "UTF-8" in r.json()["message"], (encoding, r.text[:300])
    assert _join(running.url, surrogate.encode("utf-8")).status_code == 400  # as before: a lone surrogate
    utf8 = run_event(running.url, index, ["甲\n乙", False, "en"])  # and UTF-8 (with or without its BOM) goes on
    assert utf8[-1]["msg"] == "process_completed" and utf8[-1]["success"], utf8[-1]
    bom = _join(running.url, b"\xef\xbb\xbf" + json.dumps({"data": ["甲", False, "en"], "fn_index": index,
                                                            "session_hash": "abcdefghijk"}).encode("utf-8"))
    assert bom.status_code != 400, bom.text[:300]
    assert not [line for line in server_log if "Traceback" in line], "\n".join(server_log)[-3000:]


def test_an_event_reading_what_was_clicked_without_its_event_data_is_refused(running, server_log):  # noqa: F811
    """Attacker review, left until now: the evaluation tab's per-query table answers a click (gr.SelectData); the
    event joined with ``event_data`` null, or without its fields, made Gradio raise a TypeError with a traceback
    in the log per request. Now it is 400 with a message, and the page's own shape still runs."""
    cfg = config(running.url)
    opened = fn_index_of(cfg, "eval-changes", "select")
    for event_data in (None, {}, {"index": [0, 0]}, "x", 7):
        r = httpx.post(running.url + "/gradio_api/queue/join", timeout=30, json={
            "data": [None, 0, "", "", "en", None], "fn_index": opened, "session_hash": uuid.uuid4().hex,
            "event_data": event_data, "trigger_id": None})
        assert r.status_code == 400 and "reads what was clicked" in r.json()["message"], (event_data, r.text)
    messages = run_event(running.url, opened, [None, 0, "", "", "en", None])  # no report: the handler changes nothing
    assert messages and messages[-1].get("msg") == "refused", messages[-1]  # a join without event data is 400
    for event_data in ({"index": [], "value": 1}, {"index": [None], "value": 1}, {"index": "0", "value": 1}):
        done = run_event(running.url, opened, [None, None, "", "", "en", None], event_data=event_data)
        assert done and done[-1].get("msg") == "process_completed" and done[-1]["success"], (event_data, done[-1])
    for route in ("call", "run", "api", "call/v2"):  # a private event is not called by name (nor without event data)
        r = httpx.post(f"{running.url}/gradio_api/{route}/on_open", json={"data": [None, None, "", "", "en", None]},
                       timeout=30)
        assert r.status_code == 404 and "no endpoint named 'on_open'" in r.json()["message"], (route, r.text)
    r = httpx.post(running.url + "/gradio_api/queue/join", timeout=30, json={
        "data": [None, None, "", "", "en", None], "fn_index": opened, "session_hash": (session := uuid.uuid4().hex),
        "event_data": {"index": [0, 0], "value": "q"}, "trigger_id": None})
    assert r.status_code == 200, r.text
    with httpx.stream("GET", running.url + "/gradio_api/queue/data", params={"session_hash": session},
                      timeout=30) as stream:
        done = [line for line in stream.iter_lines() if "process_completed" in line]
    assert done and '"success":true' in done[-1].replace(" ", ""), done
    assert not [line for line in server_log if "Traceback" in line], "\n".join(server_log)[-3000:]


def test_forged_slider_and_example_values_are_refused_without_a_traceback(running, server_log):  # noqa: F811
    """Values the page never sends (ninth attacker review): a slider given text, a list, null or NaN, the share
    button's event with every value null, an example clicked by a text or an index past the examples. Gradio's
    slider check, the search handler (``float(None)``) and the examples (indexing their samples) logged some 40
    lines each, with no limit; each is now refused with a message and nothing in the log."""
    from tests.test_security import _search_data

    cfg = config(running.url)
    search = fn_index_of(cfg, "search-button", "click")
    for alpha in ("abc", [0.5], None, float("nan")):
        data = _search_data("巴黎", "巴黎有博物馆")
        data[4] = alpha
        body = {"data": data, "fn_index": search, "session_hash": uuid.uuid4().hex}
        if alpha != alpha:  # NaN: JSON has none; Gradio's client cannot send one, the guard refuses the body
            r = httpx.post(running.url + "/gradio_api/queue/join", timeout=30, content=json.dumps(body).encode(),
                           headers={"content-type": "application/json"})
            assert r.status_code == 400, r.text
            continue
        messages = run_event(running.url, search, data)
        done = messages[-1]
        assert done.get("msg") == "process_completed" and done["success"] is False, (alpha, done)
        assert "takes a number from 0 to 1" in str(done["output"]), (alpha, done)
    share = fn_index_of(cfg, "share-button", "click")
    inputs = next(d for d in cfg["dependencies"] if d["id"] == share)["inputs"]
    done = run_event(running.url, share, [None] * len(inputs))[-1]
    assert done.get("msg") == "process_completed" and done["success"] is False and "takes a number" in str(done), done
    pick = fn_index_of(cfg, "examples", "click")
    for index in ("x", 1.5, [1, 2], 10**30, -1, True):
        done = run_event(running.url, pick, [index])[-1]
        assert done.get("msg") == "process_completed" and done["success"] is False, (index, done)
        assert "index of one of its examples" in str(done["output"]), (index, done)
    done = run_event(running.url, pick, [0])[-1]
    assert done["success"] and done["output"]["data"][0], done  # the first example is still picked
    assert not [line for line in server_log if "Traceback" in line], "\n".join(server_log)[-3000:]
    from webui.layout import BoundedSlider

    slider = BoundedSlider(minimum=0, maximum=1, value=0.5, label="alpha")
    with pytest.raises(Exception, match="alpha takes a number from 0 to 1"):
        slider.preprocess(float("nan"))  # what a JSON body cannot carry, a Python caller can
    assert slider.preprocess(7) == 1 and slider.preprocess(-1) == 0 and slider.preprocess(0.25) == 0.25
