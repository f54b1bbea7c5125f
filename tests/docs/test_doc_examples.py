"""The Python examples in docs/ run as written: each document's blocks in order, in one
directory, twice (the second time against the data the first run left)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
def runnable(doc: Path) -> list[str]:
    """The document's Python blocks, but those marked `# not run` (they need a server)."""
    return [b for b in BLOCK.findall(doc.read_text()) if "# not run" not in b]


DOCUMENTS = [d for d in sorted(DOCS.glob("*.md")) if runnable(d)]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=[d.name for d in DOCUMENTS])
def test_examples_run(doc, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = runnable(doc)  # an example that raises fails the test
    for _ in range(2):
        for n, code in enumerate(blocks):
            exec(compile(code, f"{doc.name}#{n}", "exec"), {"__name__": "__doc_example__"})
