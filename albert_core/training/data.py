"""Training and evaluation data -> records: JSON lines, CSV, plain text, lists of dicts and `datasets.Dataset`s.

Every record keeps where it came from ("train.jsonl line 12"), so that the encoders' errors can point at the line
to fix. Files are read line by line (a JSON file that is one array is the exception: it is parsed whole).
"""

from __future__ import annotations

import collections
import csv
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError, TokenizerError, TokenizerTypeError, json_error, short_repr
from ..tokenizer.arguments import check_text

JSON_LINES = (".jsonl", ".json")
KNOWN_EXTENSIONS = (*JSON_LINES, ".csv", ".txt")
_BOM = b"\xef\xbb\xbf"  # Excel writes one before UTF-8 CSV


@dataclass(frozen=True)
class Record:
    """One example's fields, and where it was read: "train.jsonl line 12", "dataset row 5", "records[5]"."""

    fields: dict[str, Any]
    where: str


def read_records(source: str | os.PathLike | list | tuple | Any) -> list[Record]:
    """The records of a data file (.jsonl/.json JSON lines, .csv with a header row, .txt one text a line), a list
    of dicts, or a `datasets.Dataset`-like object (duck-typed: `column_names` and iterable of dicts, or `to_list()`).

    Raises `DataError` naming the file and line for anything unreadable, and for a source holding no records.
    """
    if isinstance(source, (str, os.PathLike)):
        records = _read_file(Path(source), str(source))
        name = str(source)
    elif isinstance(source, (list, tuple)):
        records = list(_from_dicts(source, lambda index: f"records[{index}]"))
        name = "records"
    else:
        records = _read_dataset(source)
        name = "the dataset"
    if not records:
        raise DataError(f"{name} holds no records; pass a data set with at least one example.")
    return records


def _read_dataset(source: Any) -> list[Record]:
    columns = getattr(source, "column_names", None)
    if isinstance(columns, dict):  # a datasets.DatasetDict: one column list per split
        raise DataError(f"the data source is a DatasetDict with splits {short_repr(sorted(columns))}; pass one split, "
                        "e.g. dataset['train'].")
    if columns is not None and hasattr(source, "__iter__"):
        rows: Iterable = source
    elif callable(getattr(source, "to_list", None)):
        rows = source.to_list()
    else:
        raise DataError(
            f"cannot read records from a {type(source).__name__} ({short_repr(source)}); pass a file path (.jsonl, "
            ".json, .csv, .txt), a list of dicts, or a datasets.Dataset (a pandas DataFrame: df.to_dict('records'))."
        )
    return list(_from_dicts(rows, lambda index: f"dataset row {index}"))


def _from_dicts(items: Iterable, where: Any) -> Iterator[Record]:
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise DataError(f"{where(index)} is a {type(item).__name__} ({short_repr(item)}), not a dict; every "
                            "example must be a dict of fields, e.g. {'text': ..., 'label': ...}.")
        yield Record(dict(item), where(index))


def _read_file(path: Path, name: str) -> list[Record]:
    if not path.exists():
        raise DataError(f"data file {name} does not exist; check the path (relative paths start at {os.getcwd()}).")
    if path.is_dir():
        raise DataError(f"data file {name} is a folder; pass the file inside it ({', '.join(KNOWN_EXTENSIONS)}).")
    if not path.is_file():  # a FIFO or device would block or never end
        raise DataError(f"data file {name} is not a regular file; pass a {', '.join(KNOWN_EXTENSIONS)} file.")
    extension = path.suffix.lower()
    if extension not in KNOWN_EXTENSIONS:
        raise DataError(f"data file {name} has the extension {extension or '(none)'!r}, which is not a known data "
                        f"format; use one of {', '.join(KNOWN_EXTENSIONS)} (JSON lines, CSV with a header, plain "
                        "text).")
    with path.open("rb") as stream:
        lines = _Lines(stream, name)
        if extension == ".csv":
            return list(_read_csv(lines, name))
        if extension == ".txt":
            return [Record({"text": text}, f"{name} line {number}") for number, text in lines.numbered()
                    if text.strip()]
        return _read_json_lines(lines, name, path, extension)


class _Lines:
    """The decoded lines of a binary stream, counted, so that a bad byte or cell is reported by its line."""

    def __init__(self, stream: Any, name: str) -> None:
        self.stream, self.name, self.count = stream, name, 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.stream:  # splits on b"\n" only: a U+2028 inside a JSON string stays in its line
            self.count += 1
            if self.count == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{self.name} line {self.count} is not UTF-8 ({exc.reason} at byte {exc.start} of the line: "
                    f"{short_repr(raw[max(0, exc.start - 10):exc.start + 10])}); save the file as UTF-8."
                ) from None

    def numbered(self) -> Iterator[tuple[int, str]]:
        for text in self:
            yield self.count, text.rstrip("\r\n")


