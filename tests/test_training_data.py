"""Reading fine-tuning records (`albert_core.training.data`): JSON lines, JSON, CSV, text files and datasets,
with every error naming its file and line. Core only: NumPy, no framework."""

from __future__ import annotations

import json
import os
import re
import time

import pytest
import training_helpers
from training_helpers import raises, write

from albert_core.training.data import Record, read_records
from albert_core.training.features import encode_masked_lm

tok = training_helpers.tok  # the shared fixtures (tests/training_helpers.py), bound for pytest
vocab = training_helpers.vocab


# ------------------------------------------------------------------------------------------------ read_records
def test_json_lines_skip_blank_lines_and_name_each_line(tmp_path):
    path = write(tmp_path, "train.jsonl", '{"text": "one", "label": 1}\n\n  \n{"text": "two\u2028still two"}\r\n')
    records = read_records(path)
    assert [r.fields for r in records] == [{"text": "one", "label": 1}, {"text": "two\u2028still two"}]
    assert [r.where for r in records] == [f"{path} line 1", f"{path} line 4"]
    assert read_records(str(path)) == records


def test_json_file_of_one_array_is_read_whole(tmp_path):
    path = write(tmp_path, "dev.json", json.dumps([{"text": "a"}, {"text": "b"}], indent=2))
    assert [(r.fields["text"], r.where) for r in read_records(path)] == [("a", f"{path} item 0"),
                                                                          ("b", f"{path} item 1")]


def test_json_file_of_one_object_says_it_is_not_json_lines(tmp_path):
    path = write(tmp_path, "squad.json", json.dumps({"version": "1.1", "data": []}, indent=2))
    with raises(rf"{re.escape(str(path))} holds one JSON object over several lines \(keys \['data', 'version'\]\)"):
        read_records(path)


def test_missing_file_folder_and_unknown_extension(tmp_path):
    with raises(r"data file .*nope\.jsonl does not exist"):
        read_records(tmp_path / "nope.jsonl")
    with raises(r"is a folder; pass the file inside it \(\.jsonl, \.json, \.csv, \.txt\)"):
        read_records(tmp_path)
    if hasattr(os, "mkfifo"):  # opening a FIFO would wait for a writer forever
        os.mkfifo(tmp_path / "pipe.jsonl")
        with raises(r"pipe\.jsonl is not a regular file"):
            read_records(tmp_path / "pipe.jsonl")
    with raises(r"train\.parquet has the extension '\.parquet', .*one of \.jsonl, \.json, \.csv, \.txt"):
        read_records(write(tmp_path, "train.parquet", "x"))


@pytest.mark.parametrize("name, content", [("empty.jsonl", ""), ("blank.jsonl", "\n \n"), ("blank.txt", "\n\n"),
                                           ("header_only.csv", "text,label\n")])
def test_a_file_without_records_is_refused(tmp_path, name, content):
    with raises(rf"{name} holds no records"):
        read_records(write(tmp_path, name, content))


def test_malformed_json_line_names_line_and_reason(tmp_path):
    path = write(tmp_path, "train.jsonl", '{"text": "fine"}\n{"text": "broken",}\n')
    with raises(r"train\.jsonl line 2: Expecting property name enclosed in double quotes.*one JSON object"):
        read_records(path)
    deep = write(tmp_path, "deep.jsonl", '{"text": "fine"}\n' + "[" * 100_000 + "\n")
    with raises(r"deep\.jsonl line 2: JSON nested too deeply"):
        read_records(deep)


def test_a_line_that_is_not_an_object(tmp_path):
    path = write(tmp_path, "train.jsonl", '{"text": "fine"}\n["a", "list"]\n')
    with raises(r"train\.jsonl line 2: a JSON list \(\['a', 'list'\]\), not an object"):
        read_records(path)


def test_non_utf8_bytes_name_the_line(tmp_path):
    for name, first in (("train.jsonl", b'{"text": "fine"}'), ("train.csv", b"text"), ("train.txt", b"fine")):
        path = write(tmp_path, name, first + b"\n" + '"caf\u00e9"'.encode("latin-1") + b"\n")
        with raises(rf"{name} line 2 is not UTF-8 \(invalid continuation byte at byte 4 of the line: b'\"caf\\xe9"):
            read_records(path)


