"""Today's formats: HEIC and AVIF in (all three encodings and direct uploads), WebP and AVIF
out (negotiated from Accept, made on first request or after the upload, and kept), square
crops, and gallery URLs a browser can cache."""

from __future__ import annotations

import base64
import io
import json
import time
from urllib.parse import parse_qs, urlparse

import pytest
from PIL import Image as PILImage

from chalicelib import storage
from chalicelib.aws import s3_client
from chalicelib.errors import NotFound
from chalicelib.storage import ImageStore
from tests.conftest import ALICE, BOB, BUCKET, REGION, photo
from tests.corpus import corpus_file
from tests.helpers import (
    BackgroundDelete,
    assert_error,
    begin,
    body,
    complete,
    json_upload,
    multipart_upload,
    raw_upload,
    row_keys,
    seeded_upload,
    stalled_writer,
    stored_keys,
    then_delete,
)
from tests.metadata_probe import probe

CHROMIUM_IMG_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def heic() -> bytes:
    """A real iPhone 13 Pro photo, GPS included (pillow-heif's test images)."""
    return corpus_file("pug.heic").read()


def decoded(data: bytes) -> PILImage.Image:
    import pillow_heif

    pillow_heif.register_heif_opener()
    im = PILImage.open(io.BytesIO(data))
    im.load()
    return im


def thumbnail(client, image_id, accept="*/*", headers=ALICE, **query):
    path = f"/images/{image_id}/thumbnail?" + "&".join(f"{k}={v}" for k, v in query.items())
    return client.http.get(path, headers={**headers, "Accept": accept})


def stored(aws, key: str) -> bytes:
    data: bytes = aws["s3"].get_object(Bucket="image-service-local", Key=key)["Body"].read()
    return data


# ----- HEIC and AVIF in ------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding",
    [pytest.param(e, marks=pytest.mark.slow) for e in ("raw", "multipart", "json", "direct")],
)
def test_an_iphone_heic_uploads_gps_free_with_upright_jpeg_renditions(client, aws, encoding):
    data = heic()
    assert probe(data).has_gps
    if encoding == "raw":
        response = raw_upload(client, data, "image/heic")
    elif encoding == "multipart":
        response = multipart_upload(client, data, "image/heic", filename="IMG_0042.HEIC")
    elif encoding == "json":
        response = json_upload(client, data)
    else:
        image_id, _ = begin(client, data, "image/heic")
        response = complete(client, image_id)
    assert response.status_code in (200, 201), response.body
    image = body(response)
    assert image["content_type"] == "image/heic" and image["status"] == "ready"
    original = stored(aws, f"images/{image['image_id']}/original")
    assert probe(original).findings() == [] and len(original) == len(data)
    assert (image["width"], image["height"]) == decoded(data).size == (4032, 3024)
    for size, box in (("small", (320, 240)), ("medium", (1080, 810)), ("square", (640, 640))):
        rendition = image["renditions"][size]
        assert rendition["content_type"] == "image/jpeg"
        pixels = decoded(stored(aws, f"images/{image['image_id']}/{size}"))
        assert (pixels.format, pixels.size) == ("JPEG", box)


def test_a_rotated_iphone_heic_is_upright():
    from chalicelib.imaging import process

    data = corpus_file("arrow.heic").read()  # iPhone 8 Plus, stored rotated (irot)
    processed = process(data, "image/heic", 64_000_000)
    assert (processed.width, processed.height) == (3024, 4032)
    assert (processed.renditions["medium"].width, processed.renditions["medium"].height) == (
        810,
        1080,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("declared", "status"), [("image/heif", 201), ("image/avif", 415)])
def test_heic_and_heif_are_one_family(client, declared, status):
    response = raw_upload(client, heic(), declared)
    assert response.status_code == status, response.body
    if status == 201:
        assert body(response)["content_type"] == "image/heic"


def test_an_avif_uploads_with_jpeg_renditions_and_one_with_alpha_with_png(client):
    opaque = io.BytesIO()
    PILImage.open(io.BytesIO(smooth((800, 600)))).save(opaque, "AVIF", quality=70, speed=10)
    image = body(raw_upload(client, opaque.getvalue(), "image/avif"))
    assert image["content_type"] == "image/avif"
    assert {r["content_type"] for r in image["renditions"].values()} == {"image/jpeg"}
    clear = PILImage.new("RGBA", (400, 300), (200, 30, 30, 0))
    clear.paste((30, 30, 200, 255), (100, 100, 300, 200))
    transparent = io.BytesIO()
    clear.save(transparent, "AVIF", quality=70, speed=10)
    image = body(raw_upload(client, transparent.getvalue(), "image/avif"))
    assert {r["content_type"] for r in image["renditions"].values()} == {"image/png"}


