"""The Python examples in docs/ run as written."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    found = []
    for doc in sorted(DOCS.glob("*.md")):
        for n, code in enumerate(BLOCK.findall(doc.read_text())):
            if "# not run" not in code:
                found.append((f"{doc.name}#{n}", code))
    return found


@pytest.mark.parametrize("name,code", examples(), ids=[n for n, _ in examples()])
def test_example_runs(name, code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, name, "exec"), {"__name__": "__doc_example__"})
    exec(compile(code, name, "exec"), {"__name__": "__doc_example__"})  # and again, reopening
