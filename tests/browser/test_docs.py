"""The interactive API documentation (`GET /docs`, Swagger UI over `/openapi.json`) in headless
Chromium: against `make run`, and against the LocalStack deployment (under its stage path).

The page must show every operation of the document, and "try it out" must reach the API it
came from: an identity given through Authorize, a real photo uploaded from the multipart form,
a 201. Every page is watched as the gallery's are: a console error or warning, an uncaught
exception, a failed request or an HTTP error fails the test.
"""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from chalicelib import openapi
from tests.browser.scenario import DESKTOP, Watch
from tests.corpus import corpus_file

PHOTO = "r_canon.jpg"  # a real camera's JPEG (21 KB: light enough for LocalStack too)
SHOWN = """(blocks) => blocks.map((block) => [
  block.querySelector(".opblock-summary-method").textContent,
  block.querySelector(".opblock-summary-path").dataset.path,
])"""


def operations(base: str) -> set[tuple[str, str]]:
    """Every (METHOD, path) of the document the API serves."""
    response = requests.get(f"{base}openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    paths = response.json()["paths"]
    return {(method.upper(), path) for path, item in paths.items() for method in item}


def docs_scenario(browser: Any, base: str, *, timeout_s: float = 60) -> None:
    """Load /docs, find every operation, authorize as a new user, upload a photo through "try
    it out" (multipart/form-data) and see its 201, then find the image through the API."""
    expected = operations(base)
    context = browser.new_context(viewport=DESKTOP)
    watch = Watch()
    page = watch.attach(context.new_page())
    page.set_default_timeout(timeout_s * 1000)
    expect.set_options(timeout=timeout_s * 1000)

    page.goto(f"{base}docs")
    blocks = page.locator("#swagger-ui .opblock")
    expect(blocks).to_have_count(len(expected))
    shown = {(method.upper(), path) for method, path in blocks.evaluate_all(SHOWN)}
    assert shown == expected
    # "try it out" goes to the root the page came through (a stage path included)
    expect(page.locator(".servers select")).to_have_value(base.rstrip("/"))

    user = f"docs-{uuid.uuid4().hex[:8]}"
    page.locator(".scheme-container button.authorize").click()
    dialog = page.locator(".dialog-ux")
    expect(dialog).to_contain_text("X-User-Id")
    dialog.locator("input").fill(user)
    dialog.locator(".auth-btn-wrapper button.authorize").click()
    dialog.locator("button.btn-done").click()
    expect(dialog).to_have_count(0)

    upload = blocks.filter(has=page.locator(".opblock-summary-path[data-path='/images']"))
    upload = upload.filter(has=page.locator(".opblock-summary-method", has_text="POST"))
    upload.locator(".opblock-summary-control").click()
    upload.locator("button.try-out__btn").click()
    form = upload.locator(".opblock-section-request-body")
    expect(form.locator("select.content-type")).to_have_value("multipart/form-data")
    form.locator("input[type=file]").set_input_files(corpus_file(PHOTO).path)
    form.locator("tr[data-property-name='title'] input[type=text]").fill("Sent from the API docs")
    upload.locator("button.execute").click()

    answer = upload.locator(".live-responses-table tbody tr")
    expect(answer.locator(".response-col_status")).to_have_text("201")
    image = json.loads(answer.locator(".response-col_description pre").first.inner_text())
    assert (image["user_id"], image["filename"]) == (user, PHOTO), image
    assert image["title"] == "Sent from the API docs", image
    assert ("POST", f"{base}images") in watch.requests
    stored = requests.get(
        f"{base}images/{image['image_id']}", headers={"X-User-Id": user}, timeout=30
    )
    assert stored.status_code == 200 and stored.json()["filename"] == PHOTO, stored.text
    watch.check()
    context.close()


@pytest.mark.browser
@pytest.mark.integration
def test_docs_against_make_run(browser: Any, running: str) -> None:
    docs_scenario(browser, running)


@pytest.mark.browser
@pytest.mark.integration
def test_docs_in_cognito_mode_send_the_id_token(
    browser: Any, running: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AUTH_MODE=cognito: the document declares a bearer scheme, Authorize asks for the token,
    the gallery's stored sign-in fills it, and "try it out" sends `Authorization: Bearer`.
    (make run is in header mode: the document is rewritten with the cognito scheme, and the
    listing answered here.)"""
    monkeypatch.setattr(openapi, "get_settings", lambda: SimpleNamespace(auth_mode="cognito"))
    scheme = openapi._security_scheme()
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
    sent: list[str | None] = []

    def cognito_document(route: Any) -> None:
        response = route.fetch()
        document = response.json()
        document["components"]["securitySchemes"]["identity"] = scheme
        route.fulfill(response=response, json=document)

    def listing(route: Any) -> None:
        sent.append(route.request.headers.get("authorization"))
        route.fulfill(json={"items": [], "next_token": None})

    context = browser.new_context(viewport=DESKTOP)
    context.route(f"{running}openapi.json", cognito_document)
    context.route(lambda url: url.split("?")[0] == f"{running}images", listing)
    watch = Watch()
    page = watch.attach(context.new_page())
    page.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)
    page.add_init_script(f"localStorage.setItem('gallery.token', {json.dumps(token)})")
    page.goto(f"{running}docs")
    listed = page.locator("#swagger-ui .opblock-get").filter(
        has=page.locator(".opblock-summary-path[data-path='/images']")
    )
    listed.locator(".opblock-summary-control").click()
    listed.locator("button.try-out__btn").click()
    listed.locator("button.execute").click()
    expect(listed.locator(".live-responses-table tbody .response-col_status")).to_have_text("200")
    assert sent == [f"Bearer {token}"]
    page.locator(".scheme-container button.authorize").click()
    dialog = page.locator(".dialog-ux")
    expect(dialog).to_contain_text("http, Bearer")
    expect(dialog.locator("button", has_text="Logout")).to_be_visible()  # already authorized
    watch.check()
    context.close()


@pytest.mark.browser
@pytest.mark.e2e
def test_docs_against_localstack(browser: Any, deployed: str) -> None:
    """The same page under LocalStack's /restapis/<id>/api/_user_request_/ (API Gateway and
    Lambda): its assets, the document and "try it out" all under that stage path."""
    assert "/_user_request_/" in deployed, deployed
    docs_scenario(browser, deployed, timeout_s=120)
