"""GET /images/{id}, /download, /content, /thumbnail and the visibility rules."""

from __future__ import annotations

import hashlib
import io
from urllib.parse import parse_qs, urlparse

import pytest
from PIL import Image as PILImage

from tests.conftest import ALICE, BOB, SESSION, photo
from tests.helpers import assert_error, body, raw_upload, seeded_upload


@pytest.fixture
def jpeg(client, images):
    return seeded_upload(client, images["image/jpeg"], title="Sunset", tags="beach")


def test_get_returns_the_resource_with_gallery_urls(client, jpeg):
    response = client.http.get(f"/images/{jpeg['image_id']}", headers=BOB)
    assert response.status_code == 200
    image = body(response)
    for key in (
        "image_id",
        "user_id",
        "title",
        "description",
        "tags",
        "filename",
        "content_type",
        "size",
        "width",
        "height",
        "sha256",
        "status",
        "created_at",
        "updated_at",
    ):
        assert image[key] == jpeg[key]
    assert set(image["urls"]) == {"original", "small", "medium", "square"}
    # Valid at least 15 minutes, signed at the start of a 5-minute window.
    query = parse_qs(urlparse(image["urls"]["original"]).query)
    assert query["X-Amz-Expires"] == ["1200"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    # Each size in every format it exists in: the base format now, WebP and AVIF once made.
    assert image["sources"] == {
        size: {"jpeg": image["urls"][size]} for size in ("small", "medium", "square")
    }


def test_gallery_urls_fetch_the_bytes(client, jpeg, images):
    s3 = SESSION.client("s3")
    key = urlparse(jpeg["urls"]["original"]).path.split("/", 1)[1]
    got = s3.get_object(Bucket="image-service-local", Key=key)["Body"].read()
    assert got == images["image/jpeg"]


@pytest.mark.parametrize("image_id", ["nope", "0" * 32, "A" * 32, "..", "%2e%2e", "0" * 33])
def test_unknown_or_malformed_id_is_404(client, image_id):
    assert_error(client.http.get(f"/images/{image_id}", headers=ALICE), 404, "not_found")


def test_reading_needs_an_identity(client, jpeg):
    for path in ("", "/download", "/content", "/thumbnail"):
        assert_error(client.http.get(f"/images/{jpeg['image_id']}{path}"), 401)
    assert_error(client.http.get("/images"), 401)


def test_download_gives_a_presigned_url(client, jpeg):
    response = client.http.get(f"/images/{jpeg['image_id']}/download", headers=BOB)
    assert response.status_code == 200
    link = body(response)
    assert link["expires_in"] == 900
    assert link["expires_at"].endswith("Z")
    query = parse_qs(urlparse(link["url"]).query)
    assert query["X-Amz-Expires"] == ["900"]
    assert "response-content-disposition" not in query


def test_download_expiry_and_attachment(client, jpeg):
    path = f"/images/{jpeg['image_id']}/download?expires_in=60&attachment=true"
    link = body(client.http.get(path, headers=ALICE))
    query = parse_qs(urlparse(link["url"]).query)
    assert link["expires_in"] == 60
    assert query["X-Amz-Expires"] == ["60"]
    disposition = query["response-content-disposition"][0]
    assert disposition.startswith("attachment;")
    assert jpeg["filename"] in disposition


@pytest.mark.parametrize("value", ["59", "3601", "abc", "", "1e3"])
def test_download_expiry_out_of_range_is_400(client, jpeg, value):
    response = client.http.get(
        f"/images/{jpeg['image_id']}/download?expires_in={value}", headers=ALICE
    )
    assert_error(response, 400, field="expires_in")


def test_download_redirect(client, jpeg):
    response = client.http.get(f"/images/{jpeg['image_id']}/download?redirect=true", headers=ALICE)
    assert response.status_code == 302
    assert "X-Amz-Signature" in response.headers["Location"]


def test_content_streams_when_accept_matches_and_supports_etags(client, jpeg, images):
    path = f"/images/{jpeg['image_id']}/content"
    response = client.http.get(path, headers={**BOB, "Accept": "image/jpeg, */*;q=0.1"})
    assert response.status_code == 200
    assert response.body == images["image/jpeg"]
    etag = response.headers["ETag"]
    assert etag == f'"{hashlib.sha256(images["image/jpeg"]).hexdigest()}"'
    again = client.http.get(path, headers={**BOB, "Accept": "image/jpeg", "If-None-Match": etag})
    assert again.status_code == 304
    assert again.body == b""
    other = client.http.get(path, headers={**BOB, "Accept": "image/jpeg", "If-None-Match": '"x"'})
    assert other.status_code == 200


@pytest.mark.parametrize("accept", [None, "*/*", "image/png", "text/html,image/jpeg", "image/*"])
def test_content_redirects_unless_the_first_accept_type_is_the_images(client, jpeg, accept):
    headers = {**ALICE, **({"Accept": accept} if accept else {})}
    response = client.http.get(f"/images/{jpeg['image_id']}/content", headers=headers)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert f"images/{jpeg['image_id']}/original" in location
    assert parse_qs(urlparse(location).query)["X-Amz-Expires"] == ["300"]


def test_content_redirects_above_the_stream_limit(client, service, jpeg):
    service.settings = service.settings.__class__(
        **{**service.settings.__dict__, "stream_max_bytes": 1000}
    )
    response = client.http.get(
        f"/images/{jpeg['image_id']}/content", headers={**ALICE, "Accept": "image/jpeg"}
    )
    assert response.status_code == 302


def test_thumbnails(client, images):
    big = photo("JPEG", size=(2000, 1000))
    image = body(raw_upload(client, big))
    assert image["renditions"]["small"] == {
        "content_type": "image/jpeg",
        "width": 320,
        "height": 160,
        "size": image["renditions"]["small"]["size"],
    }
    for size, side in (("small", 320), ("medium", 1080)):
        response = client.http.get(
            f"/images/{image['image_id']}/thumbnail?size={size}",
            headers={**BOB, "Accept": "image/jpeg"},
        )
        assert response.status_code == 200
        with PILImage.open(io.BytesIO(response.body)) as thumb:
            assert max(thumb.size) == side
            assert thumb.size[0] == 2 * thumb.size[1]
        etag = response.headers["ETag"]
        again = client.http.get(
            f"/images/{image['image_id']}/thumbnail?size={size}",
            headers={**BOB, "Accept": "image/jpeg", "If-None-Match": etag},
        )
        assert again.status_code == 304
    redirect = client.http.get(f"/images/{image['image_id']}/thumbnail", headers=BOB)
    assert redirect.status_code == 302
    assert f"images/{image['image_id']}/small" in redirect.headers["Location"]


def test_thumbnail_size_must_be_known(client, jpeg):
    response = client.http.get(f"/images/{jpeg['image_id']}/thumbnail?size=huge", headers=ALICE)
    assert_error(response, 400, field="size")


def test_small_images_are_never_upscaled(client):
    tiny = photo("PNG", size=(40, 30))
    image = body(raw_upload(client, tiny, "image/png"))
    sizes = {name: (r["width"], r["height"]) for name, r in image["renditions"].items()}
    # The square of a small image is the largest square that fits.
    assert sizes == {"small": (40, 30), "medium": (40, 30), "square": (30, 30)}
