"""``GET /metrics``: the process's metrics in the Prometheus text format.

Not secret, but not for the public either: nginx lets only private addresses reach it
(docs/operations.md). Where a scraper comes from elsewhere, ``METRICS_TOKEN`` makes it
ask for ``Authorization: Bearer <token>`` as well.
"""

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from studymission.config import Settings
from studymission.observability.metrics import CONTENT_TYPE, Metrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    # On the event loop, not in a worker thread: the live collector reads the hub and the
    # tracker, which only the event loop may touch.
    settings: Settings = request.app.state.settings
    if settings.metrics_token is not None and not _authorised(request, settings):
        return JSONResponse(
            {"error": "unauthenticated", "detail": "a bearer token is needed for /metrics"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    registry: Metrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE)


def _authorised(request: Request, settings: Settings) -> bool:
    assert settings.metrics_token is not None
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    expected = settings.metrics_token.get_secret_value()
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode()
    )
