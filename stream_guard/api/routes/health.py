"""Liveness and readiness (public: for load balancers and Kubernetes probes)."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from stream_guard.actions.connection import UNAVAILABLE
from stream_guard.api.deps import Svc
from stream_guard.api.models import Health

router = APIRouter(prefix="/health", tags=["health"])

#: A readiness probe answers within this even when Redis hangs (a dead host, not a refusal).
READY_TIMEOUT = 2.0


@router.get("/live", response_model=Health, summary="The process is up")
async def live() -> Health:
    """Answers as long as the process serves HTTP; it does not look at Redis."""
    return Health(status="ok")


@router.get(
    "/ready", response_model=Health, summary="Redis answers",
    responses={503: {"model": Health, "description": "Redis does not answer"}},
)
async def ready(svc: Svc) -> Health | JSONResponse:
    """200 when Redis answers PING (with the round trip), 503 when it does not."""
    start = time.perf_counter()
    try:
        await asyncio.wait_for(svc.store.client.ping(), READY_TIMEOUT)
    except (TimeoutError, *UNAVAILABLE) as exc:
        why = f"unreachable: {exc or 'no answer within ' + str(READY_TIMEOUT) + ' s'}"
        return JSONResponse(Health(status="unavailable", redis=why).model_dump(), status_code=503)
    return Health(status="ready", redis="ok", latency_ms=round((time.perf_counter() - start) * 1000, 3))
