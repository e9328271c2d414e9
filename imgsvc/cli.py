"""The `imgsvc` command: its options and subcommands, each a few lines calling the modules that
do the work. Only Click and the configuration are imported up front: `requests` and Rich
load when a command runs, so `imgsvc --help` starts fast."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

import click

from imgsvc import __version__
from imgsvc.config import DEFAULT_URL, Config, make_config, parse_size
from imgsvc.errors import ApiError, CliError

if TYPE_CHECKING:
    from rich.console import Console

    from imgsvc.client import Client

PIPE_WIDTH = 200
INTERRUPTED = 130  # as a shell reports a process stopped by SIGINT
TYPE_ALIASES = {"jpg": "jpeg"}
CONNECTION_OPTIONS = ("--url", "--user", "--token")
NO_ROUTE = "Missing Authentication Token"
ROOT_HINT = " (http://127.0.0.1:8000 for make run; a deployed API's URL ends with its stage, /api)"
IDENTITY_HINT = (
    "give your user id with --user or IMGSVC_USER (sent as X-User-Id), or a Cognito ID token "
    "with --token or IMGSVC_TOKEN"
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--url",
    envvar="IMGSVC_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="The API root (env IMGSVC_URL).",
)
@click.option(
    "--user",
    envvar="IMGSVC_USER",
    metavar="NAME",
    help="Your user id, sent as X-User-Id: header mode, `make run` (env IMGSVC_USER).",
)
@click.option(
    "--token",
    envvar="IMGSVC_TOKEN",
    metavar="JWT",
    help="A Cognito ID token, sent raw as the Authorization header: cognito mode, the "
    "deployed prod stage (env IMGSVC_TOKEN). Wins over --user.",
)
@click.version_option(__version__, prog_name="imgsvc")
@click.pass_context
def cli(ctx: click.Context, url: str, user: str | None, token: str | None) -> None:
    """The image service from the command line: bulk upload, list, look at, download, edit
    and delete images.

    Connection options go before the command: imgsvc --user alice upload photos/"""
    if not url.lower().startswith(("http://", "https://")):
        raise click.BadParameter(
            f"{url!r}: give the API root as http://HOST:PORT or https://…",
            param_hint="--url / IMGSVC_URL",
        )
    ctx.obj = make_config(url, user, token)


def main(argv: list[str] | None = None) -> None:
    """The console script: errors as one line, Ctrl-C as exit status 130, no tracebacks."""
    try:
        code = cli.main(args=argv, prog_name="imgsvc", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("imgsvc: interrupted", err=True)
        code = INTERRUPTED
    except click.NoSuchOption as exc:
        exc.show()
        if exc.option_name in CONNECTION_OPTIONS:
            click.echo(
                f"Hint: {exc.option_name} goes before the command: imgsvc "
                f"{exc.option_name} VALUE COMMAND ...",
                err=True,
            )
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except CliError as exc:
        click.echo(f"imgsvc: error: {describe(exc)}", err=True)
        code = 1
    except BrokenPipeError:  # `imgsvc ls | head`: the reader is gone, so is our output
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


def describe(exc: CliError) -> str:
    if isinstance(exc, ApiError) and exc.status == 401:
        return f"{exc} — {IDENTITY_HINT}"
    if isinstance(exc, ApiError) and exc.status == 403 and exc.message == NO_ROUTE:
        # API Gateway's (and chalice local's) answer for a path no route matches.
        return f"{exc} — no such route: is --url / IMGSVC_URL the API root{ROOT_HINT}?"
    return str(exc)


def _client(ctx: click.Context) -> Client:
    from imgsvc.client import Client

    config = ctx.find_object(Config)
    assert config is not None  # set by the group
    return Client(config)


def _console(stderr: bool = False) -> Console:
    """Rich's console; into a pipe or a file, lines as wide as they need (up to a point)
    rather than cut at 80 columns."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False)
    trimmed = cast("TextIO", _Trimmed(stream))  # the little of a stream Rich uses
    return Console(file=trimmed, highlight=False, width=PIPE_WIDTH)


