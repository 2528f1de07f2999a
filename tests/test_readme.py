"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    printed = int(capsys.readouterr().out.strip())
    # the parameter count it prints, recounted here: no compressor, no adaLN modulation
    model = namespace["model"]
    counted = [p.numel() for n, p in model.named_parameters() if not n.startswith("compressor.") and ".adaln." not in n]
    expected = sum(counted)
    assert printed == expected > 0
