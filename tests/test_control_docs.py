"""The README's control API example runs as written and shows what it claims."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable

from tests.support import ROOT, Sim

README = (ROOT / "README.md").read_text()
SECTION = README[README.index("## Control API") : README.index("## Layout")]


def test_the_readme_control_api_example_works(start_sim: Callable[..., Sim]) -> None:
    (block,) = re.findall(r"```bash\n(.*?)```", SECTION, re.S)
    server = start_sim()
    script = "set -e\n" + block.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}")
    run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    purchase, retry, journal, count, *csv = run.stdout.splitlines()
    assert (purchase, retry) == ("purchase 504", "retry 202")
    exchanges = json.loads(journal)["exchanges"]
    assert [(e["operation"], e["status"]) for e in exchanges] == [
        ("createTokenPurchaseRequest", 504),
        ("retryPurchaseRequest", 202),
    ]
    assert json.loads(count)["count"] == 1
    header, row = csv
    assert header.startswith("purchaseId,meterId,state") and ",EDGELOST504,retried,5000,5000,710," in row
