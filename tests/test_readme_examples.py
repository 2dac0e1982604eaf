"""The README's curl examples run as written against a live simulator and show what they claim."""

from __future__ import annotations

import json
import re
import subprocess

from tests.support import ROOT, Sim

BLOCK = re.compile(r"```bash\n(.*?)```", re.S)


def example_script(port: int) -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = [b for b in BLOCK.findall(readme) if "$B" in b]
    return "set -e\n" + "\n".join(blocks).replace("127.0.0.1:8080", f"127.0.0.1:{port}")


def test_readme_curl_examples_work(sim: Sim, tmp_path) -> None:
    script = example_script(sim.port).replace("/tmp/", f"{tmp_path}/")
    run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    documents = [json.loads(line) for line in re.findall(r"^\{.*\}$", out, re.M)]
    lookup, purchase, retry = documents[0], documents[1], documents[2]
    assert lookup["minAmount"] and purchase["tokens"][0]["tokenType"] == "STD"
    assert retry["tokens"] == purchase["tokens"] and retry["id"] != purchase["id"]
    assert " 202" in out
    assert any(d.get("errorType") == "FORMAT_ERROR" for d in documents)
