"""Five of moto 5.2.5's costs taken out, wherever this project runs moto (the in-process mock of
the unit tests, and the emulator `make run`, the integration tests and the benchmarks' HTTP
figures start); the answers are the same.

Measured on the unit loop's calls (a DynamoDB item of ~26 attributes, images of ~60 kB):
- Its response serializer asks six alias providers (and botocore's `xform_name`) for every
  member of every structure which keys the value might sit under, building the same list again
  each time: about 60 % of a GetItem, and most of a Query: a listing page of 100 images cost
  the emulator about 0.7 s. For a plain `dict` the list depends only on the picker, the key,
  the member's shape and its parent's name (a dict has no `Meta`, its class name is always
  "dict"), so it is computed once per shape object and kept on it.
- A new item checks DynamoDB's 400 KB limit once per attribute by summing the sizes of all the
  attributes before it (quadratic): about 30 % of a PutItem. The same running total, kept as
  it goes, raises at the same attribute.
- Every S3 request reloads `moto.s3.urls`, in case MOTO_S3_CUSTOM_ENDPOINTS changed; about 8 %
  of a PutObject. Nothing here changes it, so the module imported once serves.
- Every request lists the methods of its response class with `inspect.getmembers`, to see
  whether the action is one: about 5 % of a GetItem. Classes do not change while moto runs, so
  the list is made once per class.
- A transaction deep-copies every table it names, whole, once per item it writes, to have
  something to roll back to: the cost of every upload grew with the table, and the copies,
  which hold reference cycles, were left to the cyclic collector (7 million objects after 260
  uploads over HTTP, and seconds per full collection). Now the rollback keeps what moto's
  copy would have restored that the transaction can change: the order of the table's
  partitions, and a deep copy of each item it names (with its partition's order). A
  transaction whose tables have a stream, or that moto would refuse before reading a key,
  runs moto's own way.

`tests/test_fast_moto.py` checks each against moto's own code. LocalStack's moto is not
patched. A moto upgrade must re-check these: `install` refuses another version.
"""

from __future__ import annotations

import copy
import functools
from contextvars import ContextVar
from typing import Any

import moto
import moto.s3.urls
from moto.core import responses, serialize, utils
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.exceptions import (
    ItemSizeTooLarge,
    MockValidationException,
    MultipleTransactionsException,
    TransactionCanceledException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize
from moto.s3.models import S3Backend

CHECKED_WITH = "5.2.5"
ITEM_SIZE_LIMIT = 405000  # moto's own figure for DynamoDB's 400 KB
_CACHE_ATTRIBUTE = "_fast_moto_possible_keys"

ORIGINAL_GET_VALUE = serialize.ResponseSerializer.get_value
ORIGINAL_ITEM_INIT = Item.__init__
ORIGINAL_S3_URLS = S3Backend._url_module
ORIGINAL_METHOD_NAMES = utils.method_names_from_class
ORIGINAL_TRANSACT = DynamoDBBackend.transact_write_items
# What moto's transaction raises after rolling back to its copy of the tables.
ROLLED_BACK = (MultipleTransactionsException, MockValidationException, TransactionCanceledException)


@functools.cache
def _method_names(clazz: object) -> list[str]:
    """`method_names_from_class`, once per class."""
    return ORIGINAL_METHOD_NAMES(clazz)


def _get_value(self: Any, value: Any, key: str, shape: Any) -> Any:
    """`ResponseSerializer.get_value`, with a dict's candidate keys computed once per shape."""
    picker = self._value_picker
    if (
        type(value) is not dict
        or shape is None
        or not isinstance(picker, serialize.AttributePicker)
        or picker.response_transformers
    ):
        return ORIGINAL_GET_VALUE(self, value, key, shape)
    parent = getattr(shape, "parent", None)
    cache_key = (type(picker), key, None if parent is None else parent.name)
    cache = shape.__dict__.setdefault(_CACHE_ATTRIBUTE, {})
    if cache_key not in cache:
        context = serialize.AttributePickerContext(obj=value, key=key, shape=shape)
        candidates = tuple(picker.get_possible_keys(context))
        # A candidate with a dot is a path, which moto walks: such members keep its own path.
        cache[cache_key] = None if any("." in c for c in candidates) else candidates
    candidates = cache[cache_key]
    if candidates is None:
        return ORIGINAL_GET_VALUE(self, value, key, shape)
    for candidate in candidates:
        if candidate in value:
            return value[candidate]
    return None


def _item_init(
    self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]
) -> None:
    """`Item.__init__`, keeping the size of the attributes so far instead of summing it again."""
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict()
    size = 0
    for key, value in attrs.items():
        typed = DynamoType(value)
        size += bytesize(key) + typed.size()
        if size > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(self.attrs, key, typed)


