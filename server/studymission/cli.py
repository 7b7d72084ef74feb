"""The ``studymission`` command (CONTRACT §1): thin wrappers over the services.

Every command applies pending migrations before it touches the database, prints its
result on stdout and its problems on stderr (one line each), and exits non-zero on bad input.
"""

import gc
import json
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import Engine
from sqlmodel import Session

from studymission.cli_media import media_app, progress_bar
from studymission.config import Settings
from studymission.db.engine import make_engine
from studymission.db.migrate import upgrade
from studymission.domain.errors import DomainError, InvalidInputError
from studymission.exporters.attendance_tables import attendance_csv, attendance_json
from studymission.observability.logs import LogFormat, log_config
from studymission.services import attendance as attendance_service
from studymission.services import media as media_service
from studymission.services import people as people_service
from studymission.services.access import create_api_token, join_url
from studymission.services.clock import Clock, clock_from_settings
from studymission.services.demo import (
    SAMPLE_NAME,
    SAMPLE_SECONDS,
    build_demo_spec,
    ensure_site_visit,
)
from studymission.services.demo import TIMEZONE as DEMO_TIMEZONE
from studymission.services.events import load_spec, parse_spec_json, require_event

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Run virtual study missions: events, programme, people and join links.",
)
event_app = typer.Typer(no_args_is_help=True, help="Create and update events.")
token_app = typer.Typer(no_args_is_help=True, help="Bearer tokens for scripts.")
people_app = typer.Typer(no_args_is_help=True, help="People of an event and their join links.")
app.add_typer(event_app, name="event")
app.add_typer(token_app, name="token")
app.add_typer(people_app, name="people")
app.add_typer(media_app, name="media")


class Context:
    """What every command needs, built once per run, with the schema up to date."""

    def __init__(self, base_url: str | None = None) -> None:
        overrides = {"base_url": base_url} if base_url else {}
        self.settings = Settings(**overrides)  # type: ignore[arg-type]
        self.engine: Engine = make_engine(self.settings.effective_database_url)
        upgrade(self.engine)
        self.clock: Clock = clock_from_settings(self.settings)
        self.secret = self.settings.signing_key()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.engine.dispose()


