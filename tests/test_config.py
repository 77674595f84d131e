"""Setting files (`--config`): reading and checking them, the flags that override them, every command that loads
them (search CLI, evaluation CLI, the server) and their Milvus / Elasticsearch / OpenSearch translations."""

import json
import math
import urllib.request
from pathlib import Path

import pytest

from hybrid import cli, config as hc, semantic
from hybrid import evaluate as ev
from hybrid.semantic import LoadedEmbedder
from hybrid.settings import DEFAULT_SETTINGS
from tests.fakes import OneHotEncoder
from tests.test_evaluate import write_set

ROOT = Path(__file__).resolve().parents[1]
EVERYDAY = ROOT / "data" / "samples" / "everyday.txt"


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def setting(**settings) -> dict:
    return {"format": hc.FORMAT, "version": hc.VERSION, "settings": settings}


def test_a_saved_setting_loads_back_and_missing_keys_take_the_defaults(tmp_path):
    config = hc.Config(DEFAULT_SETTINGS.with_(fusion="rrf", alpha=0.35, rrf_k=20, window=50, k=7, k1=1.5, b=0.5,
                                              rerank=5),
                       hc.TokenizerSettings(mode="precise", fold=False), "multilingual-e5-small")
    assert hc.load_config(hc.save_config(config, tmp_path / "s.json")) == config
    assert hc.load_config(write(tmp_path / "all.json", hc.export_all(config))) == config  # the demo's download
    partial = hc.load_config(write(tmp_path / "p.json", setting(alpha=0.2)))
    assert partial.settings == DEFAULT_SETTINGS.with_(alpha=0.2) and partial.model == "auto"
    assert partial.tokenizer == hc.TokenizerSettings()


@pytest.mark.parametrize("data,expected", [
    (setting(fusion="magic"), ["settings.fusion", '"magic"', "weighted, rrf, adaptive"]),
    (setting(alpha=1.5), ["settings.alpha", "1.5", "[0, 1]"]),
    (setting(alpha="0.5"), ["settings.alpha", "a number in [0, 1]"]),
    (setting(window=0), ["settings.window", "an integer >= 1"]),
    (setting(k=2.5), ["settings.k", "an integer >= 1"]),
    (setting(normalizer="l2"), ["settings.normalizer", "minmax, max, zscore, none"]),
    (setting(alfa=0.3), ["unknown key 'settings.alfa'", "fusion, alpha"]),
    ({**setting(), "tokenizer": {"mode": "fast"}}, ["tokenizer.mode", "search, precise"]),
    ({**setting(), "tokenizer": {"fold": "yes"}}, ["tokenizer.fold", "true or false"]),
    ({**setting(), "tokenizer": {"user_dict": "missing.txt"}}, ["tokenizer.user_dict", "missing.txt", "not a file"]),
    ({**setting(), "weights": [1, 2]}, ["unknown key 'weights'", "settings, tokenizer, model, exports"]),
    ({**setting(), "model": ""}, ["model", "a non-empty string"]),
    ({**setting(), "version": 99}, ["version 99", "newer", "upgrade"]),
    ({"version": 1, "settings": {}}, ["format must be 'hybrid-search-config'"]),
    ([1, 2], ["expected a JSON object"]),
])
def test_a_bad_field_is_named_with_what_is_allowed(tmp_path, data, expected):
    path = write(tmp_path / "bad.json", data)
    with pytest.raises(hc.ConfigError) as caught:
        hc.load_config(path)
    message = str(caught.value)
    assert message.startswith(f"config {path}:")
    for part in expected:
        assert part in message


def test_unreadable_and_broken_files(tmp_path):
    with pytest.raises(hc.ConfigError, match="cannot read it"):
        hc.load_config(tmp_path / "none.json")
    (tmp_path / "broken.json").write_text('{"format": ', encoding="utf-8")
    with pytest.raises(hc.ConfigError, match=r"not valid JSON \(line 1"):
        hc.load_config(tmp_path / "broken.json")


def test_a_relative_user_dictionary_is_read_from_the_files_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "words.txt").write_text("黑屏故障码\n", encoding="utf-8")
    config = hc.load_config(write(tmp_path / "sub" / "s.json", {**setting(), "tokenizer": {"user_dict": "words.txt"}}))
    assert config.tokenizer.user_dict == str(tmp_path / "sub" / "words.txt")


# ---------------------------------------------------------------------------------------- python -m hybrid search


