"""What a person does with the gallery, step by step, against any deployment of it: the same
scenario runs against `make run` and against LocalStack.

Every step waits for what the page shows (Playwright's `expect` polls), and every page is
watched: a console error or warning, an uncaught exception, a failed request or an HTTP error
fails the scenario.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Page, expect

from tests.corpus import corpus_file

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 812}
DECODED = """(selector) => {
  const images = [...document.querySelectorAll(selector)];
  return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0);
}"""
# extra photos, by other users, for the screenshots (real camera and phone files)
SCREENSHOT_PHOTOS = {
    "arrow.heic": ("Arrow on the wall", "street"),
    "xiaomi.heic": ("Pen on graph paper", "desk"),
    "cat.hif": ("Cat", "pets"),
    "frozenpond.mpo": ("Frozen pond", "winter"),
    "flower2.webp": ("Heather", "garden"),
    "fujifilm.mpo": ("Rocks", "hiking"),
    "guitar_cw90.hif": ("Guitar", "music"),
    "aux_YCbCr.heic": ("Old map", "travel"),
    "sugarshack.mpo": ("Sugar shack", "winter"),
    "spatial_photo.heic": ("Leaves", "garden"),
}


@dataclass
class Watch:
    """Everything a page said that a person should never see go wrong."""

    problems: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def attach(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("request", lambda request: self.requests.append((request.method, request.url)))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        return page

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text} at {message.location}")

    def _failed(self, request: Any) -> None:
        # a navigation that turns into a download is cut short by the browser, on purpose
        if request.failure == "net::ERR_ABORTED" and request.is_navigation_request():
            return
        self.problems.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            request = response.request
            self.problems.append(f"HTTP {response.status}: {request.method} {response.url}")

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@dataclass
class Api:
    """The API behind the gallery, for setting up and checking what the page did."""

    base: str

    def upload(self, user: str, path: Path, title: str, tags: str) -> dict[str, Any]:
        with path.open("rb") as file:
            response = requests.post(
                self.base + "images",
                headers={"X-User-Id": user},
                files={"file": (path.name, file)},
                data={"title": title, "tags": tags},
                timeout=120,
            )
        assert response.status_code == 201, response.text
        image: dict[str, Any] = response.json()
        return image

    def get(self, user: str, image_id: str) -> requests.Response:
        url = f"{self.base}images/{image_id}"
        return requests.get(url, headers={"X-User-Id": user}, timeout=30)

    def mine(self, user: str) -> dict[str, dict[str, Any]]:
        """The user's ready images by filename."""
        response = requests.get(
            self.base + "images", params={"user_id": user}, headers={"X-User-Id": user}, timeout=30
        )
        assert response.status_code == 200, response.text
        return {image["filename"]: image for image in response.json()["items"]}


def tiles(page: Page) -> Any:
    return page.locator("#grid .tile:not(.pending)")


def tile_link(page: Page, image_id: str) -> Any:
    return page.locator(f'#grid .tile[data-id="{image_id}"] a')


def wait_decoded(page: Page, selector: str, timeout_ms: int) -> None:
    page.wait_for_function(DECODED, arg=selector, timeout=timeout_ms)


def sign_in_by_link(page: Page, base: str, user: str) -> None:
    page.goto(f"{base}?user={user}")
    expect(page.locator("#who-name")).to_have_text(user)
    assert "user=" not in page.url, page.url  # the address is the plain page again


def wait_for_uploads(page: Page, count: int, timeout_ms: int) -> None:
    rows = page.locator("#tray li")
    expect(rows).to_have_count(count)
    try:
        expect(page.locator("#tray li.busy")).to_have_count(0, timeout=timeout_ms)
    finally:
        summary = page.locator("#tray").inner_text()
    assert page.locator("#tray li.done").count() == count, summary


def check_progress(page: Page, files: list[Path]) -> None:
    """Each file had its own bar, which counted every byte of it (and the form around it)."""
    bars = page.locator("#tray li progress")
    for index, path in enumerate(files):
        value, top = bars.nth(index).evaluate("(bar) => [bar.value, bar.max]")
        assert value == top >= path.stat().st_size, (path.name, value, top)


def check_thumbnails(page: Page) -> None:
    for img in tiles(page).locator("img").all():
        assert img.get_attribute("loading") == "lazy"
        assert img.get_attribute("decoding") == "async"
        assert int(img.get_attribute("width") or 0) > 0
        assert int(img.get_attribute("height") or 0) > 0
        assert img.evaluate("(img) => img.parentElement.tagName") == "PICTURE"


def apply_filters(page: Page, **values: str) -> None:
    form = page.locator("#filters")
    form.locator("button[type=reset]").click()
    for name, value in values.items():
        form.locator(f"[name={name}]").fill(value)
    form.locator("button[type=submit]").click()