def fail(error: DomainError) -> NoReturn:
    """Report a domain error on stderr, every problem on its own line, and exit 1."""
    if isinstance(error, InvalidInputError):
        for problem in error.problems:
            typer.echo(str(problem), err=True)
    typer.echo(f"error: {error.detail}", err=True)
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the server (migrations are applied first)."""
    with Context() as ctx:
        _serve(ctx, host, port, default_log_format="json")


@app.command()
def migrate() -> None:
    """Apply pending migrations and print the schema revision (needs DATABASE_URL only).

    Every command migrates first anyway; this one lets a deployment do it once, before
    several server processes start together (deploy/compose.yaml)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.exc import OperationalError

    settings = Settings()
    engine = make_engine(settings.effective_database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as error:
        typer.echo(f"error: cannot reach the database: {error.orig}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(json.dumps({"revision": revision}))


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    original_dates: Annotated[
        bool, typer.Option(help="Keep 24–25 November 2021 instead of starting today.")
    ] = False,
    no_serve: Annotated[
        bool, typer.Option(help="Only seed the event and print the links.")
    ] = False,
    sample: Annotated[
        bool | None,
        typer.Option(
            "--sample/--no-sample",
            help=f"Make the site-visit recording {SAMPLE_NAME} if missing (default: when serving).",
        ),
    ] = None,
    sample_seconds: Annotated[
        int, typer.Option(min=1, help="Length of a newly made site-visit recording.")
    ] = SAMPLE_SECONDS,
) -> None:
    """Seed the demo study mission, print join links, and serve it."""
    with Context() as ctx:
        if original_dates:
            raw = build_demo_spec(first_day=date(2021, 11, 24))
        else:
            # Day 1 starts at the top of this hour in Seoul, so the demo is live when opened.
            seoul = ctx.clock.now().astimezone(ZoneInfo(DEMO_TIMEZONE))
            raw = build_demo_spec(first_day=seoul.date(), starts_at=time(seoul.hour))
        with ctx.session() as db:
            try:
                outcome = load_spec(db, raw, secret=ctx.secret, now=ctx.clock.now(), actor="cli")
            except DomainError as error:
                fail(error)
        base = ctx.settings.base_url
        typer.echo(f"Demo event {outcome.event.code}: {outcome.event.title}")
        for label, key in _demo_people(outcome.join_tokens):
            typer.echo(f"  {label:<16} {join_url(base, outcome.join_tokens[key])}")
        if (not no_serve) if sample is None else sample:
            _ensure_site_visit(ctx.settings, sample_seconds)
        if not no_serve:
            # Text logs: a person reads this terminal, under the links printed above.
            _serve(ctx, host, port, default_log_format="text")


def _ensure_site_visit(settings: Settings, seconds: int) -> None:
    try:
        ffmpeg = media_service.ffmpeg_executable(settings)
        existing = media_service.read_package(settings.media_dir, SAMPLE_NAME)
        if existing is None:
            with progress_bar(f"Making the site-visit recording ({seconds} s)") as advance:
                existing = ensure_site_visit(
                    settings.media_dir,
                    ffmpeg=ffmpeg,
                    now=datetime.now(UTC),
                    seconds=seconds,
                    on_progress=advance,
                )
    except media_service.MediaError as error:
        # The rest of the demo works without the recording, so it is a warning, not an end.
        for problem in error.problems:
            typer.echo(problem, err=True)
        typer.echo("warning: the demo runs without its site-visit recording", err=True)
        return
    typer.echo(f"  {'site visit':<16} {existing.url} ({existing.duration:.0f} s)")


def _demo_people(tokens: dict[str, str]) -> list[tuple[str, str]]:
    wanted = [("moderator", "mod1"), ("resource person", "rp1"), ("secretariat", "sec1")]
    wanted += [(f"participant {k}", k) for k in ("p001", "p020", "p060")]
    return [(label, key) for label, key in wanted if key in tokens]


@event_app.command("load")
def event_load(
    spec_file: Annotated[Path, typer.Argument(help="An event spec (JSON; see docs/contract.md).")],
    base_url: Annotated[str | None, typer.Option(help="Base URL for the join links.")] = None,
) -> None:
    """Create or update an event from a spec; prints the event code and every join link."""
    with Context(base_url) as ctx:
        try:
            raw = parse_spec_json(_read(spec_file))
            with ctx.session() as db:
                outcome = load_spec(db, raw, secret=ctx.secret, now=ctx.clock.now(), actor="cli")
        except DomainError as error:
            fail(error)
        links = {k: join_url(ctx.settings.base_url, t) for k, t in outcome.join_tokens.items()}
        typer.echo(
            json.dumps({"event": outcome.event.code, "join_links": links}, ensure_ascii=False)
        )


@token_app.command("create")
def token_create(
    code: Annotated[str, typer.Argument(help="The event code.")],
    person: Annotated[str, typer.Option(help="The key of the person the token acts as.")],
) -> None:
    """Print a new bearer token acting with that person's role."""
    with Context() as ctx:
        with ctx.session() as db:
            try:
                event = require_event(db, code)
                found = people_service.active_person(db, event, person)
            except DomainError as error:
                fail(error)
            token = create_api_token(db, found, now=ctx.clock.now())
            db.commit()
        typer.echo(token)


@people_app.command("import")
def people_import(
    code: Annotated[str, typer.Argument(help="The event code.")],
    csv_file: Annotated[Path, typer.Argument(help="CSV with key,name,email,country,... columns.")],
) -> None:
    """Add or update people from a CSV file; any bad row and nothing is imported."""
    with Context() as ctx:
        try:
            text = _read(csv_file)
            with ctx.session() as db:
                event = require_event(db, code)
                outcome = people_service.import_people_csv(
                    db, event, text, secret=ctx.secret, now=ctx.clock.now(), actor="cli"
                )
        except DomainError as error:
            fail(error)
        typer.echo(json.dumps({"created": outcome.created, "updated": outcome.updated}))


@people_app.command("links")
def people_links(
    code: Annotated[str, typer.Argument(help="The event code.")],
    base_url: Annotated[str | None, typer.Option(help="Base URL for the join links.")] = None,
) -> None:
    """Print every person's join link as CSV (key,name,email,role,join_url)."""
    with Context(base_url) as ctx:
        with ctx.session() as db:
            try:
                event = require_event(db, code)
            except DomainError as error:
                fail(error)
            csv_text = people_service.join_links_csv_text(
                db, event, secret=ctx.secret, base_url=ctx.settings.base_url, now=ctx.clock.now()
            )
        sys.stdout.write(csv_text)


@app.command()
def attendance(
    code: Annotated[str, typer.Argument(help="The event code.")],
    format: Annotated[
        str, typer.Option("--format", help="json (the API's shape) or csv.")
    ] = "json",
) -> None:
    """Print the attendance report: every person, every session, eligibility."""
    if format not in ("json", "csv"):
        typer.echo(f"--format: {format!r}: must be json or csv", err=True)
        raise typer.Exit(2)
    with Context() as ctx:
        with ctx.session() as db:
            try:
                event = require_event(db, code)
            except DomainError as error:
                fail(error)
            report = attendance_service.attendance_report(db, event, now=ctx.clock.now())
        if format == "csv":
            sys.stdout.write(attendance_csv(report))
        else:
            typer.echo(json.dumps(attendance_json(report), ensure_ascii=False, indent=2))


@app.command()
def certificates(
    code: Annotated[str, typer.Argument(help="The event code.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the PDFs into.")],
) -> None:
    """Issue a certificate to every eligible participant who has none yet, then write
    <person key>.pdf of every certificate in force; prints a JSON summary (CONTRACT §1)."""
    from studymission.services import certificates as certificate_service

    with Context() as ctx:
        with ctx.session() as db:
            try:
                event = require_event(db, code)
                # Idempotent: people already holding an unchanged certificate are skipped.
                outcome = certificate_service.issue_certificates(
                    db,
                    event,
                    people=None,
                    actor="studymission certificates",
                    now=clock_from_settings(ctx.settings).now(),
                    base_url=ctx.settings.base_url,
                )
            except DomainError as error:
                fail(error)
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                typer.echo(f"--out: {out}: {error.strerror or error}", err=True)
                raise typer.Exit(1) from None
            files = []
            for key, certificate in certificate_service.issued_with_keys(db, event):
                pdf = certificate_service.certificate_pdf(
                    db, event, certificate, base_url=ctx.settings.base_url
                )
                path = out / f"{key}.pdf"
                path.write_bytes(pdf)
                files.append(str(path))
        summary = {
            "event": event.code,
            "issued": list(outcome.issued),
            "reissued": list(outcome.reissued),
            "written": len(files),
            "files": files,
        }
        typer.echo(json.dumps(summary))


@app.command()
def rehearse(
    code: Annotated[str, typer.Argument(help="The event code.")],
    scale: Annotated[float, typer.Option(help="Event seconds per real second.")] = 60.0,
    bots: Annotated[
        int | None, typer.Option(min=1, help="Simulated participants (default: all of them).")
    ] = None,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    session: Annotated[
        str | None, typer.Option(help="Session key (default: the one running now, or the next).")
    ] = None,
    exit_when_done: Annotated[
        bool, typer.Option("--exit", help="Stop when the session is over instead of serving on.")
    ] = False,
) -> None:
    """Serve the event on a fast clock and run one session with simulated participants."""
    from studymission.rehearsal.rehearse import RehearsalOptions
    from studymission.rehearsal.rehearse import rehearse as run_rehearsal

    options = RehearsalOptions(
        code, scale=scale, bots=bots, host=host, port=port, session=session, stay=not exit_when_done
    )
    with Context() as ctx:
        try:
            status = run_rehearsal(ctx.settings, ctx.engine, options, typer.echo, UVICORN_OPTIONS)
        except DomainError as error:
            fail(error)
    raise typer.Exit(status)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"cannot read {path}: {error}", []) from error