def test_csv_cells_json_cells_and_line_numbers(tmp_path):
    content = ('\ufefftokens,tags,label,text\n'
               '"[""EU"", ""rejects""]","[""B-ORG"", ""O""]",2,"[citation needed]"\n'
               '\n'
               '"[]","{""a"": 1}",0.5,"two\nlines"\n'
               '"[]","[]",x,after\n')
    records = read_records(write(tmp_path, "train.csv", content))
    assert records[0].fields == {"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"], "label": "2",
                                 "text": "[citation needed]"}
    assert records[1].fields == {"tokens": [], "tags": {"a": 1}, "label": "0.5", "text": "two\nlines"}
    assert [r.where.rsplit(" ", 1)[1] for r in records] == ["2", "4", "6"]  # a row is named by its first line


def test_csv_without_header_or_with_ragged_rows(tmp_path):
    with raises(r"empty\.csv has no header row"):
        read_records(write(tmp_path, "empty.csv", "\n"))
    with raises(r"more\.csv line 3 has 3 cells but the header \(line 1\) has 2 \(\['text', 'label'\]\)"):
        read_records(write(tmp_path, "more.csv", "text,label\nfine,1\nnot, quoted,1\n"))
    with raises(r"fewer\.csv line 2 has 1 cells but the header"):
        read_records(write(tmp_path, "fewer.csv", "text,label\nonly text\n"))
    with raises(r"dup\.csv line 1: the header names the columns \['text'\] more than once"):
        read_records(write(tmp_path, "dup.csv", "text,text\na,b\n"))
    with raises(r"bad\.csv line 3: not valid CSV \(unexpected end of data, read up to line 4\); quote cells"):
        read_records(write(tmp_path, "bad.csv", 'text,label\nfine,1\n"never closed,1\nlast,0\n'))
    with raises(r"long\.csv line 2: not valid CSV \(field larger than field limit.*use JSON lines"):
        read_records(write(tmp_path, "long.csv", 'text,label\n"' + "word " * 30_000 + '",1\n'))


def test_a_wide_csv_header_is_checked_in_linear_time(tmp_path):
    """The header's duplicate check once counted every column for every column: 40,000 columns (a 349 KB file)
    took 30 s. 200,000 take well under a second now (quadratic: about 12 minutes)."""
    columns = [f"c{i}" for i in range(200_000)] + ["c7", "text"]
    path = write(tmp_path, "wide.csv", ",".join(columns) + "\n" + ",".join("x" * len(columns)) + "\n")
    start = time.perf_counter()
    with raises(r"wide\.csv line 1: the header names the columns \['c7'\] more than once"):
        read_records(path)
    assert time.perf_counter() - start < 10


def test_text_file_is_one_document_a_line(tmp_path):
    path = write(tmp_path, "corpus.txt", "First document.\r\n\n   \nSecond one.\n")
    assert [(r.fields, r.where) for r in read_records(path)] == [
        ({"text": "First document."}, f"{path} line 1"), ({"text": "Second one."}, f"{path} line 4")]


class FakeDataset:
    """The little of `datasets.Dataset` the reader uses."""

    def __init__(self, rows: list, iterable: bool = True) -> None:
        self.rows = rows
        if iterable:
            self.column_names = sorted(rows[0]) if rows else []

    def __iter__(self):
        if not hasattr(self, "column_names"):
            raise TypeError("not iterable")
        return iter(self.rows)

    def to_list(self) -> list:
        return list(self.rows)


def test_lists_and_duck_typed_datasets():
    rows = [{"text": "a", "label": 0}, {"text": "b", "label": 1}]
    assert read_records(rows) == [Record(rows[0], "records[0]"), Record(rows[1], "records[1]")]
    assert [r.where for r in read_records(tuple(rows))] == ["records[0]", "records[1]"]
    for dataset in (FakeDataset(rows), FakeDataset(rows, iterable=False)):
        assert read_records(dataset) == [Record(rows[0], "dataset row 0"), Record(rows[1], "dataset row 1")]
    with raises(r"records\[1\] is a str \('oops'\), not a dict"):
        read_records([rows[0], "oops"])
    with raises(r"dataset row 1 is a list"):
        read_records(FakeDataset([rows[0], ["x"]]))
    with raises(r"records holds no records"):
        read_records([])
    splits = FakeDataset(rows)
    splits.column_names = {"train": ["text"], "test": ["text"]}
    with raises(r"a DatasetDict with splits \['test', 'train'\]; pass one split"):
        read_records(splits)
    with raises(r"cannot read records from a int"):
        read_records(5)


def test_encoders_read_sources_themselves(tmp_path, tok):
    path = write(tmp_path, "corpus.txt", "Beautiful is better than ugly.\nExplicit is better than implicit.\n")
    assert len(encode_masked_lm(path, tok, max_seq_length=16)) == 2
    assert len(encode_masked_lm(FakeDataset([{"text": "Simple is better."}]), tok, max_seq_length=16)) == 1
