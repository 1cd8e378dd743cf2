"""Prometheus metrics of the API process (public, like the health pages: no personal data)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from stream_guard.metrics import exposition

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Requests by route template, method and status, and their durations (docs/operations.md)."""
    body, content_type = exposition(request.app.state.metrics_registry)
    return Response(content=body, media_type=None, headers={"Content-Type": content_type})
