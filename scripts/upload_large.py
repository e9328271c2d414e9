"""Upload a large image the direct-to-S3 way, as a phone or browser app would.

    python scripts/upload_large.py photo.jpg [--base http://127.0.0.1:8000] [--user alice]
        [--title T] [--tags a,b] [--no-complete]

1. POST /images/uploads with the file's type and size -> a pending image and a presigned POST;
2. POST the file straight to S3 with that form;
3. POST /images/{id}/complete (deployed stages also finalise on the S3 event by themselves).
Prints the image as the API returns it.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys

import requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="alice")
    parser.add_argument("--title", default="")
    parser.add_argument("--tags", default="")
    parser.add_argument("--no-complete", action="store_true")
    args = parser.parse_args()
    base, headers = args.base.rstrip("/"), {"X-User-Id": args.user}
    content_type = mimetypes.guess_type(args.path)[0] or "application/octet-stream"
    started = requests.post(
        f"{base}/images/uploads",
        headers=headers,
        timeout=30,
        json={
            "content_type": content_type,
            "size": os.path.getsize(args.path),
            "filename": os.path.basename(args.path),
            "title": args.title,
            "tags": args.tags,
        },
    )
    if started.status_code != 201:
        print(started.text, file=sys.stderr)
        return 1
    image_id = started.json()["image"]["image_id"]
    form = started.json()["upload"]
    with open(args.path, "rb") as handle:
        sent = requests.post(
            form["url"],
            data=form["fields"],
            timeout=600,
            files={"file": (os.path.basename(args.path), handle, content_type)},
        )
    if sent.status_code not in (200, 201, 204):
        print(f"S3 refused the upload ({sent.status_code}): {sent.text}", file=sys.stderr)
        return 1
    if args.no_complete:
        print(json.dumps(started.json()["image"], indent=2))
        return 0
    done = requests.post(f"{base}/images/{image_id}/complete", headers=headers, timeout=120)
    print(json.dumps(done.json(), indent=2))
    return 0 if done.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