_TABLES_KEPT: ContextVar[bool] = ContextVar("fast_moto_tables_kept", default=False)


class _CopyKeepingTables:
    """The `copy` module as moto.dynamodb.models sees it: while a transaction rolls back by
    item, a deep copy of a Table is the table itself (the transaction's own backup, which is
    then never used); every other copy is a real one."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if _TABLES_KEPT.get() and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


class _Rollback:
    """What a transaction can change in the tables it names, as it was before."""

    def __init__(self) -> None:
        self.partitions: dict[str, list[Any]] = {}  # table -> its partition keys, in order
        self.items: dict[tuple[str, Any, Any], Any] = {}  # (table, hash, range) -> Item | None
        self.ranges: dict[tuple[str, Any], list[Any]] = {}  # (table, hash) -> range keys, in order

    def keep(self, name: str, table: Table, hash_key: Any, range_key: Any) -> None:
        self.partitions.setdefault(name, list(table.items))
        partition = table.items.get(hash_key)
        if range_key is None:
            item = partition
        else:
            if partition is not None:
                self.ranges.setdefault((name, hash_key), list(partition))
            item = None if partition is None else partition.get(range_key)
        self.items.setdefault((name, hash_key, range_key), copy.deepcopy(item))

    def restore(self, tables: dict[str, Table]) -> None:
        for (name, hash_key, range_key), item in self.items.items():
            partitions = tables[name].items
            if range_key is None:
                partitions.pop(hash_key, None)
                if item is not None:
                    partitions[hash_key] = item
                continue
            partition = partitions.get(hash_key, {})
            partition.pop(range_key, None)
            if item is not None:
                partition[range_key] = item
            order = self.ranges.get((name, hash_key), [])
            partitions[hash_key] = {r: partition[r] for r in [*order, *partition] if r in partition}
        for name, order in self.partitions.items():
            partitions = tables[name].items
            kept = {h: partitions[h] for h in order if h in partitions}
            partitions.clear()
            partitions.update(kept)


def _rollback_for(tables: dict[str, Table], transact_items: Any) -> _Rollback | None:
    """The rollback of these writes, or None where moto's own way must run: a table with a
    stream (its records roll back too), or a request it refuses before reading the keys."""
    rollback = _Rollback()
    try:
        if len(transact_items) > 100:
            return None
        for entry in transact_items:
            if len(entry) != 1:
                return None
            ((kind, op),) = entry.items()
            table = tables.get(op.get("TableName"))
            if table is None:
                continue
            if table.stream_shard is not None:
                return None
            attrs = op["Item"] if kind == "Put" else op["Key"]
            hash_key = DynamoType(attrs[table.hash_key_attr])
            range_key = DynamoType(attrs[table.range_key_attr]) if table.has_range_key else None
            rollback.keep(op["TableName"], table, hash_key, range_key)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):  # moto refuses it
        return None
    return rollback


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """`transact_write_items`, rolling back by item instead of by copies of whole tables."""
    rollback = _rollback_for(self.tables, transact_items)
    if rollback is None:
        return ORIGINAL_TRANSACT(self, transact_items)
    kept = _TABLES_KEPT.set(True)
    try:
        return ORIGINAL_TRANSACT(self, transact_items)
    except ROLLED_BACK:
        rollback.restore(self.tables)
        raise
    finally:
        _TABLES_KEPT.reset(kept)


def install() -> None:
    if moto.__version__ != CHECKED_WITH:
        raise RuntimeError(
            f"scripts/fast_moto.py was checked with moto {CHECKED_WITH}, not {moto.__version__}:"
            " check its five patches against the new code (tests/test_fast_moto.py helps)"
        )
    serialize.ResponseSerializer.get_value = _get_value  # type: ignore[method-assign]
    Item.__init__ = _item_init  # type: ignore[method-assign]
    S3Backend._url_module = property(lambda _backend: moto.s3.urls)  # type: ignore[method-assign,assignment]
    responses.method_names_from_class = _method_names  # type: ignore[attr-defined]
    setattr(dynamodb_models, "copy", _CopyKeepingTables())  # noqa: B010 (not exported)
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]


def uninstall() -> None:
    serialize.ResponseSerializer.get_value = ORIGINAL_GET_VALUE  # type: ignore[method-assign]
    Item.__init__ = ORIGINAL_ITEM_INIT  # type: ignore[method-assign]
    S3Backend._url_module = ORIGINAL_S3_URLS  # type: ignore[method-assign]
    responses.method_names_from_class = ORIGINAL_METHOD_NAMES  # type: ignore[attr-defined]
    setattr(dynamodb_models, "copy", copy)  # noqa: B010
    DynamoDBBackend.transact_write_items = ORIGINAL_TRANSACT  # type: ignore[method-assign]