def test_webp_renditions_are_jpeg_with_a_webp_variant(client, images):
    image = body(raw_upload(client, images["image/webp"], "image/webp"))
    assert image["renditions"]["small"]["content_type"] == "image/jpeg"
    response = thumbnail(client, image["image_id"], accept="image/webp", size="small")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/webp"


# ----- square ------------------------------------------------------------------------------


def test_the_square_of_a_photo_is_640_and_of_a_small_image_the_largest_that_fits(client):
    big = body(raw_upload(client, photo("JPEG", size=(2000, 1000))))
    assert big["renditions"]["square"] | {"size": 0} == {
        "content_type": "image/jpeg",
        "width": 640,
        "height": 640,
        "size": 0,
    }
    small = body(raw_upload(client, photo("PNG", size=(300, 200)), "image/png"))
    assert (small["renditions"]["square"]["width"], small["renditions"]["square"]["height"]) == (
        200,
        200,
    )


# ----- negotiation -------------------------------------------------------------------------


def smooth(size: tuple[int, int]) -> bytes:
    """A JPEG without noise (gradients and shapes): quick to encode in every format."""
    from PIL import ImageDraw

    im = PILImage.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(im)
    draw.ellipse((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), fill=(200, 40, 40))
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def jpeg(client):
    return seeded_upload(client, smooth((1200, 900)), title="Sunset")


@pytest.mark.parametrize(
    ("accept", "fmt", "expected"),
    [
        (CHROMIUM_IMG_ACCEPT, "auto", "image/avif"),
        ("image/webp,image/*;q=0.8", "auto", "image/webp"),
        ("image/jpeg", "auto", "image/jpeg"),
        # Named formats: the same encodes as auto's (make test runs them; make unit, auto).
        pytest.param("image/avif", "avif", "image/avif", marks=pytest.mark.slow),
        pytest.param("image/webp", "webp", "image/webp", marks=pytest.mark.slow),
        ("image/jpeg", "jpeg", "image/jpeg"),
    ],
)
def test_format_is_negotiated_from_accept(client, jpeg, accept, fmt, expected):
    for size in ("small", "medium", "square"):
        response = thumbnail(client, jpeg["image_id"], accept, size=size, format=fmt)
        assert response.status_code == 200, response.body
        assert response.headers["Content-Type"] == expected
        assert response.headers["Vary"] == "Accept"
        with PILImage.open(io.BytesIO(response.body)) as im:
            assert (
                im.size == {"small": (320, 240), "medium": (1080, 810), "square": (640, 640)}[size]
            )


@pytest.mark.parametrize("size", [(1, 1), (2000, 3)])
def test_a_pixel_or_a_sliver_has_every_variant(client, size):
    buffer = io.BytesIO()
    PILImage.new("RGB", size, (120, 30, 200)).save(buffer, "JPEG")
    image = body(raw_upload(client, buffer.getvalue()))
    for name in ("small", "medium", "square"):
        for accept in ("image/avif", "image/webp"):
            response = thumbnail(client, image["image_id"], accept, size=name)
            assert response.status_code == 200, (name, accept, response.body)
            assert response.headers["Content-Type"] == accept


def test_a_type_refused_with_q_0_is_not_chosen(client, jpeg):
    response = thumbnail(client, jpeg["image_id"], "image/avif;q=0, image/webp", size="small")
    # WebP is chosen; the first Accept type is not WebP's, so the bytes come by redirect.
    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path.endswith("/small.webp")


def test_an_accept_that_does_not_start_with_the_type_gets_a_redirect_that_varies(client, jpeg):
    response = thumbnail(client, jpeg["image_id"], "*/*", size="medium")
    assert response.status_code == 302 and response.headers["Vary"] == "Accept"
    assert urlparse(response.headers["Location"]).path.endswith(f"{jpeg['image_id']}/medium")
    response = thumbnail(client, jpeg["image_id"], "text/html,image/avif", size="medium")
    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path.endswith("/medium.avif")


def test_each_variant_has_its_own_etag_and_answers_304(client, jpeg):
    etags = set()
    for accept in ("image/avif", "image/webp", "image/jpeg"):
        first = thumbnail(client, jpeg["image_id"], accept, size="small")
        etag = first.headers["ETag"]
        etags.add(etag)
        again = client.http.get(
            f"/images/{jpeg['image_id']}/thumbnail?size=small",
            headers={**ALICE, "Accept": accept, "If-None-Match": etag},
        )
        assert again.status_code == 304 and again.headers["ETag"] == etag
    assert len(etags) == 3


@pytest.mark.parametrize(("fmt", "field"), [("png", "format"), ("gif", "format"), ("", "format")])
def test_formats_the_image_has_not_are_400(client, jpeg, fmt, field):
    assert_error(thumbnail(client, jpeg["image_id"], size="small", format=fmt), 400, field=field)


