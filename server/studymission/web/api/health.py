"""``GET /healthz`` (CONTRACT §4): 200 while the database answers, 503 otherwise.

The body says what is wrong and what is waiting: ``presence_rows_waiting`` counts the
minute rows held in memory because they could not be written yet (docs/operations.md).
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from studymission.realtime.runtime import Realtime

router = APIRouter()


def _database_error(engine: Engine) -> str | None:
    """None when the database answers, else the kind of error (a class name, no secrets)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        return type(error).__name__
    return None


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """Whether this process can reach its database, and how much presence is waiting."""
    engine: Engine = request.app.state.engine
    realtime: Realtime = request.app.state.realtime
    # The database in a worker thread (the engine's connect timeout bounds it); the count
    # of waiting rows here, on the event loop, which alone may read the tracker.
    error = await run_in_threadpool(_database_error, engine)
    waiting = realtime.rows_waiting()
    if error is not None:
        body = {
            "status": "error",
            "database": "unreachable",
            "detail": error,
            "presence_rows_waiting": waiting,
        }
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "presence_rows_waiting": waiting})
