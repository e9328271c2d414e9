"""What the commands print: tables of images, one image's metadata, an upload run's summary,
and JSON for scripts."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from imgsvc.progress import human_bytes
from imgsvc.uploader import Batch, Outcome

Json = dict[str, Any]
Row = dict[str, str]
FAILURES_SHOWN = 20  # rows of the summary's failures table (each has its line above anyway)


def print_json(console: Console, value: Any) -> None:
    """Plain JSON (no colours, no wrapping): for `jq` and friends."""
    console.print(
        json.dumps(value, indent=2, ensure_ascii=False),
        soft_wrap=True,
        markup=False,
        highlight=False,
    )


# Columns of `ls`, most wanted first; a narrow terminal gets the first ones that fit.
_COLUMNS: list[tuple[str, dict[str, Any]]] = [
    ("id", {"no_wrap": True, "style": "cyan", "min_width": 32}),
    ("title", {"overflow": "fold", "min_width": 12}),
    ("tags", {"overflow": "fold", "min_width": 8}),
    ("size", {"justify": "right", "no_wrap": True}),
    ("created", {"no_wrap": True}),
    ("owner", {"overflow": "fold", "min_width": 8}),
    ("type", {"no_wrap": True}),
    ("pixels", {"justify": "right", "no_wrap": True}),
]


def image_table(console: Console, items: Sequence[Json]) -> Table:
    """The images as a table, with as many columns as the console's width holds whole (a
    cell that must not wrap, such as an id, is never cut)."""
    rows = [_cells(image) for image in items]
    samples = _widest_rows(rows)
    count = len(_COLUMNS)
    while count > 3 and not _fits(console, _COLUMNS[:count], samples):
        count -= 1
    return _table(_COLUMNS[:count], rows)


def _widest_rows(rows: list[Row]) -> list[Row]:
    """The rows holding each column's longest cell: they decide the layout."""
    chosen: dict[int, Row] = {}
    for name, _ in _COLUMNS:
        row = max(rows, key=lambda row: len(row[name]))
        chosen[id(row)] = row
    return list(chosen.values())


def _fits(console: Console, columns: list[tuple[str, dict[str, Any]]], rows: list[Row]) -> bool:
    """Whether Rich lays the table out at the console's width with every no-wrap cell whole
    (its layout decides, so it is asked: a trial rendering)."""
    trial = Console(width=console.width, file=io.StringIO(), color_system=None)
    trial.print(_table(columns, rows))
    text = trial.file.getvalue()  # type: ignore[attr-defined]
    kept = [name for name, options in columns if options.get("no_wrap")]
    return all(name in text for name in kept) and all(
        row[name] in text for row in rows for name in kept
    )


def _table(columns: list[tuple[str, dict[str, Any]]], rows: list[Row]) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for name, options in columns:
        table.add_column(name, **options)
    for row in rows:
        table.add_row(*(row[name] for name, _ in columns))
    return table


def _cells(image: Json) -> Row:
    return {
        "id": image["image_id"],
        "title": image.get("title") or "",
        "tags": ", ".join(image.get("tags") or []),
        "size": human_bytes(image.get("size") or 0),
        "created": str(image.get("created_at", ""))[:16].replace("T", " "),
        "owner": image.get("user_id", ""),
        "type": str(image.get("content_type", "")).removeprefix("image/"),
        "pixels": _pixels(image),
    }


def image_details(image: Json) -> Table:
    """One image, field by field."""
    table = Table(show_header=False, show_edge=False, pad_edge=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    rows = [
        ("id", image["image_id"]),
        ("title", image.get("title") or ""),
        ("description", image.get("description") or ""),
        ("tags", ", ".join(image.get("tags") or [])),
        ("owner", image.get("user_id", "")),
        ("file name", image.get("filename", "")),
        ("type", image.get("content_type", "")),
        ("size", f"{human_bytes(image.get('size') or 0)} ({image.get('size')} bytes)"),
        ("pixels", _pixels(image)),
        ("status", image.get("status", "")),
        ("sha256", image.get("sha256") or ""),
        ("created", image.get("created_at", "")),
        ("updated", image.get("updated_at", "")),
    ]
    for name, rendition in sorted((image.get("renditions") or {}).items()):
        size = human_bytes(rendition["size"])
        rows.append(
            (
                f"{name}",
                f"{rendition['width']}x{rendition['height']} "
                f"{rendition['content_type'].removeprefix('image/')}, {size}",
            )
        )
    for name, value in rows:
        table.add_row(name, str(value))
    return table


def _pixels(image: Json) -> str:
    width, height = image.get("width"), image.get("height")
    return f"{width}x{height}" if width and height else ""


# ----- an upload run ---------------------------------------------------------------------


def print_summary(console: Console, batch: Batch, unplanned: Sequence[Outcome]) -> None:
    outcomes = [*unplanned, *batch.outcomes]
    counts: Counter[str] = Counter(outcome.status for outcome in outcomes)
    table = Table(title="Summary", show_edge=False, pad_edge=False, title_justify="left")
    table.add_column("result")
    table.add_column("files", justify="right")
    table.add_column("bytes", justify="right")
    for status, style in (("uploaded", "green"), ("skipped", "yellow"), ("failed", "red")):
        size = sum(o.size for o in outcomes if o.status == status)
        table.add_row(f"[{style}]{status}[/]", str(counts[status]), human_bytes(size))
    console.print(table)
    failures = sorted((o for o in outcomes if o.status == "failed"), key=lambda o: o.shown)
    if failures:
        failed = Table(title="Failed", show_edge=False, pad_edge=False, title_justify="left")
        failed.add_column("file", overflow="fold")
        failed.add_column("error", overflow="fold", ratio=3)
        for outcome in failures[:FAILURES_SHOWN]:
            failed.add_row(outcome.shown, outcome.detail)
        if len(failures) > FAILURES_SHOWN:
            failed.add_row(f"… and {len(failures) - FAILURES_SHOWN} more", "(listed above)")
        console.print(failed)
    console.print(_verdict(batch, counts), highlight=False, soft_wrap=True)


def _verdict(batch: Batch, counts: Counter[str]) -> str:
    uploaded, skipped, failed = counts["uploaded"], counts["skipped"], counts["failed"]
    rate = f" ({uploaded / batch.seconds:.1f} files/s)" if uploaded and batch.seconds else ""
    if batch.interrupted:
        return (
            f"Interrupted after {batch.seconds:.1f} s: {uploaded} uploaded, {skipped} "
            "skipped so far. Run the same command again to resume: what is already there "
            "is skipped."
        )
    if not uploaded and not failed and skipped:
        if skipped == 1:
            return "Nothing to upload: the file is already there."
        return f"Nothing to upload: all {skipped} files are already there."
    text = f"{uploaded} uploaded, {skipped} skipped, {failed} failed in {batch.seconds:.1f} s"
    return text + rate + "."
