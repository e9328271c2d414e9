"""The gallery against `make run` (chalice local + moto), in headless Chromium.

`UPDATE_SCREENSHOTS=1` also rewrites docs/screenshots/grid.jpg and photo.jpg from this run.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from scripts.gallery_bench import gallery_figures
from tests.browser.scenario import (
    DESKTOP,
    Api,
    Watch,
    gallery_scenario,
    sign_in_by_link,
    tile_link,
    wait_decoded,
)
from tests.corpus import corpus_file

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]


def test_gallery_against_make_run(
    browser: Any, running: str, big_photo: Path, tmp_path: Path
) -> None:
    """The scenario, with screenshots taken on the way: into a temporary folder, or with
    UPDATE_SCREENSHOTS set the README's (a fuller gallery first)."""
    update = bool(os.environ.get("UPDATE_SCREENSHOTS"))
    screenshots = ROOT / "docs" / "screenshots" if update else tmp_path
    gallery_scenario(
        browser, running, big_photo, screenshots=screenshots, showcase=update, shared=False
    )
    assert {path.name for path in screenshots.iterdir()} >= {"grid.jpg", "photo.jpg"}


def test_gallery_weight(browser: Any, running: str) -> None:
    """scripts/gallery_bench.py against make run: what the first screen transfers, and how
    little a reload within the URL window transfers again. (Ten photos, not twenty: the
    figure is `make bench`'s; this keeps the measurement working, and its variants take
    seconds to make.)"""
    result = gallery_figures(running, user="bench-seed", photos=10, browser=browser)
    print(json.dumps(result, indent=2))
    assert result["same_urls"], result  # the reload fell within the URL window
    first, repeat = result["first"], result["repeat"]
    assert first["bytes"]["image"] > result["gallery_first_kb"] * 1024 / 2, result  # thumbnails
    # nothing but the listing comes again: the page is revalidated (304), its assets and the
    # thumbnails come from the cache or are revalidated; no body is downloaded again
    for kind, size in repeat["bytes"].items():
        if kind != "fetch":
            assert size <= 1024 * repeat["requests"][kind], (kind, result)
    # the listing is revalidated too (its ETag, If-None-Match from the page): a 304
    listing = requests.get(f"{running}images", headers={"X-User-Id": "x"}, timeout=30)
    assert "ETag" in listing.headers
    assert result["gallery_repeat_ratio"] <= 0.1, result


