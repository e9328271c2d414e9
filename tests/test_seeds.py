"""A seeded upload (conftest's `Seeds`) leaves the store exactly as the upload itself did, and
what a test does to its copy never reaches the next test's."""

from __future__ import annotations

from tests.conftest import ALICE, BUCKET, _reset, store_state
from tests.helpers import body, seeded_upload


def _contents(client, s3, image_id):
    """The resource as the API gives it, and every stored object's bytes and type."""
    image = body(client.http.get(f"/images/{image_id}", headers=ALICE))
    image.pop("urls"), image.pop("sources")  # signed as of the current window
    objects = {}
    for key in store_state()[0]:
        got = s3.get_object(Bucket=BUCKET, Key=key)
        objects[key] = (got["ContentType"], got["Body"].read())
    return image, objects


def test_a_seed_restores_what_its_upload_stored_and_no_test_changes_it(aws, client, images):
    first = seeded_upload(client, images["image/png"], "image/png", title="seed check")
    made = store_state()
    assert made[0] and made[1]
    seen = _contents(client, aws["s3"], first["image_id"])

    for _ in range(2):  # the upload's own objects, then a restored copy, deleted
        assert client.http.delete(f"/images/{first['image_id']}", headers=ALICE).status_code == 204
        assert store_state() != made
        _reset()

        again = seeded_upload(client, images["image/png"], "image/png", title="seed check")
        assert again == first
        assert store_state() == made
        assert _contents(client, aws["s3"], again["image_id"]) == seen
