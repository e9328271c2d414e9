"""docs/api.md is the API reference of the repository; it must say what /openapi.json says."""

from __future__ import annotations

from scripts.api_reference import REFERENCE, render


def test_the_api_reference_is_generated_from_the_current_openapi_document():
    assert REFERENCE.read_text() == render(), "docs/api.md is out of date: run `make docs`"
