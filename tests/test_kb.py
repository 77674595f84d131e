import json

import pytest

from hybrid.kb import (Document, KnowledgeBaseError, decode_bytes, documents_from_file, entries_from_file, parse_entries,
                       split_sentences, to_documents)


def test_parse_drops_blank_lines_and_trims():
    assert parse_entries("  苹果是水果。 \n\n   \n\t香蕉\r\n") == ["苹果是水果。", "香蕉"]
    assert parse_entries("") == []


def test_split_long_paragraphs_only_above_length():
    para = "第一句。第二句！第三句？English one; last"
    assert split_sentences(para, min_length=100) == [para]
    assert split_sentences(para, min_length=5) == ["第一句。", "第二句！", "第三句？", "English one;", "last"]
    assert parse_entries(f"短句。\n{para}", split_long=True, max_length=10) == [
        "短句。", "第一句。", "第二句！", "第三句？", "English one;", "last"]


def test_decode_utf8_bom_and_gbk():
    assert decode_bytes("知识库".encode("utf-8-sig")) == "知识库"
    assert decode_bytes("知识库".encode("gbk")) == "知识库"
    assert decode_bytes("𠀀知识".encode("gb18030")) == "𠀀知识"
    with pytest.raises(KnowledgeBaseError, match="UTF-8"):
        decode_bytes(b"\xff\xfe\x00\xd8\x00\x00\x81", "x.txt")
    # Notepad's "Unicode" (UTF-16 with its byte-order mark) is text; NUL bytes otherwise are a binary file, which
    # UTF-8 read as entries of control characters (review: 5,000 NULs were one entry)
    assert decode_bytes("知识库\nFAQ".encode("utf-16")) == "知识库\nFAQ"
    assert decode_bytes("知识库".encode("utf-16-be").join([b"\xfe\xff", b""])) == "知识库"
    # characters newer than Python's tables, controls, two files joined, a stray last byte (fresh-eyes review:
    # each was refused as "binary, or UTF-16 without a byte-order mark")
    assert decode_bytes("新表情🩵很好\n退款".encode("utf-16")) == "新表情🩵很好\n退款"
    assert decode_bytes("a\x0cb\x1bc".encode("utf-16") + b"x") == "a\x0cb\x1bc"
    assert decode_bytes("ab".encode("utf-16") + "cd".encode("utf-16")) == "abcd"
    with pytest.raises(KnowledgeBaseError, match="opens as UTF-16 text .* but cannot be read as UTF-16") as bad:
        decode_bytes(b"\xff\xfe\x00\x00ab", "u16.txt")  # a NUL character: not text
    assert bad.value.key == "bad_utf16"
    for binary in (b"\x00" * 5000, b"abc\x00\x00\x00def\x00ghi", "FAQ list".encode("utf-16-le")):
        with pytest.raises(KnowledgeBaseError, match="holds NUL bytes: it is a binary file") as refused:
            decode_bytes(binary, "zeros.txt")
        assert refused.value.key == "binary" and refused.value.values == {"name": "zeros.txt"}


def test_big5_is_read_as_big5_and_gbk_stays_gbk():
    """GB18030 decodes a Big5 file too, into rare characters ("電腦開機" came out as "筿福秨诀"), with no warning."""
    from pathlib import Path

    traditional = "電腦開機後黑屏，怎麼辦？\n請問印表機無法連線時該如何處理。\n鍵盤按鍵沒有反應"
    assert decode_bytes(traditional.encode("cp950")) == traditional
    assert decode_bytes("電腦開機".encode("cp950")) == "電腦開機"
    assert decode_bytes(traditional.encode("gb18030")) == traditional  # Traditional text saved as GBK stays so
    for sample in sorted(Path("data/samples").glob("*.txt")):  # Simplified text in GBK, valid Big5 or not
        text = sample.read_text(encoding="utf-8")
        assert decode_bytes(text.encode("gb18030")) == text, sample
    english = "How do I reset my password? Open settings and choose reset.\n" * 1500  # 90,000 ASCII characters
    assert decode_bytes((english + traditional).encode("cp950")) == english + traditional  # found past them too
    for short in ("你好", "苹果", "上海是中国最大的城市。"):  # GBK bytes that are valid Big5 too
        data = short.encode("gbk")
        assert decode_bytes(data) == short, (short, data)


def test_files_of_each_type(tmp_path):
    (tmp_path / "a.txt").write_text("一\n\n二\n", encoding="utf-8")
    (tmp_path / "a.md").write_bytes("三\n四".encode("gbk"))
    (tmp_path / "a.csv").write_text('id,text\n1,"五, 六"\n2,七\n', encoding="utf-8")
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "八"}, ensure_ascii=False) + "\n\n", encoding="utf-8")
    assert entries_from_file(tmp_path / "a.txt") == ["一", "二"]
    assert entries_from_file(tmp_path / "a.md") == ["三", "四"]
    assert entries_from_file(tmp_path / "a.csv") == ["五, 六", "七"]
    assert entries_from_file(tmp_path / "a.jsonl") == ["八"]


