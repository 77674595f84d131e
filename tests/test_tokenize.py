import pytest

from hybrid.tokenize import Tokenizer, jieba_cache_dir, load_stopwords, normalize, user_dict_words


@pytest.fixture(scope="module")
def tok():
    return Tokenizer()


def test_chinese_search_mode_emits_subwords(tok):
    assert tok.tokenize("中华人民共和国") == ["中华", "华人", "人民", "共和", "共和国", "中华人民共和国"]


def test_precise_mode_keeps_whole_words():
    assert Tokenizer(mode="precise").tokenize("中华人民共和国") == ["中华人民共和国"]


def test_mixed_text_lowercases_english_and_drops_punctuation_and_stopwords(tok):
    tokens = tok.tokenize("PyTorch 的 DataLoader 怎么用？😀 ２０２４年")
    assert tokens == ["pytorch", "dataloader", "用", "😀", "2024", "年"]


def test_offsets_point_into_original_text(tok):
    text = "我的ＬＡＰＴＯＰ笔记本突然黑屏了！"
    for token in tok.tokenize_with_offsets(text):
        assert normalize(text[token.start:token.end]) == token.text
    assert [t.text for t in tok.tokenize_with_offsets(text)][:1] == ["laptop"]


def test_stopwords_removed_both_languages(tok):
    assert tok.tokenize("the cat is on the mat") == ["cat", "mat"]
    assert "的" not in tok.tokenize("我的电脑")
    assert "的" in load_stopwords() and "the" in load_stopwords()


def test_stopwords_can_be_disabled():
    assert Tokenizer(stopwords=False).tokenize("the cat") == ["the", "cat"]


def test_user_dictionary_changes_segmentation(tmp_path):
    word = "混合检索器"
    assert word not in Tokenizer(mode="precise").tokenize(f"这是{word}演示")
    user = tmp_path / "user.dict"
    user.write_text(f"{word} 100000 n\n", encoding="utf-8")
    assert word in Tokenizer(mode="precise", user_dict=user).tokenize(f"这是{word}演示")


def test_missing_user_dictionary_is_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="user dictionary"):
        Tokenizer(user_dict=tmp_path / "nope.txt")


def test_unknown_mode_lists_modes():
    with pytest.raises(ValueError, match="search, precise"):
        Tokenizer(mode="fast")


def test_jieba_cache_lives_in_project_controlled_folder(tok, monkeypatch, tmp_path):
    monkeypatch.setenv("HYBRID_CACHE_DIR", str(tmp_path))
    assert jieba_cache_dir() == tmp_path / "jieba"
    assert tok._jieba.tmp_dir is not None and not tok._jieba.tmp_dir.startswith("/tmp/jieba")


def test_empty_and_punctuation_only(tok):
    assert tok.tokenize("") == []
    assert tok.tokenize("？！。，  ...") == []


def mixed_texts(n):
    from pathlib import Path

    lines = []
    for path in sorted((Path(__file__).parents[1] / "data" / "samples").glob("*.txt")):
        lines += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [f"{lines[i % len(lines)]} 第{i}条 Item{i % 97}" for i in range(n)]


