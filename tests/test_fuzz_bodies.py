"""Body fuzzing: JSON and multipart bodies a hostile or broken client may send. Whatever
arrives, the answer is never a 5xx, and a refused request stores nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ALICE, examples, photo, store_state
from tests.helpers import body, multipart, raw_upload

PNG = photo("PNG", size=(12, 9))
FUZZ = settings(
    max_examples=examples(60),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text with everything JSON can carry: lone surrogates, controls, NUL, astral characters.
texts = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
names = (
    st.sampled_from(
        ["title", "description", "tags", "filename", "content_type", "size", "image_base64", "x"]
    )
    | texts
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["1e999", "-1e999", "1E400", "0.0000001e-999"]).map(lambda n: RawNumber(n))
    | texts
)


class RawNumber(str):
    """A number literal written as is (out of range for any float)."""


def dumps(value: Any) -> str:
    """JSON text, with lone surrogates escaped (json.dumps writes them too, as \\udXXX)."""
    if isinstance(value, RawNumber):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        if value and isinstance(value[0], tuple):  # duplicate keys, in order
            return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value) + "}"
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(names, inner, max_size=4)
    | st.lists(st.tuples(names, inner), min_size=2, max_size=4),  # objects with duplicate keys
    max_leaves=12,
)
documents = st.dictionaries(names, values, max_size=6) | st.lists(
    st.tuples(names, values), min_size=2, max_size=5
)
nesting = st.integers(min_value=1, max_value=30_000).map(lambda depth: "[" * depth + "]" * depth)
bodies = (
    documents.map(dumps)
    | values.map(dumps)
    | nesting
    | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
)


def snapshot() -> tuple[frozenset[str], frozenset[str]]:
    return store_state()


def check(response: Any, before: tuple[frozenset[str], frozenset[str]]) -> None:
    assert response.status_code < 500, response.body
    if response.status_code >= 400:
        assert json.loads(response.body)["error"]["code"]
        assert snapshot() == before, "a refused request stored something"


def post_json(client: Any, path: str, text: str, method: str = "POST") -> Any:
    return client.http.request(
        method,
        path,
        headers={**ALICE, "Content-Type": "application/json"},
        body=text.encode("utf-8", "surrogatepass"),
    )


@FUZZ
@given(text=bodies)
def test_upload_json_bodies(client, text):
    before = snapshot()
    check(post_json(client, "/images", text), before)


@FUZZ
@given(doc=documents, image=st.sampled_from([PNG, b"", b"GIF89a", b"\xff\xd8\xff"]))
def test_upload_json_documents_with_an_image(client, doc, image):
    if isinstance(doc, dict):
        doc = {**doc, "image_base64": base64.b64encode(image).decode()}
    before = snapshot()
    check(post_json(client, "/images", dumps(doc)), before)


@FUZZ
@given(text=bodies, method=st.sampled_from(["PATCH", "PUT"]))
def test_update_bodies(client, images, text, method):
    image_id = body(raw_upload(client, images["image/png"], "image/png"))["image_id"]
    before = snapshot()
    check(post_json(client, f"/images/{image_id}", text, method), before)
    got = client.http.get(f"/images/{image_id}", headers=ALICE)
    assert got.status_code == 200


@FUZZ
@given(text=bodies)
def test_direct_upload_start_bodies(client, text):
    before = snapshot()
    check(post_json(client, "/images/uploads", text), before)


@FUZZ
@given(
    width=st.integers(min_value=1, max_value=200),
    newline=st.sampled_from(["\n", "\r\n", " ", "\t", "\\n"]),
    padding=st.booleans(),
    urlsafe=st.booleans(),
)
def test_wrapped_base64(client, width, newline, padding, urlsafe):
    encoded = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(PNG).decode()
    if not padding:
        encoded = encoded.rstrip("=")
    wrapped = newline.join(encoded[i : i + width] for i in range(0, len(encoded), width))
    before = snapshot()
    response = post_json(client, "/images", json.dumps({"image_base64": wrapped}))
    check(response, before)
    if newline != "\\n":  # a literal backslash-n is not whitespace: that one may be refused
        assert response.status_code == 201, response.body


def _valid_multipart() -> tuple[str, bytes]:
    return multipart({"title": "T", "tags": "a,b"}, ("a.png", PNG, "image/png"))


@st.composite
def mutated_multipart(draw: st.DrawFn) -> tuple[str, bytes]:
    content_type, payload = _valid_multipart()
    data = bytearray(payload)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["cut", "flip", "insert", "duplicate", "boundary"]))
        at = draw(st.integers(min_value=0, max_value=max(0, len(data) - 1)))
        if kind == "cut":
            del data[at:]
        elif kind == "flip" and data:
            data[at] ^= draw(st.integers(min_value=1, max_value=255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "duplicate":
            data.extend(payload[: draw(st.integers(min_value=0, max_value=len(payload)))])
        else:
            content_type = draw(
                st.sampled_from(
                    [
                        "multipart/form-data",
                        "multipart/form-data; boundary=",
                        "multipart/form-data; boundary=x",
                        content_type + "; charset=utf-8",
                        content_type.replace("form-data", "mixed"),
                    ]
                )
            )
    return content_type, bytes(data)


@FUZZ
@given(case=mutated_multipart())
def test_mutated_multipart_bodies(client, case):
    content_type, payload = case
    before = snapshot()
    response = client.http.post(
        "/images", headers={**ALICE, "Content-Type": content_type}, body=payload
    )
    check(response, before)
