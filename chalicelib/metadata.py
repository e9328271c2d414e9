"""Image metadata in one DynamoDB table: image rows, tag index rows, and the queries.

Table layout (see README, "Data model"):

| item        | pk                | sk           | GSI keys (only while they apply)         |
|-------------|-------------------|--------------|------------------------------------------|
| image row   | `image#<id>`      | `image`      | by_user: user_pk=`user#<user>`, sort_key |
|             |                   |              | feed: feed_pk=`feed#<shard>`, sort_key   |
|             |                   |              | cleanup: cleanup_pk, cleanup_at          |
| tag row     | `tag#<tag>`       | `<sort_key>` | none (a copy of the image's attributes)  |
| idempotency | `idem#<user>#<k>` | `idem`       | none                                     |

`sort_key` is `<created_at>#<image_id>`. The by_user and feed keys are written only while an
image is ready and the cleanup keys only while it is not, so the indexes are sparse: lists
never see pending images and the sweeper never sees ready ones. Every change of an image and
its tag rows is one TransactWriteItems conditioned on the row's version.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import msgspec
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from boto3.dynamodb.conditions import ConditionBase

from chalicelib.errors import backend_call
from chalicelib.listing import Chunk, Page, read_page
from chalicelib.models import Image, parse_iso
from chalicelib.pagination import query_digest
from chalicelib.validation import fold

IMAGE_SK = "image"
_SWEEP_KEY = {"pk": "sweeper", "sk": "orphans"}
BY_USER, FEED, CLEANUP, BY_SHA256 = "by_user", "feed", "cleanup", "by_sha256"
BY_SOURCE = "by_source_sha256"
LIST_BUDGET = 2000  # items a filtered listing may evaluate per request

_serializer = TypeSerializer()


class StaleImage(Exception):
    """The row changed (or vanished, or appeared) since it was read: re-read and retry."""


class IdempotencyKeyTaken(Exception):
    """A live idempotency record already exists for this user and key."""


class IdempotencyRecord(msgspec.Struct, frozen=True):
    """The first request a user made with an Idempotency-Key, and the image it made."""

    user_id: str
    key: str
    request_hash: str
    image_id: str
    claimed_at: int  # epoch seconds
    expires_at: int  # epoch seconds; DynamoDB TTL removes the record some time after

    @property
    def pk(self) -> str:
        return idempotency_pk(self.user_id, self.key)


# boto3's condition builders, imported on first use: their import is a few ms of every cold
# start, and reads of one image never build a condition.
def Attr(name: str) -> Any:
    from boto3.dynamodb.conditions import Attr as attr

    return attr(name)


def Key(name: str) -> Any:
    from boto3.dynamodb.conditions import Key as key

    return key(name)


def ConditionExpressionBuilder() -> Any:
    from boto3.dynamodb.conditions import ConditionExpressionBuilder as builder

    return builder()


def idempotency_pk(user_id: str, key: str) -> str:
    return f"idem#{user_id}#{hashlib.sha256(key.encode()).hexdigest()}"


def image_pk(image_id: str) -> str:
    return f"image#{image_id}"


def tag_pk(tag: str) -> str:
    return f"tag#{tag}"


def user_pk(user_id: str) -> str:
    return f"user#{user_id}"


def sha_pk(digest: str) -> str:
    return f"sha#{digest}"


def source_pk(digest: str) -> str:
    return f"src#{digest}"


def shard_of(image_id: str, shards: int) -> int:
    return int(image_id[:8], 16) % shards


class _Deserializer(TypeDeserializer):  # type: ignore[misc]
    """DynamoDB numbers as ints: the table stores no fractions."""

    def _deserialize_n(self, value: str) -> int:
        return int(value)


_deserializer = _Deserializer()


def _dump(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def _load(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _attributes(image: Image) -> dict[str, Any]:
    """What the image row and each tag row store: the image itself, plus what the queries
    need (the folded title of the title filter, the sort key)."""
    attributes: dict[str, Any] = msgspec.to_builtins(image)
    attributes.update(title_lc=fold(image.title), sort_key=image.sort_key)
    return attributes


def _image(item: dict[str, Any]) -> Image:
    return msgspec.convert(_load(item), Image)


class ListFilter(msgspec.Struct, frozen=True):
    """The filters of `GET /images`, already validated. Bounds are sort-key strings."""

    user_id: str | None = None
    tag: str | None = None
    title: str | None = None
    content_type: str | None = None
    after: str | None = None  # only items whose sort key is greater
    before: str | None = None  # only items whose sort key is smaller
    sha256: str | None = None
    source_sha256: str | None = None

    def digest(self) -> str:
        return query_digest(
            self.user_id,
            self.tag,
            self.title,
            self.content_type,
            self.after,
            self.before,
            self.sha256,
            self.source_sha256,
        )


class ReadStats(msgspec.Struct):
    """Items DynamoDB evaluated for listings, for the read-amplification benchmark."""

    items_read: int = 0


class ImageTable:
    def __init__(self, client: Any, table_name: str, feed_shards: int, cleanup_shards: int = 4):
        self._client = client
        self._table = table_name
        self._feed_shards = feed_shards
        self._cleanup_shards = cleanup_shards
        self.stats = ReadStats()

    # ----- rows -----------------------------------------------------------------------

    def _row(self, image: Image) -> dict[str, Any]:
        row = _attributes(image)
        row.update(pk=image_pk(image.image_id), sk=IMAGE_SK)
        if image.status == "ready":
            row["user_pk"] = user_pk(image.user_id)
            row["feed_pk"] = f"feed#{shard_of(image.image_id, self._feed_shards)}"
            if image.sha256:
                row["sha_pk"] = sha_pk(image.sha256)
            if image.source_sha256:
                row["source_pk"] = source_pk(image.source_sha256)
        elif image.cleanup_at is not None:
            row["cleanup_pk"] = f"cleanup#{shard_of(image.image_id, self._cleanup_shards)}"
            row["cleanup_at"] = image.cleanup_at
            # DynamoDB TTL is only a backstop a day after the sweeper's turn: it removes
            # the row but not the objects.
            row["expires_at"] = _epoch(image.cleanup_at) + 24 * 3600
        return row

    @staticmethod
    def _tag_rows(image: Image | None) -> dict[str, dict[str, Any]]:
        if image is None or image.status != "ready":
            return {}
        attrs = _attributes(image)
        return {tag: {**attrs, "pk": tag_pk(tag), "sk": image.sort_key} for tag in image.tags}

    @backend_call("DynamoDB")
    def get(self, image_id: str) -> Image | None:
        got = self._client.get_item(
            TableName=self._table,
            Key=_dump({"pk": image_pk(image_id), "sk": IMAGE_SK}),
            ConsistentRead=True,
        )
        return _image(got["Item"]) if "Item" in got else None

    @backend_call("DynamoDB")
    def save(
        self,
        old: Image | None,
        new: Image | None,
        *,
        claim: IdempotencyRecord | None = None,
    ) -> Image | None:
        """Move an image from `old` to `new` (None: absent) with its tag rows, atomically.

        The write is conditioned on the stored version being `old.version` (or on there
        being no row when `old` is None); otherwise StaleImage. With `claim`, the idempotency
        record is written in the same transaction, unless a live one (not expired when this
        one was claimed)
        holds the key: IdempotencyKeyTaken. Returns what was stored.
        """
        if new is not None:
            new = new.changed(version=(old.version + 1) if old else 1)
        if old is None:
            condition: ConditionBase = Attr("pk").not_exists()
        else:
            condition = Attr("version").eq(old.version)
        image_id = (new or old).image_id  # type: ignore[union-attr]
        guard = _condition(condition)
        row_op: dict[str, Any]
        if new is not None:
            row_op = {"Put": {"TableName": self._table, "Item": _dump(self._row(new)), **guard}}
        else:
            key = _dump({"pk": image_pk(image_id), "sk": IMAGE_SK})
            row_op = {"Delete": {"TableName": self._table, "Key": key, **guard}}
        old_tags, new_tags = self._tag_rows(old), self._tag_rows(new)
        ops = [row_op]
        ops += [
            {"Put": {"TableName": self._table, "Item": _dump(row)}} for row in new_tags.values()
        ]
        ops += [
            {"Delete": {"TableName": self._table, "Key": _dump({"pk": row["pk"], "sk": row["sk"]})}}
            for tag, row in old_tags.items()
            if tag not in new_tags or row["sk"] != new_tags[tag]["sk"]
        ]
        if claim is not None:
            ops.append(self._claim_op(claim))
        self._write(ops)
        return new

    def _write(self, ops: list[dict[str, Any]]) -> None:
        try:
            if len(ops) == 1:
                ((kind, params),) = ops[0].items()
                call = self._client.put_item if kind == "Put" else self._client.delete_item
                call(**params)
            else:
                self._client.transact_write_items(TransactItems=ops)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                raise StaleImage() from exc
            if code == "TransactionCanceledException":
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                # Another transaction on the same rows was in flight: as good as a change.
                if reasons and reasons[0] in ("ConditionalCheckFailed", "TransactionConflict"):
                    raise StaleImage() from exc
                if "ConditionalCheckFailed" in reasons:
                    raise IdempotencyKeyTaken() from exc
            raise

    # ----- idempotency records ----------------------------------------------------------

    def _claim_op(self, record: IdempotencyRecord) -> dict[str, Any]:
        item = {
            "pk": record.pk,
            "sk": "idem",
            "request_hash": record.request_hash,
            "image_id": record.image_id,
            "claimed_at": record.claimed_at,
            "expires_at": record.expires_at,
        }
        free = Attr("pk").not_exists() | Attr("expires_at").lt(record.claimed_at)
        return {"Put": {"TableName": self._table, "Item": _dump(item), **_condition(free)}}

    @backend_call("DynamoDB")
    def get_idempotency(self, user_id: str, key: str) -> IdempotencyRecord | None:
        got = self._client.get_item(
            TableName=self._table,
            Key=_dump({"pk": idempotency_pk(user_id, key), "sk": "idem"}),
            ConsistentRead=True,
        )
        if "Item" not in got:
            return None
        item = _load(got["Item"])
        return IdempotencyRecord(
            user_id,
            key,
            item["request_hash"],
            item["image_id"],
            int(item["claimed_at"]),
            int(item["expires_at"]),
        )

    @backend_call("DynamoDB")
    def release(self, record: IdempotencyRecord) -> None:
        self._client.delete_item(TableName=self._table, Key=_dump({"pk": record.pk, "sk": "idem"}))

    # ----- listing --------------------------------------------------------------------

    @backend_call("DynamoDB")
    def list_page(self, query: ListFilter, upper: str | None, limit: int) -> Page[Image]:
        """One page of `query`, older than the sort key `upper` (exclusive)."""
        if query.before is not None and (upper is None or query.before < upper):
            upper = query.before
        filters: list[ConditionBase] = []
        by_digest = None  # copies of one file are few: the digest's own index, the rest filtered
        if query.source_sha256 is not None:
            by_digest = (BY_SOURCE, "source_pk", source_pk(query.source_sha256))
            if query.sha256 is not None:
                filters.append(Attr("sha256").eq(query.sha256))
        elif query.sha256 is not None:
            by_digest = (BY_SHA256, "sha_pk", sha_pk(query.sha256))
        if by_digest is not None:
            index, pk_attr, partition = by_digest
            sk_attr, partitions = "sort_key", [partition]
            if query.user_id is not None:
                filters.append(Attr("user_id").eq(query.user_id))
            if query.tag is not None:
                filters.append(Attr("tags").contains(query.tag))
        elif query.tag is not None:
            index, pk_attr, sk_attr = None, "pk", "sk"
            partitions = [tag_pk(query.tag)]
            if query.user_id is not None:
                filters.append(Attr("user_id").eq(query.user_id))
        elif query.user_id is not None:
            index, pk_attr, sk_attr = BY_USER, "user_pk", "sort_key"
            partitions = [user_pk(query.user_id)]
        else:
            index, pk_attr, sk_attr = FEED, "feed_pk", "sort_key"
            partitions = [f"feed#{n}" for n in range(self._feed_shards)]
        if query.content_type is not None:
            filters.append(Attr("content_type").eq(query.content_type))
        if query.title:
            filters.append(Attr("title_lc").contains(query.title))
        if query.after is not None and upper is not None and query.after >= upper:
            return Page([], None, 0)

        def fetch(partition: str, bound: str | None, chunk: int) -> Chunk[Image]:
            key = Key(pk_attr).eq(partition)
            if bound is not None and query.after is not None:
                key &= Key(sk_attr).between(query.after, _just_below(bound))
            elif bound is not None:
                key &= Key(sk_attr).lt(bound)
            elif query.after is not None:
                key &= Key(sk_attr).gt(query.after)
            return self._query(index, key, filters, chunk)

        page = read_page(
            fetch, partitions, upper, limit, filtered=bool(filters), budget=LIST_BUDGET
        )
        self.stats.items_read += page.evaluated
        return page

    def _query(
        self, index: str | None, key: ConditionBase, filters: list[ConditionBase], limit: int
    ) -> Chunk[Image]:
        builder = ConditionExpressionBuilder()
        key_expr = builder.build_expression(key, is_key_condition=True)
        names = dict(key_expr.attribute_name_placeholders)
        values = dict(key_expr.attribute_value_placeholders)
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": key_expr.condition_expression,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if index is not None:
            params["IndexName"] = index
        else:
            params["ConsistentRead"] = True
        if filters:
            combined = filters[0]
            for extra in filters[1:]:
                combined &= extra
            filter_expr = builder.build_expression(combined)
            params["FilterExpression"] = filter_expr.condition_expression
            names.update(filter_expr.attribute_name_placeholders)
            values.update(filter_expr.attribute_value_placeholders)
        params["ExpressionAttributeNames"] = names
        params["ExpressionAttributeValues"] = _dump(values)
        got = self._client.query(**params)
        last = got.get("LastEvaluatedKey")
        sk_attr = "sk" if index is None else "sort_key"
        return Chunk(
            items=[_image(item) for item in got.get("Items", [])],
            last_evaluated=_load(last)[sk_attr] if last else None,
            evaluated=int(got.get("ScannedCount", 0)),
        )

    # ----- cleanup --------------------------------------------------------------------

    @backend_call("DynamoDB")
    def due_for_cleanup(self, now: str, limit: int) -> list[Image]:
        """Pending, rejected and half-deleted images whose cleanup time has come."""
        due: list[Image] = []
        for shard in range(self._cleanup_shards):
            key = Key("cleanup_pk").eq(f"cleanup#{shard}") & Key("cleanup_at").lte(now)
            builder = ConditionExpressionBuilder()
            expr = builder.build_expression(key, is_key_condition=True)
            got = self._client.query(
                TableName=self._table,
                IndexName=CLEANUP,
                KeyConditionExpression=expr.condition_expression,
                ExpressionAttributeNames=expr.attribute_name_placeholders,
                ExpressionAttributeValues=_dump(expr.attribute_value_placeholders),
                Limit=limit,
            )
            due += [_image(item) for item in got.get("Items", [])]
        return due

    @backend_call("DynamoDB")
    def statuses(self, image_ids: list[str]) -> dict[str, str]:
        """The status of each of these images that has a row (consistent reads, 100 keys a
        request)."""
        found: dict[str, str] = {}
        for start in range(0, len(image_ids), 100):
            keys = [
                _dump({"pk": image_pk(i), "sk": IMAGE_SK}) for i in image_ids[start : start + 100]
            ]
            request: dict[str, Any] = {
                self._table: {
                    "Keys": keys,
                    "ConsistentRead": True,
                    "ProjectionExpression": "image_id, #status",
                    "ExpressionAttributeNames": {"#status": "status"},
                }
            }
            while request:
                got = self._client.batch_get_item(RequestItems=request)
                for item in got["Responses"].get(self._table, []):
                    row = _load(item)
                    found[row["image_id"]] = row["status"]
                request = got.get("UnprocessedKeys") or {}
        return found

    @backend_call("DynamoDB")
    def sweep_position(self) -> str | None:
        """Where the orphan sweep of the bucket stopped last time (an S3 key)."""
        got = self._client.get_item(
            TableName=self._table, Key=_dump(_SWEEP_KEY), ConsistentRead=True
        )
        return _load(got["Item"]).get("position") if "Item" in got else None

    @backend_call("DynamoDB")
    def save_sweep_position(self, position: str | None) -> None:
        self._client.put_item(
            TableName=self._table, Item=_dump({**_SWEEP_KEY, "position": position})
        )

    @backend_call("DynamoDB")
    def ping(self) -> None:
        self._client.get_item(TableName=self._table, Key=_dump({"pk": "health", "sk": "health"}))


def _condition(condition: ConditionBase) -> dict[str, Any]:
    """The ConditionExpression parameters of a write, built by boto3."""
    expr = ConditionExpressionBuilder().build_expression(condition)
    params: dict[str, Any] = {
        "ConditionExpression": expr.condition_expression,
        "ExpressionAttributeNames": expr.attribute_name_placeholders,
    }
    if expr.attribute_value_placeholders:
        params["ExpressionAttributeValues"] = _dump(expr.attribute_value_placeholders)
    return params


def _epoch(iso: str) -> int:
    return int(parse_iso(iso).timestamp())


def _just_below(sort_key: str) -> str:
    """The greatest string below `sort_key` among fixed-width ASCII sort keys (inclusive
    bound for BETWEEN, which has no exclusive form)."""
    return sort_key[:-1] + chr(ord(sort_key[-1]) - 1) + "~"


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable parameters (on-demand). The packaged CloudFormation template declares
    the same keys and indexes; a test keeps the two in step."""

    def gsi(name: str, pk: str, sk: str) -> dict[str, Any]:
        return {
            "IndexName": name,
            "KeySchema": [
                {"AttributeName": pk, "KeyType": "HASH"},
                {"AttributeName": sk, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }

    attributes = [
        "pk",
        "sk",
        "user_pk",
        "feed_pk",
        "sha_pk",
        "source_pk",
        "sort_key",
        "cleanup_pk",
        "cleanup_at",
    ]
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            gsi(BY_USER, "user_pk", "sort_key"),
            gsi(FEED, "feed_pk", "sort_key"),
            gsi(CLEANUP, "cleanup_pk", "cleanup_at"),
            gsi(BY_SHA256, "sha_pk", "sort_key"),
            gsi(BY_SOURCE, "source_pk", "sort_key"),
        ],
    }


TTL_ATTRIBUTE = "expires_at"
