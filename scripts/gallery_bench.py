"""The gallery's weight in a real browser: what its first screen of photos transfers, and what a
reload within the URL window transfers again.

    .venv/bin/python scripts/gallery_bench.py [BASE_URL] [--user NAME] [--no-seed] [--json]

BASE_URL is the gallery of a running service in `AUTH_MODE=header` (`make run`:
http://127.0.0.1:8000/, the default; LocalStack: the URL `make deploy-local` prints). Unless
`--no-seed`, 20 real photos (from `make corpus`) are uploaded first as NAME, so that they are the
first screen, and their AVIF and WebP variants awaited. The browser is Debian's Chromium (`make
browser` installs it), driven by Playwright.

From Python (scripts/bench.py, against the stack it starts): `gallery_figures(base_url)` seeds,
measures and returns a dict with `gallery_first_kb` and `gallery_repeat_ratio` (and details).

- `gallery_first_kb`: KiB transferred by a fresh browser (empty cache) to show the gallery and
  the first screen of 20 photos (page, styles, script, icon, the listing, the thumbnails).
- `gallery_repeat_ratio`: the bytes a reload within the URL window transfers, over the first
  view's (target: at most 0.1).

Bytes are counted two ways. The Performance API (`transferSize` of the navigation and resource
entries) is what a page can see of itself, but it says 0 for cross-origin responses without a
`Timing-Allow-Origin` header: the thumbnails come from presigned S3 URLs, another origin, and
S3 sends no such header, so it misses them. The figures therefore come from the browser's own
network log (the DevTools protocol's `encodedDataLength`: headers and body as received), which
sees every response; the Performance API's sum is reported beside them (`perf_*`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project

PHOTOS = 20  # the first screen: one page of the listing
VIEWPORT = {"width": 1280, "height": 800}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
INSTALL_HINT = "run `make browser` (it installs Debian's chromium package)"


class BrowserMissing(RuntimeError):
    """No Chromium, or no Playwright, on this machine."""


def chromium_path() -> str:
    """Debian's Chromium, or the build `CHROMIUM` names."""
    named = os.environ.get("CHROMIUM")
    candidates: list[str | None] = (
        [named] if named else [shutil.which("chromium"), "/usr/bin/chromium"]
    )
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BrowserMissing(
        f"no Chromium at {named}: {INSTALL_HINT}" if named else f"no Chromium found: {INSTALL_HINT}"
    )


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium, driven by Playwright (its `Browser`). Playwright gives it a fresh
    profile (user data directory) of its own, removed when it closes."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserMissing(
            "Playwright is not installed: `make install` installs requirements-dev.txt"
        ) from exc
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class NetworkLog:
    """Every response the page received, from the DevTools protocol: bytes by resource type
    (headers and body as received), HTTP statuses of what went to the network, and how many
    responses came from the browser's cache without a request."""

    bytes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    network: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    cached: set[str] = field(default_factory=set)
    types: dict[str, str] = field(default_factory=dict)

    def attach(self, cdp: Any) -> None:
        cdp.on("Network.requestServedFromCache", lambda event: self.cached.add(event["requestId"]))
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.send("Network.enable")

    def _response(self, event: dict[str, Any]) -> None:
        request = event["requestId"]
        self.types[request] = event["type"].lower()
        response = event["response"]
        if response.get("fromDiskCache") or response.get("fromPrefetchCache"):
            self.cached.add(request)
        elif request not in self.cached:
            self.statuses[int(response["status"])] += 1
            self.network[self.types[request]][int(response["status"])] += 1

    def _finished(self, event: dict[str, Any]) -> None:
        kind = self.types.get(event["requestId"], "other")
        self.bytes[kind] += int(event["encodedDataLength"])
        self.requests[kind] += 1

    @property
    def total(self) -> int:
        return sum(self.bytes.values())

    def reset(self) -> None:
        self.bytes.clear()
        self.requests.clear()
        self.statuses.clear()
        self.network.clear()
        self.cached.clear()

    def summary(self) -> dict[str, Any]:
        return {
            "bytes": dict(self.bytes),
            "requests": dict(self.requests),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "network": {  # by type, the statuses of what went to the network
                kind: {str(k): v for k, v in sorted(statuses.items())}
                for kind, statuses in self.network.items()
            },
            "from_cache": len(self.cached),
        }


