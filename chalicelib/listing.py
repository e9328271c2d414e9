"""One page of a newest-first listing, merged from one or more key-ordered partitions.

A listing reads one DynamoDB partition (a user, a tag) or several (the shards of the global
feed). Each partition is read lazily in small chunks, newest first; the page takes the
newest head among them until it is full. Items a partition returned but the page did not
use are read again by the next page, so the waste is a few items per page, not a factor.

The cursor is the sort key of the last item returned: every partition is ordered by the same
key, so "everything older than the cursor" is the next page for all of them at once.

Filtered listings (title, content type, or a second key) may evaluate many items to find a
few; a per-request budget bounds that, and a page that ran out of budget ends early with a
cursor that still guarantees every match is returned exactly once.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

import msgspec


class Sorted(Protocol):
    @property
    def sort_key(self) -> str: ...


T = TypeVar("T", bound=Sorted)


class Chunk(msgspec.Struct, Generic[T]):
    """What one query returned: matching items, where it stopped, how many it evaluated."""

    items: list[T]
    last_evaluated: str | None
    evaluated: int


# fetch(partition, upper_bound_exclusive, limit) -> Chunk
Fetch = Callable[[str, "str | None", int], Chunk[T]]

MAX_CHUNK = 500


class _Source(msgspec.Struct, Generic[T]):
    partition: str
    upper: str | None
    chunk: int
    pending: deque[T] = msgspec.field(default_factory=deque)
    done: bool = False
    fetched: bool = False

    @property
    def head(self) -> str:
        return self.pending[0].sort_key


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    cursor: str | None  # where the next page starts, None when the listing is complete
    evaluated: int


def read_page(
    fetch: Fetch[T],
    partitions: Sequence[str],
    upper: str | None,
    limit: int,
    *,
    filtered: bool,
    budget: int,
) -> Page[T]:
    """The next `limit` items older than `upper` across `partitions`, newest first."""
    first = math.ceil((limit + 1) / len(partitions)) + (0 if len(partitions) == 1 else 1)
    sources = [_Source[T](p, upper, first) for p in partitions]
    evaluated = 0

    def refill(source: _Source[T]) -> None:
        nonlocal evaluated
        # Every partition is read at least once, so a starving one always has a position.
        while not source.pending and not source.done and (evaluated < budget or not source.fetched):
            got = fetch(source.partition, source.upper, source.chunk)
            source.fetched = True
            evaluated += got.evaluated
            source.pending.extend(got.items)
            source.upper = got.last_evaluated
            source.done = got.last_evaluated is None
            if filtered and len(got.items) < source.chunk:
                source.chunk = min(source.chunk * 2, MAX_CHUNK)

    items: list[T] = []
    while True:
        for source in sources:
            refill(source)
        live = [s for s in sources if s.pending]
        starving = [s.upper for s in sources if not s.pending and not s.done]
        frontier = max((u for u in starving if u is not None), default=None)
        if not live:
            # Complete, or out of budget: resume below the highest unread position.
            return Page(items, frontier, evaluated)
        best = max(live, key=lambda s: s.head)
        if frontier is not None and best.head < frontier:
            return Page(items, frontier, evaluated)
        if len(items) == limit:
            return Page(items, items[-1].sort_key, evaluated)
        items.append(best.pending.popleft())