def gallery_scenario(
    browser: Any,
    base: str,
    big_photo: Path,
    *,
    screenshots: Path | None = None,
    showcase: bool = False,
    timeout_s: float = 240,
    shared: bool = True,
) -> None:
    """Sign in, upload three real photos at once (one of them straight to S3), browse and
    filter them, open one, download it, edit it, delete another, and see them as another
    user; then the same at phone width, and by keyboard only. `screenshots`: a folder for the
    grid and the photo view, with ten more photos by a third user first if `showcase` (the
    README's). `shared`: the service may hold other runs' photos (the users and the tag get a
    suffix of this run's own)."""
    timeout_ms = int(timeout_s * 1000)
    expect.set_options(timeout=30_000)
    api = Api(base)
    run = uuid.uuid4().hex[:8] if shared else ""
    alice, bob, carol = (f"{name}-{run}" if run else name for name in ("alice", "bob", "carol"))
    tag = f"trip{run}"
    flower = api.upload(bob, corpus_file("flower.jpg").path, "Bob's flower", "garden")
    if showcase:
        for name, (title, tags) in SCREENSHOT_PHOTOS.items():
            api.upload(carol, corpus_file(name).path, title, tags)
    files = [corpus_file("xmp_test.jpg").path, corpus_file("pug.heic").path, big_photo]

    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    watch = Watch()
    page = watch.attach(context.new_page())
    page.set_default_timeout(30_000)

    # sign in by link, then upload three files in one go with a title and tags for the batch
    sign_in_by_link(page, base, alice)
    accept = page.locator("#file-input").get_attribute("accept") or ""
    assert {".heic", ".heif", "image/heic"} <= set(accept.split(",")), accept
    page.locator("#batch-title").fill("Holiday")
    page.locator("#batch-tags").fill(f"{tag}, summer")
    page.locator("#file-input").set_input_files(files)
    expect(page.locator("#grid .tile.pending")).not_to_have_count(0)  # shown while uploading
    wait_for_uploads(page, 3, timeout_ms)
    check_progress(page, files)
    posts = [url for method, url in watch.requests if method == "POST"]
    direct = [url for url in posts if not url.startswith(base)]
    assert len(direct) == 1, posts  # the big one went to the bucket, the others to the API
    assert sum(url.endswith("/complete") for url in posts) == 1, posts
    assert sum(url == base + "images" for url in posts) == 2, posts
    mine = api.mine(alice)
    assert set(mine) == {path.name for path in files}, mine.keys()
    assert all(image["title"] == "Holiday" for image in mine.values())
    assert all(set(image["tags"]) == {tag, "summer"} for image in mine.values())
    heic, big = mine["pug.heic"]["image_id"], mine[big_photo.name]["image_id"]

    # the grid: every thumbnail decoded, lazy, sized, in a <picture>; alt text from the title
    page.reload()  # a fresh listing: the uploads and bob's photo, from the API
    expect(tile_link(page, flower["image_id"])).to_be_visible()
    for image in mine.values():
        thumbnail = tile_link(page, image["image_id"]).locator("img")
        expect(thumbnail).to_have_attribute("alt", "Holiday")
    wait_decoded(page, "#grid .tile:not(.pending) img", timeout_ms)
    check_thumbnails(page)

    # filters: by tag, by user, by date
    apply_filters(page, tag=tag)
    expect(tiles(page)).to_have_count(3)
    expect(page.locator("#status")).to_have_text("3 photos")
    apply_filters(page, user_id=bob)
    expect(tiles(page)).to_have_count(1)
    expect(tile_link(page, flower["image_id"])).to_be_visible()
    today = datetime.date.today()
    apply_filters(page, tag=tag, **{"from": today.isoformat(), "to": today.isoformat()})
    expect(tiles(page)).to_have_count(3)
    tomorrow = today + datetime.timedelta(days=1)
    apply_filters(page, tag=tag, **{"from": tomorrow.isoformat()})
    expect(page.locator("#status")).to_have_text("No photos match these filters.")
    expect(tiles(page)).to_have_count(0)
    apply_filters(page, tag=tag)
    expect(tiles(page)).to_have_count(3)

    # one photo: the medium rendition, its details, the original's download, an edit
    tile_link(page, heic).click()
    dialog = page.locator("#photo")
    expect(dialog).to_be_visible()
    expect(page.locator("#photo-title")).to_have_text("Holiday")
    expect(page.locator("#photo-owner")).to_have_text(alice)
    expect(page.locator("#photo-tags")).to_contain_text(f"#{tag}")
    wait_decoded(page, "#photo-picture img", timeout_ms)
    assert page.locator("#photo-picture img").get_attribute("alt") == "Holiday"
    expect(page.locator("#photo-edit")).to_be_visible()
    expect(page.locator("#photo-delete")).to_be_visible()
    with page.expect_download() as download:
        page.locator("#photo-download").click()
    assert download.value.suggested_filename == "pug.heic"
    page.locator("#photo-edit").click()
    page.locator("#edit-title").fill("Pug in the garden")
    page.locator("#edit-form button[type=submit]").click()
    expect(page.locator("#photo-title")).to_have_text("Pug in the garden")
    assert api.get(alice, heic).json()["title"] == "Pug in the garden"
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(tile_link(page, heic).locator("img")).to_have_attribute("alt", "Pug in the garden")
    assert tile_link(page, heic).evaluate("(link) => link === document.activeElement")

    # delete, with a confirmation first
    tile_link(page, big).click()
    expect(dialog).to_be_visible()
    page.locator("#photo-delete").click()
    expect(page.locator("#delete-confirm")).to_be_visible()
    page.locator("#delete-yes").click()
    expect(dialog).to_be_hidden()
    expect(tile_link(page, big)).to_have_count(0)
    expect(tiles(page)).to_have_count(2)
    assert api.get(alice, big).status_code == 404

    if screenshots:
        take_screenshots(page, heic, screenshots, timeout_ms)

    # sign out; bob signs in with the form and sees alice's photo without owner controls
    page.locator("#sign-out").click()
    expect(page.locator("#sign-in")).to_be_visible()
    page.locator("#user-name").fill(bob)
    page.locator("#user-name").press("Enter")
    expect(page.locator("#who-name")).to_have_text(bob)
    expect(tile_link(page, heic)).to_be_visible()
    tile_link(page, heic).click()
    expect(page.locator("#photo-owner")).to_have_text(alice)
    expect(page.locator("#photo-download")).to_be_visible()
    expect(page.locator("#photo-edit")).to_be_hidden()
    expect(page.locator("#photo-delete")).to_be_hidden()
    page.locator("#photo-close").click()
    expect(dialog).to_be_hidden()

    keyboard_only(page, dialog)
    watch.check()
    context.close()

    phone(browser, base, alice, corpus_file("r_sony.jpg").path, timeout_ms)


