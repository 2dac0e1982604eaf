"""Every scenario pack shown in the docs and the README loads: the examples cannot rot."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT, cli

YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)
PAGES = [ROOT / "README.md", ROOT / "docs" / "scenarios.md"]
EXAMPLES = [
    pytest.param(block, id=f"{page.name}-{n}")
    for page in PAGES
    for n, block in enumerate(YAML_BLOCK.findall(page.read_text()))
    if re.search(r"^scenarios:", block, re.M) and "{...}" not in block  # "{...}" marks an outline
]


def test_the_docs_show_packs() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("block", EXAMPLES)
def test_documented_pack_validates(block: str, tmp_path: Path) -> None:
    pack = tmp_path / "example.yaml"
    pack.write_text(block)
    run = subprocess.run([cli(), "scenarios", "validate", str(pack)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, block + run.stderr