def _read_json_lines(lines: _Lines, name: str, path: Path, extension: str) -> list[Record]:
    records = []
    for number, text in lines.numbered():
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except RecursionError:
            reason = "JSON nested too deeply"
        except ValueError as exc:
            reason = json_error(exc)
        else:
            if isinstance(value, dict):
                records.append(Record(value, f"{name} line {number}"))
                continue
            reason = f"a JSON {type(value).__name__} ({short_repr(value)}), not an object"
        if not records and extension == ".json":  # maybe one JSON array of objects over the whole file
            whole = _read_json_array(path, name)
            if whole is not None:
                return whole
        raise DataError(f"{name} line {number}: {reason}; each line must be one JSON object (JSON lines), "
                        'e.g. {"text": "...", "label": "..."}.')
    return records


def _read_json_array(path: Path, name: str) -> list[Record] | None:
    """The records of a .json file that holds one JSON array of objects, or None if it is not one."""
    try:
        value = json.loads(path.read_bytes().removeprefix(_BOM).decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if isinstance(value, dict):  # e.g. a SQuAD file: {"version": ..., "data": [...]}
        raise DataError(f"{name} holds one JSON object over several lines (keys {short_repr(sorted(value))}), not "
                        "JSON lines; write one example object a line, or pass the list of examples it holds.")
    if not isinstance(value, list):
        return None
    return list(_from_dicts(value, lambda index: f"{name} item {index}"))


def _read_csv(lines: _Lines, name: str) -> Iterator[Record]:
    reader = csv.reader(lines, strict=True)  # strict: a quote never closed is an error, not the rest of the file
    header = None
    while True:
        start = lines.count + 1  # a quoted cell may span lines: a row is named by its first
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if "field limit" in str(exc):
                fix = f"cells hold at most {csv.field_size_limit()} characters here; use JSON lines for longer texts"
            else:
                fix = "quote cells that hold commas, quotes or line breaks, and double the quotes inside them"
            upto = f", read up to line {lines.count}" if lines.count > start else ""
            raise DataError(f"{name} line {start}: not valid CSV ({exc}{upto}); {fix}.") from None
        if not row:  # a blank line
            continue
        if header is None:
            header = row
            duplicates = sorted(column for column, n in collections.Counter(header).items() if n > 1)
            if duplicates:
                raise DataError(f"{name} line {start}: the header names the columns {short_repr(duplicates)} more "
                                "than once; give every column its own name.")
            continue
        if len(row) != len(header):
            raise DataError(
                f"{name} line {start} has {len(row)} cells but the header (line 1) has {len(header)} "
                f"({short_repr(header)}); give every row one cell per column (quote cells that hold commas)."
            )
        yield Record({column: _cell(text) for column, text in zip(header, row)}, f"{name} line {start}")
    if header is None:
        raise DataError(f"{name} has no header row (the file is empty); CSV data starts with a line naming the "
                        "columns, e.g. text,label.")


def _cell(text: str) -> Any:
    """A CSV cell: its text, or the list/object it spells in JSON (tokens, tags, choices, answers). Numbers stay
    text: whether "1" is a class name or an id is the encoder's decision."""
    stripped = text.strip()
    if stripped[:1] + stripped[-1:] in ("[]", "{}"):
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):  # "[citation needed]" is text
            return text
    return text


# ------------------------------------------------------------------------------------ reading a record's fields
def fields_of(record: Record) -> str:
    return short_repr(sorted(map(str, record.fields)))


def get_field(record: Record, name: str, reads: str, optional: bool = False) -> Any:
    """The field `name`, or None if `optional` and absent (or null); `reads` says what the task reads."""
    value = record.fields.get(name)
    if value is None and not optional:
        state = "is null" if name in record.fields else "is missing"
        raise DataError(f"{record.where}: field {name!r} {state} (the record has fields {fields_of(record)}); "
                        f"this task reads {reads}; rename or add the field.")
    return value


def wrong_type(record: Record, name: str, value: Any, wanted: str, todo: str = "") -> DataError:
    return DataError(f"{record.where}: field {name!r} must be {wanted}, got {type(value).__name__} "
                     f"{short_repr(value)}{'; ' + todo if todo else ''}.")


def text_field(record: Record, name: str, reads: str, optional: bool = False) -> str | None:
    value = get_field(record, name, reads, optional)
    if value is None:
        return None
    if not isinstance(value, str):
        raise wrong_type(record, name, value, "a str", "write the text as a string")
    try:
        return check_text(name, value)
    except (TokenizerError, TokenizerTypeError) as exc:
        raise DataError(f"{record.where}: {exc}") from None


def string_list(record: Record, name: str, reads: str, example: str) -> list[str]:
    """A non-empty list of str: the words of `tokens`, the `choices`."""
    value = get_field(record, name, reads)
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(word, str) for word in value):
        raise wrong_type(record, name, value, "a non-empty list of str", f"e.g. {example}")
    for word in value:
        text_field(Record({name: word}, record.where), name, reads)  # no lone surrogates
    return list(value)
