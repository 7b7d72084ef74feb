"""``GET /healthz`` (CONTRACT §4): 200 while the database answers, 503 otherwise."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

router = APIRouter()


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """Whether this process can reach its database."""
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        detail = type(error).__name__
        return JSONResponse({"status": "error", "detail": detail}, status_code=503)
    return JSONResponse({"status": "ok"})
