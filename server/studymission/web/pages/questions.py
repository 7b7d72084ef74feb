"""The Q&A panels of the live page and the moderator console (filled in by issue 4)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
