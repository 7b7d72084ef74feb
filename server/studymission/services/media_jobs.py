"""Packaging uploaded recordings in the background, one at a time per process.

The upload page queues a job (a ``media_job`` row) and hands the uploaded file to this
process's `MediaWorker`: one thread, so that two uploads do not fight over the machine's
cores; later jobs wait their turn. The thread writes the job's progress at most about once
a second, then ``done`` with the package's version or ``failed`` with the packager's
problems, and deletes the uploaded file in every case. Any process shows a job from its row.

Job times are real time, not event time: a rehearsal's time scale must not make a live job
look stale, and "packaged at" is a fact about the files, not about the programme.
"""

import contextlib
import logging
import queue
import re
import secrets
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from studymission.config import Settings
from studymission.db import media_jobs as store
from studymission.db.tables import Event, MediaJob
from studymission.domain.errors import NotFoundError
from studymission.domain.values import Problem
from studymission.services import media
from studymission.services.clock import Clock

log = logging.getLogger(__name__)

#: A running job not updated for longer than this belongs to a process that died.
STALE_AFTER = timedelta(seconds=60)
#: Real seconds between progress writes, and between "still alive" writes without progress.
PROGRESS_EVERY = 1.0
HEARTBEAT_EVERY = 15.0
INTERRUPTED = (
    "The packaging was interrupted: the server process running it stopped. "
    "Upload the recording again."
)
NAME_MAX = 63
UPLOADS = "uploads"
ACTIVE = frozenset({"queued", "running"})


class Packager(Protocol):
    """`services.media.package_recording`'s shape (tests pass a stand-in)."""

    def __call__(
        self,
        media_dir: Path,
        source: Path,
        name: str,
        *,
        ffmpeg: str,
        now: datetime,
        on_progress: Callable[[float], None],
    ) -> media.MediaPackage: ...


# --- names -----------------------------------------------------------------------------


def name_from_filename(filename: str) -> str:
    """A package name proposed from an uploaded file's name ("Site Visit 2.mp4" → site-visit-2)."""
    stem = Path(filename).stem
    ascii_text = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:NAME_MAX].rstrip("-")


def name_problems(name: str) -> list[Problem]:
    """Every reason `name` is not a package name (empty list: it is one)."""
    if not name:
        return [Problem("name", "", "give the recording a name, e.g. data-centre-visit")]
    problems = []
    if len(name) > NAME_MAX:
        problems.append(Problem("name", name, f"is {len(name)} characters; use at most {NAME_MAX}"))
    if not re.match(r"[a-z0-9]", name):
        problems.append(Problem("name", name, "must start with a lowercase letter or a digit"))
    if any(c.isupper() for c in name):
        problems.append(Problem("name", name, "has capital letters; use lowercase only"))
    others = sorted({c for c in name if not re.match(r"[a-z0-9-]", c) and not c.isupper()})
    if others:
        shown = ", ".join(repr(c) for c in others)
        reason = f"may only use letters a–z, digits 0–9 and hyphens (-), not {shown}"
        problems.append(Problem("name", name, reason))
    if not problems and not re.fullmatch(media.NAME_PATTERN, name):
        problems.append(Problem("name", name, f"must match {media.NAME_PATTERN}"))
    return problems


# --- uploaded files --------------------------------------------------------------------


def upload_path(settings: Settings, filename: str) -> Path:
    """Where to write an upload: its own directory under ``var/uploads``, keeping the
    file's own name (safely) because the packager's problems name the file."""
    safe = re.sub(r"[^\w.-]+", "-", Path(filename).name).strip(".-")[:120] or "recording"
    return settings.var_dir / UPLOADS / secrets.token_hex(8) / safe


def discard_upload(path: Path) -> None:
    """Delete an uploaded file, and the directory `upload_path` made for it."""
    path.unlink(missing_ok=True)
    if path.parent.parent.name == UPLOADS:
        with contextlib.suppress(OSError):
            path.parent.rmdir()


# --- reading jobs ----------------------------------------------------------------------


@dataclass(frozen=True)
class JobView:
    """A job as people see it: a dead process's running job shows as failed."""

    id: int
    name: str
    status: str
    progress: float
    problems: tuple[str, ...]
    version: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str

    @property
    def percent(self) -> int:
        return int(self.progress * 100)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


def job_view(job: MediaJob, *, now: datetime) -> JobView:
    """The job's state at real time `now`; a running job silent for too long failed."""
    assert job.id is not None
    status, problems = job.status, tuple(p for p in job.problems.splitlines() if p)
    if status == "running" and now - job.updated_at > STALE_AFTER:
        status, problems = "failed", (INTERRUPTED,)
    return JobView(
        id=job.id,
        name=job.name,
        status=status,
        progress=min(max(job.progress, 0.0), 1.0),
        problems=problems,
        version=job.version,
        created_at=job.created_at,
        updated_at=job.updated_at,
        created_by=job.created_by,
    )


def event_job(db: Session, event: Event, job_id: int, *, now: datetime) -> JobView:
    """One job of the event; another event's job does not exist here."""
    assert event.id is not None
    job = store.get_job(db, event.id, job_id)
    if job is None:
        raise NotFoundError(f"no packaging job {job_id} in this event")
    return job_view(job, now=now)


def recent_jobs(db: Session, event: Event, *, now: datetime, limit: int = 10) -> list[JobView]:
    assert event.id is not None
    return [job_view(job, now=now) for job in store.recent_jobs(db, event.id, limit=limit)]


