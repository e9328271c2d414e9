"""GET /docs, the interactive API documentation, in-process: the page loads Swagger UI (vendored
by `make swagger-ui`) and its own script from the app, under the API root the request came
through; never from anywhere else. The browser tests drive the page itself
(tests/browser/test_docs.py)."""

from __future__ import annotations

import re

from chalicelib import web
from tests.helpers import call, proxy_event

PAGE_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "docs.js", "docs.css", "icon.svg")


def linked(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


def test_the_docs_page_loads_its_files_from_the_app_by_version(client):
    response = client.http.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    html = response.body.decode()
    urls = linked(html)
    for name in PAGE_FILES:
        found = web.asset(name)
        assert found is not None, f"{name} is missing: run `make swagger-ui`"
        assert f"/static/{name}?v={found.version}" in urls, name
    # Nothing from another origin (no CDN): every URL is one of the app's own paths.
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert 'data-api-root=""' in html
    again = client.http.get("/docs", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_the_docs_page_under_a_stage_path_links_below_it(service):
    event = proxy_event(
        "GET",
        "/docs",
        "/docs",
        headers={"Host": "abc.example"},
        claims=None,
        context_path="/api/docs",
    )
    response = call(event)
    assert response["statusCode"] == 200
    html = response["body"]
    assert 'data-api-root="/api"' in html
    urls = linked(html)
    assert "/api/openapi.json" in urls
    assert all(url.startswith("/api/") for url in urls), urls


def test_swagger_ui_is_served_by_version_and_only_what_the_page_needs(client):
    bundle = web.asset("swagger-ui-bundle.js")
    assert bundle is not None, "run `make swagger-ui`"
    response = client.http.get(f"/static/swagger-ui-bundle.js?v={bundle.version}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.body == bundle.data
    assert b"SwaggerUIBundle" in response.body
    for name in ("LICENSE", "swagger-ui-bundle.js.LICENSE.txt", "vendor", "docs.html"):
        assert client.http.get(f"/static/{name}").status_code == 404, name


def test_a_hostile_asset_name_is_a_404_and_never_reaches_the_file_system(client):
    # The fuzz run's case: `chalice local` hands the name on still percent-encoded, 444 bytes,
    # too long for a file name (the file system answered ENAMETOOLONG, the route a 500).
    long_encoded = "%F0%9D%95%8B" * 37
    loaded = web._load.cache_info().currsize
    for name in (long_encoded, "a" * 300, "..", ".hidden.js", "%00.js", "%2e%2e%2fapp.py"):
        response = client.http.get(f"/static/{name}?v=%C2%86")
        assert response.status_code == 404, name
        assert response.headers["Content-Type"] == "application/json"
    assert web._load.cache_info().currsize == loaded  # unknown names are not remembered
