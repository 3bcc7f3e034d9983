"""The docs cannot rot: their Python blocks run, and the op and hook references match the code.

Every ```python block of README.md and docs/**/*.md runs, each file's blocks in order in one fresh
interpreter, in a temporary folder holding a `spiece.model` (the shared official vocabulary, or a small one
trained here). A block fenced as ```python backend=torch needs that backend: such blocks form their own test,
marked `doc_backend("torch")`, which runs only when selected with `--doc-backends=torch` (or `all`, or the
ALBERT_DOC_BACKENDS environment variable); unselected ones are deselected and counted in the summary, never
skipped. The core `tests` session runs the untagged blocks; the per-backend sessions select their backend.

`python tests/test_docs.py --write` regenerates the generated sections of docs/ops.md and docs/hooks.md.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
KNOWN_BACKENDS = ("torch", "jax", "tensorflow")


def python_blocks(path: Path, quoted: bool = False) -> list[tuple[str | None, str, int]]:
    """(backend tag or None, code, first line) of every ```python block to run; unknown fence attributes are errors.

    A block fenced ```python file=PATH quotes a module of the repo verbatim (run by that module's own tests);
    with `quoted=True` only those are returned, as (PATH, code, line)."""
    text = path.read_text(encoding="utf-8")
    out = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 2
        backend = source = None
        for attribute in match.group(1).split():
            key, _, value = attribute.partition("=")
            if key == "file" and value:
                source = value
            elif key == "backend" and value in KNOWN_BACKENDS:
                backend = value
            else:
                raise ValueError(f"{path.name} line {line - 1}: unknown fence attribute {attribute!r}; use "
                                 f"backend=<{'|'.join(KNOWN_BACKENDS)}> or file=<path in the repo>")
        if quoted and source:
            out.append((source, match.group(2), line))
        elif not quoted and not source:
            out.append((backend, match.group(2), line))
    return out


@pytest.mark.parametrize("path", [p for p in DOC_FILES if python_blocks(p, quoted=True)],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_quoted_files_match_the_repo(path: Path) -> None:
    for source, code, line in python_blocks(path, quoted=True):
        assert (REPO / source).read_text(encoding="utf-8") == code, f"{path.name} line {line}: {source} changed"


def _cases() -> list:
    cases = []
    for path in DOC_FILES:
        blocks = python_blocks(path)
        name = str(path.relative_to(REPO))
        if any(b is None for b, _, _ in blocks):
            cases.append(pytest.param(path, None, id=name))
        for backend in sorted({b for b, _, _ in blocks if b}):
            cases.append(pytest.param(path, backend, id=f"{name}[{backend}]", marks=pytest.mark.doc_backend(backend)))
    return cases


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    from test_pipelines import vocab_file

    folder = tmp_path_factory.mktemp("docs")
    vocab = vocab_file(folder)
    if vocab.parent != folder:
        (folder / "spiece.model").symlink_to(vocab)
    return folder


@pytest.mark.parametrize(("path", "backend"), _cases())
def test_python_blocks_run(path: Path, backend: str | None, workdir: Path, tmp_path: Path) -> None:
    chosen = [(code, line) for b, code, line in python_blocks(path) if b == backend]
    script = "\n".join(f"# --- {path.name} line {line}\n{code}" for code, line in chosen)
    for item in workdir.iterdir():
        (tmp_path / item.name).symlink_to(item)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{path.name} ({backend or 'core'} blocks) failed:\n{proc.stderr[-3000:]}"


def test_fences_are_known_everywhere() -> None:
    for path in DOC_FILES:
        python_blocks(path)  # raises on unknown attributes, so a typo cannot hide a block


# ------------------------------------------------------------------------------------------- generated sections
def _summary(fn) -> str:
    doc = inspect.getdoc(fn) or ""
    return " ".join(doc.split("\n\n")[0].split()).replace("|", "\\|")


def ops_section() -> str:
    from albert_core.ops import Ops, contract

    lines = []
    for kind in ("primitive", "composite"):
        lines += [f"### {kind.capitalize()}s", "", "| op | signature | semantics |", "| --- | --- | --- |"]
        for name, (k, signature) in contract().items():
            if k == kind:
                params = str(signature).replace("self, ", "").replace("(self)", "()").replace("'", "")
                params = params.replace("|", "\\|")
                lines.append(f"| `{name}` | `{name}{params}` | {_summary(getattr(Ops, name)) or '-'} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def hooks_section() -> str:
    from albert_core import hookspecs

    lines = []
    for name, fn in vars(hookspecs).items():
        if name.startswith("albert_core_") and callable(fn):
            lines += [f"### `{name}{inspect.signature(fn)}`", "", inspect.getdoc(fn) or "", ""]
    return "\n".join(lines).rstrip() + "\n"


GENERATED = {"docs/ops.md": ("ops", ops_section), "docs/hooks.md": ("hooks", hooks_section)}


def _section_span(text: str, key: str) -> tuple[int, int]:
    start, end = f"<!-- generated:{key}:start -->\n", f"<!-- generated:{key}:end -->"
    if start not in text or end not in text:
        raise AssertionError(f"markers {start.strip()} ... {end} are missing")
    return text.index(start) + len(start), text.index(end)


@pytest.mark.parametrize("doc", sorted(GENERATED))
def test_generated_sections_match_the_code(doc: str) -> None:
    key, make = GENERATED[doc]
    text = (REPO / doc).read_text(encoding="utf-8")
    begin, end = _section_span(text, key)
    assert text[begin:end] == make(), f"{doc} is out of date: run `python tests/test_docs.py --write`"


def test_ops_doc_names_every_op_and_hooks_doc_every_hook() -> None:
    from albert_core import hookspecs
    from albert_core.ops import contract

    ops_doc = (REPO / "docs/ops.md").read_text(encoding="utf-8")
    assert [n for n in contract() if f"`{n}(" not in ops_doc] == []
    hooks_doc = (REPO / "docs/hooks.md").read_text(encoding="utf-8")
    specs = [n for n, f in vars(hookspecs).items() if n.startswith("albert_core_") and callable(f)]
    assert specs and [n for n in specs if f"`{n}(registry)`" not in hooks_doc] == []


def write_generated() -> None:
    for doc, (key, make) in GENERATED.items():
        path = REPO / doc
        text = path.read_text(encoding="utf-8")
        begin, end = _section_span(text, key)
        path.write_text(text[:begin] + make() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_generated()
    else:
        sys.exit("usage: python tests/test_docs.py --write")
