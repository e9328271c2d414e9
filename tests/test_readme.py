"""The README's configuration table lists every setting the code reads, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from chalicelib.config import settings_doc

README = Path(__file__).resolve().parents[1] / "README.md"
BOTOCORE_OWN = {"AWS_REGION", "AWS_ENDPOINT_URL"}  # read by botocore, documented with ours


def configuration_table() -> dict[str, str]:
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def test_the_configuration_table_lists_every_setting():
    documented = configuration_table()
    declared = {name for name, _, _ in settings_doc()}
    assert set(documented) == declared | BOTOCORE_OWN


def test_the_documented_defaults_are_the_code_s():
    documented = configuration_table()
    for name, value, _ in settings_doc():
        shown = documented[name].replace(",", "").replace("`", "")
        if isinstance(value, bool):
            assert shown == str(int(value)), name
        elif isinstance(value, int) and shown.endswith("MiB"):
            assert value == int(shown.split()[0]) * 1024 * 1024, name
        elif isinstance(value, int):
            assert value == int(shown), name
        else:
            assert shown in (value, "empty" if value == "" else value, "derived"), name
