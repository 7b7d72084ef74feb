"""The secretariat's pages: the event at a glance, the programme editor, the people list
with its CSV import, and the join links (export and renewal).

Every route checks the event and the role first (services/access.py). Writes are real
form posts that htmx enhances: a plain post gets a redirect or a whole page, an htmx one
the block it targets. Invalid input re-renders the form with its problems (422).
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from studymission.config import Settings
from studymission.db.tables import Event
from studymission.domain.errors import InvalidInputError
from studymission.domain.roster import people_csv_template
from studymission.domain.values import ItemKind, Problem, Role
from studymission.services import people as people_service
from studymission.services import programme_editor as editor
from studymission.services.access import Identity, join_url, require_event, require_role
from studymission.services.clock import Clock
from studymission.services.programme_editor import EditorView, ItemForm, SessionForm
from studymission.services.secretariat import PeopleFilter, event_overview, people_list
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep, SettingsDep
from studymission.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

SECRETARIAT = {Role.SECRETARIAT}
AUDIT_SHOWN = 10
_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Desk:
    """Everything a secretariat route needs about the request and who makes it."""

    request: Request
    identity: Identity
    db: Session
    clock: Clock
    settings: Settings

    def event(self, code: str, *, action: str) -> Event:
        """The event `code`, if it is the identity's and they are of its secretariat."""
        event = require_event(self.identity, code)
        require_role(self.identity, SECRETARIAT, action=action)
        return event

    def context(self, event: Event, nav: str, **extra: object) -> dict[str, object]:
        return {"event": event, "identity": self.identity, "nav": nav, **extra}