def keyboard_only(page: Page, dialog: Any) -> None:
    """From the top of the page, Tab reaches the upload button, then a photo; Enter opens it,
    Escape closes it, and focus is back on the photo."""
    page.reload()
    wait_decoded(page, "#grid .tile:not(.pending) img", 60_000)
    page.locator("body").focus()
    active = 'document.activeElement.id || document.activeElement.closest(".tile")?.dataset.id'
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(active))
        if seen[-1] == "upload-button":
            break
    assert seen[-1] == "upload-button", seen
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), outline  # the focus is visible
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("Boolean(document.activeElement.closest('.tile'))"):
            break
    else:
        raise AssertionError("Tab never reached a photo")
    photo = page.evaluate(active)
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate(active) == photo


def phone(browser: Any, base: str, user: str, photo: Path, timeout_ms: int) -> None:
    """At 375 px: three columns, nothing wider than the screen, and an upload works."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    watch = Watch()
    page = watch.attach(context.new_page())
    sign_in_by_link(page, base, user)
    wait_decoded(page, "#grid .tile:not(.pending) img", timeout_ms)
    shown = tiles(page).count()
    columns = page.evaluate("getComputedStyle(document.getElementById('grid')).gridTemplateColumns")
    assert len(columns.split()) == 3, columns
    box = page.locator("#upload-button").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    page.locator("#file-input").set_input_files(photo)
    wait_for_uploads(page, 1, timeout_ms)
    expect(tiles(page)).to_have_count(shown + 1)
    wait_decoded(page, "#grid .tile:not(.pending) img", timeout_ms)
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], wide
    tiles(page).first.locator("a").tap()
    expect(page.locator("#photo")).to_be_visible()
    wait_decoded(page, "#photo-picture img", timeout_ms)
    page.locator("#photo-close").tap()
    watch.check()
    context.close()


def painted(page: Page, selector: str) -> None:
    """Every image decoded for display (`decoding="async"` ones may be loaded, not yet drawn),
    and a frame drawn since."""
    page.evaluate(
        """async (selector) => {
          await Promise.all([...document.querySelectorAll(selector)].map((img) => img.decode()));
          await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
        }""",
        selector,
    )


def take_screenshots(page: Page, image_id: str, folder: Path, timeout_ms: int) -> None:
    """docs/screenshots: the grid, and one photo open (desktop width)."""
    folder.mkdir(parents=True, exist_ok=True)
    apply_filters(page)
    wait_decoded(page, "#grid .tile:not(.pending) img", timeout_ms)
    painted(page, "#grid img")
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(0, 0)
    page.screenshot(path=str(folder / "grid.jpg"), quality=85)
    tile_link(page, image_id).click()
    wait_decoded(page, "#photo-picture img", timeout_ms)
    painted(page, "#photo-picture img")
    page.mouse.move(0, 0)
    page.screenshot(path=str(folder / "photo.jpg"), quality=85)
    page.keyboard.press("Escape")
    expect(page.locator("#photo")).to_be_hidden()
