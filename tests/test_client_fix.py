"""The page's Gradio client is served with the event-stream fix (``server/client_fix.py``), to every visitor the
page's other assets reach and to no one else; the browser test of the race it fixes is in
``tests/test_ui_browser_judge.py``."""

from __future__ import annotations

import http.client
import logging
import re
import urllib.error
import urllib.request

import pytest

from hybrid.semantic import LoadedEmbedder
from hybrid.service import ModelService
from server.client_fix import FIXES, fixed_client, gradio_assets
from server.settings import ApiSettings
from tests.fakes import OneHotEncoder

ANCHOR, FIXED = FIXES[0]  # the close handler: the asset is found by it


def _fetch(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def tiny():
    import gradio as gr

    with gr.Blocks() as blocks:
        gr.Textbox(label="x")
    return blocks


def _serve(blocks, **options):
    from server.app import start

    service = ModelService(cache=False, loader=lambda model, **_: LoadedEmbedder(OneHotEncoder(), model)).start()
    return start(blocks, service, host="127.0.0.1", port=0, **options)


def test_the_installed_gradio_client_is_the_one_fixed_and_the_page_loads_it():
    asset = fixed_client()
    assert asset is not None, "Gradio's client changed: check the race server/client_fix.py fixes, then its ANCHOR"
    name = asset.path.removeprefix("/assets/")
    original = (gradio_assets() / name).read_text(encoding="utf-8")
    expected = original
    for code, fixed in FIXES:
        expected = expected.replace(code, fixed)
    assert asset.body.decode("utf-8") == expected and expected != original
    index = (gradio_assets().parent / "index.html").read_text(encoding="utf-8")
    assert re.search(rf'<script type="module" crossorigin src="\./assets/{re.escape(name)}"', index)


def test_the_fixed_client_is_served_with_its_own_etag_and_every_other_asset_as_gradio_has_it(tiny):
    running = _serve(tiny, api_settings=ApiSettings())
    try:
        asset = fixed_client()
        status, headers, body = _fetch(running.url + asset.path)
        assert status == 200 and body == asset.body and FIXED.encode() in body and ANCHOR.encode() not in body
        assert headers["content-type"].startswith("text/javascript") and headers["etag"] == asset.etag
        assert _fetch(running.url + asset.path, headers={"If-None-Match": asset.etag})[::2] == (304, b"")
        status, headers, body = _fetch(running.url + asset.path, method="HEAD")
        assert (status, body, headers["content-length"]) == (200, b"", str(len(asset.body)))
        # a stale copy (Gradio's own ETag) gets the fixed one
        assert _fetch(running.url + asset.path, headers={"If-None-Match": '"stale"'})[::2] == (200, asset.body)
        other = sorted(p for p in gradio_assets().glob("*.js") if f"/assets/{p.name}" != asset.path)[0]
        status, _, body = _fetch(f"{running.url}/assets/{other.name}")
        assert (status, body) == (200, other.read_bytes())
        # a POST to it is Gradio's answer (no such route), and a path around it is not the fixed asset
        assert _fetch(running.url + asset.path, method="POST")[0] == 405
        status, _, body = _fetch(running.url + asset.path + "x")
        assert status == 404 and FIXED.encode() not in body
        # Found by the sixth attacker review: other spellings of the same file, which Gradio's static route serves,
        # got Gradio's unfixed client
        host, port = running.url.removeprefix("http://").split(":")
        for spelled in (asset.path.replace("/assets/", "/assets/./"), asset.path + "/",
                        asset.path.replace("/assets/", "/assets//")):
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            connection.request("GET", spelled)
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (200, asset.body), spelled
            connection.close()
    finally:
        running.stop()


def test_without_credentials_the_fixed_client_is_refused_like_any_asset(tiny):
    running = _serve(tiny, api_settings=ApiSettings(api_key="k123"))
    try:
        asset = fixed_client()
        other = sorted(p for p in gradio_assets().glob("*.js") if f"/assets/{p.name}" != asset.path)[0]
        for forged in ({}, {"Authorization": "Bearer k12"}, {"X-Forwarded-For": "127.0.0.1"}):
            fixed_status, _, body = _fetch(running.url + asset.path, headers=forged)
            other_status = _fetch(f"{running.url}/assets/{other.name}", headers=forged)[0]
            assert fixed_status == other_status
            if fixed_status != 200:
                assert FIXED.encode() not in body
        assert _fetch(running.url + asset.path, headers={"Authorization": "Bearer k123"})[::2] == (200, asset.body)
    finally:
        running.stop()


def test_another_gradio_build_is_served_unchanged_and_said(tmp_path, caplog):
    (tmp_path / "a.js").write_text("console.log(1)", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="server.client_fix"):
        assert fixed_client(tmp_path) is None
    assert "was not fixed: 0 of its assets" in caplog.text
    (tmp_path / "b.js").write_text("x;" + ";".join(code for code, _ in FIXES) + ";y", encoding="utf-8")
    fixed = fixed_client(tmp_path)
    assert fixed is not None and fixed.path == "/assets/b.js"
    assert fixed.body == ("x;" + ";".join(new for _, new in FIXES) + ";y").encode()
    # the close handler without the rest of the fix: nothing is changed (half a fix would keep streams open)
    (tmp_path / "b.js").write_text(f"x;{ANCHOR};y", encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="server.client_fix"):
        assert fixed_client(tmp_path) is None
    assert "1 of its assets" in caplog.text
    (tmp_path / "c.js").write_text(f"{ANCHOR}{ANCHOR}", encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="server.client_fix"):
        assert fixed_client(tmp_path) is None
    assert "2 of its assets" in caplog.text