PERFORMANCE_BYTES = """() => {
  const [navigation] = performance.getEntriesByType("navigation");
  const resources = performance.getEntriesByType("resource");
  return {
    navigation: navigation ? navigation.transferSize : 0,
    resources: resources.reduce((sum, entry) => sum + entry.transferSize, 0),
    zero_cross_origin: resources.filter(
      (entry) => entry.transferSize === 0 && new URL(entry.name).origin !== location.origin
    ).length,
  };
}"""

PHOTOS_SHOWN = """(count) => {
  const images = [...document.querySelectorAll("#grid .tile:not(.pending) img")];
  return images.length >= count
    && images.slice(0, count).every((img) => img.complete && img.naturalWidth > 0);
}"""


SHOWN_SOURCES = """(count) => [...document.querySelectorAll("#grid .tile:not(.pending) img")]
  .slice(0, count).map((img) => img.currentSrc)"""


def _show_first_screen(page: Any, photos: int, timeout_ms: int) -> list[str]:
    """Wait until the first `photos` thumbnails are decoded and the network is quiet; the URLs
    they were loaded from."""
    page.wait_for_function(PHOTOS_SHOWN, arg=photos, timeout=timeout_ms)
    page.wait_for_load_state("networkidle", timeout=timeout_ms)
    shown: list[str] = page.evaluate(SHOWN_SOURCES, photos)
    return shown


def measure(
    base_url: str,
    user: str = "gallery-bench",
    photos: int = PHOTOS,
    timeout_s: float = 120,
    browser: Any = None,
) -> dict[str, Any]:
    """Load the gallery at `base_url` in a fresh Chromium until the first `photos` thumbnails
    are decoded, then reload it (within the URL window, so every presigned URL is the same)
    and measure both. `browser`: a Playwright `Browser` to use (a new context of it, so an
    empty cache), rather than launching one. A reload that happened to fall into the next URL
    window (other thumbnail URLs) is measured again, once."""
    if browser is None:
        with chromium() as launched:
            return measure(base_url, user, photos, timeout_s, launched)
    for _ in range(2):
        result = _measure_once(base_url, user, photos, timeout_s, browser)
        if result["same_urls"]:
            break
    return result


def _measure_once(
    base_url: str, user: str, photos: int, timeout_s: float, browser: Any
) -> dict[str, Any]:
    base = base_url if base_url.endswith("/") else base_url + "/"
    timeout_ms = int(timeout_s * 1000)
    context = browser.new_context(viewport=VIEWPORT)  # its own cache, empty
    # signed in as the page remembers a user (`/?user=NAME` would change the address, and
    # the reload would then be of another URL)
    context.add_init_script(f"localStorage.setItem('gallery.user', {json.dumps(user)})")
    try:
        page = context.new_page()
        log = NetworkLog()
        log.attach(context.new_cdp_session(page))

        page.goto(base, wait_until="load", timeout=timeout_ms)
        first_sources = _show_first_screen(page, photos, timeout_ms)
        first, first_perf = log.total, page.evaluate(PERFORMANCE_BYTES)
        first_log = log.summary()

        log.reset()
        page.reload(wait_until="load", timeout=timeout_ms)
        repeat_sources = _show_first_screen(page, photos, timeout_ms)
        repeat, repeat_perf = log.total, page.evaluate(PERFORMANCE_BYTES)
        repeat_log = log.summary()
    finally:
        context.close()

    perf_first = first_perf["navigation"] + first_perf["resources"]
    perf_repeat = repeat_perf["navigation"] + repeat_perf["resources"]
    return {
        "gallery_first_kb": round(first / 1024, 1),
        "gallery_repeat_ratio": round(repeat / first, 4),
        "repeat_kb": round(repeat / 1024, 1),
        "perf_first_kb": round(perf_first / 1024, 1),
        "perf_repeat_kb": round(perf_repeat / 1024, 1),
        "perf_cross_origin_unmeasured": first_perf["zero_cross_origin"],
        "same_urls": first_sources == repeat_sources,
        "first": first_log,
        "repeat": repeat_log,
    }


