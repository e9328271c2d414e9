"""tests/fast_moto.py's patches give moto's own answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto.core import serialize
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.s3.models import S3Backend

from tests import fast_moto
from tests.conftest import ALICE, BOB, TABLE, photo
from tests.helpers import body, raw_upload


@pytest.fixture
def both_serializers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every answer moto serialises is serialised twice, by its own code and with the cache,
    and the two must be equal; yields the names of the operations compared."""
    compared: list[str] = []
    serialize_once = serialize.ResponseSerializer.serialize

    def serialize_twice(self: Any, result: Any) -> Any:
        monkeypatch.setattr(serialize.ResponseSerializer, "get_value", fast_moto.ORIGINAL_GET_VALUE)
        expected = serialize_once(self, result)
        monkeypatch.setattr(serialize.ResponseSerializer, "get_value", fast_moto._get_value)
        got = serialize_once(self, result)
        assert got == expected, self.operation_model.name
        compared.append(self.operation_model.name)
        return got

    monkeypatch.setattr(serialize.ResponseSerializer, "serialize", serialize_twice)
    yield compared


def test_the_serializer_answers_as_moto_does(client, aws, both_serializers):
    headers = {**ALICE, "Idempotency-Key": "same-upload"}
    first = body(raw_upload(client, photo(), headers=headers, title="One", tags="a,b"))
    raw_upload(client, photo(), headers=headers, title="One", tags="a,b")  # the retry
    raw_upload(client, photo(seed=2), headers=headers, title="Other")  # same key, other body
    second = body(raw_upload(client, photo("PNG", size=(64, 48)), "image/png", description="Two"))
    image_id = first["image_id"]
    page = body(client.http.get("/images?limit=1", headers=BOB))
    client.http.get(f"/images?limit=1&next_token={page['next_token']}", headers=BOB)
    client.http.get("/images?tag=a", headers=BOB)
    client.http.get(f"/images?sha256={first['sha256']}", headers=BOB)
    client.http.get(f"/images/{image_id}", headers=BOB)
    client.http.request(
        "PATCH",
        f"/images/{image_id}",
        headers={**ALICE, "Content-Type": "application/json"},
        body=b'{"title": "New", "tags": ["c"]}',
    )
    client.http.get(f"/images/{image_id}/thumbnail?size=small", headers=BOB)
    for _ in range(2):  # the second delete finds nothing
        client.http.delete(f"/images/{second['image_id']}", headers=ALICE)
    # Refusals carry their own shapes: a cancelled transaction's reasons, an old item.
    dynamodb = aws["dynamodb"]
    key = {"pk": {"S": "fast-moto"}, "sk": {"S": "row"}}
    dynamodb.put_item(TableName=TABLE, Item={**key, "n": {"N": "1"}, "m": {"M": {"l": {"L": []}}}})
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException) as refused:
        dynamodb.put_item(
            TableName=TABLE,
            Item=key,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert refused.value.response["Item"]["m"] == {"M": {"l": {"L": []}}}
    put = {
        "TableName": TABLE,
        "Item": key,
        "ConditionExpression": "n = :two",
        "ExpressionAttributeValues": {":two": {"N": "2"}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as cancelled:
        dynamodb.transact_write_items(TransactItems=[{"Put": put}])
    [reason] = cancelled.value.response["CancellationReasons"]
    assert reason["Item"]["n"] == {"N": "1"}
    assert set(both_serializers) >= {
        "DeleteItem",
        "DeleteObjects",
        "GetItem",
        "PutItem",
        "Query",
        "TransactWriteItems",
    }


ATTRIBUTE_VALUES: list[dict[str, Any]] = [
    {},
    {"s": {"S": "é" * 10}, "n": {"N": "-12.5"}, "b": {"B": b"\x00\x01"}, "t": {"BOOL": True}},
    {"ss": {"SS": ["a", "bc"]}, "ns": {"NS": ["1", "22"]}, "bs": {"BS": [b"x"]}},
    {"m": {"M": {"l": {"L": [{"S": "x"}, {"NULL": True}, {"M": {}}]}}}},
    # Around moto's limit: each attribute is its name's bytes plus its value's.
    {"a": {"S": "x" * (fast_moto.ITEM_SIZE_LIMIT - 1)}},
    {"a": {"S": "x" * fast_moto.ITEM_SIZE_LIMIT}},
    {"a": {"S": "x" * 200_000}, "b": {"S": "x" * 204_998}},
    {"a": {"S": "x" * 200_000}, "b": {"S": "x" * 204_999}},
    {"a": {"S": "x" * 200_000}, "b": {"S": "x" * 204_999}, "c": {"S": ""}},
]


def _made(init: Any, attrs: dict[str, Any]) -> Any:
    item: Any = Item.__new__(Item)
    try:
        init(item, DynamoType({"S": "h"}), None, attrs)
    except ItemSizeTooLarge:
        return ItemSizeTooLarge
    assert type(item.attrs) is LimitedSizeDict
    return (item.hash_key, item.range_key, list(item.attrs.items()))


@pytest.mark.parametrize("attrs", ATTRIBUTE_VALUES)
def test_an_item_is_made_or_refused_as_moto_does(attrs):
    assert _made(fast_moto._item_init, attrs) == _made(fast_moto.ORIGINAL_ITEM_INIT, attrs)


def test_s3_requests_are_routed_by_the_same_urls():
    reloaded = fast_moto.ORIGINAL_S3_URLS.fget(None)  # type: ignore[attr-defined]
    kept = S3Backend._url_module.fget(None)  # type: ignore[attr-defined]
    assert (kept.url_bases, kept.url_paths) == (reloaded.url_bases, reloaded.url_paths)


def test_the_actions_of_each_response_class_are_those_moto_finds():
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3.responses import S3Response

    for handler in (DynamoHandler, S3Response):
        assert fast_moto._method_names(handler) == fast_moto.ORIGINAL_METHOD_NAMES(handler)
    assert "get_item" in fast_moto._method_names(DynamoHandler)