@pytest.fixture
def fake_model(monkeypatch):
    monkeypatch.setattr(semantic, "load_embedder", lambda *a, **kw: LoadedEmbedder(OneHotEncoder(), "fake"))


def search(capsys, *args) -> dict:
    code = cli.main(["search", "--kb", str(EVERYDAY), "--query", "法国的首都在哪里", "--mode", "hybrid", "--json", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def ranking(data: dict) -> list[tuple[str, float]]:
    return [(h["id"], round(h["score"], 6)) for h in data["hybrid"]]


def test_search_cli_takes_the_setting_from_the_file_and_flags_override_it(tmp_path, capsys, fake_model):
    path = write(tmp_path / "s.json", setting(fusion="rrf", alpha=0.25, k=3))
    from_file = search(capsys, "--config", str(path))
    by_flags = search(capsys, "--fusion", "rrf", "--alpha", "0.25", "--k", "3")
    default = search(capsys)
    assert ranking(from_file) == ranking(by_flags) and len(from_file["hybrid"]) == 3
    assert from_file["alpha_used"] == 0.25
    # the JSON names the setting applied, as POST /search does (integrator review)
    assert (from_file["settings"]["fusion"], from_file["settings"]["alpha"], from_file["settings"]["k"]) == ("rrf", 0.25, 3)
    assert from_file["settings"]["rerank"] == 0  # no --reranker
    assert ranking(default) != ranking(from_file) and len(default["hybrid"]) == DEFAULT_SETTINGS.k
    overridden = search(capsys, "--config", str(path), "--alpha", "0.9", "--fusion", "weighted")
    assert ranking(overridden) == ranking(search(capsys, "--alpha", "0.9", "--fusion", "weighted", "--k", "3"))
    assert overridden["alpha_used"] == 0.9
    # the text output names the setting that won (the new-user review could not tell without --json)
    assert cli.main(["search", "--kb", str(EVERYDAY), "--query", "法国的首都在哪里", "--mode", "hybrid",
                     "--config", str(path), "--alpha", "0.9"]) == 0
    assert "== hybrid (rrf, alpha 0.9, semantic weight 0.90 for this query)" in capsys.readouterr().out


def test_search_cli_reports_a_bad_file_as_an_error(tmp_path, capsys):
    path = write(tmp_path / "s.json", setting(fusion="magic"))
    code = cli.main(["search", "--kb", str(EVERYDAY), "--query", "巴黎", "--mode", "keyword", "--config", str(path)])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: config ") and "settings.fusion" in err


def test_search_cli_takes_the_tokenizer_from_the_file(tmp_path, capsys):
    kb = tmp_path / "kb.txt"
    kb.write_text("电脑开机后黑屏怎么办\n今天天气很好\n", encoding="utf-8")
    path = write(tmp_path / "s.json", {**setting(), "tokenizer": {"fold": False}})

    def keyword(*args):
        assert cli.main(["search", "--kb", str(kb), "--query", "電腦黑屏", "--mode", "keyword", "--json", *args]) == 0
        return json.loads(capsys.readouterr().out)

    assert "电脑" in keyword()["query_tokens"]  # folded by default
    assert "电脑" not in keyword("--config", str(path))["query_tokens"]


# ---------------------------------------------------------------------------------------- python -m hybrid.evaluate


def test_evaluate_cli_compares_the_sweep_with_the_files_setting_and_records_it(tmp_path, capsys, fake_model):
    data = write_set(tmp_path / "tiny")
    path = write(tmp_path / "s.json", setting(fusion="weighted", alpha=0.3))
    out = tmp_path / "r.json"
    assert ev.main(["--data", str(data), "--config", str(path), "--fusion", "weighted", "--alphas", "0.3,0.8",
                    "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out  # the file's setting is not called the built-in default
    assert "hybrid setting of s.json (weighted, alpha 0.3)" in printed and "hybrid default" not in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["hybrid_config"]["fusion"] == "weighted" and report["hybrid_config"]["alpha"] == 0.3
    same = next(p for p in report["sweep"] if p["alpha"] == 0.3)
    assert same["ndcg@10"] == pytest.approx(report["results"]["hybrid"]["ndcg@10"])
    assert same["delta_vs_default"]["mean"] == pytest.approx(0.0)
    assert report["config"]["settings"]["alpha"] == 0.3
    assert hc.config_from_dict(report["config"]).settings.fusion == "weighted"


def test_export_from_a_report_gives_the_nearest_setting_and_both_measured_figures(tmp_path, capsys):
    report = {"dataset": "tiny", "hybrid_config": {"fusion": "adaptive", "alpha": 0.7, "normalizer": "minmax",
                                                    "window": 100, "rrf_k": 60},
              "best": {"fusion": "adaptive", "alpha": 0.6, "ndcg@10": 0.81},
              "sweep": [{"fusion": "adaptive", "alpha": 0.6, "ndcg@10": 0.81, "ci95": [0.7, 0.9]},
                        {"fusion": "weighted", "alpha": 0.6, "ndcg@10": 0.78, "ci95": [0.66, 0.88]},
                        {"fusion": "weighted", "alpha": 0.7, "ndcg@10": 0.75}]}
    path = write(tmp_path / "r.json", report)
    for target in hc.TARGETS:
        assert hc.main(["export", "--report", str(path), "--target", target]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["equivalent"] == "none" and "no " + target in out["why"]
        assert out["fusion"] == "weighted" and out["ours"]["fusion"] == "adaptive"
        assert out["measured"]["ours"]["ndcg@10"] == 0.81 and out["measured"]["nearest"]["ndcg@10"] == 0.78
        assert out["measured"]["nearest"]["alpha"] == 0.6 and out["measured"]["lost"] == pytest.approx(0.03)


def test_a_learned_best_point_exports_the_best_point_each_store_can_express(tmp_path, capsys):
    # the review's report: best "learned α 0"; weighted α 0 (keyword only) lost 0.068, weighted α 0.6 is near 0.689
    def row(fusion, alpha, ndcg, normalizer="minmax"):
        return {"fusion": fusion, "alpha": alpha, "normalizer": normalizer, "window": 100, "ndcg@10": ndcg}

    report = {"dataset": "", "hybrid_config": {"fusion": "adaptive", "alpha": 0.6, "normalizer": "minmax",
                                               "window": 100, "rrf_k": 60},
              "best": row("learned", 0.0, 0.6985),
              "sweep": [row("learned", 0.0, 0.6985), row("adaptive", 0.6, 0.6902), row("weighted", 0.0, 0.6305),
                        row("weighted", 0.6, 0.6890), row("weighted", 0.6, 0.6950, "max"),
                        row("weighted", 0.4, 0.6930, "zscore"), row("rrf", 0.7, 0.6910), row("rrf", 0.5, 0.6700)]}
    path = write(tmp_path / "r.json", report)
    chosen = {}
    for target in hc.TARGETS:
        assert hc.main(["export", "--report", str(path), "--target", target]) == 0
        out = json.loads(capsys.readouterr().out)
        chosen[target] = out["measured"]["nearest"]
        assert out["equivalent"] == "none" and out["nearest"] == "best measured"
        assert out["measured"]["ours"]["fusion"] == "learned" and out["measured"]["ours"]["ndcg@10"] == 0.6985
        assert f"best setting the report measured that {target} can express" in out["why"]
        assert "at the same alpha (0), minmax, which measured 0.6305" in out["why"]
        assert "Measured on your labelled set: ours 0.6985" in out["why"] and "Measured on :" not in out["why"]
    # Milvus: no zscore or max, RRFRanker takes no weights (alpha 0.5 only): weighted minmax alpha 0.6
    assert (chosen["milvus"]["fusion"], chosen["milvus"]["alpha"], chosen["milvus"]["normalizer"]) == (
        "weighted", 0.6, "minmax")
    assert hc.milvus_ranker(hc.config_from_report(report), report).dict()["params"]["weights"] == [0.4, 0.6]
    # Elasticsearch: the rrf retriever takes weights; OpenSearch: z_score too
    assert (chosen["elasticsearch"]["fusion"], chosen["elasticsearch"]["alpha"]) == ("rrf", 0.7)
    assert (chosen["opensearch"]["fusion"], chosen["opensearch"]["alpha"], chosen["opensearch"]["normalizer"]) == (
        "weighted", 0.4, "zscore")
    out = hc.export(hc.config_from_report(report), "opensearch", report)
    assert out["pipeline"]["phase_results_processors"][0]["normalization-processor"]["normalization"] == {
        "technique": "z_score"}
    assert out["measured"]["lost"] == pytest.approx(0.0055)


def test_the_same_alpha_nearest_is_kept_where_the_report_measured_nothing_a_store_expresses():
    report = {"dataset": "tiny", "best": {"fusion": "adaptive", "alpha": 0.3, "ndcg@10": 0.8},
              "sweep": [{"fusion": "adaptive", "alpha": 0.3, "ndcg@10": 0.8}]}
    out = hc.export(hc.config_from_report(report), "milvus", report)
    assert out["nearest"] == "same alpha" and out["python"] == "WeightedRanker(0.7, 0.3, norm_score=True)"
    assert "weighted fusion at the same alpha (0.3), minmax." in out["why"] and "measured" not in out


@pytest.mark.parametrize("dataset,name", [("", "your labelled set"), ("  ", "your labelled set"),
                                          (None, "your labelled set"), ("scifact", "scifact")])
def test_the_measured_set_is_named_never_blank(dataset, name):
    report = {"dataset": dataset, "best": {"fusion": "adaptive", "alpha": 0.6, "ndcg@10": 0.81},
              "sweep": [{"fusion": "adaptive", "alpha": 0.6, "ndcg@10": 0.81},
                        {"fusion": "weighted", "alpha": 0.6, "ndcg@10": 0.78}]}
    out = hc.export(hc.config_from_report(report), "elasticsearch", report)
    assert f"Measured on {name}: ours 0.8100, the nearest 0.7800" in out["why"]


def test_export_of_a_learned_point_says_which_weight_model_it_was_evaluated_with(tmp_path, capsys):
    report = {"dataset": "tiny", "best": {"fusion": "learned", "alpha": 0.7, "ndcg@10": 0.81},
              "weight_model": {"file": "mine/weights.json", "trained_on": {"tiny": 40}, "embedding_model": "e5"}}
    path = write(tmp_path / "r.json", report)
    assert hc.main(["export", "--report", str(path), "--target", "config"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["settings"]["fusion"] == "learned"
    assert "give --weight-model mine/weights.json wherever you use it" in captured.err
    path = write(tmp_path / "p.json", {**report, "weight_model": {"file": "packaged"}})
    assert hc.main(["export", "--report", str(path), "--target", "config"]) == 0
    assert capsys.readouterr().err == ""  # the packaged model is what every command uses by default


# ---------------------------------------------------------------------------------------- translations


def test_weighted_translations(tmp_path, capsys):
    path = hc.save_config(hc.Config(DEFAULT_SETTINGS.with_(fusion="weighted", alpha=0.7, window=80, k=10)),
                          tmp_path / "s.json")

    def export(target):
        assert hc.main(["export", "--config", str(path), "--target", target]) == 0
        return json.loads(capsys.readouterr().out)

    milvus = export("milvus")
    assert milvus["python"] == "WeightedRanker(0.3, 0.7, norm_score=True)" and "arctan" in milvus["differences"][0]
    linear = export("elasticsearch")["search"]["retriever"]["linear"]
    assert [r["weight"] for r in linear["retrievers"]] == [0.3, 0.7]
    assert {r["normalizer"] for r in linear["retrievers"]} == {"minmax"} and linear["rank_window_size"] == 80
    assert "standard" in linear["retrievers"][0]["retriever"] and "knn" in linear["retrievers"][1]["retriever"]
    processor = export("opensearch")["pipeline"]["phase_results_processors"][0]["normalization-processor"]
    assert processor == {"normalization": {"technique": "min_max"},
                         "combination": {"technique": "arithmetic_mean", "parameters": {"weights": [0.3, 0.7]}}}


def test_rrf_translations():
    config = hc.Config(DEFAULT_SETTINGS.with_(fusion="rrf", alpha=0.5, rrf_k=20, window=50))
    assert hc.export(config, "milvus")["python"] == "RRFRanker(20)"
    assert hc.export(config, "milvus")["equivalent"] == "exact"
    weighted_rrf = hc.export(config.override(alpha=0.8), "milvus")
    assert weighted_rrf["equivalent"] == "approximate" and "no weights" in weighted_rrf["differences"][0]
    rrf = hc.export(config, "elasticsearch")["search"]["retriever"]["rrf"]
    assert rrf["rank_constant"] == 20 and rrf["rank_window_size"] == 50
    ranker = hc.export(config, "opensearch")["pipeline"]["phase_results_processors"][0]["score-ranker-processor"]
    assert ranker["combination"] == {"technique": "rrf", "rank_constant": 20, "parameters": {"weights": [0.5, 0.5]}}


def test_adaptive_has_no_equivalent_without_a_report_either():
    out = hc.export(hc.Config(), "elasticsearch")
    assert out["equivalent"] == "none" and "measured" not in out
    assert out["search"]["retriever"]["linear"]["retrievers"][1]["weight"] == DEFAULT_SETTINGS.alpha


def test_the_milvus_rankers_build_with_pymilvus():
    from pymilvus import RRFRanker, WeightedRanker

    weighted = hc.milvus_ranker(hc.Config(DEFAULT_SETTINGS.with_(fusion="weighted", alpha=0.25)))
    assert isinstance(weighted, WeightedRanker)
    assert weighted.dict()["params"] == {"weights": [0.75, 0.25], "norm_score": True}
    rrf = hc.milvus_ranker(hc.Config(DEFAULT_SETTINGS.with_(fusion="rrf", rrf_k=30)))
    assert isinstance(rrf, RRFRanker) and rrf.dict()["params"] == {"k": 30}


# ---------------------------------------------------------------------------------------- the server


def post_search(url: str, body: dict) -> dict:
    request = urllib.request.Request(f"{url}/search", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def test_the_server_searches_with_the_files_setting(tmp_path):
    """The page's server (tests/ui_server.py, demo.py's reading of --config) over its knowledge base."""
    from tests.browser import ServerProcess

    kb = tmp_path / "kb.txt"
    kb.write_text(EVERYDAY.read_text(encoding="utf-8"), encoding="utf-8")
    path = write(tmp_path / "s.json", setting(fusion="rrf", alpha=0.2, k=4))
    server = ServerProcess(["-m", "tests.ui_server", "--model", "fake", "--server-kb", str(kb), "--config", str(path)],
                           tmp_path / "server.log")
    try:
        query = {"query": "法国的首都在哪里", "mode": "hybrid"}
        from_file = post_search(server.url.rstrip("/"), query)
        explicit = post_search(server.url.rstrip("/"), {**query, "fusion": "rrf", "alpha": 0.2, "k": 4})
        built_in = post_search(server.url.rstrip("/"), {**query, "fusion": DEFAULT_SETTINGS.fusion,
                                                         "alpha": DEFAULT_SETTINGS.alpha, "k": DEFAULT_SETTINGS.k})
    finally:
        server.stop()
    assert from_file["settings"]["fusion"] == "rrf" and from_file["settings"]["alpha"] == 0.2
    assert ranking(from_file) == ranking(explicit) and len(from_file["hybrid"]) == 4
    assert ranking(built_in) != ranking(from_file)


def test_demo_py_serves_with_the_files_setting(tmp_path):
    """``python demo.py --config FILE``: the JSON API answers with the file's settings (keyword mode works
    while the model loads)."""
    from tests.browser import ServerProcess

    path = write(tmp_path / "s.json", {**setting(fusion="weighted", alpha=0.45, k=2), "tokenizer": {"mode": "precise"}})
    server = ServerProcess(["demo.py", "--port", "0", "--kb", str(EVERYDAY), "--config", str(path)],
                           tmp_path / "server.log")
    try:
        answer = post_search(server.url.rstrip("/"), {"query": "法国的首都", "mode": "keyword"})
    finally:
        server.stop()
    assert answer["settings"]["fusion"] == "weighted" and answer["settings"]["alpha"] == 0.45
    assert len(answer["keyword"]) == 2


def test_demo_py_refuses_a_bad_file(tmp_path):
    import demo

    path = write(tmp_path / "s.json", setting(rrf_k=0))
    assert demo.main(["--no-ui", "--config", str(path)]) == 2


def test_the_exported_milvus_rankers_run_a_milvus_lite_hybrid_search(tmp_path):
    """The translation runs on Milvus itself: the collection `python -m hybrid index` builds (BM25 sparse field,
    cosine vector field), one request per list, the exported ranker. RRF at alpha 0.5 is exact: Milvus's score
    of each hit is ours times two (ours weighs each list by 0.5)."""
    from pymilvus import AnnSearchRequest

    from hybrid.engine import HybridEngine
    from hybrid.ingest import Record, index_records
    from hybrid.kb import Document
    from hybrid.store import open_store
    from hybrid.tokenize import Tokenizer

    tokenizer, encoder = Tokenizer(), OneHotEncoder()
    texts = EVERYDAY.read_text(encoding="utf-8").splitlines()
    store = open_store(f"milvus:{tmp_path / 'm.db'}", collection="c", tokenizer=tokenizer)
    try:
        index_records(store, (Record(Document(str(i), t)) for i, t in enumerate(texts)), tokenizer, encoder, None,
                      total=len(texts), progress=False)
        query = "运动后吃什么补充体力"
        engine = HybridEngine(store=store, tokenizer=tokenizer)
        engine.set_embedder(encoder)
        for fusion in ("weighted", "rrf"):
            config = hc.Config(DEFAULT_SETTINGS.with_(fusion=fusion, alpha=0.5, window=len(texts)))
            requests = [AnnSearchRequest(data=[tokenizer.normalize(query)], anns_field="sparse",
                                         param={"metric_type": "BM25"}, limit=len(texts)),
                        AnnSearchRequest(data=[encoder.encode_queries([query])[0].tolist()], anns_field="vector",
                                         param={"metric_type": "COSINE"}, limit=len(texts))]
            found = store._client.hybrid_search(store.collection, requests, ranker=hc.milvus_ranker(config), limit=3,
                                                output_fields=["text"])[0]
            ours = engine.search(query, mode="hybrid", fusion=fusion, alpha=0.5, k=3).hybrid
            assert found[0]["entity"]["text"] == ours[0].text
            if fusion == "rrf":
                assert found[0]["distance"] == pytest.approx(2 * ours[0].score, rel=1e-5)
        # How Milvus normalises for WeightedRanker (README, "Carry a setting out"): BM25 s to 2 atan(s) / pi,
        # cosine c to (1 + c) / 2, whatever the query's other candidates score.
        lists = engine.search(query, mode="all", k=len(texts))
        bm25 = {h.text: h.score for h in lists.keyword}
        cosine = {h.text: h.score for h in lists.semantic}
        config = hc.Config(DEFAULT_SETTINGS.with_(fusion="weighted", alpha=0.3))
        found = store._client.hybrid_search(store.collection, requests, ranker=hc.milvus_ranker(config), limit=5,
                                            output_fields=["text"])[0]
        assert any(hit["entity"]["text"] in bm25 for hit in found)
        for hit in found:
            text = hit["entity"]["text"]
            expected = (0.7 * (2 * math.atan(bm25[text]) / math.pi if text in bm25 else 0.0)
                        + 0.3 * (1 + cosine[text]) / 2)
            assert hit["distance"] == pytest.approx(expected, abs=1e-4)
        # Our "none" (raw scores added) exported as norm_score=False: Milvus adds the raw scores too, so with the
        # window holding every entry it scores each hit as ours does.
        config = hc.Config(DEFAULT_SETTINGS.with_(fusion="weighted", normalizer="none", alpha=0.3, window=len(texts)))
        found = store._client.hybrid_search(store.collection, requests, ranker=hc.milvus_ranker(config), limit=5,
                                            output_fields=["text"])[0]
        ours = engine.search(query, mode="hybrid", fusion="weighted", normalizer="none", alpha=0.3, k=5,
                             window=len(texts)).hybrid
        assert [hit["entity"]["text"] for hit in found] == [hit.text for hit in ours]
        for hit, mine in zip(found, ours):
            assert hit["distance"] == pytest.approx(0.7 * bm25.get(mine.text, 0.0) + 0.3 * cosine[mine.text], abs=1e-4)
            assert hit["distance"] == pytest.approx(mine.score, abs=1e-4)
    finally:
        store.close()


def test_a_visitors_download_names_no_server_path(tmp_path):
    from webui.export import visitor_config

    (tmp_path / "words.txt").write_text("黑屏故障码\n", encoding="utf-8")
    config = visitor_config(DEFAULT_SETTINGS, hc.TokenizerSettings(user_dict=str(tmp_path / "words.txt")),
                            "/srv/models/my-e5")
    assert config.tokenizer.user_dict == "words.txt" and config.model == "my-e5"
    saved = hc.save_config(config, tmp_path / "s.json")  # beside the dictionary, it loads
    assert hc.load_config(saved).tokenizer.user_dict == str(tmp_path / "words.txt")


def test_check_prints_the_file_with_defaults_and_all_holds_every_target(tmp_path, capsys):
    path = write(tmp_path / "s.json", setting(alpha=0.4))
    assert hc.main(["check", str(path)]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["settings"] == {**{key: getattr(DEFAULT_SETTINGS, key) for key in checked["settings"]},
                                   "alpha": 0.4}
    assert hc.main(["export", "--config", str(path), "--target", "all"]) == 0
    assert set(json.loads(capsys.readouterr().out)["exports"]) == set(hc.TARGETS)
    assert hc.main(["check", str(write(tmp_path / "bad.json", setting(k=0)))]) == 2
    assert "settings.k" in capsys.readouterr().err


def test_a_file_that_is_not_utf8_or_is_a_folder_says_so(tmp_path, capsys):
    path = tmp_path / "gbk.json"
    path.write_bytes(json.dumps(setting(alpha=0.3), ensure_ascii=False).replace("}", ', "模型": 1}', 1)
                     .encode("gbk"))
    for argv in (["check", str(path)], ["export", "--config", str(path), "--target", "milvus"],
                 ["export", "--report", str(path), "--target", "milvus"]):
        assert hc.main(argv) == 2
        err = capsys.readouterr().err
        assert f"{path}: not UTF-8 text" in err and "iconv -f gbk -t utf-8" in err and "codec" not in err
    assert hc.main(["check", str(tmp_path)]) == 2
    assert f"config {tmp_path} is a folder: give the JSON file itself" in capsys.readouterr().err


def test_a_setting_file_and_a_report_given_in_each_others_place_are_named(tmp_path, capsys):
    saved = hc.save_config(hc.Config(), tmp_path / "s.json")
    report = write(tmp_path / "r.json", {"dataset": "tiny", "best": {"fusion": "weighted", "alpha": 0.6},
                                         "sweep": [], "results": {}})
    assert hc.main(["export", "--report", str(saved), "--target", "milvus"]) == 2
    err = capsys.readouterr().err
    assert "is a setting file, not an evaluation report: give it with --config" in err and "best sweep" not in err
    assert hc.main(["export", "--config", str(report), "--target", "milvus"]) == 2
    err = capsys.readouterr().err
    assert "this is an evaluation report" in err and f"--report {report}" in err and "format must be" not in err
    assert cli.main(["search", "--kb", str(EVERYDAY), "--query", "巴黎", "--mode", "keyword",
                     "--config", str(report)]) == 2
    assert "this is an evaluation report" in capsys.readouterr().err
    assert hc.main(["export", "--report", str(write(tmp_path / "x.json", {"a": 1})), "--target", "milvus"]) == 2
    assert "is not an evaluation report" in capsys.readouterr().err


def test_point_is_refused_with_a_setting_file(tmp_path, capsys):
    saved = hc.save_config(hc.Config(), tmp_path / "s.json")
    for point in ("best", "default"):
        assert hc.main(["export", "--config", str(saved), "--point", point, "--target", "config"]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and f"--point {point} picks a point of an evaluation report" in captured.err
    assert hc.main(["export", "--config", str(saved), "--target", "config"]) == 0


@pytest.mark.parametrize("normalizer", ["zscore", "max", "none"])
def test_translations_describe_our_normalizer_as_it_is(normalizer):
    config = hc.Config(DEFAULT_SETTINGS.with_(fusion="weighted", normalizer=normalizer))
    for target in hc.TARGETS:
        text = " ".join(hc.export(config, target)["differences"])
        assert "min-max over each query" not in text and "75%" not in text
    milvus = hc.export(config, "milvus")["differences"][0]
    assert "ours is " + hc._OURS[normalizer] in milvus
    assert hc.export(config, "milvus")["kwargs"] == {"norm_score": normalizer != "none"}
    es = hc.export(config, "elasticsearch")
    weights = [sub["weight"] for sub in es["search"]["retriever"]["linear"]["retrievers"]]
    # Elasticsearch scores a kNN hit (1 + cosine) / 2: raw scores need the semantic weight doubled
    assert weights == ([0.3, 1.4] if normalizer == "none" else [0.3, 0.7]), weights
    assert all(out["equivalent"] == "approximate" for out in hc.export_all(config)["exports"].values())
    if normalizer == "zscore":
        assert "z-score" in milvus and "z_score" in " ".join(hc.export(config, "opensearch")["differences"])


def test_translations_name_the_embedding_model():
    def note(config, *args):
        return hc.export(config, "milvus", *args)["notes"][-1]

    weighted = hc.Config(DEFAULT_SETTINGS.with_(fusion="weighted"))
    assert "(Qwen/Qwen3-Embedding-0.6B)" in note(hc.Config(weighted.settings, model="qwen3-0.6b"))
    auto = note(weighted)
    assert semantic.DEFAULT_GPU_MODEL in auto and semantic.DEFAULT_PACKAGED in auto and "(auto)" not in auto
    assert "(multilingual-e5-small, the one the report measured)" in note(weighted, {"model": "multilingual-e5-small"})
    assert "(BAAI/bge-m3, the one \"auto\" loaded here)" in note(weighted, None, "BAAI/bge-m3")
    exports = hc.export_all(weighted, used_model="BAAI/bge-m3")["exports"]
    assert all("BAAI/bge-m3" in out["notes"][-1] for out in exports.values())


def test_a_setting_from_a_report_names_the_model_the_report_measured(tmp_path, capsys):
    """Found by the new-user review: `export --report --target config` wrote model "auto" for a report measured
    on e5-small, and "auto" is Qwen3-Embedding-4B on a CUDA GPU, with an alpha tuned on e5's vectors (the page's
    export already pinned it). A folder on the machine that ran the report is no name to carry: "auto" stays."""
    report = {"dataset": "tiny", "model": "multilingual-e5-small",
              "hybrid_config": {"fusion": "adaptive", "alpha": 0.7, "normalizer": "minmax", "window": 100},
              "best": {"fusion": "adaptive", "alpha": 0.6, "ndcg@10": 0.81},
              "sweep": [{"fusion": "adaptive", "alpha": 0.6, "ndcg@10": 0.81}]}
    assert hc.main(["export", "--report", str(write(tmp_path / "r.json", report)), "--target", "config"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "multilingual-e5-small"
    assert hc.config_from_report({**report, "model": str(tmp_path)}).model == "auto"
    pinned = {**report, "config": {"format": hc.FORMAT, "version": 1, "model": "Qwen/Qwen3-Embedding-0.6B"}}
    assert hc.config_from_report(pinned).model == "Qwen/Qwen3-Embedding-0.6B"  # a model the run named stays


@pytest.mark.milvus
def test_a_settings_bm25_a_collection_lacks_is_refused_and_index_builds_one_with_it(tmp_path, capsys, fake_model):
    """Found by the integrator review: a setting file's k1 was dropped without a word over Milvus (the collection
    fixes k1 and b when it is built), by `hybrid search --store` and by the server; `hybrid index` had no --config."""
    import demo
    from hybrid.store import open_store

    db = f"milvus:{tmp_path / 'm.db'}"
    path = write(tmp_path / "k1.json", setting(k1=2.0, fusion="weighted"))
    assert cli.main(["index", "--kb", str(EVERYDAY), "--store", db, "--collection", "plain", "--no-progress"]) == 0
    capsys.readouterr()
    query = ["--query", "巴黎", "--mode", "keyword", "--json"]
    code = cli.main(["search", "--store", db, "--collection", "plain", "--config", str(path), *query])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "BM25 k1=2, but" in err and "was built with k1=1.2" in err, err
    assert f"python -m hybrid index --config {path} --collection NEW" in err
    assert demo.main(["--no-ui", "--store", db, "--collection", "plain", "--config", str(path)]) == 2
    assert "was built with k1=1.2" in capsys.readouterr().err
    # indexed with the file: the collection has its k1, and the same file searches it
    assert cli.main(["index", "--kb", str(EVERYDAY), "--store", db, "--collection", "tuned", "--config", str(path),
                     "--no-progress"]) == 0
    capsys.readouterr()
    store = open_store(db, collection="tuned", read_only=True)
    try:
        assert store.bm25_params == (2.0, 0.75)
    finally:
        store.close()
    assert cli.main(["search", "--store", db, "--collection", "tuned", "--config", str(path), *query]) == 0
    assert json.loads(capsys.readouterr().out)["keyword"]
    # a flag still overrides the file; an existing collection's k1 cannot change
    code = cli.main(["index", "--kb", str(EVERYDAY), "--store", db, "--collection", "plain", "--config", str(path),
                     "--no-progress"])
    assert code == 2 and "was built with BM25 k1=1.2; it cannot change" in capsys.readouterr().err
    assert cli.main(["index", "--kb", str(EVERYDAY), "--store", db, "--collection", "plain", "--config", str(path),
                     "--k1", "1.2", "--no-progress"]) == 0
