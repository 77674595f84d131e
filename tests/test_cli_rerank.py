"""`python -m hybrid search --reranker NAME --rerank N`: the reranked list in the JSON object and the table."""

import json
from pathlib import Path

from hybrid import cli, rerank, semantic
from hybrid.rerank import LoadedReranker
from hybrid.semantic import LoadedEmbedder
from tests.fakes import OneHotEncoder, WordReranker

EVERYDAY = Path(__file__).resolve().parents[1] / "data" / "samples" / "everyday.txt"


def fakes(monkeypatch, asked):
    monkeypatch.setattr(semantic, "load_embedder", lambda *a, **kw: LoadedEmbedder(OneHotEncoder(), "auto"))

    def load_reranker(name, **options):
        asked.append((name, options))
        return LoadedReranker(WordReranker(["香蕉"]), name)

    monkeypatch.setattr(rerank, "load_reranker", load_reranker)


def test_json_has_the_reranked_list(capsys, monkeypatch):
    asked = []
    fakes(monkeypatch, asked)
    code = cli.main(["search", "--kb", str(EVERYDAY), "--query", "水果", "--k", "3", "--reranker", "qwen3-0.6b",
                     "--rerank", "8", "--device", "cpu", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert asked == [("qwen3-0.6b", {"device": "cpu"})] and data["reranker"] == "fake-reranker"
    assert len(data["reranked"]) == 3 and "香蕉" in data["reranked"][0]["text"]
    assert [h["rerank_score"] for h in data["reranked"]] == sorted((h["rerank_score"] for h in data["reranked"]),
                                                                   reverse=True)
    assert "rerank" in data["timings_ms"]


def test_table_and_errors(capsys, monkeypatch):
    asked = []
    fakes(monkeypatch, asked)
    assert cli.main(["search", "--kb", str(EVERYDAY), "--query", "水果", "--reranker", "qwen3-0.6b"]) == 0
    out = capsys.readouterr().out
    assert "== reranked (fake-reranker" in out
    assert cli.main(["search", "--kb", str(EVERYDAY), "--query", "水果", "--rerank", "5"]) == 2
    assert "--rerank 5 needs a reranker: add --reranker NAME" in capsys.readouterr().err
    assert cli.main(["search", "--kb", str(EVERYDAY), "--query", "水果"]) == 0 and len(asked) == 1
    assert "== reranked" not in capsys.readouterr().out
