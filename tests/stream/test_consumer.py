"""The consumer's inline delivery (stream/consumer.py): same outcome as Faust's race, fewer tasks."""

from __future__ import annotations

import asyncio

from mode import Service

from stream_guard.stream.consumer import deliver


class _Svc(Service):
    pass


def _run(coro):
    return asyncio.run(coro)


def test_a_callback_that_never_blocks_runs_inline_without_tasks():
    ran = []

    async def callback() -> None:
        ran.append(asyncio.current_task())

    async def main() -> None:
        svc = _Svc()
        before = len(asyncio.all_tasks())
        assert await deliver(svc, callback(), asyncio.Event()) is True
        assert len(asyncio.all_tasks()) == before
        assert ran == [asyncio.current_task()]  # in the caller's own task

    _run(main())


def test_a_callback_that_blocks_finishes_through_the_race_with_every_step():
    steps = []

    async def callback() -> None:
        steps.append("start")
        await asyncio.sleep(0)  # a bare yield
        steps.append("after yield")
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, fut.set_result, 42)
        steps.append(await fut)  # a real future, resolved later
        await asyncio.sleep(0.01)
        steps.append("done")

    async def main() -> bool:
        return await deliver(_Svc(), callback(), asyncio.Event())

    assert _run(main()) is True
    assert steps == ["start", "after yield", 42, "done"]


def test_a_blocked_callback_is_abandoned_when_the_flow_is_suspended():
    state = {}

    async def callback() -> None:
        try:
            await asyncio.get_running_loop().create_future()  # never resolves
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise

    async def main() -> bool:
        suspend = asyncio.Event()
        asyncio.get_running_loop().call_later(0.02, suspend.set)
        return await asyncio.wait_for(deliver(_Svc(), callback(), suspend), 2)

    assert _run(main()) is False  # not delivered: the drain loop must not count it as read
    assert state == {"cancelled": True}


def test_a_callback_that_blocks_while_the_flow_is_already_suspended_is_not_delivered():
    async def callback() -> None:
        await asyncio.get_running_loop().create_future()  # e.g. waiting for flow control

    async def main() -> bool:
        suspend = asyncio.Event()
        suspend.set()
        return await deliver(_Svc(), callback(), suspend)

    assert _run(main()) is False


def test_an_error_in_the_first_step_propagates():
    async def callback() -> None:
        raise ValueError("bad message")

    async def main() -> None:
        try:
            await deliver(_Svc(), callback(), asyncio.Event())
        except ValueError as exc:
            return str(exc)
        return None

    assert _run(main()) == "bad message"


def test_an_error_after_blocking_propagates():
    async def callback() -> None:
        await asyncio.sleep(0.001)
        raise KeyError("late")

    async def main() -> None:
        try:
            await deliver(_Svc(), callback(), asyncio.Event())
        except KeyError:
            return "raised"
        return None

    assert _run(main()) == "raised"


def test_resuming_an_active_flow_keeps_what_the_queues_hold():
    from mode.utils.queues import FlowControlQueue

    from stream_guard.stream.consumer import FlowControl

    async def main() -> tuple[int, int]:
        flow = FlowControl()
        q = FlowControlQueue(flow_control=flow, clear_on_resume=True)
        flow.resume()  # suspended -> active: empties, as Faust's does (nothing there yet)
        q.put_nowait("delivered")
        flow.resume()  # active -> active (Faust does this while starting): keeps it
        kept = q.qsize()
        flow.suspend()
        flow.resume()  # after a suspension: empties
        return kept, q.qsize()

    assert _run(main()) == (1, 0)
