"""What the routes share: the store, the queue, the freezes, the templates (one set per app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from stream_guard.actions.freezes import FreezeRegistry
from stream_guard.actions.store import ActionsStore
from stream_guard.actions.tasks import TaskQueue
from stream_guard.actions.templates import Catalog
from stream_guard.settings import Settings


@dataclass
class Services:
    """Made in the app's lifespan (``app.state.services``)."""

    settings: Settings
    store: ActionsStore
    tasks: TaskQueue
    freezes: FreezeRegistry
    catalog: Catalog
    tz: Any  # the time zone of times in call scripts

    def now_ms(self) -> int:
        return self.store.now_ms()


def services(request: Request) -> Services:
    """The dependency that hands a route the app's :class:`Services`."""
    return request.app.state.services


#: A route's ``svc`` parameter.
Svc = Annotated[Services, Depends(services)]
