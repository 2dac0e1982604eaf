"""A small client of ppu-sim's control API, for PoS test suites written in Python.

    from ppu_sim.testing import ControlClient

    sim = ControlClient("http://127.0.0.1:8080", session="checkout-tests")
    ...  # drive your PoS against sim.interface_url, sending sim.headers
    assert sim.count(operation="confirmTokenPurchase", pathIds={"purchaseId": pid}).count == 1
    assert sim.transaction(pid)["state"] == "confirmed"

Standard library only (no HTTP package to install); every call raises :class:`ControlError`
with the API's ``error``, ``message`` and ``field`` when the simulator refuses it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INTERFACE_PATH = "/prepaidutility/v3"
SESSION_HEADER = "X-PPU-Session"


class ControlError(Exception):
    """The control API refused a call: its status and the error it named."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {error}: {message}" + (f" (field {field})" if field else ""))
        self.status, self.error, self.message, self.field = status, error, message, field


@dataclass(frozen=True)
class Count:
    """How many exchanges matched, and their sequence numbers."""

    count: int
    seqs: list[int]


class ControlClient:
    """The control API of one simulator, working on one session."""

    def __init__(
        self, base_url: str, session: str = "default", admin_token: str | None = None, timeout: float = 30
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.admin_token = admin_token
        self.timeout = timeout

    @property
    def interface_url(self) -> str:
        """Where the PoS under test sends its requests."""
        return self.base_url + INTERFACE_PATH

    @property
    def headers(self) -> dict[str, str]:
        """Headers the PoS must send so its requests land in this session."""
        return {SESSION_HEADER: self.session}

    # -- the journal -------------------------------------------------------------------------

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """Exchanges of the session, oldest first; filters as the API's: operation, meterId,
        purchaseId, status, since, limit (default here: all, up to 10,000), order."""
        return self._call("GET", "/journal", params={"limit": 10_000, **filters})["exchanges"]

    def exchange(self, seq: int) -> dict[str, Any]:
        return self._call("GET", f"/journal/{seq}")

    def clear_journal(self) -> int:
        return self._call("DELETE", "/journal")["cleared"]

    def count(self, **criteria: Any) -> Count:
        """Verification: operation, status, transaction, pathIds, body=[{"path", "equals"|"matches"}]."""
        found = self._call("POST", "/journal/count", body=criteria)
        return Count(found["count"], found["seqs"])

    # -- reconciliation ----------------------------------------------------------------------

    def transactions(self) -> dict[str, Any]:
        """``{"transactions": [...], "totals": {state: n}, "count": n}``."""
        return self._call("GET", "/transactions")

    def transaction(self, purchase_id: str) -> dict[str, Any]:
        """One purchase's row; KeyError when the session has no such purchase."""
        for row in self.transactions()["transactions"]:
            if row["purchaseId"] == purchase_id:
                return row
        raise KeyError(purchase_id)

    def transactions_csv(self) -> str:
        return self._call("GET", "/transactions", params={"format": "csv"}, raw=True)

    # -- scenarios and the session -----------------------------------------------------------

    def scenarios(self) -> list[dict[str, Any]]:
        return self._call("GET", "/scenarios")

    def load_pack(self, pack: str | Path) -> dict[str, Any]:
        """Load a pack (YAML or JSON text, or a file) into the session, above every file."""
        text = pack.read_text("utf-8") if isinstance(pack, Path) else pack
        return self._call("POST", "/scenarios", data=text.encode(), content_type="application/yaml")

    def delete_pack(self, name: str) -> None:
        self._call("DELETE", f"/scenarios/{urllib.parse.quote(name, safe='')}")

    def reset(self) -> None:
        """Forget the session's state, journal, counters and loaded packs."""
        self._call("POST", "/reset")

    def sessions(self) -> dict[str, Any]:
        """Every live session of the simulator (not only this one) and the limits they live under."""
        return self._call("GET", "/sessions", scoped=False)

    # -- the wire ----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        data: bytes | None = None,
        content_type: str = "application/json",
        raw: bool = False,
        scoped: bool = True,
    ) -> Any:
        query = urllib.parse.urlencode({**({"session": self.session} if scoped else {}), **(params or {})})
        if body is not None:
            data = json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}/sim{path}?{query}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.admin_token:
            request.add_header("Authorization", f"Bearer {self.admin_token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                content = response.read()
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read())
            except ValueError:
                payload = {}
            raise ControlError(
                exc.code, payload.get("error", "http-error"), payload.get("message", str(exc)), payload.get("field")
            ) from None
        if raw:
            return content.decode("utf-8")
        return json.loads(content) if content else None
