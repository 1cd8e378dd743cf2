"""The actions' shared counters (what all agents did), for analysts and admins."""

from __future__ import annotations

from fastapi import APIRouter

from stream_guard.api.auth import MayReadStats
from stream_guard.api.deps import Svc
from stream_guard.api.errors import responses
from stream_guard.api.models import StatsOut

router = APIRouter(tags=["stats"])


@router.get("/stats", response_model=StatsOut, summary="What the actions did: decisions, tasks, freezes, alerts",
            responses=responses(401, 403, 503))
async def stats(_: MayReadStats, svc: Svc) -> StatsOut:
    return StatsOut(counters=await svc.store.counters())
