"""The schema tells the truth: schemathesis (``st run ... --checks all``) against the real server (the demo's UI and
the API on one loopback port, the packaged model, a small real reranker, a key) finds nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from server import ApiSettings

pytestmark = [pytest.mark.server, pytest.mark.model,
              pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Small limits keep every generated request cheap for the packaged model on two cores.
LIMITS = dict(api_key="k", max_inputs=4, max_input_chars=64, max_documents=4, max_k=10, max_rerank=4,
              max_tokens=100_000, login_attempts_per_minute=100_000)
EXAMPLES = int(os.environ.get("HYBRID_FUZZ_EXAMPLES", "60"))


@pytest.fixture(scope="module")
def real_server(tmp_path_factory, tiny_reranker_path):
    import demo
    from hybrid.cache import EmbeddingCache
    from hybrid.service import ModelService
    from server.app import start

    folder = tmp_path_factory.mktemp("fuzz")
    kb = folder / "kb.txt"
    kb.write_text("苹果是一种水果\n法国的首都是巴黎\n笔记本电脑黑屏怎么办\n", encoding="utf-8")
    service = ModelService(model="auto", cache=EmbeddingCache(folder / "cache"), reranker=str(tiny_reranker_path))
    service.start()
    running = start(demo.build_demo(service), service, host="127.0.0.1", port=0, kb_path=str(kb),
                    api_settings=ApiSettings(**LIMITS))
    assert service.wait(120) is not None and service.wait_reranker(300) is not None, service.reranker_status()
    assert running.app.state.kb.wait(120)
    yield running
    running.stop()


def schemathesis(url: str, *args: str) -> tuple[int, str]:
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color", "run",
               f"{url}/openapi.json", "--checks", "all", "--max-examples", str(EXAMPLES), "--seed", "20240611",
               "--generation-database", "none", "--workers", "1", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    return done.returncode, done.stdout + done.stderr


def test_the_schema_documents_every_route_status_and_limit(real_server):
    headers = {"Authorization": "Bearer k"}
    assert httpx.get(f"{real_server.url}/openapi.json").status_code == 401
    schema = httpx.get(f"{real_server.url}/openapi.json", headers=headers).json()
    assert set(schema["paths"]) == {"/v1/embeddings", "/v1/rerank", "/v1/models", "/search", "/health"}
    search = schema["paths"]["/search"]["post"]["responses"]
    assert {"200", "400", "401", "413", "429", "503"} <= set(search) and "422" not in search
    assert search["429"]["headers"]["Retry-After"]["required"] is True
    request = schema["components"]["schemas"]["SearchRequest"]
    assert request["required"] == ["query"] and request["properties"]["query"]["maxLength"] == 64
    embeddings = schema["components"]["schemas"]["EmbeddingsRequest"]["properties"]
    assert embeddings["model"]["anyOf"][0]["enum"][0] == "multilingual-e5-small"
    assert embeddings["dimensions"]["anyOf"][0] == {"type": "integer", "enum": [384]}  # not an MRL model
    # What the report found: schema-valid bodies that were refused now either work or are schema-invalid.
    for path, body in (("/search", {}), ("/v1/embeddings", {"input": ""})):
        r = httpx.post(f"{real_server.url}{path}", json=body, headers=headers)
        assert r.status_code == 400 and str(r.status_code) in schema["paths"][path]["post"]["responses"]


def test_schemathesis_finds_nothing(real_server, tmp_path):
    code, output = schemathesis(real_server.url, "-H", "Authorization: Bearer k",
                                "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml"))
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    print(f"schemathesis: {cases.group(0) if cases else output[-300:]}")  # the figure the report quotes (-s)
    assert code == 0 and "No issues found" in output, output[-6000:]
    assert cases and int(cases.group(1)) >= 100 and cases.group(1) == cases.group(2), output[-3000:]
