"""Who the token belongs to (the console signs in with it)."""

from __future__ import annotations

from fastapi import APIRouter

from stream_guard.actions.store import ms_to_dt
from stream_guard.api.auth import PERMISSIONS, MayMe
from stream_guard.api.deps import Svc
from stream_guard.api.errors import responses
from stream_guard.api.models import Me

router = APIRouter(tags=["me"])


@router.get("/me", response_model=Me, summary="The token's holder, role and languages", responses=responses(401, 403))
async def me(principal: MayMe, svc: Svc) -> Me:
    return Me(
        subject=principal.subject,
        role=principal.role,
        permissions=sorted(PERMISSIONS[principal.role]),
        languages=list(principal.languages),
        queue_languages=list(svc.store.languages),
        lease_seconds=svc.store.config.lease,
        now=ms_to_dt(svc.now_ms()),
    )
