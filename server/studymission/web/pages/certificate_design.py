"""The secretariat's certificate design page: template, signatories, logo and a preview.

One form saves everything at once: uploaded images are flushed, the design is checked by
rendering a sample with it, and with any problem the whole post is rolled back (422).
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from studymission.db.tables import Event
from studymission.domain.errors import InvalidInputError
from studymission.domain.values import Problem
from studymission.exporters.certificate_pdf import (
    MAX_SIGNATORIES,
    TemplateError,
    pdf_to_png,
    render_certificate,
)
from studymission.services import certificate_design as design_service
from studymission.web.pages.desk import Desk, DeskDep
from studymission.web.templating import render
from studymission.web.uploads import read_limited

router = APIRouter(include_in_schema=False)

_ACTION = "designing certificates"
_SIGNATORY_ROWS = range(1, MAX_SIGNATORIES + 1)


@dataclass(frozen=True)
class Upload:
    """One image field of the form: its asset name and what was posted in it."""

    field: str
    asset: str
    file: UploadFile | None


@router.get("/events/{code}/certificates/design")
def design_page(code: str, desk: DeskDep) -> HTMLResponse:
    """The certificate design: template, signatories, logo, and a preview of a sample."""
    event = desk.event(code, action=_ACTION)
    return _page(desk, event)


@router.get("/events/{code}/certificates/design/preview.png")
def design_preview(code: str, desk: DeskDep) -> Response:
    """A sample certificate of this event with the saved design, as a PNG image."""
    event = desk.event(code, action=_ACTION)
    design = design_service.load_design(desk.db, event)
    content = design_service.preview_content(desk.db, event, base_url=desk.settings.base_url)
    try:
        png = pdf_to_png(render_certificate(content, design), scale=1.0)
    except TemplateError as error:
        return Response("\n".join(error.problems), status_code=422, media_type="text/plain")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


async def _posted_form(request: Request) -> AsyncIterator[FormData]:
    # Read in the event loop, so that the route itself can stay sync (database calls);
    # closed after the response, as FastAPI does for the forms it parses itself.
    form = await request.form()
    try:
        yield form
    finally:
        await form.close()


FormDep = Annotated[FormData, Depends(_posted_form)]


@router.post("/events/{code}/certificates/design")
def save_design(code: str, desk: DeskDep, form: FormDep) -> HTMLResponse:
    """Save the design if a sample certificate renders with it; every problem listed."""
    event = desk.event(code, action=_ACTION)
    current = design_service.design_form(desk.db, event)
    try:
        html = _text("html", form, desk)
        css = _text("css", form, desk)
        if form.get("reset"):
            html = css = None
        signatories = []
        for row in _SIGNATORY_ROWS:
            upload = Upload(
                f"sig{row}_image", f"signature-{row}", _file(form.get(f"sig{row}_image"))
            )
            image = _store(desk, event, upload) or current.signature_image(row)
            name = str(form.get(f"sig{row}_name", "")).strip()
            title = str(form.get(f"sig{row}_title", "")).strip()
            if form.get(f"sig{row}_remove_image"):
                image = None
            if name or title or image:
                signatories.append({"name": name, "title": title, "image": image})
        logo = _store(desk, event, Upload("logo", "logo", _file(form.get("logo")))) or current.logo
        design_service.save_design(
            desk.db,
            event,
            html=html,
            css=css,
            signatories=signatories,
            logo=None if form.get("remove_logo") else logo,
            actor=desk.identity.person.key,
            now=desk.clock.now(),
        )
    except InvalidInputError as error:
        desk.db.rollback()
        posted = {k: v for k, v in form.items() if isinstance(v, str)}
        return _page(desk, event, problems=error.problems, posted=posted, status_code=422)
    return _page(desk, event, saved=True)


def _file(value: Any) -> UploadFile | None:
    # Starlette gives an UploadFile for a file part, a str for a text part.
    return value if isinstance(value, UploadFile) and value.filename else None


def _store(desk: Desk, event: Event, upload: Upload) -> str | None:
    """Flush an uploaded image under its asset name (rolled back with a failing design)."""
    if upload.file is None or not upload.file.filename:
        return None
    data = read_limited(upload.file, design_service.MAX_ASSET_BYTES)
    if data is None:
        size = f"{design_service.MAX_ASSET_BYTES:,}"
        reason = f"is larger than {size} bytes, the most accepted"
        raise InvalidInputError(
            "image too large", [Problem(upload.field, upload.file.filename, reason)]
        )
    content_type = (upload.file.content_type or "").split(";")[0].strip()
    try:
        design_service.save_asset(
            desk.db, event, upload.asset, content_type, data, now=desk.clock.now(), commit=False
        )
    except InvalidInputError as error:
        problems = [Problem(upload.field, upload.file.filename, p.reason) for p in error.problems]
        raise InvalidInputError("the image cannot be used", problems) from error
    return upload.asset


def _text(field: str, form: FormData, desk: Desk) -> str | None:
    """The template text: an uploaded file wins over the textarea; empty means built-in."""
    typed = str(form.get(field, ""))
    file = _file(form.get(f"{field}_file"))
    if file is not None and file.filename:
        data = read_limited(file, desk.settings.max_upload_bytes)
        if data is None:
            reason = "is larger than the most this page accepts"
            raise InvalidInputError("file too large", [Problem(field, file.filename, reason)])
        try:
            typed = data.decode("utf-8")
        except UnicodeDecodeError as error:
            reason = "is not UTF-8 text"
            raise InvalidInputError("not UTF-8", [Problem(field, file.filename, reason)]) from error
    return typed if typed.strip() else None


def _page(
    desk: Desk,
    event: Event,
    *,
    problems: tuple[Problem, ...] = (),
    posted: dict[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    form = design_service.design_form(desk.db, event)
    if posted is not None:
        # Show what was typed, so that fixing one problem does not mean retyping everything.
        form = form.with_posted(posted)
    context = desk.context(
        event,
        "certificates",
        form=form,
        problems=problems,
        saved=saved,
        rows=list(_SIGNATORY_ROWS),
    )
    return render(
        desk.request,
        "pages/certificates/design.html",
        context,
        block="design",
        status_code=status_code,
    )
