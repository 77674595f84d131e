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


def test_auto_without_a_gpu_is_settled_before_the_page_is_built(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    gate_never_opens = []

    def slow_embedder(model, **_):
        gate_never_opens.append(model)
        import time

        time.sleep(30)

    service = ModelService(cache=False, loader=slow_embedder, reranker="auto")  # not even started
    status = service.reranker_status()
    assert status.state == "off" and "no CUDA GPU" in status.reason and "--reranker qwen3-0.6b" in status.reason
    assert service.reranker is None and gate_never_opens == []  # the embedding model was not needed for it
