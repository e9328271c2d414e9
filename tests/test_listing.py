"""The page merge over partitions, tested against a model: every walk returns every match
exactly once, newest first, whatever the shard layout, filter, page size and budget."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.listing import Chunk, read_page
from tests.conftest import examples


@dataclass(frozen=True)
class Item:
    sort_key: str
    keep: bool


def fake_fetch(partitions: dict[str, list[Item]], calls: list[int]):
    """A DynamoDB query: newest first, `limit` items evaluated, filter applied after."""

    def fetch(partition: str, upper: str | None, limit: int) -> Chunk[Item]:
        calls.append(limit)
        older = [
            i
            for i in sorted(partitions[partition], key=lambda i: i.sort_key, reverse=True)
            if upper is None or i.sort_key < upper
        ]
        evaluated = older[:limit]
        more = len(older) > limit
        return Chunk(
            items=[i for i in evaluated if i.keep],
            last_evaluated=evaluated[-1].sort_key if more else None,
            evaluated=len(evaluated),
        )

    return fetch


def walk(partitions, limit, budget, filtered):
    calls: list[int] = []
    fetch = fake_fetch(partitions, calls)
    out, upper, pages = [], None, 0
    while True:
        page = read_page(fetch, list(partitions), upper, limit, filtered=filtered, budget=budget)
        assert len(page.items) <= limit
        out += page.items
        pages += 1
        assert pages < 10_000
        if page.cursor is None:
            return out, calls, pages
        assert upper is None or page.cursor < upper  # always progresses
        upper = page.cursor


@settings(max_examples=examples(300), deadline=None)
@given(
    keys=st.lists(st.integers(0, 10**6), unique=True, max_size=120),
    shards=st.integers(1, 6),
    keep_every=st.integers(1, 7),
    limit=st.integers(1, 30),
    budget=st.integers(1, 60),
)
def test_walks_return_every_match_once_in_order(keys, shards, keep_every, limit, budget):
    filtered = keep_every > 1
    partitions: dict[str, list[Item]] = {f"p{n}": [] for n in range(shards)}
    for n, key in enumerate(keys):
        partitions[f"p{key % shards}"].append(Item(f"{key:08d}", n % keep_every == 0))
    out, _, _ = walk(partitions, limit, budget, filtered)
    expected = sorted(
        (i for p in partitions.values() for i in p if i.keep),
        key=lambda i: i.sort_key,
        reverse=True,
    )
    assert out == expected


def test_unfiltered_single_partition_reads_one_lookahead_item_per_page():
    partitions = {"p": [Item(f"{n:05d}", True) for n in range(1000)]}
    out, calls, pages = walk(partitions, limit=20, budget=1000, filtered=False)
    assert len(out) == 1000 and pages == 50
    assert sum(calls) <= 1000 * 21 / 20 + 21


def test_sharded_feed_reads_little_more_than_it_returns():
    partitions = {f"p{s}": [Item(f"{n:05d}", True) for n in range(s, 2000, 4)] for s in range(4)}
    out, calls, _ = walk(partitions, limit=20, budget=1000, filtered=False)
    assert len(out) == 2000
    assert sum(calls) / 2000 < 1.6


def test_a_selective_filter_stops_at_the_budget_and_resumes():
    partitions = {"p": [Item(f"{n:05d}", n % 500 == 0) for n in range(5000)]}
    calls: list[int] = []
    page = read_page(fake_fetch(partitions, calls), ["p"], None, 20, filtered=True, budget=300)
    assert sum(calls) <= 300 + 64  # the budget bounds the work of one request
    assert page.cursor is not None
    out, _, _ = walk(partitions, limit=20, budget=300, filtered=True)
    assert [i.sort_key for i in out] == [f"{n:05d}" for n in range(4500, -1, -500)]