def get_desk(
    request: Request,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Desk:
    return Desk(request, identity, db, clock, settings)


DeskDep = Annotated[Desk, Depends(get_desk)]


# --- the event -------------------------------------------------------------------------


@router.get("/events/{code}/secretariat")
def event_page(code: str, desk: DeskDep) -> HTMLResponse:
    """The event at a glance: sessions, people by role, origin and country, latest changes."""
    event = desk.event(code, action="viewing the event's set-up")
    overview = event_overview(desk.db, event, audit_limit=AUDIT_SHOWN)
    context = desk.context(event, "secretariat", overview=overview, Role=Role)
    return render(desk.request, "pages/secretariat/event.html", context, block="overview")


# --- the programme editor --------------------------------------------------------------


class ItemFields(BaseModel):
    title: str = ""
    kind: str = ""
    start: str = ""
    end: str = ""
    speakers: list[str] = Field(default_factory=list)

    def values(self) -> ItemForm:
        return ItemForm(self.title, self.kind, self.start, self.end, tuple(self.speakers))


class SessionFields(BaseModel):
    title: str = ""
    date: str = ""
    start: str = ""
    end: str = ""

    def values(self) -> SessionForm:
        return SessionForm(self.title, self.date, self.start, self.end)


@dataclass(frozen=True)
class EditorState:
    """Which form is open, what it says, and what happened last."""

    #: "item:KEY", "add:SESSION" or "session:KEY"; None when every form is closed.
    open_form: str | None = None
    problems: tuple[Problem, ...] = ()
    #: (session key, text) of a change just saved.
    notice: tuple[str, str] | None = None


@router.get("/events/{code}/secretariat/programme")
def programme_page(code: str, desk: DeskDep, edit: str | None = None) -> HTMLResponse:
    """The programme editor; `edit` opens one agenda item's form."""
    event = desk.event(code, action="editing the programme")
    return _editor(desk, event, EditorState(open_form=f"item:{edit}" if edit else None))


@dataclass
class Change:
    """One edit from the editor: where it lands, what to say, which form failed."""

    #: The form to reopen, as typed, when the edit has problems ("item:KEY", ...).
    form: str | None
    #: Where a plain post's redirect lands on the page.
    anchor: str
    #: The notice shown in the session's panel once stored.
    done: str
    #: The session the change is in; filled in while editing when only an item is known.
    session: str = ""
    #: The editor's forms with what was typed, for showing them again.
    typed: Callable[[EditorView], EditorView] = lambda view: view


@router.post("/events/{code}/secretariat/programme/items/{key}")
def update_item(
    code: str, key: str, fields: Annotated[ItemFields, Form()], desk: DeskDep
) -> Response:
    """Change one agenda item's title, kind, times and speakers."""
    event = desk.event(code, action="editing the programme")
    values = fields.values()
    change = Change(
        form=f"item:{key}",
        anchor=f"item-{key}",
        done=f"Saved “{values.title.strip()}”.",
        typed=lambda view: replace(view, item_forms={**view.item_forms, key: values}),
    )

    def edit(raw: editor.RawSpec) -> editor.RawSpec:
        change.session = editor.session_of_item(raw, key)
        return editor.edit_item(raw, key, values)

    return _save(desk, event, edit, change)


@router.post("/events/{code}/secretariat/programme/sessions/{key}/items")
def create_item(
    code: str, key: str, fields: Annotated[ItemFields, Form()], desk: DeskDep
) -> Response:
    """Add an agenda item to a session."""
    event = desk.event(code, action="editing the programme")
    values = fields.values()
    change = Change(
        form=f"add:{key}",
        anchor=f"session-{key}",
        done=f"Added “{values.title.strip()}”.",
        session=key,
        typed=lambda view: replace(view, add_forms={**view.add_forms, key: values}),
    )
    return _save(desk, event, lambda raw: editor.add_item(raw, key, values)[0], change)


@router.post("/events/{code}/secretariat/programme/items/{key}/delete")
def remove_item(code: str, key: str, desk: DeskDep) -> Response:
    """Delete one agenda item."""
    event = desk.event(code, action="editing the programme")
    change = Change(form=None, anchor="programme-editor", done="Deleted the item.")

    def edit(raw: editor.RawSpec) -> editor.RawSpec:
        change.session = editor.session_of_item(raw, key)
        change.anchor = f"session-{change.session}"
        return editor.delete_item(raw, key)

    return _save(desk, event, edit, change)


@router.post("/events/{code}/secretariat/programme/sessions/{key}")
def update_session(
    code: str, key: str, fields: Annotated[SessionFields, Form()], desk: DeskDep
) -> Response:
    """Change a session's title, date, start and end."""
    event = desk.event(code, action="editing the programme")
    values = fields.values()
    change = Change(
        form=f"session:{key}",
        anchor=f"session-{key}",
        done="Saved the session.",
        session=key,
        typed=lambda view: replace(view, session_forms={**view.session_forms, key: values}),
    )
    return _save(desk, event, lambda raw: editor.edit_session(raw, key, values), change)


def _save(
    desk: Desk, event: Event, edit: Callable[[editor.RawSpec], editor.RawSpec], change: Change
) -> Response:
    """Store the edit; on problems show the form again as it was typed (422)."""
    try:
        outcome = editor.edit_programme(
            desk.db,
            event,
            edit,
            secret=desk.settings.signing_key(),
            now=desk.clock.now(),
            actor=desk.identity.person.key,
        )
    except InvalidInputError as error:
        view = change.typed(editor.editor_view(desk.db, event))
        state = EditorState(open_form=change.form, problems=error.problems)
        return _editor(desk, event, state, view=view, status_code=422)
    if not is_htmx(desk.request):
        return RedirectResponse(f"/events/{event.code}/secretariat/programme#{change.anchor}", 303)
    text = change.done if outcome.changed else "Nothing to change: it was already so."
    return _editor(desk, event, EditorState(notice=(change.session, text)))


def _editor(
    desk: Desk,
    event: Event,
    state: EditorState,
    *,
    view: EditorView | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    view = view or editor.editor_view(desk.db, event)
    context = desk.context(event, "programme", view=view, state=state, kinds=list(ItemKind))
    return render(
        desk.request,
        "pages/secretariat/programme.html",
        context,
        block="programme_editor",
        status_code=status_code,
    )


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
    data = b"" if file is None else _read_limited(file, limit)
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


def _read_limited(file: UploadFile, limit: int) -> bytes | None:
    """The file's bytes, or None as soon as it proves longer than `limit`."""
    # A sync route (run in the thread pool, as the database calls need) reads the
    # spooled file directly; the body-size middleware has already bounded the request.
    chunks: list[bytes] = []
    size = 0
    while chunk := file.file.read(_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


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