class _Trimmed:
    """A text stream's lines without trailing blanks: Rich pads table cells to the column's
    width, which into a file or a pipe is only noise (and spoils `grep 'x$'`)."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.encoding = getattr(stream, "encoding", "utf-8")
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self.stream.write(line.rstrip(" ") + "\n")
        return len(text)

    def flush(self) -> None:
        if self._partial:  # a line still open when the console is done with it
            self.stream.write(self._partial)
            self._partial = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.stream.fileno()


def _size_option(_: click.Context, __: click.Parameter, value: str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


# ----- upload ----------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Files uploaded at once.",
)
@click.option("--title", help="Title of every file (default: each file's name).")
@click.option("--description", help="Description of every file.")
@click.option("--tags", help="Comma-separated tags for every file.")
@click.option(
    "--max-api-bytes",
    default="10MiB",
    show_default=True,
    callback=_size_option,
    help="Larger files go straight to S3 (a 413 from the API sends a file there too).",
)
@click.option(
    "--skip-existing/--no-skip-existing",
    default=True,
    show_default=True,
    help="Skip files you already uploaded (same SHA-256), without sending them.",
)
@click.pass_context
def upload(
    ctx: click.Context,
    paths: tuple[str, ...],
    jobs: int,
    title: str | None,
    description: str | None,
    tags: str | None,
    max_api_bytes: int,
    skip_existing: bool,
) -> None:
    """Upload files, directories (recursively) and glob patterns.

    Re-running is safe: files already there are skipped, and each upload carries an
    Idempotency-Key made from your user id and the file's SHA-256, so a retried or repeated
    upload never makes a second image. Exit status 1 when any file failed."""
    from imgsvc.planning import plan
    from imgsvc.progress import PlainReporter, RichReporter, outcome_line, styled
    from imgsvc.uploader import Options, Reporter, Uploader, plan_failures
    from imgsvc.views import print_summary

    client, console = _client(ctx), _console()
    planned = plan(paths)
    if not planned.jobs and not planned.errors:
        raise CliError(f"no files to upload in {', '.join(paths)} (hidden ones are left out)")
    run_started = client.server_time(client.config.me)  # a 401 or a wrong URL stops here
    if client.config.me is None:
        raise CliError("the token carries no `sub` claim: cannot tell who you are")
    options = Options(
        client.config.me, title, description, tags, max_api_bytes, skip_existing, jobs
    )
    unplanned = plan_failures(planned.errors)
    for failure in unplanned:
        console.print(styled(outcome_line(failure), "failed"), soft_wrap=True)
    reporter: Reporter = (
        RichReporter(console) if console.is_terminal else PlainReporter(sys.stdout, jobs)
    )
    batch = Uploader(client, options, run_started).run(planned.jobs, reporter)
    print_summary(console, batch, unplanned)
    if batch.interrupted:
        ctx.exit(INTERRUPTED)
    if any(o.status == "failed" for o in [*unplanned, *batch.outcomes]):
        ctx.exit(1)


# ----- reading ---------------------------------------------------------------------------


@cli.command("ls")
@click.option("--user", "owner", metavar="NAME", help="Only this user's images.")
@click.option("--mine", is_flag=True, help="Only your own images.")
@click.option("--tag", help="Only images with this tag.")
@click.option("--title", help="Titles containing this (case-insensitive).")
@click.option("--type", "kind", metavar="TYPE", help="jpeg, png, gif, webp, heic, heif or avif.")
@click.option("--after", metavar="WHEN", help="Created after (ISO 8601 date or date-time).")
@click.option("--before", metavar="WHEN", help="Created before (ISO 8601 date or date-time).")
@click.option(
    "--limit", type=click.IntRange(1, 100), default=20, show_default=True, help="Images per page."
)
@click.option("--all", "every", is_flag=True, help="Every page, following next_token.")
@click.option("--next-token", metavar="TOKEN", help="Continue a listing.")
@click.option("--json", "as_json", is_flag=True, help="JSON, as the API answers.")
@click.pass_context
def list_images(
    ctx: click.Context,
    owner: str | None,
    mine: bool,
    tag: str | None,
    title: str | None,
    kind: str | None,
    after: str | None,
    before: str | None,
    limit: int,
    every: bool,
    next_token: str | None,
    as_json: bool,
) -> None:
    """List images, newest first (everyone's, unless filtered)."""
    from imgsvc.views import image_table, print_json

    client, console = _client(ctx), _console()
    if mine and client.config.me is None:
        raise CliError(f"--mine: who are you? {IDENTITY_HINT}")
    if kind and "/" not in kind:
        kind = "image/" + TYPE_ALIASES.get(kind.lower(), kind.lower())
    given = {
        "user_id": client.config.me if mine else owner,
        "tag": tag,
        "title": title,
        "content_type": kind,
        "created_after": after,
        "created_before": before,
        "next_token": next_token,
    }
    params: dict[str, str | int] = {name: value for name, value in given.items() if value}
    params["limit"] = limit
    if every:
        items, more = list(client.iter_images(params)), None
    else:
        page = client.list_images(params)
        items, more = page["items"], page.get("next_token")
    if as_json:
        print_json(console, {"items": items, "count": len(items), "next_token": more})
        return
    console.print(image_table(console, items) if items else "no images")
    if more:
        _console(stderr=True).print(f"more: add --all, or --next-token {more}", soft_wrap=True)


@cli.command()
@click.argument("image_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="JSON, as the API answers.")
@click.pass_context
def get(ctx: click.Context, image_id: str, as_json: bool) -> None:
    """One image's metadata."""
    _show_image(_client(ctx).get_image(image_id), as_json)


def _show_image(image: dict[str, Any], as_json: bool) -> None:
    from imgsvc.views import image_details, print_json

    console = _console()
    if as_json:
        print_json(console, image)
    else:
        console.print(image_details(image))


@cli.command()
@click.argument("image_ids", nargs=-1, required=True, metavar="ID...")
@click.option(
    "--size",
    type=click.Choice(["original", "small", "medium", "square"]),
    default="original",
    show_default=True,
    help="The original as stored (checked by SHA-256), or a rendition (320 px, 1080 px, 640x640).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["base", "avif", "webp", "jpeg", "png"]),
    default="base",
    show_default=True,
    help="A rendition's format: base is the one every rendition has, JPEG (PNG for PNG and "
    "GIF originals and transparent images); AVIF and WebP are smaller, made by the service "
    "on request if it has not made them yet.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory to write to.",
)
@click.pass_context
def download(
    ctx: click.Context, image_ids: tuple[str, ...], size: str, fmt: str, output: Path
) -> None:
    """Download images, named after their uploaded file names (`beach.jpg`, or
    `beach.small.jpg` for a rendition). Exit status 1 when any failed."""
    from imgsvc.download import Downloader
    from imgsvc.progress import DownloadBars

    client, console = _client(ctx), _console()
    output.mkdir(parents=True, exist_ok=True)
    failed = 0
    with DownloadBars(console) as bars:
        downloader = Downloader(client, output, bars)
        for image_id in image_ids:
            fetched = downloader.fetch(image_id, size, fmt)
            if fetched.error:
                failed += 1
                bars.say(f"failed      {image_id}  error: {fetched.error}", "failed")
    if failed:
        ctx.exit(1)


# ----- changing --------------------------------------------------------------------------


@cli.command()
@click.argument("image_id", metavar="ID")
@click.option("--title", help="The new title.")
@click.option("--description", help="The new description.")
@click.option("--tags", help='The new tags, comma-separated ("" removes them all).')
@click.option("--json", "as_json", is_flag=True, help="JSON, as the API answers.")
@click.pass_context
def edit(
    ctx: click.Context,
    image_id: str,
    title: str | None,
    description: str | None,
    tags: str | None,
    as_json: bool,
) -> None:
    """Change an image's title, description or tags (your own images only)."""
    fields: dict[str, Any] = {"title": title, "description": description}
    fields = {name: value for name, value in fields.items() if value is not None}
    if tags is not None:
        fields["tags"] = [tag.strip() for tag in tags.split(",") if tag.strip()]
    if not fields:
        raise click.UsageError("give at least one of --title, --description, --tags")
    _show_image(_client(ctx).update(image_id, fields), as_json)


@cli.command()
@click.argument("image_ids", nargs=-1, required=True, metavar="ID...")
@click.pass_context
def rm(ctx: click.Context, image_ids: tuple[str, ...]) -> None:
    """Delete images (your own only). Exit status 1 when any could not be deleted."""
    client, console = _client(ctx), _console()
    failed = 0
    for image_id in image_ids:
        try:
            client.delete(image_id)
        except ApiError as exc:
            failed += 1
            console.print(
                f"failed   {image_id}  error: {describe(exc)}", style="red", soft_wrap=True
            )
        else:
            console.print(f"deleted  {image_id}", soft_wrap=True)
    if failed:
        ctx.exit(1)
