"""``studymission media …``: site-visit recordings packaged for streaming (CONTRACT §1)."""

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from studymission.config import Settings
from studymission.services import media as media_service
from studymission.services.demo import SAMPLE_NAME, SAMPLE_SECONDS

media_app = typer.Typer(no_args_is_help=True, help="Site-visit recordings packaged for streaming.")


@media_app.command("package")
def media_package(
    file: Annotated[Path, typer.Argument(help="The recording (any video file ffmpeg reads).")],
    name: Annotated[
        str, typer.Option(help="What the session's playback calls it, e.g. site-visit-sejong.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the package as JSON.")] = False,
) -> None:
    """Package a recording for streaming (HLS); an earlier package of the name stays served
    until this one is complete."""
    settings = Settings()
    try:
        ffmpeg = media_service.ffmpeg_executable(settings)
        with progress_bar(f"Packaging {file.name}") as advance:
            package = media_service.package_recording(
                settings.media_dir,
                file,
                name,
                ffmpeg=ffmpeg,
                now=datetime.now(UTC),
                on_progress=advance,
            )
    except media_service.MediaError as error:
        fail_media(error)
    _print_package(package, as_json=as_json)


@media_app.command("secret")
def media_secret() -> None:
    """Print the secret of the signed media cookies, for nginx's ``secure_link_md5``
    (deploy/nginx/media.conf): the app and nginx must check the same one."""
    typer.echo(Settings().media_signing_key())


@media_app.command("list")
def media_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the packages as JSON.")] = False,
) -> None:
    """Print every packaged recording and the URL it is served at."""
    packages = media_service.list_packages(Settings().media_dir)
    if as_json:
        typer.echo(json.dumps([media_service.package_record(p) for p in packages], indent=2))
        return
    for package in packages:
        typer.echo(
            f"{package.name}  {package.version}  {_minutes(package.duration)}  "
            f"{'/'.join(f'{r.height}p' for r in package.renditions)}  {package.url}"
        )


@media_app.command("sample")
def media_sample(
    name: Annotated[str, typer.Option(help="The name to package it as.")] = SAMPLE_NAME,
    seconds: Annotated[int, typer.Option(min=1, help="How long the recording lasts.")] = (
        SAMPLE_SECONDS
    ),
) -> None:
    """Make the demo's site-visit recording (a captioned test pattern) and package it."""
    settings = Settings()
    try:
        ffmpeg = media_service.ffmpeg_executable(settings)
        with progress_bar(f"Making and packaging {name} ({seconds} s)") as advance:
            package = media_service.package_sample(
                settings.media_dir,
                name,
                ffmpeg=ffmpeg,
                now=datetime.now(UTC),
                seconds=seconds,
                on_progress=advance,
            )
    except media_service.MediaError as error:
        fail_media(error)
    _print_package(package, as_json=False)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[float], None]]:
    """A bar on stderr (stdout keeps only the result), fed fractions 0.0..1.0.

    It appears with the first progress, so input refused before any work leaves stderr
    with the problems alone. A SIGTERM (a closed terminal, a service stop) interrupts like
    Ctrl-C, so that packaging removes its unfinished work instead of dying mid-write.
    """
    steps = 1000
    previous = signal.signal(signal.SIGTERM, _interrupt)
    with ExitStack() as stack:
        stack.callback(signal.signal, signal.SIGTERM, previous)
        bar: Any = None
        done = 0

        def advance(fraction: float) -> None:
            nonlocal bar, done
            if bar is None:
                bar = stack.enter_context(
                    typer.progressbar(length=steps, label=label, file=sys.stderr)
                )
            target = round(min(max(fraction, 0.0), 1.0) * steps)
            if target > done:
                bar.update(target - done)
                done = target

        yield advance


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _print_package(package: media_service.MediaPackage, *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(media_service.package_record(package), indent=2))
        return
    typer.echo(f"name      {package.name}")
    typer.echo(f"version   {package.version}")
    typer.echo(f"duration  {_minutes(package.duration)} ({package.duration:.1f} s)")
    typer.echo(f"audio     {'yes' if package.has_audio else 'none'}")
    for rendition in package.renditions:
        typer.echo(
            f"{rendition.height}p".ljust(10)
            + f"{rendition.width}x{rendition.height}  {rendition.bandwidth // 1000} kbit/s  "
            + f"{package.prefix}{rendition.playlist}"
        )
    typer.echo(f"url       {package.url}")


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def fail_media(error: media_service.MediaError) -> NoReturn:
    for problem in error.problems:
        typer.echo(problem, err=True)
    raise typer.Exit(1)