def queue_job(db: Session, event: Event, *, name: str, actor: str, now: datetime) -> JobView:
    """A queued job for a recording that is uploaded and about to be handed to the worker."""
    assert event.id is not None
    job = store.add_job(db, event_id=event.id, name=name, actor=actor, now=now)
    db.commit()
    return job_view(job, now=now)


# --- running jobs ----------------------------------------------------------------------


class ProgressWriter:
    """The packager's ``on_progress``: writes the fraction at most every PROGRESS_EVERY s."""

    def __init__(self, engine: Engine, job_id: int, clock: Clock) -> None:
        self.engine, self.job_id, self.clock = engine, job_id, clock
        self._last: float | None = None

    def __call__(self, fraction: float) -> None:
        moment = self.clock.monotonic()
        if self._last is not None and moment - self._last < PROGRESS_EVERY:
            return
        self._last = moment
        with Session(self.engine) as db:
            store.record_progress(
                db, self.job_id, min(max(fraction, 0.0), 1.0), now=self.clock.real_now()
            )
            db.commit()


def run_job(
    engine: Engine,
    job_id: int,
    upload: Path,
    *,
    settings: Settings,
    clock: Clock,
    packager: Packager,
) -> None:
    """Package `upload` for job `job_id`; the outcome is in the job's row, the file is gone."""
    try:
        with Session(engine) as db:
            job = db.get(MediaJob, job_id)
            name = job.name if job is not None else None
            claimed = name is not None and store.claim_job(db, job_id, now=clock.real_now())
            db.commit()
        if not claimed or name is None:
            return
        with _Heartbeat(engine, job_id, clock):
            version, problems = _package(name, upload, job_id, engine, settings, clock, packager)
        with Session(engine) as db:
            store.finish_job(db, job_id, version=version, problems=problems, now=clock.real_now())
            db.commit()
    finally:
        discard_upload(upload)


def _package(
    name: str,
    upload: Path,
    job_id: int,
    engine: Engine,
    settings: Settings,
    clock: Clock,
    packager: Packager,
) -> tuple[str | None, Sequence[str]]:
    """(version, ()) on success, (None, problems) on failure."""
    try:
        package = packager(
            settings.media_dir,
            upload,
            name,
            ffmpeg=media.ffmpeg_executable(settings),
            now=clock.real_now(),
            on_progress=ProgressWriter(engine, job_id, clock),
        )
    except media.MediaError as error:
        return None, error.problems or [str(error)]
    except Exception:
        # A bug, not a bad file: keep the trace for the operator, tell the person plainly.
        log.exception("packaging job %s failed unexpectedly", job_id)
        return None, ["The packaging failed unexpectedly; the server log has the details."]
    return package.version, ()


class _Heartbeat:
    """While a job runs, say every HEARTBEAT_EVERY s that its process is alive, so that a
    long step without progress (probing, moving files) is not mistaken for a dead process."""

    def __init__(self, engine: Engine, job_id: int, clock: Clock) -> None:
        self.engine, self.job_id, self.clock = engine, job_id, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="media-heartbeat", daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY):
            with Session(self.engine) as db:
                store.touch_job(db, self.job_id, now=self.clock.real_now())
                db.commit()


class MediaWorker:
    """This process's one packaging thread and its queue of (job id, uploaded file)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        settings: Settings,
        packager: Packager = media.package_recording,
    ) -> None:
        self.engine, self.clock, self.settings, self.packager = engine, clock, settings, packager
        self._queue: queue.Queue[tuple[int, Path]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, job_id: int, upload: Path) -> None:
        """Package `upload` for the queued job `job_id` after the jobs before it."""
        self._queue.put((job_id, upload))
        with self._lock:
            if self._thread is None:
                # A daemon: a process that stops does not wait for a long packaging; its
                # job then reads as interrupted (STALE_AFTER).
                self._thread = threading.Thread(target=self._work, name="media-worker", daemon=True)
                self._thread.start()

    def wait_until_idle(self, timeout: float) -> bool:
        """True once every submitted job has finished, False after `timeout` real seconds."""
        finished = threading.Event()

        def join() -> None:
            self._queue.join()
            finished.set()

        threading.Thread(target=join, daemon=True).start()
        return finished.wait(timeout)

    def _work(self) -> None:
        while True:
            job_id, upload = self._queue.get()
            try:
                run_job(
                    self.engine,
                    job_id,
                    upload,
                    settings=self.settings,
                    clock=self.clock,
                    packager=self.packager,
                )
            except Exception:
                log.exception("packaging job %s could not be recorded", job_id)
            finally:
                self._queue.task_done()


# --- packages --------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageRow:
    """A packaged recording as the recordings page lists it."""

    name: str
    version: str
    duration: str
    renditions: str
    has_audio: bool
    created_at: datetime
    url: str


def duration_label(seconds: float) -> str:
    """Minutes and seconds, ``mm:ss`` (minutes go past 59 for long recordings)."""
    whole = round(seconds)
    return f"{whole // 60:02d}:{whole % 60:02d}"


def package_rows(media_dir: Path) -> list[PackageRow]:
    """Every package in `media_dir`, by name."""
    packages = sorted(media.list_packages(media_dir), key=lambda p: (p.name, p.version))
    return [
        PackageRow(
            name=p.name,
            version=p.version,
            duration=duration_label(p.duration),
            renditions=" · ".join(f"{r.height}p" for r in sorted(p.renditions, key=_height)),
            has_audio=p.has_audio,
            created_at=p.created_at,
            url=p.url,
        )
        for p in packages
    ]


def _height(rendition: media.Rendition) -> int:
    return rendition.height
