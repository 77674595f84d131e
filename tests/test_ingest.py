"""Indexing at scale: entries streamed with stable ids, resumable batch indexing into Milvus Lite, Parquet vectors."""

import json

import numpy as np
import pytest

from hybrid import HybridEngine, KnowledgeBaseError
from hybrid.batch_embed import embed_local
from hybrid.ingest import count_entries, index_records, iter_entries, iter_records, remove_ids
from hybrid.store import open_store
from hybrid.tokenize import Tokenizer
from tests.fakes import OneHotEncoder

LINES = ["苹果是一种很好吃的水果。", "", "香蕉是黄色的水果。", "法国的首都是巴黎。", "我的笔记本电脑黑屏了怎么办",
         "今天天气晴朗。适合散步。", "机器学习模型可以理解文本语义。"]


@pytest.fixture
def kb(tmp_path):
    folder = tmp_path / "kb"
    (folder / "sub").mkdir(parents=True)
    (folder / "faq.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    (folder / "sub" / "tickets.jsonl").write_text(
        json.dumps({"id": "T-1", "text": "显卡  驱动\n崩溃", "team": "gpu"}, ensure_ascii=False) + "\n"
        + json.dumps({"text": "打印机卡纸", "metadata": {"floor": 3}}, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "table.csv").write_bytes("id,text,lang\nc1,北京是中国的首都,zh\n,东京是日本的首都,zh\n".encode("gb18030"))
    (folder / ".hidden.txt").write_text("不应读取\n", encoding="utf-8")
    (folder / "notes.bin").write_bytes(b"\x00")
    return folder


def test_entries_have_stable_ids_and_keep_their_fields(kb):
    docs = list(iter_entries(kb))
    assert [d.id for d in docs] == ["faq.txt:1", "faq.txt:3", "faq.txt:4", "faq.txt:5", "faq.txt:6", "faq.txt:7",
                                    "T-1", "sub/tickets.jsonl:2", "c1", "table.csv:2"]
    by_id = {d.id: d for d in docs}
    assert by_id["faq.txt:3"].text == "香蕉是黄色的水果。"  # line numbers count blank lines: ids survive edits
    assert by_id["T-1"].text == "显卡 驱动 崩溃" and by_id["T-1"].metadata == {"team": "gpu"}
    assert by_id["sub/tickets.jsonl:2"].metadata == {"floor": 3}
    assert by_id["c1"].metadata == {"lang": "zh"} and by_id["table.csv:2"].text == "东京是日本的首都"  # GB18030 read
    assert not any("不应读取" in d.text for d in docs)
    assert count_entries(kb) == 10
    assert [d.id for d in iter_entries(kb)] == [d.id for d in docs]  # the same order every time
    split = [d for d in iter_entries(kb / "faq.txt", split_long=5) if d.id.startswith("faq.txt:6")]
    assert [d.id for d in split] == ["faq.txt:6", "faq.txt:6#1"]


def test_bad_sources_say_what_is_wrong(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "好"}\n{oops\n', encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="bad.jsonl line 2: not valid JSON"):
        list(iter_entries(tmp_path / "bad.jsonl"))
    with pytest.raises(KnowledgeBaseError, match="does not exist"):
        list(iter_entries(tmp_path / "none.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(KnowledgeBaseError, match="holds no"):
        list(iter_entries(tmp_path / "empty"))


class Interrupted(Exception):
    pass


def interrupt_after(records, n):
    for i, record in enumerate(records):
        if i == n:
            raise Interrupted()
        yield record


@pytest.mark.milvus
def test_index_resumes_without_duplicates_and_updates_by_id(kb, tmp_path):
    uri, tok, enc = f"milvus:{tmp_path / 'kb.db'}", Tokenizer(), OneHotEncoder()
    store = open_store(uri, collection="kb")
    try:
        with pytest.raises(Interrupted):
            index_records(store, interrupt_after(iter_records(kb), 5), tok, enc, batch_size=2, progress=False)
        assert len(store) == 4 and store.needs_repair  # two whole batches were written before the stop
        report = index_records(store, iter_records(kb), tok, enc, batch_size=2, progress=False)
        assert (report.read, report.added, report.unchanged, report.updated) == (10, 6, 4, 0)
        assert report.embedded == 6 and report.entries_per_s > 0 and not store.needs_repair
        assert len(store) == 10 and store.doc_freqs(["水果", "首都"]) == [2, 3]
        again = index_records(store, iter_records(kb), tok, enc, batch_size=4, progress=False)
        assert (again.added, again.updated, again.unchanged, again.embedded) == (0, 0, 10, 0)

        (kb / "faq.txt").write_text("\n".join(["苹果汁很甜。"] + LINES[1:]) + "\n", encoding="utf-8")
        edited = index_records(store, iter_records(kb), tok, enc, progress=False)
        assert (edited.added, edited.updated, edited.unchanged) == (0, 1, 9)
        assert store.doc_freqs(["水果", "苹果汁"]) == [1, 1]
        assert remove_ids(store, ["faq.txt:1", "T-1"]) == 2 and len(store) == 8
        with pytest.raises(KeyError, match="nope"):
            remove_ids(store, ["faq.txt:3", "nope"])
        assert len(store) == 8
        engine = HybridEngine(embedder=enc, store=store)
        hit = engine.search("打印机", k=1).keyword[0]
        assert (hit.id, hit.metadata) == ("sub/tickets.jsonl:2", {"floor": 3})
    finally:
        store.close()


@pytest.mark.milvus
def test_parquet_vectors_index_without_the_model(kb, tmp_path):
    enc = OneHotEncoder()
    report = embed_local(kb, tmp_path / "vectors", enc, batch_size=3, part_rows=4, progress=False)
    assert report.entries == 10 and len(report.files) == 3 and report.model == "fake:fake-onehot:7"
    with pytest.raises(FileExistsError, match="--overwrite"):
        embed_local(kb, tmp_path / "vectors", enc, progress=False)
    records = list(iter_records(tmp_path / "vectors"))
    assert [r.document.id for r in records] == [d.id for d in iter_entries(kb)]
    np.testing.assert_allclose(records[0].vector, enc.encode_documents([records[0].document.text])[0], rtol=1e-6)

    store = open_store(f"milvus:{tmp_path / 'kb.db'}", collection="kb")
    try:
        before = enc.documents_embedded
        done = index_records(store, iter_records(tmp_path / "vectors"), Tokenizer(), None, progress=False)
        assert done.added == 10 and done.embedded == 0 and enc.documents_embedded == before
        assert store.vectors_model == "fake:fake-onehot:7"
        engine = HybridEngine(embedder=enc, store=store)  # the same model serves it: no re-embedding
        assert engine.has_vectors and engine.search("巴黎", k=1).semantic[0].id == "faq.txt:4"
        (tmp_path / "new.txt").write_text("一条新的内容\n", encoding="utf-8")
        with pytest.raises(KnowledgeBaseError, match="has no vector: name an embedding model"):
            index_records(store, iter_records(tmp_path / "new.txt"), Tokenizer(), None, progress=False)
    finally:
        store.close()
    other = open_store(f"milvus:{tmp_path / 'kb.db'}", collection="other")
    try:
        with pytest.raises(KnowledgeBaseError, match="several models"):
            index_records(other, iter_records(tmp_path / "vectors"), Tokenizer(), OneHotEncoder("other"),
                          progress=False)
    finally:
        other.close()


@pytest.mark.milvus
def test_index_command_fixes_bm25_parameters_per_collection(kb, tmp_path, capsys):
    from hybrid import cli

    embed_local(kb, tmp_path / "vectors", OneHotEncoder(), progress=False)
    uri = f"milvus:{tmp_path / 'kb.db'}"
    args = ["index", "--kb", str(tmp_path / "vectors"), "--store", uri, "--collection", "tuned", "--no-progress"]
    assert cli.main([*args, "--k1", "1.5", "--b", "0.5"]) == 0  # Parquet input: no model is loaded
    assert "10 added" in capsys.readouterr().out
    store = open_store(uri, collection="tuned", read_only=True)
    try:
        engine = HybridEngine(embedder=OneHotEncoder(), store=store)
        assert store.bm25_params == (1.5, 0.5) and engine.search("巴黎", k=1).settings.k1 == 1.5
    finally:
        store.close()
    assert cli.main([*args, "--k1", "2"]) == 2
    assert "was built with BM25 k1=1.5; it cannot change" in capsys.readouterr().err
    assert cli.main([*args]) == 0 and "10 unchanged" in capsys.readouterr().out
    assert cli.main(["index", "--store", uri]) == 2
    assert "give --kb" in capsys.readouterr().err


@pytest.mark.milvus
def test_ctrl_c_during_index_says_how_to_resume_and_resuming_duplicates_nothing(kb, tmp_path, capsys, monkeypatch):
    from hybrid import cli, ingest

    embed_local(kb, tmp_path / "vectors", OneHotEncoder(), progress=False)
    real = ingest.iter_records

    def ctrl_c_after_five(*args, **kwargs):  # the user presses Ctrl-C while the sixth entry is read
        for i, record in enumerate(real(*args, **kwargs)):
            if i == 5:
                raise KeyboardInterrupt
            yield record

    monkeypatch.setattr(ingest, "iter_records", ctrl_c_after_five)
    args = ["index", "--kb", str(tmp_path / "vectors"), "--store", f"milvus:{tmp_path / 'kb.db'}",
            "--batch-size", "2", "--no-progress"]
    try:
        code = cli.main(args)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C ended `hybrid index` with a traceback")
    err = capsys.readouterr().err
    assert code == 130 and "interrupted" in err and "run the same command again to resume" in err
    monkeypatch.setattr(ingest, "iter_records", real)
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "6 added, 0 updated, 4 unchanged" in out and "holds 10 entries" in out


def test_a_csv_without_a_text_column_is_refused_not_read_from_its_first_column(tmp_path):
    """``hybrid index``/``embed`` read a CSV as the page and ``--kb`` do: a header row naming ``text``."""
    from hybrid.ingest import iter_entries
    from hybrid.kb import KnowledgeBaseError

    (tmp_path / "faq.csv").write_text("问题,答案\n怎么退货,七天内可退\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"faq.csv: the first row must name the columns.*'问题', '答案'"):
        list(iter_entries(tmp_path / "faq.csv"))
    (tmp_path / "ok.csv").write_text("问题,TEXT\n怎么退货,七天内可退\n", encoding="utf-8")
    [doc] = list(iter_entries(tmp_path / "ok.csv"))
    assert (doc.id, doc.text, dict(doc.metadata)) == ("ok.csv:1", "七天内可退", {"问题": "怎么退货"})


def test_an_id_given_twice_is_refused_not_one_entry_silently_replacing_the_other(tmp_path):
    """``hybrid index`` kept the second of two entries with one id and counted the first "unchanged"."""
    from hybrid.ingest import iter_entries, iter_records
    from hybrid.kb import KnowledgeBaseError

    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "a.csv").write_text("id,text\n1,苹果\n2,香蕉\n", encoding="utf-8")
    (tmp_path / "kb" / "b.jsonl").write_text('{"id": "1", "text": "巴黎"}\n', encoding="utf-8")
    for read in (iter_entries, iter_records):
        with pytest.raises(KnowledgeBaseError, match=r"b.jsonl: the id '1' is used twice"):
            list(read(tmp_path / "kb"))
    (tmp_path / "kb" / "b.jsonl").write_text('{"id": "3", "text": "巴黎"}\n{"text": "东京"}\n', encoding="utf-8")
    assert [doc.id for doc in iter_entries(tmp_path / "kb")] == ["1", "2", "3", "b.jsonl:2"]


def search_warnings(uri):
    """The stderr of ``python -m hybrid search --store URI`` in a fresh process, as a user sees it."""
    import subprocess
    import sys
    from pathlib import Path

    proc = subprocess.run([sys.executable, "-m", "hybrid", "search", "--store", uri, "--query", "黑屏", "--mode",
                           "keyword"], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
                          timeout=120)
    assert proc.returncode == 0 and "== keyword" in proc.stdout, proc.stderr
    return proc.stderr


@pytest.mark.milvus
def test_input_refused_by_index_leaves_no_interrupted_write_warning(kb, tmp_path, capsys, monkeypatch):
    """A refused csv (no `text` column) left the collection marked dirty: every later search warned of an
    "interrupted write" that never happened."""
    from hybrid import cli

    monkeypatch.setattr(cli, "_load_model", lambda args: OneHotEncoder())
    uri = f"milvus:{tmp_path / 'kb3.db'}"
    assert cli.main(["index", "--kb", str(kb), "--store", uri, "--no-progress"]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad"
    bad.mkdir()
    refused = {  # each refused while its first batch is read, before anything is written
        "wrongcol.csv": ("问题,答案\n怎么退货,七天内可退\n", "the first row must name the columns"),
        "twice.csv": ("id,text\n1,苹果\n1,香蕉\n", "the id '1' is used twice"),
        "broken.jsonl": ('{"text": "巴黎"}\nnot json\n', "broken.jsonl line 2: not valid JSON"),
        "encoding.txt": (b"\xff\xfe\n", "cannot decode as UTF-8, GBK/GB18030 or Big5"),
    }
    for name, (content, message) in refused.items():
        path = bad / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        code = cli.main(["index", "--kb", str(path), "--store", uri, "--no-progress"])
        out, err = capsys.readouterr()
        assert code == 2 and out == "" and err.startswith("error: ") and message in err, err
        assert "Traceback" not in err and "written" not in err
    store = open_store(uri, read_only=True)
    try:
        assert not store.needs_repair and len(store) == 10
    finally:
        store.close()
    assert "interrupted" not in search_warnings(uri)


@pytest.mark.milvus
def test_input_refused_after_writing_began_says_what_was_written_and_how_to_finish(tmp_path, capsys, monkeypatch):
    """A bad line in a later batch stops a write that had begun: the warning is then true, and the error says so."""
    from hybrid import cli

    monkeypatch.setattr(cli, "_load_model", lambda args: OneHotEncoder())
    uri, path = f"milvus:{tmp_path / 'kb.db'}", tmp_path / "tickets.jsonl"
    lines = [json.dumps({"id": f"t{n}", "text": text}, ensure_ascii=False) for n, text in enumerate(LINES[2:])]
    path.write_text("\n".join([*lines[:3], "not json", *lines[3:]]) + "\n", encoding="utf-8")
    args = ["index", "--kb", str(path), "--store", uri, "--batch-size", "2", "--no-progress"]
    code = cli.main(args)
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith("error: tickets.jsonl line 4: not valid JSON") and "after writing 2 entries" in err
    assert "marked as an interrupted write" in err and "run the same index command again" in err
    assert "interrupted write" in search_warnings(uri)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli.main(args) == 0
    assert "2 unchanged" in capsys.readouterr().out
    assert "interrupted" not in search_warnings(uri)


def test_a_big5_file_streams_as_big5_and_gbk_as_gbk(tmp_path):
    """``python -m hybrid index`` streams a file in its encoding, read as the page reads an upload: a Big5 file was
    read as GB18030 (which decodes it too, into rare characters)."""
    from hybrid.ingest import iter_entries

    traditional = ["電腦開機後黑屏，怎麼辦？", "請問印表機無法連線時該如何處理。"]
    (tmp_path / "big5.txt").write_bytes("\n".join(traditional).encode("cp950"))
    assert [d.text for d in iter_entries(tmp_path / "big5.txt")] == traditional
    simplified = ["上海是中国最大的城市。", "你好"]
    (tmp_path / "gbk.txt").write_bytes("\n".join(simplified).encode("gbk"))
    assert [d.text for d in iter_entries(tmp_path / "gbk.txt")] == simplified
