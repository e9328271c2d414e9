"""Downloading images: the original (through `/images/{id}/download`'s presigned URL, checked
against the image's SHA-256) or a rendition (`/images/{id}/thumbnail`, in its base format unless
asked otherwise), each to a file named after the image's own file name."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import requests
from rich.progress import TaskID

from imgsvc.client import Client, Json
from imgsvc.errors import CliError
from imgsvc.progress import DownloadBars, human_bytes

CHUNK = 256 * 1024
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heic",
    "image/heif": "heif",
    "image/avif": "avif",
}
# Other extensions a file of each type is saved with (cameras, phones): an original keeps its
# uploaded name's extension when it is one of its type's (`IMG_0001.JPG`, `DSCF0001.MPO`,
# `photo.hif`).
ALSO = {
    "image/jpeg": {"jpeg", "jpe", "jfif", "mpo"},
    "image/heic": {"heif", "hif", "heics"},
    "image/heif": {"heic", "hif", "heifs"},
    "image/avif": {"avifs"},
}


@dataclass(frozen=True)
class Fetched:
    image_id: str
    path: Path | None = None
    size: int = 0
    error: str = ""


class Downloader:
    def __init__(self, client: Client, out_dir: Path, bars: DownloadBars):
        self.client, self.out_dir, self.bars = client, out_dir, bars
        self._taken: set[str] = set()

    def fetch(self, image_id: str, size: str, fmt: str) -> Fetched:
        try:
            image = self.client.get_image(image_id)
            if size == "original":
                response = self.client.open_url(self.client.download_url(image_id))
                return self._save(image, response, "", image["content_type"], image.get("sha256"))
            response = self.client.open_rendition(image_id, size, fmt)
            content_type = response.headers.get("Content-Type", "")
            return self._save(image, response, size, content_type, None)
        except CliError as exc:
            return Fetched(image_id, error=str(exc))

    def _save(
        self,
        image: Json,
        response: requests.Response,
        size: str,
        content_type: str,
        sha: str | None,
    ) -> Fetched:
        with response:
            target = self._target(image, size, content_type, sha)
            total = int(response.headers.get("Content-Length", 0)) or None
            task = self.bars.start(target.name, total)
            try:
                count = self._write(response, target, task, sha)
            finally:
                self.bars.drop(task)
        line = f"downloaded  {image['image_id']}  {target}  {human_bytes(count)}"
        self.bars.say(line, "downloaded")
        return Fetched(image["image_id"], target, count)

    def _write(
        self, response: requests.Response, target: Path, task: TaskID | None, sha: str | None
    ) -> int:
        """The body into `target.part`, then renamed to `target` if its digest is `sha`."""
        partial = target.with_name(target.name + ".part")
        hasher, count = hashlib.sha256(), 0
        try:
            with partial.open("wb") as out:
                for chunk in response.iter_content(CHUNK):
                    out.write(chunk)
                    hasher.update(chunk)
                    count += len(chunk)
                    self.bars.advance(task, len(chunk))
            if sha and hasher.hexdigest() != sha:
                raise CliError(f"the bytes received do not match the image's SHA-256 ({sha[:12]}…)")
            os.replace(partial, target)
        except requests.RequestException as exc:
            raise CliError(f"the download was cut: {exc.__class__.__name__}") from None
        except OSError as exc:
            raise CliError(f"cannot write {partial}: {exc.strerror or exc}") from None
        finally:
            partial.unlink(missing_ok=True)
        return count

    def _target(self, image: Json, size: str, content_type: str, sha: str | None) -> Path:
        """`<name>.<ext>` for the original, `<name>.<size>.<ext>` for a rendition. Another
        image of this run with the same name, or a different file already there under it
        (originals are checked by digest), gets the image id's start in its name."""
        image_id = image["image_id"]
        content_type = content_type.split(";")[0].strip()
        ext = EXTENSIONS.get(content_type, "bin")
        filename = image.get("filename") or ""
        stem = _safe_stem(filename, image_id)
        own = filename.rsplit(".", 1)[-1] if "." in filename else ""
        if not size and own.lower() in {ext, *ALSO.get(content_type, ())}:
            ext = own  # the original as it was named
        suffix = f".{size}.{ext}" if size else f".{ext}"
        name = stem + suffix
        clash = name in self._taken
        if not clash and sha and (self.out_dir / name).exists():
            clash = _sha256(self.out_dir / name) != sha
        if clash:
            name = f"{stem}-{image_id[:8]}{suffix}"
        self._taken.add(name)
        return self.out_dir / name


def _safe_stem(filename: str, image_id: str) -> str:
    """The uploaded file's name without directories or extension, safe on any file system."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    cleaned = "".join("_" if c in '<>:"|?*' or ord(c) < 32 else c for c in stem).strip(" .")
    return cleaned[:200] or image_id


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
