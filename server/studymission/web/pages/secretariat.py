"""The secretariat's pages: the event at a glance, the people list with its CSV import,
and the join links (export and renewal). The programme editor has its own module.

Every route checks the event and the role first (services/access.py). Writes are real
form posts that htmx enhances: a plain post gets a redirect or a whole page, an htmx one
the block it targets. Invalid input re-renders the form with its problems (422).
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response

from studymission.db.tables import Event
from studymission.domain.errors import InvalidInputError
from studymission.domain.roster import people_csv_template
from studymission.domain.values import Problem, Role
from studymission.services import people as people_service
from studymission.services.access import join_url
from studymission.services.secretariat import PeopleFilter, event_overview, people_list
from studymission.web.pages.desk import Desk, DeskDep
from studymission.web.templating import render
from studymission.web.uploads import read_limited

router = APIRouter(include_in_schema=False)

AUDIT_SHOWN = 10


# --- the event -------------------------------------------------------------------------


@router.get("/events/{code}/secretariat")
def event_page(code: str, desk: DeskDep) -> HTMLResponse:
    """The event at a glance: sessions, people by role, origin and country, latest changes."""
    event = desk.event(code, action="viewing the event's set-up")
    overview = event_overview(desk.db, event, audit_limit=AUDIT_SHOWN)
    context = desk.context(event, "secretariat", overview=overview, Role=Role)
    return render(desk.request, "pages/secretariat/event.html", context, block="overview")


# --- people ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportState:
    """What the last upload did: how many people it created and updated, or its problems."""

    created: int = 0
    updated: int = 0
    done: bool = False
    problems: tuple[Problem, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class RenewedLink:
    key: str
    name: str
    url: str


@router.get("/events/{code}/secretariat/people")
def people_page(
    code: str, desk: DeskDep, role: str = "", country: str = "", q: str = ""
) -> HTMLResponse:
    """Everyone of the event, filtered by role, country and a text; htmx gets the table."""
    event = desk.event(code, action="listing people")
    wanted = PeopleFilter(role=role, country=country, query=q)
    return _people(desk, event, wanted, block="people_table")


@router.post("/events/{code}/secretariat/people/import")
def import_people(
    code: str,
    desk: DeskDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Add or update people from a CSV file; every problem listed, all or nothing."""
    event = desk.event(code, action="importing people")
    limit = desk.settings.max_upload_bytes
    data = b"" if file is None else read_limited(file, limit)
    if data is None:
        message = (
            f"The file is larger than {_size(limit)}, the most this page accepts. "
            "Nobody was imported; split the list into smaller files."
        )
        return _people(desk, event, PeopleFilter(), ImportState(error=message), status_code=413)
    filename = file.filename if file is not None else None
    try:
        text = _decode(filename, data)
        outcome = people_service.import_people_csv(
            desk.db,
            event,
            text,
            secret=desk.settings.signing_key(),
            now=desk.clock.now(),
            actor=desk.identity.person.key,
        )
    except InvalidInputError as error:
        desk.db.rollback()
        state = ImportState(problems=error.problems)
        return _people(desk, event, PeopleFilter(), state, status_code=422)
    state = ImportState(created=len(outcome.created), updated=len(outcome.updated), done=True)
    return _people(desk, event, PeopleFilter(), state)


@router.get("/events/{code}/secretariat/people/template.csv")
def people_template(code: str, desk: DeskDep) -> Response:
    """A CSV file with the expected columns and one example row."""
    desk.event(code, action="importing people")
    return _csv_download(people_csv_template(), "people-template.csv")


@router.get("/events/{code}/secretariat/join-links.csv")
def join_links_export(code: str, desk: DeskDep) -> Response:
    """Everyone's personal join link as CSV, for a mail merge."""
    event = desk.event(code, action="exporting join links")
    text = people_service.join_links_csv_text(
        desk.db,
        event,
        secret=desk.settings.signing_key(),
        base_url=desk.settings.base_url,
        now=desk.clock.now(),
    )
    return _csv_download(text, f"{event.code}-join-links.csv")


@router.post("/events/{code}/secretariat/people/{key}/revoke-link")
def renew_link(
    code: str,
    key: str,
    desk: DeskDep,
    role: Annotated[str, Form()] = "",
    country: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Stop a person's join link and show their new one, once."""
    event = desk.event(code, action="revoking join links")
    token = people_service.renew_join_link(
        desk.db,
        event,
        key,
        secret=desk.settings.signing_key(),
        now=desk.clock.now(),
        actor=desk.identity.person.key,
    )
    person = people_service.active_person(desk.db, event, key)
    renewed = RenewedLink(key, person.name, join_url(desk.settings.base_url, token))
    wanted = PeopleFilter(role=role, country=country, query=q)
    # htmx gets only the notice: the table may be re-filtered meanwhile, the notice stays.
    return _people(desk, event, wanted, renewed=renewed, block="renewed_link")


def _people(
    desk: Desk,
    event: Event,
    wanted: PeopleFilter,
    imported: ImportState | None = None,
    *,
    renewed: RenewedLink | None = None,
    block: str = "people_page",
    status_code: int = 200,
) -> HTMLResponse:
    listing = people_list(desk.db, event, wanted)
    context = desk.context(
        event,
        "people",
        listing=listing,
        imported=imported or ImportState(),
        renewed=renewed,
        max_upload=_size(desk.settings.max_upload_bytes),
    )
    return render(
        desk.request,
        "pages/secretariat/people.html",
        context,
        block=block,
        status_code=status_code,
    )


def _decode(filename: str | None, data: bytes) -> str:
    """The file as text; no file, or one that is not UTF-8, is a problem to show."""
    if not filename and not data:
        problem = Problem("file", "", "choose a CSV file to upload")
        raise InvalidInputError("no file was chosen", [problem])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        reason = (
            f"is not UTF-8 text (byte {data[error.start]:#04x} at position {error.start}); "
            "in a spreadsheet, save it as “CSV UTF-8”"
        )
        problem = Problem("file", filename or "", reason)
        raise InvalidInputError("the file is not UTF-8 text", [problem]) from error


def _csv_download(text: str, filename: str) -> Response:
    # With a byte order mark, spreadsheets open non-ASCII names correctly (domain/roster.py).
    return Response(
        text.encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _size(limit: int) -> str:
    if limit >= 1_000_000:
        return f"{limit / 1_000_000:g} MB"
    return f"{limit / 1000:g} kB"
