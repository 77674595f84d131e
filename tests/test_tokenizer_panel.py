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
    assert second.tokenizer._jieba is first.tokenizer._jieba  # the same words: one jieba instance
    assert Path(second.tokenizer.user_dict).name == "b.txt"  # each under its own name (the export gives it back)
    assert Path(second.tokenizer.user_dict).parent == Path(first.tokenizer.user_dict).parent
    # The copy lies in the server's own upload folder (removed at stop), not in a shared temporary folder.
    assert Path(first.tokenizer.user_dict).resolve().is_relative_to(uploads.resolve())
    same, _ = apply_tokenizer(h, first, KB, False, "precise", True, str(uploads / "a.txt"), "zh")
    assert same is first  # unchanged settings rebuild nothing


def _write(folder, name, data):
    (folder / name).write_bytes(data)
    return folder / name


@pytest.mark.parametrize("make,zh,en", [
    (lambda up, out: _write(out, "words.txt", "词\n".encode("utf-8")), "不是本页面收到的上传文件",
     "not a file this page received"),
    (lambda up, out: _write(up, "big.txt", "词\n".encode("utf-8") * MAX_DICT_BYTES), f"最多 {MAX_DICT_BYTES:,} 字节",
     f"at most {MAX_DICT_BYTES:,} are taken"),
    (lambda up, out: _write(up, "gbk.txt", "产品名\n".encode("gbk")), "不是 UTF-8 编码（第 1 个字节是 0xb2）",
     "not UTF-8 (byte 1 is 0xb2). Save it as UTF-8"),
    # a BOM, a UTF-8 line, then a GBK one: the bad byte is the file's 8th (the BOM counts)
    (lambda up, out: _write(up, "mixed.txt", b"\xef\xbb\xbf" + "词\n".encode("utf-8") + "中\n".encode("gbk")),
     "第 8 个字节是 0xd6", "byte 8 is 0xd6"),
    # one line of 256 KB would cost jieba about 34 GB (it keeps every prefix of every word)
    (lambda up, out: _write(up, "line.txt", ("词\n" + "型" * 50_000 + " 5\n").encode("utf-8")),
     "第 2 行的词有 50000 个字符，最多 40 个", "line 2 holds a word of 50000 characters, at most 40 are taken"),
    (lambda up, out: _write(up, "freq.txt", ("词 " + "9" * 5000 + "\n").encode("utf-8")),
     "第 1 行的词频有 5000 位数字，最多 9 位", "line 1 gives a frequency of 5000 digits, at most 9 are taken"),
    # jieba removes a word of frequency 0 for every tokenizer of the process, until it restarts
    (lambda up, out: _write(up, "zero.txt", "北京 0 ns\n".encode("utf-8")),
     "第 1 行的词频是 0。jieba 会因此对本服务器的所有用户删去这个词", "line 1 gives the frequency 0, with which jieba"),
    # a CSV saved as the dictionary: jieba took "abx9000pro,100" as one word, and the panel said "1 word"
    (lambda up, out: _write(up, "csv.txt", "黑屏故障码 5\nABX9000PRO,100\n".encode("utf-8")),
     "第 2 行的词和词频用逗号、分号或制表符隔开", "line 2 separates a word and its frequency with a comma"),
])
def test_a_refused_dictionary_leaves_the_engine_and_says_why_in_the_pages_language(setup, tmp_path, make, zh, en):
    h, engine, uploads = setup
    path = make(uploads, tmp_path)
    kept, status = apply_tokenizer(h, engine, KB, False, "precise", True, str(path), "zh")
    assert kept is engine and status.startswith("用户词典无法读取") and zh in status, status
    kept, status = apply_tokenizer(h, engine, KB, False, "precise", True, str(path), "en")
    assert kept is engine and en in status and "codec" not in status and str(tmp_path) not in status, status


