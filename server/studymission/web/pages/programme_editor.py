"""The secretariat's programme editor: sessions and their agenda items, in event time.

Every edit goes through the whole event spec (services/programme_editor.py), so spec
validation is the only rule book. Writes are form posts that htmx enhances: a plain post
gets a redirect, an htmx one the editor block; invalid input re-renders the form (422).
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from studymission.db.tables import Event
from studymission.domain.errors import InvalidInputError
from studymission.domain.values import ItemKind, Problem
from studymission.services import programme_editor as editor
from studymission.services.programme_editor import EditorView, ItemForm, SessionForm
from studymission.web.pages.desk import Desk, DeskDep
from studymission.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)


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
