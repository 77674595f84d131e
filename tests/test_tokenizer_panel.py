"""The demo's tokeniser panel handler: which dictionary files it reads, and what it keeps when it refuses one."""

from pathlib import Path

import pytest

from tests.fakes import OneHotEncoder
from tests.test_demo import FakeProgress, _service
from webui.handlers import DemoHandlers
from webui.tokenizer_panel import MAX_DICT_BYTES, apply_tokenizer

KB = "电脑开机后黑屏怎么办\n型号ABX9000PRO的电池说明\n普通的电池说明"


@pytest.fixture()
def setup(tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    h = DemoHandlers(_service(OneHotEncoder()), upload_root=uploads)
    engine, _ = h.index(None, KB, False, "zh", progress=FakeProgress())
    return h, engine, uploads


def test_a_dictionary_keeps_its_words_whole_and_the_same_words_share_one_file(setup):
    h, engine, uploads = setup
    (uploads / "a.txt").write_text("ABX9000PRO的電池\n", encoding="utf-8")
    (uploads / "b.txt").write_text("ABX9000PRO的電池\n", encoding="utf-8")
    first, status = apply_tokenizer(h, engine, KB, False, "precise", True, str(uploads / "a.txt"), "zh")
    assert "用户词典 1 个词" in status and first is not engine
    assert first.search("ABX9000PRO的电池", mode="keyword").query_tokens == ("abx9000pro的电池",)
    second, _ = apply_tokenizer(h, engine, KB, False, "precise", True, str(uploads / "b.txt"), "zh")
    assert second.tokenizer.user_dict == first.tokenizer.user_dict  # content-named copy: one jieba instance
    # The copy lies in the server's own upload folder (removed at stop), not in a shared temporary folder.
    assert Path(first.tokenizer.user_dict).resolve().is_relative_to(uploads.resolve())
    same, _ = apply_tokenizer(h, first, KB, False, "precise", True, str(uploads / "a.txt"), "zh")
    assert same is first  # unchanged settings rebuild nothing


def _write(folder, name, data):
    (folder / name).write_bytes(data)
    return folder / name


@pytest.mark.parametrize("make,message", [
    (lambda up, out: _write(out, "words.txt", "词\n".encode("utf-8")), "not a file"),
    (lambda up, out: _write(up, "big.txt", "词\n".encode("utf-8") * MAX_DICT_BYTES), "at most"),
    (lambda up, out: _write(up, "gbk.txt", "产品名\n".encode("gbk")), "utf-8"),
])
def test_a_refused_dictionary_leaves_the_engine_and_says_why(setup, tmp_path, make, message):
    h, engine, uploads = setup
    path = make(uploads, tmp_path)
    kept, status = apply_tokenizer(h, engine, KB, False, "precise", True, str(path), "zh")
    assert kept is engine and "用户词典无法读取" in status and message in status


def test_at_most_a_few_jieba_instances_with_a_user_dictionary_are_cached(tmp_path, monkeypatch):
    import hybrid.tokenize as tk

    monkeypatch.setattr(tk, "_MAX_USER_DICTS", 1)
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"d{i}.txt")
        paths[-1].write_text(f"词{i}\n", encoding="utf-8")
        tk.Tokenizer(user_dict=paths[-1])
    cached = [key for key in tk._JIEBA_INSTANCES if key[0] is not None]
    assert cached == [(str(paths[-1].resolve()), True)]
    assert (None, True) in tk._JIEBA_INSTANCES  # jieba's own dictionary stays


@pytest.mark.server
def test_demo_serves_its_knowledge_base_with_the_tokenizer_options(tmp_path):
    """``demo.py --kb FILE --user-dict FILE --tokenizer-mode precise``: POST /search cuts the query with
    the dictionary, folded (the server's tokenizer also starts the page's panel)."""
    import httpx

    from tests.browser import ServerProcess

    (tmp_path / "kb.txt").write_text(KB + "\n", encoding="utf-8")
    (tmp_path / "words.txt").write_text("ABX9000PRO的電池\n", encoding="utf-8")
    server = ServerProcess(["demo.py", "--port", "0", "--kb", str(tmp_path / "kb.txt"), "--user-dict",
                            str(tmp_path / "words.txt"), "--tokenizer-mode", "precise"], tmp_path / "server.log")
    try:
        answer = httpx.post(server.url.rstrip("/") + "/search", json={"query": "ABX9000PRO的电池", "mode": "keyword"},
                            timeout=120).json()
        assert answer.get("query_tokens") == ["abx9000pro的电池"], answer
        assert [h["text"] for h in answer["keyword"]] == ["型号ABX9000PRO的电池说明"]
    finally:
        server.stop()


def test_without_an_upload_the_servers_dictionary_applies(setup, tmp_path):
    from hybrid.tokenize import Tokenizer

    h, engine, _ = setup
    (tmp_path / "server-words.txt").write_text("ABX9000PRO的電池\n", encoding="utf-8")
    h.service.tokenizer = Tokenizer(user_dict=tmp_path / "server-words.txt")  # demo.py --user-dict
    rebuilt, status = apply_tokenizer(h, engine, KB, False, "precise", True, None, "zh")
    assert "用户词典 1 个词" in status
    assert rebuilt.search("ABX9000PRO的电池", mode="keyword").query_tokens == ("abx9000pro的电池",)
