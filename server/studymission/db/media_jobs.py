"""Reading and writing media jobs: recordings queued, being packaged, done or failed.

State changes are guarded updates (``WHERE status = ...``), so that a late progress write
never turns a finished job back into a running one.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select, update

from studymission.db.tables import MediaJob


def add_job(db: Session, *, event_id: int, name: str, actor: str, now: datetime) -> MediaJob:
    """A new queued job; the caller commits."""
    job = MediaJob(event_id=event_id, name=name, created_at=now, updated_at=now, created_by=actor)
    db.add(job)
    db.flush()
    return job


def get_job(db: Session, event_id: int, job_id: int) -> MediaJob | None:
    """The job, if it is one of the event's."""
    job = db.get(MediaJob, job_id)
    return job if job is not None and job.event_id == event_id else None


def recent_jobs(db: Session, event_id: int, *, limit: int) -> Sequence[MediaJob]:
    """The event's latest jobs, newest first."""
    query = (
        select(MediaJob)
        .where(MediaJob.event_id == event_id)
        .order_by(col(MediaJob.created_at).desc(), col(MediaJob.id).desc())
        .limit(limit)
    )
    return db.exec(query).all()


def claim_job(db: Session, job_id: int, *, now: datetime) -> bool:
    """Queued → running; False when the job is not queued (any more)."""
    statement = (
        update(MediaJob)
        .where(col(MediaJob.id) == job_id, col(MediaJob.status) == "queued")
        .values(status="running", updated_at=now)
    )
    return bool(db.exec(statement).rowcount)


def record_progress(db: Session, job_id: int, progress: float, *, now: datetime) -> None:
    """The running job's progress (0..1), which also says that its process is alive."""
    statement = (
        update(MediaJob)
        .where(col(MediaJob.id) == job_id, col(MediaJob.status) == "running")
        .values(progress=progress, updated_at=now)
    )
    db.exec(statement)


def touch_job(db: Session, job_id: int, *, now: datetime) -> None:
    """Say that the running job's process is alive, progress unchanged."""
    statement = (
        update(MediaJob)
        .where(col(MediaJob.id) == job_id, col(MediaJob.status) == "running")
        .values(updated_at=now)
    )
    db.exec(statement)


def finish_job(
    db: Session,
    job_id: int,
    *,
    version: str | None,
    problems: Sequence[str],
    now: datetime,
) -> None:
    """Done with `version`, or failed with `problems` when there is no version."""
    values: dict[str, object] = {"updated_at": now, "version": version}
    if version is not None:
        values.update(status="done", progress=1.0, problems="")
    else:
        values.update(status="failed", problems="\n".join(problems))
    statement = (
        update(MediaJob)
        .where(col(MediaJob.id) == job_id, col(MediaJob.status).in_(("queued", "running")))
        .values(**values)
    )
    db.exec(statement)
