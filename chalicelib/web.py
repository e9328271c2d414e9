"""The files browsers load from the app itself: the gallery (`GET /`) and its assets, and the
interactive API documentation (`GET /docs`). They live in `chalicelib/web/` (packaged with the
function) and are read once per process. Every asset URL carries its content hash (`?v=`),
so browsers may keep it for a year; pages are revalidated (ETag) on every visit."""

from __future__ import annotations

import hashlib
import html
from functools import cache
from pathlib import Path

import msgspec

WEB = Path(__file__).resolve().parent / "web"
VENDOR = WEB / "vendor"  # Swagger UI's files, vendored by `make swagger-ui` (mk/docs.mk)
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}


class Asset(msgspec.Struct, frozen=True):
    name: str
    data: bytes
    content_type: str
    version: str  # its content hash: the `?v=` of its URL and its ETag

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def _servable(path: Path) -> bool:
    return path.is_file() and path.suffix in TYPES and not path.name.startswith(".")


@cache
def _files() -> dict[str, Path]:
    """Every servable file by its name: chalicelib/web's own first, then vendor/'s."""
    found: dict[str, Path] = {}
    for folder in (VENDOR, WEB):  # the app's own file wins a name both folders have
        if folder.is_dir():
            found.update({p.name: p for p in folder.iterdir() if _servable(p)})
    return found


@cache
def _load(name: str) -> Asset:
    path = _files()[name]
    data = path.read_bytes()
    return Asset(name, data, TYPES[path.suffix], hashlib.sha256(data).hexdigest()[:16])


def asset(name: str) -> Asset | None:
    """A file of chalicelib/web (or of its vendor/ folder) by its name, or None.

    The name is looked up among the files listed once per process, never handed to the file
    system: a request's name may be anything (too long for a path, a `..`, a NUL)."""
    return _load(name) if name in _files() else None


def page(name: str, values: dict[str, str]) -> bytes:
    """An HTML page with each `{{key}}` filled in from `values` (HTML-escaped: the API root
    the request came through, settings the page needs) and each `{{v:asset}}` with that
    asset's version."""
    found = asset(name)
    assert found is not None, name
    text = found.data.decode()
    for part in text.split("{{v:")[1:]:
        referenced = part.split("}}", 1)[0]
        linked = asset(referenced)
        assert linked is not None, referenced
        text = text.replace("{{v:" + referenced + "}}", linked.version)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value))
    return text.encode()