def test_a_png_image_offers_png_not_jpeg(client, images):
    image = body(raw_upload(client, images["image/png"], "image/png"))
    assert_error(thumbnail(client, image["image_id"], format="jpeg"), 400, field="format")
    response = thumbnail(client, image["image_id"], "image/png", format="png")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"


def test_a_variant_made_on_request_is_kept_and_listed(client, jpeg):
    image_id = jpeg["image_id"]
    assert jpeg["sources"]["medium"] == {"jpeg": jpeg["urls"]["medium"]}
    assert thumbnail(client, image_id, "image/avif", size="medium").status_code == 200
    assert f"images/{image_id}/medium.avif" in stored_keys()
    got = body(client.http.get(f"/images/{image_id}", headers=BOB))
    assert set(got["sources"]["medium"]) == {"jpeg", "avif"}
    assert urlparse(got["sources"]["medium"]["avif"]).path.endswith("/medium.avif")
    assert set(got["sources"]["small"]) == {"jpeg"}
    listed = body(client.http.get("/images?title=sunset", headers=BOB))["items"][0]
    assert listed["sources"] == got["sources"]


@pytest.mark.slow
def test_make_variants_makes_every_missing_one(client, service, jpeg):
    image_id = jpeg["image_id"]
    thumbnail(client, image_id, "image/webp", size="small")
    service.make_variants(image_id)
    got = body(client.http.get(f"/images/{image_id}", headers=ALICE))
    assert {size: set(formats) for size, formats in got["sources"].items()} == {
        size: {"jpeg", "webp", "avif"} for size in ("small", "medium", "square")
    }
    variants = [key for key in stored_keys() if key.endswith((".webp", ".avif"))]
    assert len(variants) == 6
    for key in variants:
        assert probe(stored({"s3": service.store._client}, key)).findings() == []
    updated = body(client.http.get(f"/images/{image_id}", headers=ALICE))["updated_at"]
    assert updated == jpeg["updated_at"]  # derived data: not a change of the image


def deleted_before_the_first_avif_is_stored(client, service, image_id):
    """`service.store.put` that deletes the image (over the API) just before an AVIF is put:
    in the writer's own thread, so the writer stalls and the DELETE waits its lease out."""
    put = service.store.put

    def delete_then_put(key, data, content_type):
        if key.endswith(".avif") and service.table.get(image_id) is not None:
            assert client.http.delete(f"/images/{image_id}", headers=ALICE).status_code == 204
        put(key, data, content_type)

    return delete_then_put


def test_variants_of_an_image_deleted_meanwhile_leave_nothing(client, service, jpeg, monkeypatch):
    image_id = jpeg["image_id"]
    image = service.table.get(image_id)
    stalled_writer(monkeypatch, service)
    racing = deleted_before_the_first_avif_is_stored(client, service, image_id)
    monkeypatch.setattr(service.store, "put", racing)
    with pytest.raises(NotFound):
        service._make_variants(image, [("small", "avif")])
    assert stored_keys() == [] and row_keys() == []


def test_a_variant_recorded_by_another_request_meanwhile_is_not_stored_again(
    service, jpeg, monkeypatch
):
    """A herd of requests for one new variant: each makes it; one that finds it recorded
    when it is done leases nothing, stores nothing and writes no row."""
    image = service.table.get(jpeg["image_id"])  # as every request of the herd read it
    first = service._make_variants(image, [("small", "avif")])
    puts, saves = [], []
    monkeypatch.setattr(service.store, "put", lambda *args: puts.append(args))
    monkeypatch.setattr(service.table, "save", lambda *args, **kw: saves.append(args))
    assert service._make_variants(image, [("small", "avif")]) == first
    assert puts == [] and saves == []


def test_a_delete_while_variants_are_stored_waits_for_them_then_removes_them(
    client, service, jpeg, monkeypatch
):
    """The variants step leases the row before it stores: a DELETE arriving meanwhile waits
    for it, so no variant outlives the DELETE's 204."""
    image_id = jpeg["image_id"]
    deleting = BackgroundDelete(service, ALICE["X-User-Id"], image_id)
    put = service.store.put

    def put_while_a_delete_arrives(key, *args):
        if key.endswith(".avif") and not deleting.started:
            assert deleting.arrives(), "the DELETE did not wait for the writer"
        put(key, *args)

    monkeypatch.setattr(service.store, "put", put_while_a_delete_arrives)
    service._make_variants(service.table.get(image_id), [("small", "avif")])
    deleting.result()  # 204, once the writer had finished: not after the lease lapsed
    assert deleting.seconds < service.settings.writer_lease_seconds / 2
    assert stored_keys() == [] and row_keys() == []


