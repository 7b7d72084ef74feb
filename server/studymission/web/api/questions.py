"""JSON API of the Q&A (filled in by issue 4)."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/events/{code}", tags=["questions"])
