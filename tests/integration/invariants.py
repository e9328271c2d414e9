"""What must hold between requests, checked against the bucket and the table themselves."""

from __future__ import annotations

from typing import Any

from tests.conftest import SCAN_ALLOWED
from tests.integration.conftest import Stack

OWNED = ("original", "small", "medium")


def table_items(stack: Stack) -> list[dict[str, Any]]:
    SCAN_ALLOWED.append(True)  # the test inspects; the app never scans
    try:
        return [
            item
            for page in stack.dynamodb.get_paginator("scan").paginate(TableName=stack.table)
            for item in page["Items"]
        ]
    finally:
        SCAN_ALLOWED.pop()


def image_rows(stack: Stack) -> dict[str, dict[str, Any]]:
    return {i["image_id"]["S"]: i for i in table_items(stack) if i["sk"]["S"] == "image"}


def check_store(stack: Stack, *, settled: bool) -> None:
    """No object without its row, no ready row without its objects, tag rows exactly the
    ready images' tags with the image's current attributes. `settled`: nothing is left half
    done either (no pending, rejected or deleting row)."""
    objects = stack.objects()
    items = table_items(stack)
    rows = {i["image_id"]["S"]: i for i in items if i["sk"]["S"] == "image"}
    # What a request that failed half-way may leave for the sweeper; nothing once it ran.
    allowed = {
        "images": ("ready",) if settled else ("ready", "pending", "deleting"),
        "uploads": () if settled else ("pending", "deleting", "ready"),
    }
    for key in objects:
        prefix, image_id = key.split("/")[:2]
        assert image_id in rows, f"orphan object {key}"
        status = rows[image_id]["status"]["S"]
        assert status in allowed[prefix], f"object {key} of a {status} image"
    expected_tags: set[tuple[str, str]] = set()
    for image_id, row in rows.items():
        status = row["status"]["S"]
        if status == "ready":
            for name in OWNED:
                assert f"images/{image_id}/{name}" in objects, f"{image_id} lost {name}"
            expected_tags |= {(t["S"], row["sort_key"]["S"]) for t in row["tags"]["L"]}
        elif settled:
            raise AssertionError(f"{image_id} is still {status}")
    tag_rows = [item for item in items if item["pk"]["S"].startswith("tag#")]
    assert {(i["pk"]["S"][4:], i["sk"]["S"]) for i in tag_rows} == expected_tags
    for item in tag_rows:
        row = rows[item["image_id"]["S"]]
        for name in ("title", "description", "tags", "version", "status"):
            assert item[name] == row[name], f"tag row {item['pk']['S']} has a stale {name}"
