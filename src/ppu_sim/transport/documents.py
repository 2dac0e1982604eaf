"""The contract as served: the document as written, as JSON and YAML, gzip-compressed on request.

Connexion's own spec route inlines every ``$ref`` (over a megabyte, and client generators then
make anonymous models) and re-serialises the document on every request. Here each form is
prepared once at start-up, named schemas and ``$ref``s intact, plain and gzip-compressed.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ppu_sim.interface.http_errors import error_body
from ppu_sim.transport.responses import send_response


@dataclass(frozen=True)
class Document:
    media_type: bytes
    plain: bytes
    gzipped: bytes

    @classmethod
    def of(cls, media_type: str, content: bytes) -> Document:
        return cls(media_type.encode(), content, gzip.compress(content, compresslevel=9, mtime=0))

    async def serve(self, scope: Mapping[str, Any], send: Any) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            allowed = ["GET", "HEAD"]
            detail = {"reason": f"{scope['method']} {scope['path']}: not allowed", "allowedMethods": allowed}
            await send_response(send, 405, error_body(scope["path"], 405, detail=detail), [(b"allow", b"GET, HEAD")])
            return
        compressed = accepts_gzip(scope["headers"])
        headers = [(b"vary", b"Accept-Encoding")]
        if compressed:
            headers.append((b"content-encoding", b"gzip"))
        await send_response(send, 200, self.gzipped if compressed else self.plain, headers, self.media_type)


def contract_documents(base_path: str, document: Mapping[str, Any], as_written: str | None) -> dict[str, Document]:
    """``openapi.json`` and ``openapi.yaml`` under the base path; ``as_written`` is the YAML file
    itself (comments and all) when the served document is that file unchanged."""
    yaml_form = as_written if as_written is not None else yaml.safe_dump(dict(document), sort_keys=False)
    return {
        f"{base_path}/openapi.json": Document.of("application/json", json.dumps(document).encode()),
        f"{base_path}/openapi.yaml": Document.of("application/yaml", yaml_form.encode()),
    }


def accepts_gzip(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether Accept-Encoding admits gzip (RFC 9110 §12.5.3: an explicit entry beats ``*``, q=0 refuses)."""
    qualities: dict[bytes, float] = {}
    for name, value in headers:
        if name != b"accept-encoding":
            continue
        for entry in value.split(b","):
            coding, _, params = entry.partition(b";")
            quality = 1.0
            for param in params.split(b";"):
                key, _, number = param.partition(b"=")
                if key.strip().lower() == b"q":
                    try:
                        quality = float(number)
                    except ValueError:
                        quality = 0.0
            qualities[coding.strip().lower()] = quality
    return qualities.get(b"gzip", qualities.get(b"x-gzip", qualities.get(b"*", 0.0))) > 0
