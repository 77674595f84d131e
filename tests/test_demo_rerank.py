"""The demo and reranking: the --reranker option and the service that loads it."""

from __future__ import annotations

import demo
from hybrid.rerank import LoadedReranker
from hybrid.semantic import LoadedEmbedder
from hybrid.service import ModelService
from tests.fakes import OneHotEncoder, WordReranker


def test_reranker_option_defaults_to_auto_and_reaches_the_loader():
    assert demo.build_parser().parse_args([]).reranker == "auto"
    assert demo.build_parser().parse_args(["--reranker", "qwen3-0.6b"]).reranker == "qwen3-0.6b"
    calls = []

    def load_reranker(model, **options):
        calls.append((model, options))
        return LoadedReranker(WordReranker(["x"]), model)

    service = ModelService(cache=False, loader=lambda model, **_: LoadedEmbedder(OneHotEncoder(), model),
                           device="cpu", reranker="qwen3-0.6b", reranker_loader=load_reranker).start()
    assert service.wait_reranker(30) is not None
    assert calls == [("qwen3-0.6b", {"device": "cpu"})]
    assert service.new_engine(["a", "b"]).reranker is service.reranker
    none = ModelService(cache=False, loader=lambda model, **_: LoadedEmbedder(OneHotEncoder(), model),
                        reranker_loader=load_reranker).start()
    assert none.wait_reranker(30) is None and len(calls) == 1  # "none" (the service default) loads nothing
    assert none.reranker_status().state == "off"
