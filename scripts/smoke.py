"""Exercise every route of the contract over HTTP against any deployment.

    .venv/bin/python scripts/smoke.py BASE_URL [--user NAME] [--wait-for-s3-event]
                                       [--wait-for-variants]

BASE_URL is `http://127.0.0.1:8000` for `make run`, the URL `make deploy-local` prints for
LocalStack, or a real stage's invoke URL. One line per check; the exit status is 0 only when
every check passed. Needs only `requests`, Pillow and pillow-heif (all in the project's venv).
`--wait-for-variants` waits for the WebP and AVIF variants the deployment makes after an
upload (background thread or queue) instead of asking for one.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import random
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import requests
from PIL import Image


def make_image(fmt: str, size: tuple[int, int], seed: int) -> bytes:
    rng = random.Random(seed)
    im = Image.linear_gradient("L").resize(size).convert("RGB")
    noise = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    im = Image.blend(im, noise, 0.25)
    if fmt == "GIF":
        im = im.convert("P", palette=Image.Palette.ADAPTIVE)
    buffer = io.BytesIO()
    im.save(buffer, fmt)
    return buffer.getvalue()


class Smoke:
    def __init__(
        self, base: str, user: str, wait_for_s3_event: bool, wait_for_variants: bool = False
    ):
        self.base = base.rstrip("/")
        self.wait_for_variants = wait_for_variants
        self.user = {"X-User-Id": user}
        self.other = {"X-User-Id": f"{user}-other"}
        self.tag = f"smoke{uuid.uuid4().hex[:8]}"
        self.wait_for_s3_event = wait_for_s3_event
        self.http = requests.Session()
        self.failures = 0
        self.jpeg = make_image("JPEG", (1200, 800), 1)
        self.png = make_image("PNG", (300, 200), 2)
        self.gif = make_image("GIF", (160, 120), 3)
        self.webp = make_image("WEBP", (640, 480), 4)
        self.ids: dict[str, str] = {}

    def url(self, path: str) -> str:
        return self.base + path

    def check(self, name: str, fn: Callable[[], object]) -> None:
        started = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a smoke test reports every failure and goes on
            self.failures += 1
            detail = str(exc) or traceback.format_exc(limit=1).strip().splitlines()[-1]
            print(f"FAIL  {name}: {detail}", flush=True)
            return
        print(f"ok    {name} ({(time.perf_counter() - started) * 1000:.0f} ms)", flush=True)

    def expect(self, response: requests.Response, status: int) -> requests.Response:
        if response.status_code != status:
            raise AssertionError(
                f"expected {status}, got {response.status_code}: {response.text[:300]}"
            )
        return response

    def expect_error(self, response: requests.Response, status: int) -> None:
        self.expect(response, status)
        error = response.json()["error"]
        assert error["code"] and error["message"], response.text

    # ----- checks ---------------------------------------------------------------------------

    def health(self) -> None:
        body = self.expect(self.http.get(self.url("/health")), 200).json()
        assert body == {"status": "ok", "checks": {"s3": "ok", "dynamodb": "ok"}}, body

    def openapi(self) -> None:
        doc = self.expect(self.http.get(self.url("/openapi.json")), 200).json()
        assert doc["openapi"].startswith("3.") and "/images" in doc["paths"]

    def upload_raw(self) -> None:
        response = self.expect(
            self.http.post(
                self.url("/images"),
                data=self.jpeg,
                params={"title": "Smoke JPEG", "tags": f"{self.tag},raw", "filename": "smoke.jpg"},
                headers={**self.user, "Content-Type": "image/jpeg"},
            ),
            201,
        )
        image = response.json()
        location = response.headers["Location"]
        assert location.startswith("http") and location.endswith(f"/images/{image['image_id']}")
        followed = self.expect(self.http.get(location, headers=self.user), 200)
        assert followed.json()["image_id"] == image["image_id"], "Location leads elsewhere"
        assert image["sha256"] == hashlib.sha256(self.jpeg).hexdigest(), "not byte-exact"
        assert (image["width"], image["height"], image["status"]) == (1200, 800, "ready")
        self.ids["jpeg"] = image["image_id"]

    def upload_multipart(self) -> None:
        response = self.expect(
            self.http.post(
                self.url("/images"),
                headers=self.user,
                files={"file": ("smoke.png", self.png, "image/png")},
                data={"title": "Smoke PNG", "tags": f"{self.tag},multipart"},
            ),
            201,
        )
        image = response.json()
        assert image["sha256"] == hashlib.sha256(self.png).hexdigest(), "not byte-exact"
        assert image["filename"] == "smoke.png"
        self.ids["png"] = image["image_id"]

    def upload_base64(self) -> None:
        for name, data, ctype in (
            ("gif", self.gif, "image/gif"),
            ("webp", self.webp, "image/webp"),
        ):
            response = self.expect(
                self.http.post(
                    self.url("/images"),
                    headers=self.user,
                    json={
                        "image_base64": base64.b64encode(data).decode(),
                        "content_type": ctype,
                        "tags": [self.tag, "json"],
                        "filename": f"smoke.{name}",
                    },
                ),
                201,
            )
            assert response.json()["sha256"] == hashlib.sha256(data).hexdigest()
            self.ids[name] = response.json()["image_id"]

    def get_one(self) -> None:
        image = self.expect(
            self.http.get(self.url(f"/images/{self.ids['jpeg']}"), headers=self.other), 200
        ).json()
        assert image["title"] == "Smoke JPEG" and image["user_id"] == self.user["X-User-Id"]
        assert set(image["urls"]) == {"original", "small", "medium", "square"}, image["urls"]
        got = self.expect(self.http.get(image["urls"]["medium"]), 200)
        assert got.content[:3] == b"\xff\xd8\xff", "the gallery URL did not give a JPEG"

    def list_by_tag(self) -> None:
        page = self.expect(
            self.http.get(self.url("/images"), params={"tag": self.tag}, headers=self.other), 200
        ).json()
        ids = [item["image_id"] for item in page["items"]]
        expected = [self.ids[k] for k in ("webp", "gif", "png", "jpeg")]
        assert ids == expected, f"{ids} != {expected}"
        assert page["count"] == 4 and page["next_token"] is None

    def list_filters_and_pages(self) -> None:
        seen, token = [], None
        while True:
            params = {"user_id": self.user["X-User-Id"], "limit": "1"}
            if token:
                params["next_token"] = token
            page = self.expect(
                self.http.get(self.url("/images"), params=params, headers=self.user), 200
            ).json()
            seen += [item["image_id"] for item in page["items"]]
            token = page["next_token"]
            if not token:
                break
        assert set(self.ids.values()) <= set(seen) and len(seen) == len(set(seen))
        png = self.http.get(
            self.url("/images"),
            headers=self.user,
            params={"tag": self.tag, "content_type": "image/png", "title": "smoke"},
        ).json()
        assert [i["image_id"] for i in png["items"]] == [self.ids["png"]]
        later = self.http.get(
            self.url("/images"),
            headers=self.user,
            params={"tag": self.tag, "created_after": "2100-01-01"},
        ).json()
        assert later["items"] == []

    def content_streamed(self) -> None:
        response = self.expect(
            self.http.get(
                self.url(f"/images/{self.ids['jpeg']}/content"),
                headers={**self.other, "Accept": "image/jpeg"},
                allow_redirects=False,
            ),
            200,
        )
        assert response.content == self.jpeg, "streamed bytes differ"
        assert response.headers["Content-Type"] == "image/jpeg"
        again = self.http.get(
            self.url(f"/images/{self.ids['jpeg']}/content"),
            headers={
                **self.other,
                "Accept": "image/jpeg",
                "If-None-Match": response.headers["ETag"],
            },
        )
        self.expect(again, 304)

    def content_redirected(self) -> None:
        first = self.expect(
            self.http.get(
                self.url(f"/images/{self.ids['png']}/content"),
                headers=self.other,
                allow_redirects=False,
            ),
            302,
        )
        followed = self.http.get(first.headers["Location"])
        assert followed.content == self.png, "redirected bytes differ"

    def download(self) -> None:
        link = self.expect(
            self.http.get(
                self.url(f"/images/{self.ids['webp']}/download"),
                params={"expires_in": "120", "attachment": "true"},
                headers=self.other,
            ),
            200,
        ).json()
        assert link["expires_in"] == 120
        got = self.http.get(link["url"])
        assert got.content == self.webp, "downloaded bytes differ"
        redirect = self.http.get(
            self.url(f"/images/{self.ids['webp']}/download"),
            params={"redirect": "true"},
            headers=self.other,
            allow_redirects=False,
        )
        self.expect(redirect, 302)

    def thumbnails(self) -> None:
        small = self.expect(
            self.http.get(
                self.url(f"/images/{self.ids['jpeg']}/thumbnail"),
                params={"size": "small"},
                headers={**self.other, "Accept": "image/jpeg"},
                allow_redirects=False,
            ),
            200,
        )
        with Image.open(io.BytesIO(small.content)) as im:
            assert im.size == (320, 213), im.size
        medium = self.http.get(
            self.url(f"/images/{self.ids['jpeg']}/thumbnail"),
            params={"size": "medium"},
            headers=self.other,
        )
        with Image.open(io.BytesIO(medium.content)) as im:
            assert im.size == (1080, 720), im.size

    def heic(self) -> None:
        import pillow_heif

        buffer = io.BytesIO()
        pixels = Image.open(io.BytesIO(make_image("PNG", (1600, 1200), 6))).convert("RGB")
        pillow_heif.from_pillow(pixels).save(buffer, quality=80)
        response = self.expect(
            self.http.post(
                self.url("/images"),
                data=buffer.getvalue(),
                params={"tags": self.tag},
                headers={**self.user, "Content-Type": "image/heic"},
            ),
            201,
        )
        image = response.json()
        assert image["content_type"] == "image/heic", image["content_type"]
        assert {r["content_type"] for r in image["renditions"].values()} == {"image/jpeg"}
        square = self.http.get(
            self.url(f"/images/{image['image_id']}/thumbnail"),
            params={"size": "square"},
            headers={**self.other, "Accept": "image/jpeg"},
        )
        with Image.open(io.BytesIO(self.expect(square, 200).content)) as im:
            assert (im.format, im.size) == ("JPEG", (640, 640)), (im.format, im.size)
        self.ids["heic"] = image["image_id"]

    def modern_formats(self) -> None:
        image_id = self.ids["jpeg"]
        path = self.url(f"/images/{image_id}")
        if self.wait_for_variants:
            deadline = time.monotonic() + 120
            while True:
                sources = self.http.get(path, headers=self.user).json()["sources"]
                if all(set(formats) == {"jpeg", "webp", "avif"} for formats in sources.values()):
                    break
                assert time.monotonic() < deadline, f"variants not made after 120 s: {sources}"
                time.sleep(1)
        avif = self.expect(
            self.http.get(
                path + "/thumbnail",
                params={"size": "medium"},
                headers={**self.other, "Accept": "image/avif,image/webp,*/*"},
            ),
            200,
        )
        assert avif.headers["Content-Type"] == "image/avif" and "Accept" in avif.headers["Vary"]
        sources = self.http.get(path, headers=self.user).json()["sources"]
        assert "avif" in sources["medium"], sources
        fetched = self.expect(self.http.get(sources["medium"]["avif"]), 200)
        assert fetched.content == avif.content, "the listed AVIF is not the served one"
        again = self.http.get(path, headers=self.user).json()["sources"]
        assert again == sources, "gallery URLs changed within their window"

    def update(self) -> None:
        path = self.url(f"/images/{self.ids['jpeg']}")
        patched = self.expect(
            self.http.patch(path, headers=self.user, json={"title": "Renamed"}), 200
        ).json()
        assert patched["title"] == "Renamed"
        put = self.expect(
            self.http.put(path, headers=self.user, json={"tags": ["moved", "x"]}), 200
        ).json()
        assert put["tags"] == ["moved", "x"]
        page = self.http.get(
            self.url("/images"), params={"tag": self.tag}, headers=self.user
        ).json()
        assert self.ids["jpeg"] not in [i["image_id"] for i in page["items"]]

    def direct_upload(self) -> None:
        data = make_image("JPEG", (2400, 1600), 5)
        started = self.expect(
            self.http.post(
                self.url("/images/uploads"),
                headers=self.user,
                json={"content_type": "image/jpeg", "size": len(data), "tags": [self.tag]},
            ),
            201,
        ).json()
        assert started["image"]["status"] == "pending"
        upload = started["upload"]
        s3 = self.http.post(
            upload["url"], data=upload["fields"], files={"file": ("big.jpg", data, "image/jpeg")}
        )
        assert s3.status_code in (200, 201, 204), f"S3 said {s3.status_code}: {s3.text[:200]}"
        image_id = started["image"]["image_id"]
        path = self.url(f"/images/{image_id}")
        if self.wait_for_s3_event:
            deadline = time.monotonic() + 60
            while (status := self.http.get(path, headers=self.user).json()["status"]) != "ready":
                assert time.monotonic() < deadline, f"still {status} after 60 s"
                time.sleep(0.5)
        else:
            done = self.expect(self.http.post(path + "/complete", headers=self.user), 200)
            assert done.json()["status"] == "ready"
        again = self.expect(self.http.post(path + "/complete", headers=self.user), 200)
        assert again.json()["sha256"] == hashlib.sha256(data).hexdigest()
        self.ids["direct"] = image_id

    def errors(self) -> None:
        jpeg = self.ids["jpeg"]
        self.expect_error(self.http.get(self.url("/images")), 401)
        self.expect_error(
            self.http.get(self.url("/images"), headers={"X-User-Id": "no spaces"}), 401
        )
        self.expect_error(
            self.http.get(self.url("/images"), params={"limit": "0"}, headers=self.user), 400
        )
        self.expect_error(
            self.http.get(self.url("/images"), params={"next_token": "forged"}, headers=self.user),
            400,
        )
        self.expect_error(self.http.get(self.url("/images/" + "0" * 32), headers=self.user), 404)
        self.expect_error(self.http.get(self.url("/images/not-an-id"), headers=self.user), 404)
        self.expect_error(
            self.http.patch(
                self.url(f"/images/{jpeg}"), headers=self.other, json={"title": "mine now"}
            ),
            403,
        )
        self.expect_error(self.http.delete(self.url(f"/images/{jpeg}"), headers=self.other), 403)
        self.expect_error(
            self.http.patch(self.url(f"/images/{jpeg}"), headers=self.user, json={"owner": "x"}),
            400,
        )
        self.expect_error(
            self.http.post(
                self.url("/images"),
                data=self.png,
                headers={**self.user, "Content-Type": "image/jpeg"},
            ),
            415,
        )
        self.expect_error(
            self.http.post(
                self.url("/images"), data=b"", headers={**self.user, "Content-Type": "image/jpeg"}
            ),
            400,
        )
        self.expect_error(
            self.http.post(
                self.url("/images"),
                data=b"{oops",
                headers={**self.user, "Content-Type": "application/json"},
            ),
            400,
        )
        self.expect_error(
            self.http.post(
                self.url("/images/uploads"),
                headers=self.user,
                json={"content_type": "image/jpeg", "size": 60 * 1024 * 1024},
            ),
            413,
        )
        self.expect_error(
            self.http.get(
                self.url(f"/images/{jpeg}/download"), params={"expires_in": "5"}, headers=self.user
            ),
            400,
        )

    def delete(self) -> None:
        for image_id in self.ids.values():
            path = self.url(f"/images/{image_id}")
            self.expect(self.http.delete(path, headers=self.user), 204)
            self.expect_error(self.http.get(path, headers=self.user), 404)
        self.expect_error(
            self.http.delete(self.url(f"/images/{self.ids['jpeg']}"), headers=self.user), 404
        )
        page = self.http.get(
            self.url("/images"), params={"tag": self.tag}, headers=self.user
        ).json()
        assert page["items"] == [], page

    def run(self) -> int:
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("GET /health", self.health),
            ("GET /openapi.json", self.openapi),
            ("POST /images raw JPEG body, byte-exact", self.upload_raw),
            ("POST /images multipart PNG, byte-exact", self.upload_multipart),
            ("POST /images base64 JSON GIF and WebP, byte-exact", self.upload_base64),
            ("GET /images/{id} and a gallery URL", self.get_one),
            ("GET /images?tag= newest first", self.list_by_tag),
            ("GET /images by user, pages of 1, filters", self.list_filters_and_pages),
            ("GET /content streamed with Accept, ETag 304", self.content_streamed),
            ("GET /content redirect followed, byte-exact", self.content_redirected),
            ("GET /download URL, attachment, redirect", self.download),
            ("GET /thumbnail small and medium", self.thumbnails),
            ("POST /images HEIC, JPEG renditions, square 640", self.heic),
            (
                "AVIF negotiated, listed in sources, cacheable URLs"
                + (" (variants made after upload)" if self.wait_for_variants else ""),
                self.modern_formats,
            ),
            ("PATCH and PUT, tag index follows", self.update),
            (
                "POST /images/uploads, presigned POST, "
                + ("S3 event finalises" if self.wait_for_s3_event else "/complete"),
                self.direct_upload,
            ),
            ("error cases: 400 401 403 404 413 415", self.errors),
            ("DELETE 204, then 404, index empty", self.delete),
        ]
        for name, step in steps:
            self.check(name, step)
        total = len(steps)
        print(f"{total - self.failures}/{total} checks passed against {self.base}")
        return 0 if self.failures == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("--user", default=f"smoke-{uuid.uuid4().hex[:8]}")
    parser.add_argument(
        "--wait-for-s3-event",
        action="store_true",
        help="let the deployed S3 event handler finalise the direct upload",
    )
    parser.add_argument(
        "--wait-for-variants",
        action="store_true",
        help="wait for the WebP and AVIF variants made after the upload",
    )
    args = parser.parse_args()
    smoke = Smoke(args.base_url, args.user, args.wait_for_s3_event, args.wait_for_variants)
    return smoke.run()


if __name__ == "__main__":
    sys.exit(main())
