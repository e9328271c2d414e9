"""What an upload run will do: the files named on the command line (files, directories walked
recursively, glob patterns), and for each file the facts its upload is built from: its digest,
its idempotency key, its type, its title."""

from __future__ import annotations

import glob
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

KEY_PREFIX = "imgsvc1"


@dataclass(frozen=True)
class FileJob:
    """One file to upload."""

    path: Path
    shown: str  # as the user named it (or its directory plus the relative path)
    size: int


@dataclass(frozen=True)
class PlanError:
    """A name on the command line that gives no file to upload."""

    shown: str
    message: str


@dataclass
class Plan:
    jobs: list[FileJob] = field(default_factory=list)
    errors: list[PlanError] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(job.size for job in self.jobs)


def plan(names: Sequence[str]) -> Plan:
    """Every file the names lead to, in order, each once (by its real path)."""
    result, seen = Plan(), set()
    for name in names:
        for item in _expand(name):
            if isinstance(item, PlanError):
                result.errors.append(item)
                continue
            real = os.path.realpath(item.path)
            if real not in seen:
                seen.add(real)
                result.jobs.append(item)
    return result


def _expand(name: str) -> Iterator[FileJob | PlanError]:
    if any(c in name for c in "*?[") and not os.path.lexists(name):
        matches = sorted(glob.glob(name, recursive=True))
        if not matches:
            yield PlanError(name, "no file matches this pattern")
        for match in matches:
            yield from _expand_path(match)
        return
    yield from _expand_path(name)


def _expand_path(name: str) -> Iterator[FileJob | PlanError]:
    try:
        info = os.stat(name)
    except OSError as exc:
        yield PlanError(name, exc.strerror or str(exc))
        return
    if stat.S_ISDIR(info.st_mode):
        yield from _walk(name)
    elif stat.S_ISREG(info.st_mode):
        yield FileJob(Path(name), name, info.st_size)
    else:
        yield PlanError(name, "not a regular file")


def _walk(top: str) -> Iterator[FileJob | PlanError]:
    """A directory's files, recursively, sorted; hidden files and directories are left out
    (`.DS_Store`, `.git`): name one explicitly to upload it."""

    def failed(exc: OSError) -> None:
        errors.append(PlanError(exc.filename or top, exc.strerror or str(exc)))

    errors: list[PlanError] = []
    for root, dirs, files in os.walk(top, onerror=failed):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield from errors
        errors.clear()
        for name in sorted(f for f in files if not f.startswith(".")):
            yield from _expand_path(os.path.join(root, name))
    yield from errors


# ----- facts about one file --------------------------------------------------------------


def file_digest(path: Path) -> str:
    """The hex SHA-256 of the file's bytes (what the service indexes ready images by)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def idempotency_key(user: str, digest: str, generation: int = 0) -> str:
    """The same user sending the same bytes always uses the same key, so a retried or re-run
    upload replays the first one instead of making a second image. `generation` moves on
    only when the image a key made was deleted (the service then refuses the key)."""
    mixed = hashlib.sha256(f"{user}\n{digest}".encode()).hexdigest()
    return f"{KEY_PREFIX}-{mixed}" + (f"-{generation}" if generation else "")


def default_title(path: Path) -> str:
    """The file's name without its extension: `IMG_0042.HEIC` -> `IMG_0042`."""
    return path.stem.strip()[:200] or path.name[:200]


_HEIC = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_AVIF = {b"avif", b"avis"}
_HEIF = {b"mif1", b"msf1", b"miaf", b"mif2"}


def sniff(head: bytes) -> str | None:
    """The image type of a file from its first bytes, as the service tells it (a direct
    upload must declare one; uploads through the API let the service sniff). The service's
    own rules (chalicelib/formats.py) restated: this package is installed without the
    service's code."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return _sniff_isobmff(head)


def _sniff_isobmff(head: bytes) -> str | None:
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[:4], "big")
    if not 16 <= size <= min(len(head), 4096):
        return None
    major = head[8:12]
    brands = {major} | set(_chunks(head[16:size]))
    if major in _AVIF or (brands & _AVIF and not brands & _HEIC):
        return "image/avif"
    if major in _HEIC or brands & _HEIC:
        return "image/heic"
    if brands & _HEIF:
        return "image/heif"
    return None


def _chunks(data: bytes) -> Iterable[bytes]:
    return (data[at : at + 4] for at in range(0, len(data) - 3, 4))


def read_head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)
