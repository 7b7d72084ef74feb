"""The recordings page: upload a site-visit recording, watch it being packaged, list packages.

The upload is a real multipart form post that htmx enhances (the browser shows how much
has been sent). It can be gigabytes, so this route reads the body itself as it arrives and
writes the file straight to ``var/uploads`` (never whole in memory, never to a second
temporary copy); the app-wide body limit exempts it (UPLOAD_PATH) and it enforces
``max_media_upload_bytes`` instead. For the same reason it checks who is asking before a
byte of the file is written: from the ``X-CSRF-Token`` header (htmx) at once, or from the
form's ``csrf_token`` field, which the form sends before the file.
"""

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from sqlmodel import Session

from studymission.config import Settings
from studymission.db.tables import Event
from studymission.domain.errors import InvalidInputError, TooLargeError
from studymission.domain.values import Problem, Role
from studymission.services import media_jobs
from studymission.services.access import require_event, require_role
from studymission.services.clock import Clock
from studymission.services.media_jobs import JobView, MediaWorker
from studymission.web.deps import ClockDep, SessionDep, SettingsDep, get_identity
from studymission.web.deps import require_identity as require_signed_in
from studymission.web.pages.desk import Desk, DeskDep
from studymission.web.templating import is_htmx, render

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

router = APIRouter(include_in_schema=False)

#: The upload route, exempt from the app-wide body limit (web/limits.py).
UPLOAD_PATH = re.compile(r"/events/[^/]+/media")
#: The event emitted when a job finishes, so that the list of packages reloads.
FINISHED_EVENT = "recordings-changed"
VIEWERS = {Role.SECRETARIAT, Role.MODERATOR}
TEMPLATE = "pages/media/recordings.html"
#: Room for multipart framing and the small fields around the file.
FRAMING_BYTES = 64 * 1024
FIELD_MAX_BYTES = 4096
UPLOADING = "uploading a site-visit recording"

_worker_lock = threading.Lock()


def get_media_worker(request: Request) -> MediaWorker:
    """This process's packaging worker, made on first use (tests override it)."""
    state = request.app.state
    with _worker_lock:
        worker: MediaWorker | None = getattr(state, "media_worker", None)
        if worker is None:
            worker = MediaWorker(state.engine, state.clock, state.settings)
            state.media_worker = worker
    return worker


MediaWorkerDep = Annotated[MediaWorker, Depends(get_media_worker)]


@dataclass(frozen=True)
class UploadForm:
    """What the upload form shows again: the name given, and why nothing was queued."""

    name: str = ""
    problems: tuple[Problem, ...] = ()
    error: str | None = None


# --- reading ---------------------------------------------------------------------------


@router.get("/events/{code}/media")
def recordings_page(code: str, desk: DeskDep) -> HTMLResponse:
    """Packaged recordings, recent packaging jobs and (secretariat) the upload form."""
    event = _viewer_event(desk, code)
    return _page(desk, event, block="recordings_page")


@router.get("/events/{code}/media/packages")
def packages_list(code: str, desk: DeskDep) -> HTMLResponse:
    """The list of packaged recordings (htmx reloads it when a job finishes)."""
    event = _viewer_event(desk, code)
    return _page(desk, event, block="packages")


@router.get("/events/{code}/media/jobs/{job_id}")
def job_status(code: str, job_id: int, desk: DeskDep) -> HTMLResponse:
    """One packaging job: its progress while it runs, then its package or its problems."""
    event = _viewer_event(desk, code)
    job = media_jobs.event_job(desk.db, event, job_id, now=desk.clock.real_now())
    response = _page(desk, event, block="job", job=job)
    if not job.is_active:
        response.headers["HX-Trigger"] = FINISHED_EVENT
    return response


def _viewer_event(desk: Desk, code: str) -> Event:
    """The event, if the person is of its secretariat or a moderator (who only looks)."""
    event = require_event(desk.identity, code)
    require_role(desk.identity, VIEWERS, action="viewing the site-visit recordings")
    return event