def token(**claims: Any) -> str:
    """An unsigned JWT: the page only reads it (API Gateway checks the signature)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'test'})}.{part(claims)}.c2lnbmF0dXJl"


def test_cognito_sign_in(browser: Any, running: str) -> None:
    """In AUTH_MODE=cognito the page asks for an ID token, explains where to get one, refuses
    expired and access tokens, and sends the ID token as `Authorization`. (make run is in
    header mode: the page is rewritten to cognito mode, and the listing answered here.)"""
    context = browser.new_context(viewport=DESKTOP)
    watch = Watch()
    page = watch.attach(context.new_page())
    sent: list[str | None] = []

    def cognito_page(route: Any) -> None:
        response = route.fetch()
        body = response.text().replace('data-auth-mode="header"', 'data-auth-mode="cognito"')
        route.fulfill(response=response, body=body)

    def listing(route: Any) -> None:
        sent.append(route.request.headers.get("authorization"))
        route.fulfill(json={"items": [], "count": 0, "next_token": None})

    page.route(running, cognito_page)
    page.route(lambda url: urlsplit(url).path == "/images", listing)
    page.goto(running)
    expect(page.locator("#id-token")).to_be_visible()
    expect(page.locator("#user-name")).to_be_hidden()
    expect(page.locator("#id-token-help")).to_contain_text("id_token")
    now = int(time.time())
    claims = {"sub": "5f0c-77aa", "cognito:username": "carol", "token_use": "id"}
    for bad, said in [
        ({**claims, "exp": now - 60}, "expired"),
        ({**claims, "token_use": "access", "exp": now + 3600}, "access token"),
    ]:
        page.locator("#id-token").fill(token(**bad))
        page.locator("#sign-in-form button[type=submit]").click()
        expect(page.locator("#sign-in-error")).to_contain_text(said)
    good = token(**claims, exp=now + 3600)
    page.locator("#id-token").fill(good)
    page.locator("#sign-in-form button[type=submit]").click()
    expect(page.locator("#who-name")).to_have_text("carol")
    expect(page.locator("#status")).to_contain_text("No photos yet")
    page.reload()  # remembered
    expect(page.locator("#who-name")).to_have_text("carol")
    assert sent == [good, good], sent
    # back from the hosted sign-in page (implicit grant): the token comes in the fragment
    page.locator("#sign-out").click()
    expect(page.locator("#id-token")).to_be_visible()
    dave = token(sub="9a1b-22cc", email="dave@example.com", token_use="id", exp=now + 3600)
    page.goto("about:blank")  # coming from another site: a new document, not a hash change
    page.goto(f"{running}#id_token={dave}&access_token=x&token_type=Bearer&expires_in=3600")
    expect(page.locator("#who-name")).to_have_text("dave@example.com")
    assert "id_token" not in page.url, page.url  # not left in the address bar or history
    assert sent == [good, good, dave], sent
    watch.check()
    context.close()


def test_upload_retried_after_a_lost_answer(browser: Any, running: str) -> None:
    """The upload reached the service but its answer never reached the page: the row says so
    and offers Retry, which sends the same Idempotency-Key, so the service answers with the
    image it already made rather than a second copy. (The first request is made on the page's
    behalf, with its key: Chromium does not hand an intercepted file upload's body over.)"""
    context = browser.new_context(viewport=DESKTOP)
    watch = Watch()
    page = watch.attach(context.new_page())
    photo = corpus_file("flower.jpg").path
    keys: list[str | None] = []

    def lose_first_answer(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        key = route.request.headers.get("idempotency-key")
        keys.append(key)
        if len(keys) > 1:
            route.continue_()
            return
        made = requests.post(
            f"{running}images",
            headers={"X-User-Id": "rita", "Idempotency-Key": str(key)},
            files={"file": (photo.name, photo.read_bytes(), "image/jpeg")},
            timeout=60,
        )
        assert made.status_code == 201, made.text  # made on the service; then the line drops
        route.abort("connectionreset")

    page.route(lambda url: urlsplit(url).path == "/images", lose_first_answer)
    sign_in_by_link(page, running, "rita")
    page.locator("#file-input").set_input_files(photo)
    row = page.locator("#tray li")
    expect(row).to_have_class("failed")
    expect(row).to_contain_text("cut off")
    row.get_by_role("button", name="Retry").click()
    expect(row).to_have_class("done")
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1], keys
    mine = Api(running).mine("rita")
    assert len(mine) == 1, mine  # one image, made once
    expect(tile_link(page, mine[photo.name]["image_id"])).to_have_count(1)
    expect(page.locator("#grid .tile.pending")).to_have_count(0)
    # the cut request is all that went wrong (the browser logs it too)
    assert watch.problems and all("ERR_CONNECTION_RESET" in p for p in watch.problems), (
        watch.problems
    )
    context.close()


def test_no_browser_is_a_failure_that_says_make_browser() -> None:
    """Without Chromium the browser tests fail (never skip), saying how to get one."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cognito", __file__],
        cwd=ROOT,
        env={**os.environ, "CHROMIUM": str(ROOT / "no-such-chromium")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout
    assert "make browser" in done.stdout, done.stdout
    assert "skipped" not in done.stdout.splitlines()[-1], done.stdout


def test_a_thumbnail_that_will_not_load_is_renewed(browser: Any, running: str) -> None:
    """A thumbnail refused by the bucket (its URL expired while the page was open) is asked
    for again with the image's fresh URLs, once."""
    image = Api(running).upload("ivan", corpus_file("iptc.jpg").path, "Renewed", "renew")
    context = browser.new_context(viewport=DESKTOP)
    watch = Watch()
    page = watch.attach(context.new_page())
    refused: list[str] = []

    def expire_once(route: Any) -> None:
        if refused:
            route.continue_()
            return
        refused.append(route.request.url)
        expired = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        route.fulfill(status=403, content_type="application/xml", body=expired)

    page.route(lambda url: f"/images/{image['image_id']}/square" in url, expire_once)
    sign_in_by_link(page, running, "ivan")
    wait_decoded(page, f'#grid .tile[data-id="{image["image_id"]}"] img', 30_000)
    assert len(refused) == 1, refused
    asked = [url for method, url in watch.requests if method == "GET" and "/square" not in url]
    assert f"{running}images/{image['image_id']}" in asked, asked
    assert tile_link(page, image["image_id"]).evaluate("(a) => a.closest('.tile').dataset.renewed")
    # the refusal is all that went wrong (the browser logs it too)
    assert watch.problems and all("403" in p for p in watch.problems), watch.problems
    context.close()


DROP = """([files]) => {
  const transfer = new DataTransfer();
  for (const [name, type, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, { type }));
  }
  return transfer;
}"""


def test_photos_dropped_on_the_page_are_uploaded(browser: Any, running: str) -> None:
    """Dragging files over the page marks it as a drop target; dropping uploads them all."""
    context = browser.new_context(viewport=DESKTOP)
    watch = Watch()
    page = watch.attach(context.new_page())
    sign_in_by_link(page, running, "judy")
    files = [
        (name, type_, base64.b64encode(corpus_file(name).path.read_bytes()).decode())
        for name, type_ in [("flower.jpg", "image/jpeg"), ("xiaomi.heic", "image/heic")]
    ]
    transfer = page.evaluate_handle(DROP, [files])
    page.dispatch_event("#grid", "dragenter", {"dataTransfer": transfer})
    assert page.evaluate("document.body.classList.contains('dragging')")
    page.dispatch_event("#grid", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("#grid", "drop", {"dataTransfer": transfer})
    expect(page.locator("#tray li.done")).to_have_count(2, timeout=60_000)
    assert not page.evaluate("document.body.classList.contains('dragging')")
    assert set(Api(running).mine("judy")) == {"flower.jpg", "xiaomi.heic"}
    watch.check()
    context.close()