def test_worker_processes_give_the_same_tokens_with_progress(tmp_path, monkeypatch):
    import time

    user = tmp_path / "user.dict"
    user.write_text("混合检索器 100000 n\n", encoding="utf-8")
    tok = Tokenizer(mode="search", user_dict=user, stopwords=False)
    texts = ["这是混合检索器演示"] * 20 + mixed_texts(1500)
    serial = [tok.tokenize(t) for t in texts]
    here = []
    tokenize = Tokenizer.tokenize

    def slow(self, text):  # this process only: the workers start fresh, so they take chunks meanwhile
        here.append(text)
        time.sleep(0.004)
        return tokenize(self, text)

    monkeypatch.setattr(Tokenizer, "tokenize", slow)
    seen = []
    parallel = tok.tokenize_many(texts, workers=2, progress=lambda done, total: seen.append((done, total)))
    assert parallel == serial
    assert 0 < len(here) < len(texts)  # both this process (from the end) and a worker (from the front)
    assert "混合检索器" in parallel[0]  # the worker loaded the user dictionary
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1] == (len(texts), len(texts))
    assert len(seen) == -(-len(texts) // 256)  # one report per chunk
    # equal tokens are one string object, across chunks done here and in the workers
    firsts = {}
    for tokens in parallel:
        for t in tokens:
            assert firsts.setdefault(t, t) is t


def test_small_batches_stay_in_this_process(monkeypatch):
    import hybrid.tokenize as tokenize

    def no_pool(*args, **kwargs):
        raise AssertionError("a worker process was started")

    monkeypatch.setattr(tokenize, "_WorkerProcess", no_pool)
    tok = Tokenizer()
    texts = mixed_texts(tokenize.PARALLEL_MIN_TEXTS - 1)
    assert tok.tokenize_many(texts[:300]) == [tok.tokenize(t) for t in texts[:300]]
    assert len(tok.tokenize_many(texts)) == len(texts)
    with pytest.raises(ValueError, match="at least 1"):
        tok.tokenize_many(texts, workers=0)


def test_a_worker_that_dies_leaves_its_work_to_this_process(monkeypatch):
    import hybrid.tokenize as tokenize

    monkeypatch.setattr(tokenize.sys, "executable", "false")  # the worker exits at once, reading nothing
    tok = Tokenizer()
    texts = mixed_texts(900)
    assert tok.tokenize_many(texts, workers=3) == [tok.tokenize(t) for t in texts]


def test_a_worker_that_dies_mid_work_gives_back_the_chunks_it_held(monkeypatch, tmp_path):
    import stat
    import threading
    import time

    import hybrid.tokenize as tokenize

    # A worker that says it is ready, takes its first chunk (the next one may wait in its pipe) and dies.
    script = tmp_path / "dying-worker"
    script.write_text(f"""#!/bin/sh
exec {tokenize.sys.executable} -c "
import pickle, sys
source, sink = sys.stdin.buffer, sys.stdout.buffer
pickle.load(source)
pickle.dump('ready', sink); sink.flush()
pickle.load(source)
sys.exit(3)"
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(tokenize.sys, "executable", str(script))
    tok = Tokenizer()
    texts = mixed_texts(1500)
    serial = [tok.tokenize(t) for t in texts]
    tokenize_here = Tokenizer.tokenize

    def slow(self, text):  # this process only: the worker starts and takes chunks meanwhile
        time.sleep(0.004)
        return tokenize_here(self, text)

    monkeypatch.setattr(Tokenizer, "tokenize", slow)
    seen, out = [], []
    run = threading.Thread(target=lambda: out.append(
        tok.tokenize_many(texts, workers=2, progress=lambda done, total: seen.append(done))), daemon=True)
    run.start()
    run.join(timeout=120)
    assert out, "tokenize_many never finished: chunks held by the dead worker were lost"
    assert out[0] == serial and seen[-1] == len(texts)


def test_traditional_and_simplified_fold_to_the_same_tokens(tok):
    assert tok.tokenize("電腦開機後黑屏怎麼辦") == tok.tokenize("电脑开机后黑屏怎么办") == \
        ["电脑", "开机", "后", "黑屏", "怎么办"]
    unfolded = Tokenizer(fold=False)
    assert set(unfolded.tokenize("電腦開機")).isdisjoint(unfolded.tokenize("电脑开机"))


def test_folded_offsets_point_into_the_original_traditional_text(tok):
    text = "我的ＬＡＰＴＯＰ筆記型電腦開機後黑屏了！"
    folded = tok.normalize(text)
    assert len(folded) == len(text) and "笔记型电脑" in folded
    tokens = tok.tokenize_with_offsets(text)
    assert "电脑" in [t.text for t in tokens]
    for token in tokens:
        assert tok.normalize(text[token.start:token.end]) == token.text


def test_a_phrase_that_would_change_length_is_folded_character_by_character(monkeypatch):
    import hybrid.tokenize as tk

    class Lengthening:  # an OpenCC table whose phrase conversion changes the length of a run
        def convert(self, text):
            return text.replace("電腦", "电子计算机").replace("開", "开")

    monkeypatch.setattr(tk, "_t2s", lambda: Lengthening())
    tk._fold_han.cache_clear()
    try:
        assert tk.fold_script("ab電腦開機") == "ab電腦开機"  # same length: offsets stay valid
    finally:
        tk._fold_han.cache_clear()


def test_a_traditional_user_dictionary_word_stays_whole_in_simplified_text(tmp_path):
    user = tmp_path / "user.dict"
    user.write_text("混合檢索器 100000 n\n", encoding="utf-8")
    assert "混合检索器" not in Tokenizer(mode="precise").tokenize("这是混合检索器演示")
    folded = Tokenizer(mode="precise", user_dict=user)
    assert "混合检索器" in folded.tokenize("这是混合检索器演示") and "混合检索器" in folded.tokenize("這是混合檢索器演示")
    assert "混合檢索器" in Tokenizer(mode="precise", user_dict=user, fold=False).tokenize("這是混合檢索器演示")


def test_the_signature_follows_every_tokenizer_setting(tmp_path):
    user = tmp_path / "user.dict"
    user.write_text("混合检索器\n", encoding="utf-8")
    variants = [Tokenizer(), Tokenizer(fold=False), Tokenizer(mode="precise"), Tokenizer(user_dict=user)]
    assert len({t.signature for t in variants}) == len(variants)


def test_tokenizer_settings_parse_the_evaluation_specs(tmp_path):
    from hybrid.tokenize import TokenizerSettings

    assert TokenizerSettings.parse("search") == TokenizerSettings()
    spec = TokenizerSettings.parse("precise+nofold+dict", user_dict=tmp_path / "u.txt")
    assert (spec.mode, spec.fold, spec.user_dict, spec.label) == ("precise", False, str(tmp_path / "u.txt"),
                                                                  "precise+nofold+dict")
    assert Tokenizer.from_settings(TokenizerSettings.parse("precise+nofold")).settings.label == "precise+nofold"
    for bad, message in (("fast", "jieba mode"), ("search+t2s", "unknown tokenizer option"), ("search+dict", "--user-dict")):
        with pytest.raises(ValueError, match=message):
            TokenizerSettings.parse(bad)


def test_a_user_dictionary_that_is_not_utf8_names_the_file_and_the_fix(tmp_path):
    words = tmp_path / "gbk.txt"
    words.write_bytes("型号ABX 10\n".encode("gbk"))
    for read in (user_dict_words, lambda p: Tokenizer(user_dict=p), lambda p: Tokenizer(user_dict=p, fold=False)):
        with pytest.raises(ValueError, match="gbk.txt is not UTF-8") as error:
            read(words)
        assert "iconv -f gbk -t utf-8" in str(error.value)
    with pytest.raises(FileNotFoundError, match="is a folder"):
        Tokenizer(user_dict=tmp_path)


def test_a_user_dictionary_word_or_frequency_too_long_for_jieba_is_refused_with_its_line(tmp_path):
    """jieba keeps every prefix of every word: one line of 256 KB would cost about 34 GB. A word of up to
    MAX_USER_WORD_CHARS characters is read; a longer one (or a frequency of 10 digits) is refused, naming the line
    as jieba counts them, before jieba reads anything."""
    from hybrid.tokenize import MAX_USER_WORD_CHARS, UserDictLineError

    longest = "型" * MAX_USER_WORD_CHARS
    ok = tmp_path / "ok.txt"
    ok.write_text(f"{longest} 5 n\nABX9000 123456789\n", encoding="utf-8")
    assert Tokenizer(user_dict=ok, mode="precise").tokenize(longest) == [longest]
    for name, text, line, problem, size in (
            ("word.txt", f"短词\n\n{longest}号 5\n", 3, "word", MAX_USER_WORD_CHARS + 1),
            ("spaces.txt", f"短词\r\n{'a b ' * 11}7\n", 2, "word", 43),  # jieba's word may hold spaces
            ("freq.txt", "短词 1234567890\n", 1, "frequency", 10)):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        for read in (user_dict_words, lambda p: Tokenizer(user_dict=p), lambda p: Tokenizer(user_dict=p, fold=False)):
            with pytest.raises(UserDictLineError, match=f"{name}, line {line}: a {problem} of {size} ") as error:
                read(path)
            assert (error.value.line, error.value.problem, error.value.size) == (line, problem, size)


def test_what_is_checked_is_what_jieba_holds(tmp_path):
    """Found by the second attacker review: the check stripped lines as Python text (Unicode whitespace, such as
    \x1c or \u2028, goes) while jieba strips its byte lines of ASCII whitespace only, so a 30,000-character word of
    \x1c passed the check and cost 450 MB. Lines are now read as jieba reads them, and jieba is given the checked
    entries themselves; on a dictionary of ordinary lines it holds what its own reading of the file holds."""
    import jieba

    from hybrid.tokenize import MAX_USER_WORD_CHARS, UserDictLineError, _jieba

    for space in ("\x1c", "\x1f", "\x85", "\u2028", "\u3000"):
        bomb = tmp_path / f"bomb-{ord(space):x}.txt"
        bomb.write_text("词\n" + space * (MAX_USER_WORD_CHARS + 1) + "ab 5\n", encoding="utf-8")
        with pytest.raises(UserDictLineError, match="line 2: a word of"):
            Tokenizer(user_dict=bomb, fold=False)
    lines = "\ufeff型号ABX 10 n\n  空格  \r\n带 空格 的词 3\n\n电池说明 7\nQwen3-Embedding\n繁體詞\n"
    path = tmp_path / "ordinary.txt"
    path.write_text(lines, encoding="utf-8")
    ours = _jieba(str(path), fold=False)
    theirs = jieba.Tokenizer()
    theirs.initialize()
    theirs.load_userdict(str(path))
    words = ["型号ABX", "空格", "带 空格 的词", "电池说明", "Qwen3-Embedding", "繁體詞"]
    assert [ours.FREQ.get(w) for w in words] == [theirs.FREQ.get(w) for w in words]
    assert all(ours.FREQ.get(w) for w in words)
    assert {w: ours.user_word_tag_tab.get(w) for w in words} == {w: theirs.user_word_tag_tab.get(w) for w in words}
    assert ours.total == theirs.total


def test_a_dictionary_being_built_holds_its_place_against_the_limit(tmp_path, monkeypatch):
    """jieba reads a dictionary's words outside the lock (a build does not stop others' tokenizers), so the
    bytes a dictionary being built may take count against MAX_USER_DICT_BYTES: two builds at once cannot exceed it."""
    import gc
    import threading

    import jieba

    import hybrid.tokenize as tk

    gc.collect()
    # room for one more of these one-word dictionaries (5 characters each), not two
    monkeypatch.setattr(tk, "MAX_USER_DICT_BYTES", tk.user_dict_bytes() + tk._PREFIX_BYTES * 5 * 3 // 2)
    started, release = threading.Event(), threading.Event()
    real_add = jieba.Tokenizer.add_word

    def slow_add(self, word, freq=None, tag=None):  # jieba's reading, held until the second build has been tried
        if word == "电池说明甲":
            started.set()
            release.wait(30)
        return real_add(self, word, freq, tag)

    monkeypatch.setattr(jieba.Tokenizer, "add_word", slow_add)
    (tmp_path / "a.txt").write_text("电池说明甲\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("电池说明乙\n", encoding="utf-8")
    built = {}
    first = threading.Thread(target=lambda: built.setdefault("a", Tokenizer(user_dict=tmp_path / "a.txt", mode="precise")))
    first.start()
    assert started.wait(60)
    try:
        with pytest.raises(tk.UserDictLimitError):
            Tokenizer(user_dict=tmp_path / "b.txt")
        assert Tokenizer().tokenize("电池说明")  # jieba's own dictionary is not held up by the build
    finally:
        release.set()
        first.join(60)
    assert built["a"].tokenize("电池说明甲") == ["电池说明甲"] and not tk._BUILDING


def test_a_frequency_of_0_is_refused_and_changes_no_one_elses_segmentation(tmp_path):
    """Found by the third attacker review: jieba's add_word(word, 0) puts the word in finalseg's force-split set,
    shared by the whole process and never emptied: a 9-byte dictionary "李小福 0" made every visitor's search split
    李小福 into 李 小 福 until a restart. Removing it for one jieba alone does not hold with the HMM on (the fourth
    review: 北京 came back glued), so such a line is refused, naming it, before jieba reads anything."""
    from jieba import finalseg

    from hybrid.tokenize import UserDictLineError

    before = Tokenizer(mode="precise", fold=False).tokenize("李小福是创新办主任")
    assert "李小福" in before  # jieba's HMM finds the name
    forced = set(finalseg.Force_Split_Words)
    for zero in ("0", "000"):
        path = tmp_path / f"remove-{zero}.txt"
        path.write_text(f"创新办 3 i\n李小福 {zero}\n", encoding="utf-8")
        for read in (user_dict_words, lambda p: Tokenizer(user_dict=p), lambda p: Tokenizer(user_dict=p, fold=False)):
            with pytest.raises(UserDictLineError, match="line 2: the frequency 0, which in jieba removes a word"):
                read(path)
    assert finalseg.Force_Split_Words == forced
    assert Tokenizer(mode="precise", fold=False).tokenize("李小福是创新办主任") == before  # everyone else's


def test_a_user_dictionary_cuts_as_jiebas_own_copy_would_and_holds_only_its_words(tmp_path):
    """A user dictionary's words lie over jieba's own dictionary, shared (it used to copy all of it, about 64 MB,
    per dictionary): over the packaged samples it cuts exactly as a jieba instance that read the file itself, adds
    nothing to the dictionary others use, and holds a small share of what a copy would."""
    import sys
    from pathlib import Path

    import jieba

    import hybrid.tokenize as tk

    path = tmp_path / "words.txt"
    path.write_text("黑屏怎么办 5\n无线网卡驱动\n型号ABX9000Pro 20 nz\n退款流程\n笔记本\n", encoding="utf-8")
    ours = tk._jieba(str(path), fold=False)
    theirs = jieba.Tokenizer()
    theirs.initialize()
    theirs.load_userdict(str(path))
    texts = [line for f in sorted(Path("data/samples").glob("*"))
             for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts += ["电脑开机后黑屏怎么办", "无线网卡驱动装不上", "型号ABX9000Pro的退款流程"]
    assert len(texts) > 50
    for text in texts:
        assert ours.lcut(text) == theirs.lcut(text), text
        assert ours.lcut_for_search(text) == theirs.lcut_for_search(text), text
    assert ours.lcut("电脑开机后黑屏怎么办")[-1] == "黑屏怎么办"
    plain = tk._jieba(None)
    assert "黑屏怎么办" not in plain.FREQ and "黑屏怎么办" not in plain.lcut("电脑开机后黑屏怎么办")
    assert ours.FREQ.base is plain.FREQ and len(dict.keys(ours.FREQ)) < 40
    assert ours.hybrid_bytes < 20_000 and sys.getsizeof(plain.FREQ) > 10_000_000


def test_a_dictionarys_tags_count_against_the_budget(tmp_path, monkeypatch):
    """Found by the seventh review: jieba keeps each word's tag, of any length, and the budget counted the words
    only (20 one-line dictionaries with 250,000-letter tags were counted as 7 KB while holding 5 MB)."""
    import gc

    import hybrid.tokenize as tk

    gc.collect()
    path = tmp_path / "tagged.txt"
    path.write_text("甲乙丙丁 5 " + "n" * 250_000 + "\n", encoding="utf-8")
    tagged = tk._jieba(str(path), fold=False)
    assert tagged.hybrid_bytes > 250_000 and tagged.user_word_tag_tab["甲乙丙丁"] == "n" * 250_000
    monkeypatch.setattr(tk, "MAX_USER_DICT_BYTES", tk.user_dict_bytes() + 100_000)
    other = tmp_path / "other.txt"
    other.write_text("戊己庚辛 5 " + "n" * 250_000 + "\n", encoding="utf-8")
    with pytest.raises(tk.UserDictLimitError):
        tk._jieba(str(other), fold=False)
