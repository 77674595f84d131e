"""The command line `python -m hybrid search`: its JSON object, its table, its errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid import cli, semantic

ROOT = Path(__file__).resolve().parents[1]
EVERYDAY = ROOT / "data" / "samples" / "everyday.txt"
FOOD = {"苹果是一种很好吃的水果。", "香蕉富含钾元素，适合运动后补充能量。", "今天的晚饭是西红柿炒鸡蛋和米饭。"}


def run_cli(capsys, *args):
    code = cli.main(["search", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_keyword_mode_json_never_loads_a_model(capsys, monkeypatch):
    def no_model(*_, **__):
        raise AssertionError("--mode keyword must not load an embedding model")

    monkeypatch.setattr(semantic, "load_embedder", no_model)
    code, out, err = run_cli(capsys, "--kb", str(EVERYDAY), "--query", "法国的首都", "--mode", "keyword",
                             "--k", "2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == "" and data["device"] == ""
    assert data["semantic"] == [] and data["hybrid"] == []
    assert [h["rank"] for h in data["keyword"]] == [1, 2]
    top = data["keyword"][0]
    assert top["text"] == "法国的首都是巴黎。" and {"rank", "id", "text", "score"} <= set(top)
    assert top["score"] > data["keyword"][1]["score"] > 0
    assert {"tokenize", "keyword"} <= set(data["timings_ms"])


def test_keyword_mode_table(capsys):
    code, out, _ = run_cli(capsys, "--kb", str(EVERYDAY), "--query", "我想吃点东西", "--mode", "keyword")
    assert code == 0
    assert "== keyword (BM25)" in out and "(no match)" in out and "semantic" not in out


@pytest.mark.parametrize("args,message", [
    (["--query", "  "], "query"),
    (["--query", "巴黎", "--alpha", "1.5"], "alpha"),
    (["--query", "巴黎", "--k", "0"], "k"),
])
def test_bad_input_is_exit_2_with_a_message(capsys, args, message):
    code, out, err = run_cli(capsys, "--kb", str(EVERYDAY), "--mode", "keyword", *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err


def test_missing_and_empty_knowledge_bases(capsys, tmp_path):
    code, _, err = run_cli(capsys, "--kb", str(tmp_path / "nope.txt"), "--query", "巴黎", "--mode", "keyword")
    assert code == 2 and "nope.txt" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n   \n", encoding="utf-8")
    code, _, err = run_cli(capsys, "--kb", str(empty), "--query", "巴黎", "--mode", "keyword")
    assert code == 2 and "empty" in err.lower()


@pytest.mark.model
def test_all_mode_json_with_the_default_model(capsys):
    code, out, err = run_cli(capsys, "--kb", str(EVERYDAY), "--query", "我想吃点东西", "--k", "3", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == semantic.DEFAULT_PACKAGED and data["device"] == "cpu"
    assert data["keyword"] == []  # no word of the question is in the knowledge base
    assert data["semantic"][0]["text"] in FOOD and data["hybrid"][0]["text"] in FOOD
    assert {"tokenize", "keyword", "embed", "vector", "fuse"} <= set(data["timings_ms"])


@pytest.mark.model
def test_an_unknown_document_prompt_names_the_choices(capsys):
    code, _, err = run_cli(capsys, "--kb", str(EVERYDAY), "--query", "巴黎", "--document-prompt", "doc")
    assert code == 2 and "query, passage" in err


def test_python_dash_m_hybrid_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hybrid", "search", "--kb", str(EVERYDAY), "--query", "巴黎",
                           "--mode", "keyword", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["keyword"][0]["text"] == "法国的首都是巴黎。"


@pytest.mark.parametrize("command", [
    ["search", "--query", "巴黎", "--mode", "keyword"],
    ["index", "--kb", str(EVERYDAY)],
])
def test_a_memory_store_uri_is_refused_with_the_milvus_forms(capsys, command):
    # --store names a collection to serve or fill; "memory:" is a valid URI for the library but has none
    code = cli.main([*command, "--store", "memory:"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "milvus:FILE.db" in err and "leave --store out" in err


@pytest.mark.parametrize("entries,query,expected", [
    (["打印机无法连接网络", "电脑开机后黑屏怎么办", "開機密碼忘記了"], "電腦開機黑屏", "电脑开机后黑屏怎么办"),
    (["打印機無法連接網路", "電腦開機後黑屏怎麼辦", "开机密码忘记了"], "电脑开机黑屏", "電腦開機後黑屏怎麼辦"),
])
def test_a_query_in_one_script_finds_entries_in_the_other(capsys, tmp_path, entries, query, expected):
    kb = tmp_path / "kb.txt"
    kb.write_text("\n".join(entries) + "\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "--kb", str(kb), "--query", query, "--mode", "keyword", "--json")
    assert code == 0, err
    data = json.loads(out)
    top = data["keyword"][0]
    assert top["text"] == expected and top["score"] > 0  # shown as written, found through folding
    assert data["query_tokens"] == ["电脑", "开机", "黑屏"]
    assert set(top["matched_tokens"]) >= {"电脑", "开机", "黑屏"}
    code, out, err = run_cli(capsys, "--kb", str(kb), "--query", query, "--mode", "keyword", "--json", "--no-fold")
    assert code == 0, err
    assert expected not in [h["text"] for h in json.loads(out)["keyword"]][:1]


def test_user_dict_and_tokenizer_mode_options(capsys, tmp_path):
    kb, words = tmp_path / "kb.txt", tmp_path / "words.txt"
    kb.write_text("型号ABX9000PRO的电池说明\n普通的电池说明\n", encoding="utf-8")
    words.write_text("ABX9000PRO的電池\n", encoding="utf-8")  # normalised and folded like the text
    code, out, err = run_cli(capsys, "--kb", str(kb), "--query", "ABX9000PRO的电池", "--mode", "keyword", "--json",
                             "--tokenizer-mode", "precise", "--user-dict", str(words))
    assert code == 0, err
    data = json.loads(out)
    assert data["query_tokens"] == ["abx9000pro的电池"]
    assert [h["text"] for h in data["keyword"]] == ["型号ABX9000PRO的电池说明"]
    code, _, err = run_cli(capsys, "--kb", str(kb), "--query", "电池", "--user-dict", str(tmp_path / "none.txt"))
    assert code == 2 and "user dictionary not found" in err


@pytest.mark.parametrize("argv,option,message", [
    (["search", "--kb", str(EVERYDAY), "--query", "巴黎", "--split-long", "-5"], "--split-long", "at least 0"),
    (["index", "--kb", str(EVERYDAY), "--store", "milvus:x.db", "--split-long", "-1"], "--split-long", "at least 0"),
    (["index", "--kb", str(EVERYDAY), "--store", "milvus:x.db", "--batch-size", "0"], "--batch-size", "at least 1"),
    (["embed", "--kb", str(EVERYDAY), "--out", "vectors", "--batch-size", "0"], "--batch-size", "at least 1"),
    (["embed", "--kb", str(EVERYDAY), "--out", "vectors", "--split-long", "-2"], "--split-long", "at least 0"),
    (["embed", "--kb", str(EVERYDAY), "--out", "vectors", "--concurrency", "0"], "--concurrency", "at least 1"),
    (["embed", "--kb", str(EVERYDAY), "--out", "vectors", "--num-gpus", "-1"], "--num-gpus", "0 or more"),
])
def test_numbers_below_an_options_minimum_are_refused(capsys, argv, option, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument {option}: must be" in err and message in err


def test_flags_that_would_do_nothing_are_refused(capsys, tmp_path):
    code = cli.main(["search", "--store", f"milvus:{tmp_path / 'x.db'}", "--query", "巴黎", "--mode", "keyword",
                     "--split-long", "50"])
    err = capsys.readouterr().err
    assert code == 2 and "--split-long splits the entries of a --kb file" in err and "drop --split-long" in err
    assert not (tmp_path / "x.db").exists()
    code, _, err = run_cli(capsys, "--kb", str(EVERYDAY), "--query", "巴黎", "--mode", "keyword",
                           "--collection", "faq")
    assert code == 2 and "--collection names a collection of a --store" in err


def test_ids_and_metadata_of_a_jsonl_or_csv_knowledge_base_reach_the_output(capsys, tmp_path):
    jsonl = tmp_path / "kb.jsonl"
    jsonl.write_text('{"id": "faq-7", "text": "法国的首都是巴黎。", "source": "wiki"}\n'
                     '{"id": 12, "text": "日本的首都是东京。"}\n{"text": "巴黎有埃菲尔铁塔。"}\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "--kb", str(jsonl), "--query", "首都", "--mode", "keyword", "--json")
    assert code == 0, err
    hits = {h["id"]: h for h in json.loads(out)["keyword"]}
    assert set(hits) == {"faq-7", "12"} and hits["faq-7"]["metadata"] == {"source": "wiki"}
    code, out, _ = run_cli(capsys, "--kb", str(jsonl), "--query", "巴黎", "--mode", "keyword")
    assert code == 0 and "[faq-7] 法国的首都是巴黎。" in out and "[3] 巴黎有埃菲尔铁塔。" in out
    csv_kb = tmp_path / "kb.csv"
    csv_kb.write_text("id,text,source\nA1,法国的首都是巴黎。,wiki\nA2,日本的首都是东京。,\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "--kb", str(csv_kb), "--query", "巴黎", "--mode", "keyword", "--json")
    assert code == 0, err
    top = json.loads(out)["keyword"][0]
    assert (top["id"], top["metadata"]) == ("A1", {"source": "wiki"})
    # a long entry cut into sentences keeps its id, with #n after the further sentences
    jsonl.write_text('{"id": "long", "text": "法国的首都是巴黎。日本的首都是东京。"}\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "--kb", str(jsonl), "--query", "首都", "--mode", "keyword", "--json",
                             "--split-long", "5")
    assert code == 0, err
    assert sorted(h["id"] for h in json.loads(out)["keyword"]) == ["long", "long#1"]


def test_knowledge_base_files_that_cannot_be_used_say_why(capsys, tmp_path):
    (tmp_path / "columns.csv").write_text("question,answer\n巴黎在哪,法国\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "--kb", str(tmp_path / "columns.csv"), "--query", "巴黎", "--mode", "keyword")
    assert code == 2 and out == ""
    assert "columns.csv" in err and "`text`" in err and "found 'question', 'answer'" in err and "id,text" in err
    code, _, err = run_cli(capsys, "--kb", str(tmp_path), "--query", "巴黎", "--mode", "keyword")
    assert code == 2 and "is a folder: give one knowledge-base file" in err and "unsupported" not in err
    code, _, err = run_cli(capsys, "--kb", str(tmp_path / "nope"), "--query", "巴黎", "--mode", "keyword")
    assert code == 2 and "no such file" in err and "Errno" not in err and "unsupported" not in err
    (tmp_path / "twice.jsonl").write_text('{"id": "a", "text": "巴黎"}\n{"id": "a", "text": "东京"}\n',
                                          encoding="utf-8")
    code, _, err = run_cli(capsys, "--kb", str(tmp_path / "twice.jsonl"), "--query", "巴黎", "--mode", "keyword")
    assert code == 2 and "twice.jsonl: the id 'a' is used twice" in err


@pytest.mark.parametrize("fold", [[], ["--no-fold"]])
def test_a_user_dictionary_that_is_not_utf8_or_is_a_folder_says_so(capsys, tmp_path, fold):
    words = tmp_path / "words.txt"
    words.write_bytes("型号ABX\n".encode("gbk"))
    code, out, err = run_cli(capsys, "--kb", str(EVERYDAY), "--query", "巴黎", "--mode", "keyword",
                             "--user-dict", str(words), *fold)
    assert code == 2 and out == ""
    assert f"{words} is not UTF-8" in err and "iconv -f gbk -t utf-8" in err and "codec" not in err
    code, _, err = run_cli(capsys, "--kb", str(EVERYDAY), "--query", "巴黎", "--mode", "keyword",
                           "--user-dict", str(tmp_path), *fold)
    assert code == 2 and "is a folder: give the dictionary file itself" in err and "not found" not in err


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e308"])
def test_a_k1_that_is_no_finite_positive_number_is_refused_before_milvus_sees_it(capsys, tmp_path, value):
    """``--k1 nan`` passed the ``k1 <= 0`` check and ended in a pymilvus traceback."""
    code = cli.main(["index", "--kb", str(EVERYDAY), "--store", f"milvus:{tmp_path / 'm.db'}", "--k1", value])
    err = capsys.readouterr().err
    assert code == 2 and "BM25 needs k1 in (0, 100]" in err and "Traceback" not in err, err
    assert not (tmp_path / "m.db").exists()


def test_a_setting_file_with_an_infinite_k1_is_refused(tmp_path, capsys):
    from hybrid import config as hc
    from hybrid.settings import Settings

    path = tmp_path / "c.json"
    path.write_text('{"format": "hybrid-search-config", "version": 1, "settings": {"k1": Infinity}}', encoding="utf-8")
    assert hc.main(["check", str(path)]) == 2
    assert "settings.k1" in capsys.readouterr().err
    for bad in (float("nan"), float("inf"), 1e308, -0.5):
        with pytest.raises(ValueError, match=r"k1 must lie in \[0, 100\]"):
            Settings(k1=bad)


def test_a_csv_with_a_header_and_no_rows_names_the_file(capsys, tmp_path):
    (tmp_path / "header-only.csv").write_text("id,text\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "--kb", str(tmp_path / "header-only.csv"), "--query", "巴黎", "--mode", "keyword")
    assert code == 2 and "header-only.csv holds no entries" in err and "知识库" not in err, err


@pytest.mark.milvus
def test_index_and_embed_refuse_an_empty_knowledge_base_and_leave_the_store_alone(capsys, caplog, tmp_path,
                                                                                    monkeypatch):
    """An empty file ended `index` in a pymilvus traceback (new store) or "indexed 0 entries", rc 0 (existing one);
    `embed` loaded the model first."""
    from hybrid.batch_embed import embed_local
    from hybrid.store import open_store
    from tests.fakes import OneHotEncoder

    loads = []
    monkeypatch.setattr(cli, "_load_model", lambda args: loads.append(args.command) or OneHotEncoder())
    embed_local(EVERYDAY, tmp_path / "vectors", OneHotEncoder(), progress=False)
    new, old = tmp_path / "new.db", tmp_path / "old.db"
    assert cli.main(["index", "--kb", str(tmp_path / "vectors"), "--store", f"milvus:{old}", "--no-progress"]) == 0
    held = capsys.readouterr().out.splitlines()[-1]
    (tmp_path / "blank.txt").write_text("\n   \n", encoding="utf-8")
    (tmp_path / "header-only.csv").write_text("id,text\n", encoding="utf-8")
    for kb in (tmp_path / "blank.txt", tmp_path / "header-only.csv"):
        expected = (f"error: {kb} holds no entries: one entry per line (.txt/.md), rows under a header naming text "
                    "(.csv), or objects with text (.jsonl)\n")
        for db in (new, old):
            code = cli.main(["index", "--kb", str(kb), "--store", f"milvus:{db}", "--no-progress"])
            out, err = capsys.readouterr()
            assert (code, out, err) == (2, "", expected)
        code = cli.main(["embed", "--kb", str(kb), "--out", str(tmp_path / "out"), "--no-progress"])
        out, err = capsys.readouterr()
        assert (code, out, err) == (2, "", expected)
    assert not new.exists() and not (tmp_path / "out").exists()
    assert loads == []  # refused before any model loads (a download or minutes on a GPU)
    assert cli.main(["index", "--kb", str(tmp_path / "vectors"), "--store", f"milvus:{old}", "--no-progress"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == held
    store = open_store(f"milvus:{old}", read_only=True)
    try:
        assert not store.needs_repair
    finally:
        store.close()
    assert not [r for r in caplog.records if r.name.startswith("hybrid") and r.levelname == "WARNING"]