# Real photos to fill the first screen, quick to process (the seeding takes seconds): camera
# and phone files of the corpus (`make corpus`), repeated under other titles as needed.
SEED = [
    "frozenpond.mpo",
    "sugarshack.mpo",
    "flower.jpg",
    "iptc.jpg",
    "flower2.webp",
    "xiaomi.heic",
    "xmp_test.jpg",
]


def seed_photos(base_url: str, count: int, user: str, tag: str = "seed") -> list[str]:
    """`count` real photos uploaded through the API as `user`: their ids, newest first."""
    import requests

    from scripts.corpus import DEFAULT_CACHE, ensure

    manifest = ensure(DEFAULT_CACHE, log=lambda message: None)
    paths = {record["name"]: DEFAULT_CACHE / record["path"] for record in manifest["files"]}
    base = base_url if base_url.endswith("/") else base_url + "/"
    ids = []
    with requests.Session() as http:
        http.headers["X-User-Id"] = user
        for n in range(count):
            name = SEED[n % len(SEED)]
            response = http.post(
                base + "images",
                files={"file": (name, paths[name].read_bytes())},
                data={"title": f"Photo {n}", "tags": tag},
                timeout=120,
            )
            if response.status_code != 201:
                raise RuntimeError(f"seeding {name}: {response.status_code} {response.text}")
            ids.append(response.json()["image_id"])
    return ids[::-1]


def wait_for_variants(base_url: str, ids: list[str], user: str) -> bool:
    """Wait until every image lists its AVIF thumbnail (made in the background after an
    upload, one image after another: each AVIF's quality is searched), so that two views in a
    row list the same URLs. False if they never came."""
    import requests

    base = base_url if base_url.endswith("/") else base_url + "/"
    deadline = time.monotonic() + 60 + 15 * len(ids)  # ~4 s an image here, unloaded
    waiting = list(ids)
    with requests.Session() as http:
        http.headers["X-User-Id"] = user
        while waiting and time.monotonic() < deadline:
            waiting = [
                image_id
                for image_id in waiting
                if "avif"
                not in http.get(f"{base}images/{image_id}", timeout=30).json()["sources"]["square"]
            ]
            if waiting:
                time.sleep(1)
    return not waiting


def gallery_figures(
    base_url: str,
    user: str = "gallery-bench",
    photos: int = PHOTOS,
    seed: bool = True,
    browser: Any = None,
) -> dict[str, Any]:
    """The figures for `make bench`: upload `photos` real photos as `user` (the newest, so the
    first screen), wait for their variants, then `measure`. `gallery_first_kb` and
    `gallery_repeat_ratio` are the figures; the rest says where the bytes went."""
    if seed:
        ids = seed_photos(base_url, photos, user, tag="gallery-bench")
        if not wait_for_variants(base_url, ids, user):
            raise RuntimeError("the seeded photos' AVIF variants never came")
    return measure(base_url, user=user, photos=photos, browser=browser)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:8000/")
    parser.add_argument("--user", default="gallery-bench", help="who signs in (header mode)")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    parser.add_argument(
        "--no-seed", action="store_true", help="upload nothing: the gallery has 20 photos already"
    )
    args = parser.parse_args(argv)
    try:
        result = gallery_figures(args.base_url, user=args.user, seed=not args.no_seed)
    except BrowserMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"gallery_first_kb      {result['gallery_first_kb']}")
    print(f"gallery_repeat_ratio  {result['gallery_repeat_ratio']}  (target <= 0.1)")
    for phase in ("first", "repeat"):
        kinds = ", ".join(
            f"{kind} {size / 1024:.1f} KiB/{result[phase]['requests'][kind]}"
            for kind, size in sorted(result[phase]["bytes"].items())
        )
        print(f"  {phase}: {kinds}; statuses {result[phase]['statuses']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
