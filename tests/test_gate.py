"""The shared cap on embedding work: fair turns, at most N at once, cancellation, admission within a wait."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from hybrid.engine import HybridEngine
from hybrid.gate import Busy, Cancelled, FairSlots, SharedEmbedder, embedding_scope
from hybrid.semantic import LoadedEmbedder
from hybrid.service import ModelService
from tests.fakes import OneHotEncoder, SlowEncoder


def test_fair_slots_serve_waiters_in_order():
    slots = FairSlots(1)
    assert slots.acquire()
    order: list[int] = []

    def waiter(i: int) -> None:
        slots.acquire()
        order.append(i)
        slots.release()

    threads = []
    for i in range(4):
        threads.append(threading.Thread(target=waiter, args=(i,)))
        threads[-1].start()
        while slots.waiting < i + 1:  # each waiter queues before the next starts
            time.sleep(0.005)
    slots.release()
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3] and slots.busy == 0
    assert slots.acquire(timeout=0.1) and not slots.acquire(timeout=0.1)
    with pytest.raises(ValueError):
        FairSlots(0)


def test_the_shared_embedder_gives_the_same_vectors_in_chunks():
    inner = OneHotEncoder()
    shared = SharedEmbedder(inner, FairSlots(1), chunk=3)
    texts = [f"苹果 {i}" if i % 2 else f"巴黎 {i}" for i in range(10)]
    seen: list[tuple[int, int]] = []
    got = shared.encode_documents(texts, progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_array_equal(got, inner.encode_documents(texts))
    assert seen == [(3, 10), (6, 10), (9, 10), (10, 10)] and inner.document_calls == 4 + 1
    assert shared.name == inner.name and shared.dimension == inner.dimension  # everything else is the model's
    assert shared.encode_documents([]).shape == (0, inner.dimension)


def test_every_caller_together_runs_at_most_the_slots_number_of_chunks():
    encoder = SlowEncoder(0.002)
    service = ModelService(cache=False, loader=lambda model, **_: LoadedEmbedder(encoder, model), embed_slots=1)
    service.start().wait(10)
    texts = [f"文档 {i}" for i in range(40)]
    threads = [threading.Thread(target=service.new_engine, args=(texts,)) for _ in range(4)]
    threads.append(threading.Thread(target=lambda: service.embedder.encode_queries(["查询"] * 30)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert encoder.most_at_once == 1 and encoder.documents_embedded == 160


def test_a_cancelled_scope_stops_after_the_current_chunk():
    encoder = SlowEncoder(0.01)
    shared = SharedEmbedder(encoder, FairSlots(1), chunk=5)
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 10:
            cancel.set()

    with embedding_scope(cancel), pytest.raises(Cancelled):
        shared.encode_documents([f"t{i}" for i in range(100)], progress=progress)
    assert encoder.documents_embedded == 10 and seen == [5, 10]
    with embedding_scope(cancel), pytest.raises(Cancelled):  # also while waiting for a turn
        HybridEngine(["a", "b"], embedder=shared)


def test_a_caller_not_admitted_within_its_wait_gets_busy_and_admitted_callers_wait_on():
    encoder = SlowEncoder(0.3)
    shared = SharedEmbedder(encoder, FairSlots(1), chunk=2)
    busy = threading.Thread(target=shared.encode_documents, args=(["x"] * 2,))
    busy.start()
    time.sleep(0.1)
    started = time.monotonic()
    with embedding_scope(admit_within_s=0.1), pytest.raises(Busy):
        shared.encode_documents(["y"])
    assert time.monotonic() - started < 0.5
    busy.join()
    # Once admitted, a caller's later chunks wait as long as it takes.
    other = threading.Thread(target=shared.encode_documents, args=(["z"] * 2,))
    with embedding_scope(admit_within_s=5):
        first = threading.Timer(0.05, other.start)
        first.start()
        assert shared.encode_documents(["w"] * 6).shape == (6, encoder.dimension)
    other.join()


def test_tokenising_stops_when_the_scope_is_cancelled():
    """Keyword-only engines (ad-hoc documents in mode keyword, the page's fallback) embed nothing, so their
    tokenising is where a cancelled request stops."""
    from hybrid.engine import HybridEngine
    from hybrid.gate import Cancelled, embedding_scope

    cancel = threading.Event()
    cancel.set()
    with embedding_scope(cancel), pytest.raises(Cancelled):
        HybridEngine([f"第{i}条：笔记本电脑黑屏怎么办" for i in range(300)])
    with embedding_scope(threading.Event()):
        assert len(HybridEngine(["笔记本电脑黑屏怎么办"])) == 1


def test_a_turn_is_bounded_in_tokens():
    """Issue reproducer: one turn of 16 long texts (or one page entry of 20,000 characters among short ones) held
    the shared model for tens of seconds while every other caller waited."""
    from hybrid.gate import TURN_TOKENS

    inner = OneHotEncoder()  # a token a character
    shared = SharedEmbedder(inner, FairSlots(1))
    long_texts = ["字" * (TURN_TOKENS // 2)] * 6
    shared.encode_documents(long_texts)
    assert inner.document_calls == 3  # three turns of two texts, not one of six
    assert shared.turns(long_texts) == [(0, 2), (2, 4), (4, 6)]
    assert shared.turns(["短"] * 20) == [(0, 16), (16, 20)]
    mixed = ["短"] * 3 + ["字" * (3 * TURN_TOKENS)] + ["短"] * 3
    assert shared.turns(mixed) == [(0, 3), (3, 4), (4, 7)]  # a longer text goes alone
    np.testing.assert_array_equal(shared.encode_documents(mixed), inner.encode_documents(mixed))