def test_a_delete_follows_a_herd_of_variant_writers_to_the_end(client, service, jpeg):
    """A DELETE waiting for writers while a herd of them changes the row (each lease is a
    new version) follows the row instead of giving up after five lost races (a 409)."""
    image_id = jpeg["image_id"]
    service._lease(image_id, "ready")  # a writer is storing
    deleting = BackgroundDelete(service, ALICE["X-User-Id"], image_id)
    assert deleting.arrives(moment=0.05)
    for _ in range(8):  # more writers of the herd, each a new version of the row
        service._lease(image_id, "ready")
        time.sleep(0.05)
    row = service.table.get(image_id)
    service.table.save(row, row.changed(lease_until=None))  # the last one is done
    deleting.result()  # 204
    assert stored_keys() == [] and row_keys() == []


def test_variants_of_an_image_deleted_while_they_were_made_are_never_stored(
    client, service, jpeg, monkeypatch
):
    """The step after an upload runs in the background (the SQS consumer deployed): a bucket
    checked right after a DELETE's 204 must not see variants stored and removed again."""
    from chalicelib import imaging

    image_id = jpeg["image_id"]
    image = service.table.get(image_id)

    def delete():
        assert client.http.delete(f"/images/{image_id}", headers=ALICE).status_code == 204

    stored = then_delete(monkeypatch, service, (imaging, "variants"), delete)
    with pytest.raises(NotFound):
        service._make_variants(image, [("small", "webp")])
    assert stored == []
    assert stored_keys() == [] and row_keys() == []


@pytest.mark.slow  # every variant of a 1200x900 photo: over a second
def test_the_step_after_an_upload_takes_a_delete_meanwhile_quietly(
    client, service, jpeg, monkeypatch
):
    # make_variants is what the background thread and the SQS consumer run: an image deleted
    # while its variants were made is a normal race, not an error for the queue to retry.
    image_id = jpeg["image_id"]
    stalled_writer(monkeypatch, service)
    racing = deleted_before_the_first_avif_is_stored(client, service, image_id)
    monkeypatch.setattr(service.store, "put", racing)
    service.make_variants(image_id)  # no exception
    assert stored_keys() == [] and row_keys() == []
    service.make_variants(image_id)  # and a retry of the message finds nothing to do


# ----- cacheable URLs ---------------------------------------------------------------------


def test_the_same_image_listed_twice_gets_the_same_urls(client, jpeg):
    first = body(client.http.get("/images", headers=BOB))["items"][0]
    second = body(client.http.get(f"/images/{jpeg['image_id']}", headers=BOB))
    assert first["urls"] == second["urls"] and first["sources"] == second["sources"]


def test_a_gallery_url_is_signed_once_a_window_and_the_memo_is_bounded(aws, monkeypatch):
    store = ImageStore(aws["s3"], BUCKET)
    signed = []
    sign = store.presigned_get

    def counted(*args, **kwargs):
        signed.append(args)
        return sign(*args, **kwargs)

    monkeypatch.setattr(store, "presigned_get", counted)
    now = [3000 * 300.0 + 7]  # 7 s into a 300-second window
    monkeypatch.setattr(time, "time", lambda: now[0])

    first = store.cacheable_get("images/a/small.jpg", 900, 300)
    now[0] += 292  # its last second
    assert store.cacheable_get("images/a/small.jpg", 900, 300) == first
    assert len(signed) == 1
    now[0] += 1  # the next window: signed again, as of its start
    later = store.cacheable_get("images/a/small.jpg", 900, 300)
    assert len(signed) == 2
    assert parse_qs(urlparse(first).query)["X-Amz-Date"] == ["19700111T100000Z"]
    assert parse_qs(urlparse(later).query)["X-Amz-Date"] == ["19700111T100500Z"]

    monkeypatch.setattr(storage, "MAX_SIGNED_URLS", 3)
    for n in range(7):
        store.cacheable_get(f"images/{n}/small.jpg", 900, 300)
        assert len(store._signed) <= 3


def test_stores_sharing_a_client_ask_for_the_windowed_signer_once(aws, monkeypatch):
    asked = []
    choose = storage._choose_windowed_signer

    def counted(**kwargs):
        asked.append(kwargs["signature_version"])
        return choose(**kwargs)

    monkeypatch.setattr(storage, "_choose_windowed_signer", counted)
    client = s3_client(REGION)
    stores = [ImageStore(client, BUCKET) for _ in range(3)]
    stores[0].presigned_get("images/a/original", 60)  # not windowed: every handler is asked
    assert asked == ["s3v4-query"]


@pytest.mark.slow
def test_an_upload_body_in_json_may_declare_heic(client):
    payload = json.dumps(
        {"image_base64": base64.b64encode(heic()).decode(), "content_type": "image/heic"}
    )
    response = client.http.post(
        "/images", headers={**ALICE, "Content-Type": "application/json"}, body=payload
    )
    assert response.status_code == 201, response.body
