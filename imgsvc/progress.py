"""Showing a run as it goes: on a terminal, Rich progress bars (one per file in flight and one
for the whole run, with files, bytes, rate and ETA); otherwise one plain line per file.
Both print a line as each file finishes. Reporters are called from the upload threads."""

from __future__ import annotations

import threading
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from imgsvc.planning import FileJob
from imgsvc.uploader import FileBar, Outcome

NAME_WIDTH = 32
_STYLES = {"uploaded": "green", "skipped": "yellow", "failed": "red", "downloaded": "green"}


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def short_name(name: str, width: int = NAME_WIDTH) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def outcome_line(outcome: Outcome) -> str:
    """`uploaded  photos/a.jpg  1.2 MiB  <id>` and the like: one line per file."""
    parts = [f"{outcome.status:<9}", outcome.shown]
    if outcome.status == "uploaded":
        parts.append(human_bytes(outcome.size))
    if outcome.image_id:
        parts.append(outcome.image_id)
    if outcome.detail:
        parts.append(outcome.detail if outcome.status != "failed" else f"error: {outcome.detail}")
    return "  ".join(parts)


def styled(line: str, status: str) -> Text:
    """A line in its status's colour (a Text, not print(style=...): with a live display
    showing, that style would spill over the bars redrawn after the line)."""
    return Text(line, style=_STYLES.get(status, ""))


def new_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=None),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}", style="dim"),
        console=console,
        refresh_per_second=8,
        expand=True,
    )


# ----- uploads ---------------------------------------------------------------------------


class _NoBar:
    def sent(self, count: int) -> None:
        return None

    def restart(self) -> None:
        return None


class PlainReporter:
    """Not a terminal: a line per finished file, nothing in between."""

    def __init__(self, out: TextIO, jobs: int):
        self.out, self.jobs = out, jobs
        self._lock = threading.Lock()
        self._closed = False

    def begin(self, files: int, total_bytes: int) -> None:
        at_once = f", {self.jobs} at a time" if files > 1 and self.jobs > 1 else ""
        self._say(f"uploading {plural(files, 'file')} ({human_bytes(total_bytes)}){at_once}")

    def start_file(self, job: FileJob) -> FileBar:
        return _NoBar()

    def finish_file(self, job: FileJob, outcome: Outcome, bar: FileBar) -> None:
        self._say(outcome_line(outcome))

    def end(self) -> None:
        with self._lock:
            self._closed = True  # an interrupted run's stragglers print nothing more
            self.out.flush()

    def _say(self, line: str) -> None:
        with self._lock:
            if not self._closed:
                print(line, file=self.out, flush=True)


class _RichBar:
    """One file's bar; what it sends also moves the run's bar."""

    def __init__(self, reporter: RichReporter, task: TaskID, size: int):
        self.reporter, self.task, self.size, self.count = reporter, task, size, 0

    def sent(self, count: int) -> None:
        delta, self.count = count - self.count, count
        progress = self.reporter.progress
        # Every byte sent, the service is at work (checking, storing, making renditions).
        note = "processing" if count >= self.size else ""
        progress.update(self.task, completed=count, note=note)
        progress.advance(self.reporter.overall, delta)

    def restart(self) -> None:
        self.sent(0)


class RichReporter:
    """A terminal: a bar per file in flight and one for the run."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = new_progress(console)
        self.overall = TaskID(-1)
        self._files = self._done = self._total = 0
        self._lock = threading.Lock()
        self._closed = False

    def begin(self, files: int, total_bytes: int) -> None:
        self._files, self._total = files, total_bytes
        self.overall = self.progress.add_task(self._overall_text(), total=total_bytes, note="")
        self.progress.start()

    def start_file(self, job: FileJob) -> FileBar:
        task = self.progress.add_task(f"  {short_name(job.shown)}", total=job.size or 1, note="")
        return _RichBar(self, task, job.size)

    def finish_file(self, job: FileJob, outcome: Outcome, bar: FileBar) -> None:
        assert isinstance(bar, _RichBar)
        with self._lock:
            if self._closed:  # an interrupted run's stragglers print nothing more
                return
            self._done += 1
            self.progress.remove_task(bar.task)
            if outcome.status == "uploaded":
                self.progress.advance(self.overall, job.size - bar.count)
            else:  # nothing (more) to send for it: out of the run's total
                self._total -= job.size
                self.progress.advance(self.overall, -bar.count)
                self.progress.update(self.overall, total=self._total)
            self.progress.update(self.overall, description=self._overall_text())
            self.progress.console.print(styled(outcome_line(outcome), outcome.status))

    def end(self) -> None:
        with self._lock:
            self._closed = True
            self.progress.stop()

    def _overall_text(self) -> str:
        return f"[bold]{self._done}/{self._files} files[/]"


# ----- downloads -------------------------------------------------------------------------


class DownloadBars:
    """Per-file progress of downloads: a bar on a terminal, a line when each ends."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = new_progress(console) if console.is_terminal else None

    def __enter__(self) -> DownloadBars:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def start(self, name: str, total: int | None) -> TaskID | None:
        if self.progress is None:
            return None
        return self.progress.add_task(f"  {short_name(name)}", total=total, note="")

    def advance(self, task: TaskID | None, count: int) -> None:
        if self.progress is not None and task is not None:
            self.progress.advance(task, count)

    def drop(self, task: TaskID | None) -> None:
        if self.progress is not None and task is not None:
            self.progress.remove_task(task)

    def say(self, line: str, status: str) -> None:
        self.console.print(styled(line, status), soft_wrap=True)
