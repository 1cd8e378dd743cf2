"""The worker's Kafka consumer: Faust's aiokafka consumer with two costs taken out.

1. **Fetch wait.** Faust hard-codes aiokafka's ``fetch_max_wait_ms`` at 1,500 ms. A broker
   that holds a fetch until that deadline when fewer than ``fetch_min_bytes`` are waiting
   (Tansu does) turns it into latency; the worker's ``fetch_max_wait`` setting replaces it.
2. **Per-message races.** Faust's ``Consumer._drain_messages`` hands every fetched message to
   the conductor through ``Service.wait_first(callback(message), suspend_flow.wait())``: four
   new tasks and an ``asyncio.wait`` per message, so that a callback blocked while the flow is
   suspended for a rebalance can be abandoned. Measured with py-spy, that race was about 15%
   of a worker's CPU. The callback almost never blocks (it decodes the message and puts it
   on a queue with room), so :func:`deliver` first runs it inline, and only when it does
   block (flow control, a full queue, the producer's buffer) hands the rest of it to the
   same race Faust runs. What the callback does, and the race when it blocks, are Faust's.
3. **Messages lost at a (re)assignment.** Faust records a message as read once the race is
   over, *whether or not the callback delivered it*. At start-up Faust resumes the partitions
   before it seeks them to the committed offsets and lets the flow go; a batch fetched in
   between is abandoned message by message (the flow is suspended), yet its offsets become
   the partitions' read offsets — and when the same messages come again from the committed
   offset, the loop drops them as already read. Likewise a batch fetched before a rebalance
   and delivered after it: the streams skip (and acknowledge) messages of an older
   generation. Here a message counts as read only when it was delivered in the current
   generation; the rest of an abandoned or stale batch is left for the fetch after the seek.
4. **Messages cleared after delivery** (:class:`FlowControl`). Resuming the app's flow
   control empties every stream queue, and Faust resumes it several times while it starts:
   to read the changelogs, then again once the stream partitions have been resumed and
   seeked. Messages fetched between the two were delivered (and marked read), then emptied
   out of the queues by the second resume: never processed, never fetched again. The kill -9
   recovery test caught it about one run in six — the new worker's first messages 40 to 150
   offsets past the committed ones. Here a resume empties the queues only when the flow was
   suspended (a rebalance also empties them when it suspends the flow).

The drain loop below is Faust 0.15's ``Consumer._drain_messages`` with the changes of points
2 and 3 (the version range is pinned in pyproject.toml: re-check all four when upgrading).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, cast

import faust.transport.drivers.aiokafka as aiokafka_driver
from faust.transport.consumer import CONSUMER_FETCHING
from mode import Service
from mode.utils.queues import FlowControlEvent


class FlowControl(FlowControlEvent):
    """The app's flow control, whose ``resume()`` empties the stream queues only when the
    flow was suspended (see the module's point 4). Install it on a new app:
    ``app.flow_control = FlowControl()``, before any stream or table exists."""

    def resume(self) -> None:
        was_suspended = self._suspend.is_set()
        self._suspend.clear()
        self._resume.set()
        if was_suspended:
            self.clear()


class _Rest:
    """The rest of a coroutine that has already run up to its first suspension.

    ``first`` is what the coroutine yielded there (the future it waits on). Awaiting this
    object goes on where the coroutine stopped: the task driving it waits on ``first``, then
    on whatever the coroutine yields next, exactly as ``await coro`` would have from the
    start; a cancellation is thrown into the coroutine.
    """

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any):
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self.coro, self.first
        while True:
            try:
                sent = yield pending
            except BaseException as exc:  # cancelled while waiting: the coroutine decides
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def deliver(service: Service, callback_coro: Coroutine[Any, Any, Any], suspend: Any) -> bool:
    """Run ``callback_coro`` inline; if it blocks, race the rest of it against ``suspend``.

    The same as ``await service.wait_first(callback_coro, suspend.wait())``, without the
    tasks when the callback completes in one step. True if the callback ran to its end,
    False if it was abandoned (the flow was suspended, or the service is stopping).
    """
    try:
        first = callback_coro.send(None)
    except StopIteration:
        return True
    except BaseException:
        callback_coro.close()
        raise
    rest = _Rest(callback_coro, first)
    won = await service.wait_first(cast(Awaitable, rest), suspend.wait())
    return not won.stopped and rest in won.done


class ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    fetch_max_wait_ms = 20

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer

    async def seek_to_committed(self) -> Any:
        return await self.call_thread(self._seek_to_committed_or_start)

    async def _seek_to_committed_or_start(self) -> Any:
        """aiokafka seeks only the partitions with a committed offset above 0; the others keep
        the position they have fetched to, so a batch abandoned before the flow resumed (see
        the module's point 3) would not come again. They start from the beginning (the
        worker's reset policy is "earliest")."""
        consumer = self._ensure_consumer()
        committed = await consumer.seek_to_committed()
        fresh = [tp for tp, offset in committed.items() if not offset]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        return committed


class Consumer(aiokafka_driver.Consumer):
    def _new_consumer_thread(self) -> Any:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        suspend_flow = self.suspend_flow
        app = self.app
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        if message.generation_id != app.consumer_generation_id:
                            break  # fetched before a rebalance: comes again after its seek
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            if not await deliver(self, callback(message), suspend_flow):
                                break  # not read: fetched again after the seek
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev("DROPPED MESSAGE ROFF %r: k=%r", offset, message.key)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)
