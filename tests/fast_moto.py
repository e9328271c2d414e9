"""Four of moto 5.2.5's costs taken out, for the in-process tests only; the answers are the same.

Measured on the unit loop's calls (a DynamoDB item of ~26 attributes, images of ~60 kB):
- Its response serializer asks six alias providers (and botocore's `xform_name`) for every
  member of every structure which keys the value might sit under, building the same list again
  each time: about 60 % of a GetItem. For a plain `dict` the list depends only on the picker,
  the key, the member's shape and its parent's name (a dict has no `Meta`, its class name is
  always "dict"), so it is computed once per shape object and kept on it.
- A new item checks DynamoDB's 400 KB limit once per attribute by summing the sizes of all the
  attributes before it (quadratic): about 30 % of a PutItem. The same running total, kept as
  it goes, raises at the same attribute.
- Every S3 request reloads `moto.s3.urls`, in case MOTO_S3_CUSTOM_ENDPOINTS changed; about 8 %
  of a PutObject. The tests never change it, so the module imported once serves.
- Every request lists the methods of its response class with `inspect.getmembers`, to see
  whether the action is one: about 5 % of a GetItem. Classes do not change as tests run, so the
  list is made once per class.

`tests/test_fast_moto.py` checks each against moto's own code. Servers the tests start (moto's,
LocalStack) are not patched. A moto upgrade must re-check these: `install` refuses another
version.
"""

from __future__ import annotations

import functools
from typing import Any

import moto
import moto.s3.urls
from moto.core import responses, serialize, utils
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize
from moto.s3.models import S3Backend

CHECKED_WITH = "5.2.5"
ITEM_SIZE_LIMIT = 405000  # moto's own figure for DynamoDB's 400 KB
_CACHE_ATTRIBUTE = "_fast_moto_possible_keys"

ORIGINAL_GET_VALUE = serialize.ResponseSerializer.get_value
ORIGINAL_ITEM_INIT = Item.__init__
ORIGINAL_S3_URLS = S3Backend._url_module
ORIGINAL_METHOD_NAMES = utils.method_names_from_class


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


def install() -> None:
    if moto.__version__ != CHECKED_WITH:
        raise RuntimeError(
            f"tests/fast_moto.py was checked with moto {CHECKED_WITH}, not {moto.__version__}:"
            " check its four patches against the new code (tests/test_fast_moto.py helps)"
        )
    serialize.ResponseSerializer.get_value = _get_value  # type: ignore[method-assign]
    Item.__init__ = _item_init  # type: ignore[method-assign]
    S3Backend._url_module = property(lambda _backend: moto.s3.urls)  # type: ignore[method-assign,assignment]
    responses.method_names_from_class = _method_names  # type: ignore[attr-defined]


def uninstall() -> None:
    serialize.ResponseSerializer.get_value = ORIGINAL_GET_VALUE  # type: ignore[method-assign]
    Item.__init__ = ORIGINAL_ITEM_INIT  # type: ignore[method-assign]
    S3Backend._url_module = ORIGINAL_S3_URLS  # type: ignore[method-assign]
    responses.method_names_from_class = ORIGINAL_METHOD_NAMES  # type: ignore[attr-defined]
