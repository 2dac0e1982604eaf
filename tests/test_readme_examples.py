"""The README's examples run as written, in lenient and in --strict mode, and send and show what they claim."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT, Sim

README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"```bash\n(.*?)```", re.S)
ANSWER = re.compile(r"^(\{.*\})(?: (\d{3}))?$", re.M)  # a JSON body, then the status where -w prints it


def example_script(port: int, folder: Path) -> str:
    blocks = [b for b in BLOCK.findall(README) if "$B" in b]
    script = "set -e\n" + "\n".join(blocks)
    return script.replace("127.0.0.1:8080", f"127.0.0.1:{port}").replace("/tmp/", f"{folder}/")


@pytest.mark.parametrize("mode", [(), ("--strict",)], ids=["lenient", "strict"])
def test_readme_curl_examples_work(start_sim: Callable[..., Sim], tmp_path: Path, mode: tuple[str, ...]) -> None:
    server = start_sim(*mode)
    run = subprocess.run(["bash", "-c", example_script(server.port, tmp_path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    answers = [(json.loads(body), status) for body, status in ANSWER.findall(run.stdout)]
    (lookup, _), (sold, _), (retried, _), (confirmed, s1), (again, s2), *refused = answers
    sent = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in ("lookup", "tx", "retry", "conf")}

    # What was sent: a lookup body, and a retry that is the purchase with nothing but its id changed.
    assert set(sent["tx"]) - set(sent["lookup"]) == {"purchaseAmount"}
    assert sent["retry"]["id"] != sent["tx"]["id"]
    assert {**sent["retry"], "id": sent["tx"]["id"]} == sent["tx"]

    # What was answered.
    for answer in (lookup, sold, retried):
        assert "errorType" not in answer, answer
    assert lookup["id"] == sent["lookup"]["id"] and lookup["minAmount"]
    assert sold["id"] == sent["tx"]["id"] and sold["tokens"][0]["tokenType"] == "STD"
    assert retried["id"] == sent["retry"]["id"] and retried["tokens"] == sold["tokens"]
    for key in ("originator", "client", "meter"):
        assert retried[key] == sold[key], key
    assert s1 == s2 == "202"
    assert confirmed == again == {k: v for k, v in sent["conf"].items() if k != "tenders"}

    # The refusals the Errors and Limits sections show, each as its comment says.
    (bad_meter, _), (many, _), (infinite, _), (too_long, status) = refused
    assert bad_meter["errorType"] == "FORMAT_ERROR"
    assert len(many["detailMessage"]["formatErrors"]) == 50 and many["detailMessage"]["formatErrorsTruncated"] is True
    fields = [e["field"] for e in infinite["detailMessage"]["formatErrors"]]
    assert "slipData.messageLines[0].fontWidthScaleFactor" in fields
    assert status == "414" and "errorType" in too_long
    assert "openapi: 3" in run.stdout


def test_readme_states_each_test_meters_amount() -> None:
    pack = yaml.safe_load((ROOT / "scenarios" / "electrum-test-pack.yaml").read_text())
    amounts = {s["match"]["meterId"]: (s["meter"]["minAmount"], s["meter"]["maxAmount"]) for s in pack["scenarios"]}
    documented = {meter: int(amount) for meter, amount in re.findall(r"^\| `(TST\d+)` \| (\d+) \|", README, re.M)}
    assert documented == {meter: low for meter, (low, high) in amounts.items() if low == high}
    assert len(documented) == len(amounts)
