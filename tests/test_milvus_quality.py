"""Same answers: keyword, semantic and hybrid nDCG@10 from Milvus Lite within 0.01 of the in-memory store on the real sets."""

import pytest

import hybrid.evaluate as ev
from hybrid.cache import EmbeddingCache
from hybrid.store import open_store
from tests.test_evaluate import DATASETS, QUALITY_MAX_DOCS, QUALITY_MAX_QUERIES

TOLERANCE = 0.01


@pytest.fixture(scope="module")
def default_model():
    from hybrid.semantic import load_embedder

    return load_embedder("auto", device="cpu").embedder


@pytest.mark.datasets
@pytest.mark.milvus
@pytest.mark.parametrize("name", ["qbqtc-test_public", "qbqtc-dev", "xquad-mixed", "tatoeba-zh2en",
                                  "cmrc2018-dev", "cranfield"])
def test_milvus_lite_ranks_like_memory(name, default_model, tmp_path):
    folder = DATASETS / name
    if not (folder / "qrels.tsv").is_file():
        pytest.skip(f"{folder} is absent (labelled sets live in ../shared/datasets)")
    labelled = ev.load_labelled_set(folder, max_queries=QUALITY_MAX_QUERIES)
    if name in QUALITY_MAX_DOCS:
        labelled = ev.subset_corpus(labelled, QUALITY_MAX_DOCS[name])
    memory = ev.run(labelled, default_model, EmbeddingCache(), fusions=[], alphas=())
    store = open_store(f"milvus:{tmp_path / 'kb.db'}", collection="quality")
    try:
        milvus = ev.run(labelled, default_model, EmbeddingCache(), fusions=[], alphas=(), store=store)
        assert len(store) == len(labelled.documents)
    finally:
        store.close()
    for mode in ("keyword", "semantic", "hybrid"):
        a, b = memory["results"][mode]["ndcg@10"], milvus["results"][mode]["ndcg@10"]
        assert abs(a - b) <= TOLERANCE, (mode, a, b)