def _page(
    desk: Desk,
    event: Event,
    *,
    block: str,
    form: UploadForm | None = None,
    job: JobView | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    packages = media_jobs.package_rows(desk.settings.media_dir)
    context = desk.context(
        event,
        "media",
        packages=packages,
        package_index={f"{p.name}/{p.version}": p for p in packages},
        jobs=media_jobs.recent_jobs(desk.db, event, now=desk.clock.real_now()),
        job=job,
        form=form or UploadForm(),
        can_upload=desk.identity.role is Role.SECRETARIAT,
        max_bytes=desk.settings.max_media_upload_bytes,
        max_label=_size(desk.settings.max_media_upload_bytes),
        finished_event=FINISHED_EVENT,
        media_base=f"/events/{event.code}/media",
    )
    return render(desk.request, TEMPLATE, context, block=block, status_code=status_code)


# --- uploading -------------------------------------------------------------------------


@router.post("/events/{code}/media")
async def upload_recording(
    code: str,
    request: Request,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    worker: MediaWorkerDep,
) -> Response:
    """Receive a recording and queue it for packaging; htmx gets the job's progress."""
    limit = settings.max_media_upload_bytes
    header_csrf = request.headers.get("x-csrf-token")
    desk = None
    if header_csrf or request.headers.get("authorization"):
        desk = await run_in_threadpool(_authorise, request, db, clock, settings, code, header_csrf)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FRAMING_BYTES:
        # Refused unread; the page's script checks the size before sending, too.
        return _too_large(desk, code, limit)
    received = _Upload(request.headers.get("content-type", ""), settings, limit)
    try:
        async for chunk in request.stream():
            received.parser.write(chunk)
            if desk is None and received.file_started:
                csrf = received.fields.get("csrf_token")
                desk = await run_in_threadpool(_authorise, request, db, clock, settings, code, csrf)
            if received.too_large:
                return _too_large(desk, code, limit)
            received.check_name_early()
            await run_in_threadpool(received.flush)
        received.parser.finalize()
        await run_in_threadpool(received.finish)
        if desk is None:
            csrf = received.fields.get("csrf_token")
            desk = await run_in_threadpool(_authorise, request, db, clock, settings, code, csrf)
        return await run_in_threadpool(_queue, desk, code, received, worker)
    except MultipartParseError:
        # A body cut short or not framed as its boundary says: the sender's problem, not ours.
        problem = Problem("file", "", "the upload was cut short or is not a well-formed form")
        raise InvalidInputError(
            "the upload is not a well-formed multipart form", [problem]
        ) from None
    finally:
        await run_in_threadpool(received.close)


def _authorise(
    request: Request, db: Session, clock: Clock, settings: Settings, code: str, csrf: str | None
) -> Desk:
    """The secretariat's desk, checked as every write is (deps.get_identity), CSRF included."""
    identity = require_signed_in(get_identity(request, db, clock, csrf))
    desk = Desk(request, identity, db, clock, settings)
    desk.event(code, action=UPLOADING)
    return desk


def _queue(desk: Desk, code: str, received: "_Upload", worker: MediaWorker) -> Response:
    """Queue the received file for packaging, or show the form's problems (nothing kept)."""
    event = desk.event(code, action=UPLOADING)
    name, problems = received.name_and_problems()
    if problems or received.path is None:
        form = UploadForm(name=name, problems=tuple(problems))
        return _form_response(desk, event, form, status_code=422)
    job = media_jobs.queue_job(
        desk.db, event, name=name, actor=desk.identity.person.key, now=desk.clock.real_now()
    )
    worker.submit(job.id, received.hand_over())
    if not is_htmx(desk.request):
        return RedirectResponse(f"/events/{code}/media#job-{job.id}", status_code=303)
    return _page(desk, event, block="job", job=job, status_code=202)


def _too_large(desk: Desk | None, code: str, limit: int) -> Response:
    message = (
        f"The recording is larger than {_size(limit)}, the most this page accepts. "
        "Nothing was saved; export a smaller file (a lower bit rate) and upload it again."
    )
    if desk is None:
        raise TooLargeError(message)
    event = desk.event(code, action=UPLOADING)
    return _form_response(desk, event, UploadForm(error=message), status_code=413)


def _form_response(desk: Desk, event: Event, form: UploadForm, *, status_code: int) -> Response:
    """The form with its problems: htmx swaps it in place of the form, not into the jobs."""
    response = _page(desk, event, block="upload_form", form=form, status_code=status_code)
    if is_htmx(desk.request):
        response.headers["HX-Retarget"] = "#upload-form"
        response.headers["HX-Reswap"] = "outerHTML"
    return response


class _Upload:
    """A multipart body parsed as it arrives: small fields kept, the one file written to
    ``var/uploads`` by `flush` (called in a worker thread, as file writes block)."""

    def __init__(self, content_type: str, settings: Settings, limit: int) -> None:
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not content_type.startswith("multipart/form-data") or not boundary:
            problem = Problem("file", "", "send the recording as a multipart/form-data upload")
            raise InvalidInputError("the upload is not a multipart form", [problem])
        self.settings, self.limit = settings, limit
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.path: Path | None = None
        self.size = 0
        self.file_started = self.too_large = False
        self._name_checked = self._discarding = self._kept = False
        self._pending: list[bytes] = []
        self._file: BinaryIO | None = None
        self._part = _Part()
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        self.parser = MultipartParser(boundary, callbacks)

    # -- parser callbacks (python-multipart calls them synchronously from `write`)

    def _part_begin(self) -> None:
        self._part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._part.header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._part.header_value += data[start:end]

    def _header_end(self) -> None:
        part = self._part
        if part.header_name.lower() == b"content-disposition":
            part.disposition = part.header_value
        part.header_name, part.header_value = b"", b""

    def _headers_finished(self) -> None:
        part = self._part
        _, options = parse_options_header(part.disposition)
        part.field = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        # Only the first file counts; a second one is read past, not stored.
        if filename is not None and not self.file_started:
            part.is_file = True
            self.filename = filename.decode("utf-8", "replace")
            self.file_started = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part.is_file:
            self.size += end - start
            self.too_large = self.size > self.limit
            if not self._discarding and not self.too_large:
                self._pending.append(data[start:end])
        elif len(part.value) + end - start <= FIELD_MAX_BYTES:
            part.value += data[start:end]

    def _part_end(self) -> None:
        part = self._part
        if not part.is_file and part.field:
            self.fields.setdefault(part.field, part.value.decode("utf-8", "replace"))

    # -- decisions

    def name_and_problems(self) -> tuple[str, list[Problem]]:
        """The package name (given, or from the file's name) and every problem of the form."""
        given = self.fields.get("name", "").strip()
        name = given or media_jobs.name_from_filename(self.filename or "")
        problems = media_jobs.name_problems(name)
        if not self.filename:
            problems.append(Problem("file", "", "choose a recording (a video file) to upload"))
        elif self.size == 0:
            problems.append(Problem("file", self.filename, "is empty"))
        return name, problems

    def check_name_early(self) -> None:
        """Stop storing the file once the name sent before it proves unusable."""
        if self._name_checked or not self.file_started:
            return
        self._name_checked = True
        # The page's form sends the name after the file: then only the end can tell.
        if "name" not in self.fields:
            return
        given = self.fields["name"].strip()
        name = given or media_jobs.name_from_filename(self.filename or "")
        if media_jobs.name_problems(name):
            self._discarding = True
            self._pending.clear()

    # -- the file (blocking: these run in a worker thread)

    def flush(self) -> None:
        """Write what has arrived of the file."""
        if not self._pending:
            return
        if self._file is None:
            self.path = media_jobs.upload_path(self.settings, self.filename or "recording")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("xb")
        for chunk in self._pending:
            self._file.write(chunk)
        self._pending.clear()

    def finish(self) -> None:
        """The body is complete: write the rest and close the file for the packager."""
        self.flush()
        if self._file is not None:
            self._file.close()
        if self._discarding and self.path is not None:
            media_jobs.discard_upload(self.path)
            self.path = None

    def hand_over(self) -> Path:
        """The file, now the worker's to package and delete."""
        assert self.path is not None
        self._kept = True
        return self.path

    def close(self) -> None:
        """Close and delete the file unless the worker has taken it over."""
        if self._file is not None:
            self._file.close()
        if not self._kept and self.path is not None:
            media_jobs.discard_upload(self.path)


@dataclass
class _Part:
    header_name: bytes = b""
    header_value: bytes = b""
    disposition: bytes = b""
    field: str = ""
    is_file: bool = False
    value: bytes = b""


def _size(limit: int) -> str:
    if limit >= 1024**3:
        return f"{limit / 1024**3:g} GiB"
    if limit >= 1024**2:
        return f"{limit / 1024**2:g} MiB"
    return f"{limit / 1024:g} KiB"
