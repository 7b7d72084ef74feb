"""Calls from the video service: who joined and left its conferences (filled in by issue 4)."""

from fastapi import APIRouter

router = APIRouter(tags=["webhooks"])