def _serve(ctx: Context, host: str, port: int, *, default_log_format: LogFormat) -> None:
    import uvicorn

    from studymission.app import create_app
    from studymission.integrations.jitsi import JitsiConfigError

    try:
        application = create_app(ctx.settings, engine=ctx.engine, clock=ctx.clock)
    except JitsiConfigError as error:
        # Every problem on its own line, as for a spec: the server does not start.
        for problem in error.problems:
            typer.echo(problem, err=True)
        typer.echo("error: the Jitsi settings cannot work; see deploy/jitsi/README.md", err=True)
        raise typer.Exit(1) from None
    # Thousands of long-lived socket objects make the default collector rescan them many
    # times a second under heartbeat load; rarer young collections doubled ingest in
    # bench/, and freezing what start-up allocated keeps it out of every scan.
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level="info",
        log_config=log_config(ctx.settings.log_format or default_log_format),
        # Requests are logged by the application (studymission.access): with their
        # request id, route and duration, which uvicorn's access log does not know.
        access_log=False,
        **{
            **UVICORN_OPTIONS,
            "ws_ping_interval": ctx.settings.ws_ping_seconds,
            "ws_ping_timeout": ctx.settings.ws_ping_seconds,
        },
    )


#: How the server runs sockets. The sans-I/O websockets protocol is the fastest here
#: (bench/README.md); transport pings find dead peers (``WS_PING_SECONDS``, 20 s by default,
#: overrides the two ping values below under ``serve``); frames over 64 KiB are closed by the
#: endpoint with 1008, and the protocol's own cap stops anything far larger unread.
UVICORN_OPTIONS: dict[str, Any] = {
    "proxy_headers": True,
    "ws": "websockets-sansio",
    "ws_max_size": 128 * 1024,
    "ws_ping_interval": 20.0,
    "ws_ping_timeout": 20.0,
    "ws_per_message_deflate": False,
    "backlog": 4096,
    "timeout_graceful_shutdown": 10,
}


def main() -> None:
    app()
