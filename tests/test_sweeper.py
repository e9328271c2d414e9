"""The sweeper reconciles the bucket with the table: objects whose row is gone are removed once
they are older than the grace period, a page of the bucket per run, resuming where the last
run stopped; no table is scanned (the autouse guard in conftest fails any Scan)."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.models import new_image_id, utcnow
from chalicelib.service import SweepReport
from tests.conftest import BUCKET, SESSION
from tests.helpers import begin, body, raw_upload, start, stored_keys

LATER = timedelta(hours=2)  # past the default grace of an hour


def put(keys: list[str]) -> None:
    s3 = SESSION.client("s3")
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"left behind")


def orphan(image_id: str | None = None) -> list[str]:
    image_id = image_id or new_image_id()
    return [f"images/{image_id}/{name}" for name in ("original", "small", "medium", "square")]


def at(service, delta: timedelta) -> None:
    service._clock = lambda: utcnow() + delta


def test_objects_without_a_row_are_removed_after_the_grace_period(client, service, images):
    kept = body(raw_upload(client, images["image/png"], "image/png"))["image_id"]
    lost = [*orphan(), f"uploads/{new_image_id()}"]
    put(lost)
    assert service.sweep_orphans(1000) == 0  # too young: their request may still be running
    assert set(lost) <= set(stored_keys())
    at(service, LATER)
    assert service.sweep_orphans(1000) == len(lost)
    assert stored_keys() == sorted(orphan(kept))


def test_the_upload_object_of_a_ready_image_goes_and_a_pending_ones_stays(client, service, images):
    ready = body(raw_upload(client, images["image/png"], "image/png"))["image_id"]
    pending, _ = begin(client, images["image/jpeg"])
    put([f"uploads/{ready}"])
    at(service, LATER)
    service.sweep_orphans(1000)
    assert f"uploads/{ready}" not in stored_keys()
    assert f"uploads/{pending}" in stored_keys()


def test_a_small_budget_walks_the_whole_bucket_over_several_runs(service):
    lost = [key for _ in range(7) for key in orphan()]
    put(lost)
    at(service, LATER)
    removed = [service.sweep_orphans(4) for _ in range(len(lost) // 4 + 1)]
    assert sum(removed) == len(lost) and stored_keys() == []
    assert service.table.sweep_position() is None  # the walk ended: the next one starts over


def test_the_scheduled_sweeper_removes_stale_rows_and_orphans(client, service, images):
    started = start(client, content_type="image/jpeg", size=len(images["image/jpeg"]))
    image_id = body(started)["image"]["image_id"]  # its bytes never arrive
    put(orphan())
    at(service, timedelta(days=2))
    assert service.sweep() == SweepReport(stale_images=1, orphan_objects=len(orphan()))
    assert stored_keys() == []
    assert client.http.get(f"/images/{image_id}", headers={"X-User-Id": "alice"}).status_code == 404


def test_an_upload_whose_event_was_lost_is_finalised_not_swept(client, service, images, capsys):
    image_id, _ = begin(client, images["image/jpeg"])  # the bytes landed; no event, no /complete
    at(service, timedelta(days=2))
    assert service.sweep() == SweepReport(stale_images=0, orphan_objects=0, finalised=1)
    found = client.http.get(f"/images/{image_id}", headers={"X-User-Id": "alice"})
    assert found.status_code == 200 and body(found)["status"] == "ready"
    assert f"uploads/{image_id}" not in stored_keys()


def test_the_schedule_runs_the_whole_sweep(client, service):
    put(orphan())
    at(service, LATER)
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    client.lambda_.invoke("sweep_stale_images", event)
    assert stored_keys() == []