def test_file_errors_are_clear(tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    with pytest.raises(KnowledgeBaseError, match="unsupported file type .pdf"):
        entries_from_file(tmp_path / "a.pdf")
    (tmp_path / "big.txt").write_text("x" * 100)
    with pytest.raises(KnowledgeBaseError, match="limit"):
        entries_from_file(tmp_path / "big.txt", max_bytes=10)
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"oops"\n', encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="line 2"):
        entries_from_file(tmp_path / "bad.jsonl")


def test_to_documents():
    docs = to_documents(["甲", {"id": "x", "text": "乙", "tag": 1}, Document("d", "丙")])
    assert [(d.id, d.text) for d in docs] == [("1", "甲"), ("x", "乙"), ("d", "丙")]
    assert docs[1].metadata == {"tag": 1}
    with pytest.raises(KnowledgeBaseError, match="duplicate"):
        to_documents([{"id": "a", "text": "1"}, {"id": "a", "text": "2"}])
    with pytest.raises(KnowledgeBaseError, match="empty"):
        to_documents(["  "])


def test_documents_keep_the_files_ids_and_metadata(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"id": "x", "text": "甲。乙。", "tag": 1, "metadata": {"src": "w"}}\n'
                                      '{"text": "丙"}\n', encoding="utf-8")
    docs = documents_from_file(tmp_path / "a.jsonl", split_long=True, max_length=2)
    assert [(d.id, d.text, dict(d.metadata)) for d in docs] == [
        ("x", "甲。", {"tag": 1, "src": "w"}), ("x#1", "乙。", {"tag": 1, "src": "w"}), ("3", "丙", {})]
    (tmp_path / "a.csv").write_text("Text,ID,source,\n五,a,wiki,x\n六,,,\n", encoding="utf-8")
    docs = documents_from_file(tmp_path / "a.csv")
    assert [(d.id, d.text, dict(d.metadata)) for d in docs] == [
        ("a", "五", {"source": "wiki", "column 4": "x"}), ("2", "六", {})]
    (tmp_path / "b.txt").write_text("一\n\n二\n", encoding="utf-8")
    assert [(d.id, d.text) for d in documents_from_file(tmp_path / "b.txt")] == [("1", "一"), ("2", "二")]
    (tmp_path / "dup.csv").write_text("id,text\n1,五\n1,六\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="dup.csv: the id '1' is used twice") as error:
        documents_from_file(tmp_path / "dup.csv")
    assert error.value.key == "kb_duplicate_id"
    assert entries_from_file(tmp_path / "dup.csv") == ["五", "六"]  # texts only: the ids do not matter


@pytest.mark.parametrize("content", ["五,六\n七,八\n", "苹果很甜\n香蕉很软\n", "id,body\n1,五\n"])
def test_a_csv_needs_a_text_column(tmp_path, content):
    (tmp_path / "a.csv").write_text(content, encoding="utf-8")
    first = content.splitlines()[0].split(",")
    with pytest.raises(KnowledgeBaseError, match="a.csv: the first row must name the columns") as error:
        entries_from_file(tmp_path / "a.csv")
    assert error.value.key == "csv_no_text"
    assert f"found {', '.join(repr(c) for c in first)}" in str(error.value) and "id,text" in str(error.value)


def test_a_folder_or_a_missing_file_is_named_as_such(tmp_path):
    with pytest.raises(KnowledgeBaseError, match="is a folder: give one knowledge-base file"):
        entries_from_file(tmp_path)
    with pytest.raises(KnowledgeBaseError, match="nope.txt: no such file"):
        entries_from_file(tmp_path / "nope.txt")
    with pytest.raises(KnowledgeBaseError, match="nope: no such file"):
        entries_from_file(tmp_path / "nope")


def test_the_most_entries_of_a_text_never_undercount_and_count_a_windows_line_end_once():
    """``most_entries`` bounds ``parse_entries`` without splitting: every line break str.splitlines knows, sentence
    ends when split, and CRLF as one break (the seventh review: 20,000 entries with CRLF blank lines between them
    were refused as far past the limit)."""
    from hybrid.kb import most_entries, parse_entries

    texts = ["a\r\nb\r\n\r\nc", "a\rb\x0bc\x0cd\x1ce\x1df\x1eg\x85h\u2028i\u2029j", "一句。二句！三句？四句；五;六!七?" * 30,
             "", "\n\n\n", "x" * 300 + "。" + "y" * 300]
    for text in texts:
        for split in (False, True):
            assert most_entries(text, split) >= len(parse_entries(text, split_long=split)), (text[:30], split)
    assert most_entries("a\r\nb\r\nc") == 3 and most_entries("a\n\rb") == 3


def test_a_file_without_an_extension_is_told_to_get_one(tmp_path):
    (tmp_path / "notes").write_text("一条\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="the file name has no extension") as refused:
        entries_from_file(tmp_path / "notes")
    assert refused.value.key == "file_no_suffix" and ".txt" in refused.value.values["allowed"]
