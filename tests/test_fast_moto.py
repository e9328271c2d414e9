"""scripts/fast_moto.py's patches give moto's own answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto.core import serialize
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.s3.models import S3Backend

from scripts import fast_moto
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


# ----- transactions ------------------------------------------------------------------------


def _put(table: str, pk: str, sk: str | None = None, **extra: Any) -> dict[str, Any]:
    item = {"pk": {"S": pk}, **({"sk": {"S": sk}} if sk else {}), **extra}
    return {"Put": {"TableName": table, "Item": item}}


def _key(pk: str, sk: str | None) -> dict[str, Any]:
    return {"pk": {"S": pk}, **({"sk": {"S": sk}} if sk else {})}


def _delete(table: str, pk: str, sk: str | None = None) -> dict[str, Any]:
    return {"Delete": {"TableName": table, "Key": _key(pk, sk)}}


def _bump(table: str, pk: str, sk: str | None = None) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": _key(pk, sk),
            "UpdateExpression": "SET n = if_not_exists(n, :zero) + :one",
            "ExpressionAttributeValues": {":zero": {"N": "0"}, ":one": {"N": "1"}},
        }
    }


def _refuse(table: str, pk: str, sk: str | None = None) -> dict[str, Any]:
    check = {
        "TableName": table,
        "Key": _key(pk, sk),
        "ConditionExpression": "attribute_exists(nope)",
    }
    return {"ConditionCheck": check}


# Each step names the range-key table "R" and the hash-only one "H"; every step but the
# successes is refused somewhere, after earlier items of it have written.
TRANSACTIONS: list[list[Any]] = [
    [_put("R", "p1", s) for s in ("r1", "r2", "r3")] + [_put("R", "p2", "r1"), _put("H", "a")],
    # partitions in an order of their own (not sorted), which a rollback must keep
    [_put("H", "b"), _put("H", "0"), _put("R", "tag", "x", n={"N": "5"}), _put("R", "a0", "r1")],
    [
        _put("R", "p1", "r4"),
        _bump("R", "p1", "r1"),
        _delete("R", "p2", "r1"),
        _refuse("R", "p1", "r2"),
    ],
    [_refuse("R", "p1", "r1"), _put("R", "p9", "r1"), _delete("H", "b")],
    [_delete("R", "p1", "r2"), _put("R", "p1", "r9"), _bump("R", "p3", "r1"), _refuse("H", "a")],
    [_put("R", "p4", "r1"), _delete("H", "b"), _put("H", "d"), _bump("R", "p4", "r1")],  # twice
    [_put("R", "p5", "r1"), _put("missing-table", "x", "y")],
    [
        _put("R", "p6", "r1"),
        _bump("H", "a"),
        {"Update": {**_bump("H", "0")["Update"], "UpdateExpression": "SET"}},
    ],
    [_put("H", "e"), {**_put("R", "p7", "r1"), **_delete("R", "p1", "r1")}],  # moto's own way
    [
        _delete("R", "p1", "r2"),
        _bump("R", "tag", "x"),
        _put("R", "p1", "r5", n={"N": "9"}),
        _delete("H", "b"),
    ],
    [_put("R", "p1", "r0"), _put("H", "a", n={"N": "2"}), _refuse("R", "tag", "x")],
]


def _named(step: list[Any], names: dict[str, str]) -> list[Any]:
    named = []
    for entry in step:
        named.append(
            {
                kind: {**op, "TableName": names.get(op["TableName"], op["TableName"])}
                for kind, op in entry.items()
            }
        )
    return named


def _state(name: str) -> list[Any]:
    """The table as moto holds it, in its own order: partitions, and items within them."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    table: Any = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[name]
    if not table.has_range_key:
        return [(h.value, item.to_json()) for h, item in table.items.items()]
    return [
        (h.value, [(r.value, i.to_json()) for r, i in part.items()])
        for h, part in table.items.items()
    ]


def _outcome(dynamodb: Any, items: list[Any]) -> Any:
    try:
        dynamodb.transact_write_items(TransactItems=items)
    except dynamodb.exceptions.ClientError as exc:
        return exc.response["Error"], exc.response.get("CancellationReasons")
    return "written"


def test_a_transaction_writes_or_rolls_back_as_moto_does(aws, monkeypatch):
    """Each transaction runs against a pair of tables that hold the same items, moto's own way
    on one and rolling back by item on the other: the answers, every item and the order of
    every partition and item must stay equal, through refusals after writes, new partitions,
    deletes put back and an item named twice."""
    dynamodb = aws["dynamodb"]
    for side in ("moto", "fast"):
        dynamodb.create_table(
            TableName=f"tx-{side}-R",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.create_table(
            TableName=f"tx-{side}-H",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    restores: list[object] = []
    restore = fast_moto._Rollback.restore

    def counted(self: Any, tables: Any) -> None:
        restores.append(self)
        restore(self, tables)

    monkeypatch.setattr(fast_moto._Rollback, "restore", counted)
    outcomes = []
    try:
        for step in TRANSACTIONS:
            seen = {}
            for side, transact in (
                ("moto", fast_moto.ORIGINAL_TRANSACT),
                ("fast", fast_moto._transact_write_items),
            ):
                monkeypatch.setattr(DynamoDBBackend, "transact_write_items", transact)
                names = {"R": f"tx-{side}-R", "H": f"tx-{side}-H"}
                answer = _outcome(dynamodb, _named(step, names))
                seen[side] = (
                    repr(answer).replace(f"tx-{side}-", "tx-"),
                    _state(names["R"]),
                    _state(names["H"]),
                )
            assert seen["fast"] == seen["moto"], step
            outcomes.append(seen["moto"][0])
    finally:
        for side in ("moto", "fast"):
            for kind in "RH":
                dynamodb.delete_table(TableName=f"tx-{side}-{kind}")
    assert outcomes.count("'written'") == 3, outcomes
    # Rolled back by item: the three cancelled and the two naming an item twice (the missing
    # table and the bad expression are refused before the transaction runs; the entry with two
    # operations runs moto's own way).
    assert len(restores) == 5, outcomes
