"""Write docs/api.md, the API reference, from the app's own OpenAPI document.

    python scripts/api_reference.py          # what `make docs` runs
    python scripts/api_reference.py --check  # exit 1 if docs/api.md is not up to date

A test runs the check, so the reference and `/openapi.json` never drift apart.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REFERENCE = ROOT / "docs" / "api.md"

INTRO = """\
# Image service: API reference

Generated from the app's own OpenAPI document (`GET /openapi.json`) by `make docs`; a test
fails when the two differ, so edit the code (routes, their docstrings, `chalicelib/schemas.py`,
`chalicelib/models.py`), not this file. The README explains the choices behind it.

- **Root.** Paths are relative to the API root: `http://127.0.0.1:8000` under `make run`, the
  stage URL once deployed (`.../api`).
- **Identity.** Every `/images` route needs one: the `X-User-Id` header (1-128 of
  `A-Z a-z 0-9 . _ @ -`) in `AUTH_MODE=header`, the Cognito `sub` claim of an
  `Authorization` ID token in `AUTH_MODE=cognito`. None, or an invalid one, is a 401.
- **Rights.** Anyone identified reads ready images; only the owner changes or deletes one, or
  sees it while it is pending or rejected (others get 403 for a change, 404 for a read).
- **Errors** are `{"error": {"code", "message", "field"?}}` (`field` names the input at
  fault). Unknown query parameters and body fields are a 400; bad input is never a 5xx.
"""


def _type(schema: dict[str, Any]) -> str:
    """A short, readable type for a JSON Schema."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        return " or ".join(_type(option) for option in schema["anyOf"])
    if "enum" in schema:
        return " or ".join(f"`{value}`" for value in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        keys = schema.get("propertyNames", {}).get("enum")
        inner = _type(schema["additionalProperties"]) if schema["additionalProperties"] else "any"
        return f"map of {'/'.join(keys) if keys else 'string'} to {inner}"
    if schema.get("format") == "binary":
        return "bytes"
    return str(kind)


def _limits(schema: dict[str, Any]) -> str:
    parts = []
    for key, text in (
        ("minLength", "at least {} characters"),
        ("maxLength", "at most {} characters"),
        ("minimum", "from {}"),
        ("maximum", "up to {}"),
        ("minItems", "at least {} items"),
        ("maxItems", "at most {} items"),
        ("pattern", "matches `{}`"),
        ("default", "default `{}`"),
    ):
        if key in schema:
            parts.append(text.format(schema[key]))
    return "; ".join(parts)


def _meaning(schema: dict[str, Any]) -> str:
    return "; ".join(part for part in (schema.get("description", ""), _limits(schema)) if part)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or " "


def _operation(path: str, method: str, op: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", "", op["summary"], ""]
    if "description" in op:
        lines += [op["description"], ""]
    lines += ["Identity: " + ("required." if "security" in op else "none needed."), ""]
    params = op.get("parameters", [])
    if params:
        lines += ["| parameter | in | type | required | meaning |", "|---|---|---|---|---|"]
        lines += [
            f"| `{p['name']}` | {p['in']} | {_cell(_type(p['schema']))} | "
            f"{'yes' if p.get('required') else 'no'} | "
            f"{_cell(p.get('description') or _meaning(p['schema']))} |"
            for p in params
        ]
        lines.append("")
    if "requestBody" in op:
        lines += ["| body media type | shape |", "|---|---|"]
        lines += [
            f"| `{media}` | {_cell(_type(content['schema']))} |"
            for media, content in op["requestBody"]["content"].items()
        ]
        lines.append("")
    lines += ["| status | meaning | body |", "|---|---|---|"]
    for status, answer in op["responses"].items():
        content = answer.get("content", {})
        shapes = sorted({_type(c["schema"]) for c in content.values()})
        media = sorted(content)
        body = shapes[0] if len(shapes) == 1 and media == ["application/json"] else ""
        if not body and media:
            body = ", ".join(f"`{m}`" for m in media)
        lines.append(f"| {status} | {_cell(answer['description'])} | {_cell(body)} |")
    return [*lines, ""]


def _shape(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if "description" in schema:
        lines += [schema["description"], ""]
    required = set(schema.get("required", []))
    lines += ["| field | type | always there | meaning |", "|---|---|---|---|"]
    for field, prop in schema.get("properties", {}).items():
        lines.append(
            f"| `{field}` | {_cell(_type(prop))} | {'yes' if field in required else 'no'} | "
            f"{_cell(_meaning(prop))} |"
        )
    return [*lines, ""]


def render() -> str:
    os.environ.setdefault("AUTH_MODE", "header")
    import app as app_module
    from chalicelib import openapi

    document = openapi.document(app_module.app)
    lines = [INTRO, "## Routes", ""]
    for path, item in document["paths"].items():
        for method, op in item.items():
            lines += _operation(path, method, op)
    lines += ["## Shapes", ""]
    for name, schema in sorted(document["components"]["schemas"].items()):
        lines += _shape(name, schema)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that it is current")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = REFERENCE.read_text() if REFERENCE.exists() else ""
        if current != text:
            print("docs/api.md is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(text)
    print(f"wrote {REFERENCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