def test_user_dictionaries_in_use_hold_at_most_their_memory_budget_and_a_freed_one_makes_room(setup, monkeypatch):
    """Each dictionary in use holds its words (over jieba's own dictionary, shared): sessions that each upload
    another word list (500 sessions) must not grow the server without bound. The budget counts the bytes of the
    dictionaries some tokenizer still holds; the same words share one instance."""
    import gc

    import hybrid.tokenize as tk

    h, engine, uploads = setup
    gc.collect()
    probe = tk._built(("probe", False), tk._base(), [("电池说明9", None, None)])
    one = probe.hybrid_bytes  # what each of these one-word dictionaries holds once built
    del probe
    gc.collect()
    # other tests' tokenizers still alive, one dictionary built and room to build a second (5 characters)
    monkeypatch.setattr(tk, "MAX_USER_DICT_BYTES", tk.user_dict_bytes() + one + tk._PREFIX_BYTES * 5)
    held = len(tk._USER_DICT_INSTANCES)
    sessions = []
    for i in range(3):
        (uploads / f"d{i}.txt").write_text(f"电池说明{i}\n", encoding="utf-8")
        sessions.append(apply_tokenizer(h, engine, KB, False, "precise", True, str(uploads / f"d{i}.txt"), "zh"))
    assert [built is not engine for built, _ in sessions] == [True, True, False]
    assert "同时使用的词典已达上限" in sessions[2][1], sessions[2][1]
    assert len(tk._USER_DICT_INSTANCES) == held + 2
    # A visitor with the first words again shares the instance in use: no new one, no refusal.
    again, status = apply_tokenizer(h, engine, KB, False, "precise", True, str(uploads / "d0.txt"), "zh")
    assert again is not engine and again.tokenizer._jieba is sessions[0][0].tokenizer._jieba, status
    # A session that ends (its engine dropped) frees its dictionary: the third visitor now gets theirs.
    del sessions[0], again
    gc.collect()
    third, status = apply_tokenizer(h, engine, KB, False, "precise", True, str(uploads / "d2.txt"), "zh")
    assert third is not engine and "用户词典 1 个词" in status, status
    assert third.search("电池说明2", mode="keyword").query_tokens == ("电池说明2",)
    assert tk._BASE  # jieba's own dictionary stays


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


def test_the_export_hands_back_an_uploaded_dictionary_beside_the_setting_and_it_loads(setup, tmp_path):
    """Found by the new-user review: the export named the dictionary by the server's hash name and did not offer
    it, so the setting file could not be loaded ("tokenizer.user_dict '35b5…txt' is not a file"). The visitor's
    file now comes back under its own name, beside the setting, and ``--config`` loads the two as downloaded;
    the server's own dictionary (demo.py --user-dict) is never handed out."""
    import shutil

    from hybrid.config import load_config
    from webui.export import page_config, write_setting
    from webui.tokenizer_panel import uploaded_dictionary

    h, engine, uploads = setup
    (uploads / "产品词典.txt").write_text("ABX9000PRO的電池\n", encoding="utf-8")
    built, _ = apply_tokenizer(h, engine, KB, False, "precise", True, str(uploads / "产品词典.txt"), "zh")
    config = page_config(h.service, built, 0.5, "adaptive", "minmax", 5, 1.2, 0.75, 100)
    assert config.tokenizer.user_dict == "产品词典.txt"
    files = write_setting(config, dictionary=uploaded_dictionary(built.tokenizer.user_dict, uploads))
    assert [Path(f).name for f in files] == ["hybrid-setting.json", "产品词典.txt"]
    saved = tmp_path / "downloads"  # what the browser saves, both in one folder
    saved.mkdir()
    for f in files:
        shutil.copy(f, saved)
    loaded = load_config(saved / "hybrid-setting.json")
    assert Path(loaded.tokenizer.user_dict) == saved / "产品词典.txt" and loaded.tokenizer.mode == "precise"
    # the server's own dictionary, or none: the setting alone
    server_dict = tmp_path / "server-words.txt"
    server_dict.write_text("秘密词\n", encoding="utf-8")
    assert uploaded_dictionary(str(server_dict), uploads) is None
    assert uploaded_dictionary(None, uploads) is None



def test_another_tokenizer_reuses_the_sessions_vectors_instead_of_embedding_again(tmp_path):
    """User review: choosing jieba's precise mode re-embedded the whole knowledge base (72 entries, 43 s on the CPU)
    though only the keyword side changes. The session's vectors are taken over; a new line alone is embedded."""
    import numpy as np

    encoder = OneHotEncoder()
    h = DemoHandlers(_service(encoder), upload_root=tmp_path)
    engine, _ = h.index(None, KB, False, "zh", progress=FakeProgress())
    embedded = encoder.documents_embedded
    assert embedded == 3
    precise, _ = apply_tokenizer(h, engine, KB, False, "precise", True, None, "zh")
    assert precise is not engine and precise.tokenizer.settings.mode == "precise" and precise.has_vectors
    assert encoder.documents_embedded == embedded  # nothing embedded again
    keys = [precise.store.key(d.id) for d in precise.documents]
    np.testing.assert_allclose(precise.store.vectors(keys), encoder._encode([d.text for d in precise.documents]))
    embedded = encoder.documents_embedded
    edited, _ = apply_tokenizer(h, precise, KB + "\n巴黎的博物馆", False, "search", True, None, "zh")
    assert encoder.documents_embedded == embedded + 1  # the new line alone
    keys = [edited.store.key(d.id) for d in edited.documents]
    np.testing.assert_allclose(edited.store.vectors(keys), encoder._encode([d.text for d in edited.documents]))
