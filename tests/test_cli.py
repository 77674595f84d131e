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
