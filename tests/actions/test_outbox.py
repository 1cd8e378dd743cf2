"""The relay to Kafka (a fake producer) and the webhook (a real HTTP server on loopback)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import orjson
from actions_helpers import decision
from aiohttp import web

from stream_guard.actions.effects import Effects
from stream_guard.actions.freezes import FreezeRegistry
from stream_guard.actions.outbox import Relay
from stream_guard.actions.tasks import TaskQueue
from stream_guard.actions.webhook import WebhookSender

ACTIONS = [{"kind": "freeze", "scope": "withdrawals", "manual": True},
           {"kind": "callback", "priority": "high", "reason": "call"},
           {"kind": "alert", "template": "large_withdrawal"}]


def test_relay_publishes_each_change_once_in_order(env, catalog):
    sent: list[tuple[str, bytes, dict]] = []

    async def send(topic, key, value):
        sent.append((topic, key, orjson.loads(value)))

    async def go(store):
        fx, relay = Effects(store, catalog), Relay(store, send, freezes_topic="fz", alerts_topic="al")
        await fx.apply(decision(1, actions=ACTIONS))
        await fx.apply(decision(2, user="u-2", actions=ACTIONS))
        first = await relay.publish_due()
        nothing = await relay.publish_due()
        await FreezeRegistry(store).lift("u-1", reason="checked", by="lead")
        await relay.publish_due()
        await fx.apply(decision(1, actions=ACTIONS))  # a replay
        replay = await relay.publish_due()
        return first, nothing, replay, await store.client.zcard(store.keys.outbox("kafka")[0])

    first, nothing, replay, waiting = env.run(go)
    assert (first, nothing, replay, waiting) == (4, 0, 0, 0)
    u1 = [(t, m.get("action") or m.get("kind")) for t, k, m in sent if k == b"u-1"]
    assert u1 == [("fz", "freeze"), ("al", "alert"), ("fz", "lift")]
    lift = sent[-1][2]
    assert lift["by"] == "lead" and lift["frozen"] == {"withdrawals": False, "login": False}
    assert lift["change_id"].startswith("u-1/")


def test_a_change_whose_index_update_was_lost_is_found_by_the_sweep(env, catalog):
    sent = []

    async def send(topic, key, value):
        sent.append(topic)

    async def go(store):
        fx, relay = Effects(store, catalog), Relay(store, send)
        await fx.apply(decision(1, actions=ACTIONS))
        k = store.keys
        await store.client.delete(k.outbox("kafka")[0], k.entry, k.ready("ko"), k.deadline)  # as if we crashed
        lost = await relay.publish_due(), await TaskQueue(store).claim("a", ["ko"])
        found = await relay.sweep()
        return lost, found, await relay.publish_due(), await TaskQueue(store).claim("a", ["ko"])

    lost, found, published, task = env.run(go)
    assert lost == (0, None)
    assert found["pending"] == 1 and found["tasks"] == 1
    assert published == 2 and task is not None


def test_webhook_retries_with_backoff_then_delivers(env, catalog):
    hits: list[tuple[float, dict, dict]] = []
    waits: list[float] = []

    async def go(store):
        async def handler(request):
            body = await request.read()
            hits.append((asyncio.get_running_loop().time(), dict(request.headers), orjson.loads(body)))
            if len(hits) < 3:
                return web.Response(status=503)
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/alerts", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            cfg = store.config.model_copy(update={"webhook_url": f"http://127.0.0.1:{port}/alerts",
                                                  "webhook_secret": "s3cret", "webhook_backoff": 0.05})
            async def sleep(seconds):  # the waits asked for, without the box's timing noise
                waits.append(seconds)

            sender = WebhookSender(cfg, sleep=sleep)
            store.webhook = True
            relay = Relay(store, _no_kafka, webhook=sender)
            await Effects(store, catalog).apply(decision(1, actions=ACTIONS))
            n = await relay.post_due()
            again = await relay.post_due()
            await sender.close()
            return n, again, relay.published
        finally:
            await runner.cleanup()

    n, again, published = env.run(go)
    assert (n, again) == (1, 0) and published["webhook_delivered"] == 1
    assert len(hits) == 3
    assert len(waits) == 2 and 0.04 <= waits[0] <= 0.06 and 0.08 <= waits[1] <= 0.12  # 0.05 doubling, ±20 %
    headers, body = hits[-1][1], hits[-1][2]
    assert headers["Idempotency-Key"] == body["alert_id"] and {h[2]["alert_id"] for h in hits} == {body["alert_id"]}
    raw = orjson.dumps(body)
    assert headers["X-Stream-Guard-Signature"] == "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()


def test_webhook_gives_up_on_a_client_error(env):
    async def go(store):
        async def handler(request):
            return web.Response(status=400)

        app = web.Application()
        app.router.add_post("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            sender = WebhookSender(store.config.model_copy(update={"webhook_url": f"http://127.0.0.1:{port}/"}))
            d = await sender.post(b"{}", "a-1")
            await sender.close()
            dead = WebhookSender(store.config.model_copy(update={"webhook_url": "http://127.0.0.1:9/", "webhook_attempts": 3,
                                                                 "webhook_backoff": 0.01}))
            unreachable = await dead.post(b"{}", "a-2")
            await dead.close()
            return d, unreachable
        finally:
            await runner.cleanup()

    d, unreachable = env.run(go)
    assert (d.ok, d.attempts, d.status) == (False, 1, 400)
    assert (unreachable.ok, unreachable.attempts, unreachable.status) == (False, 3, None)


async def _no_kafka(topic, key, value):
    raise AssertionError("not in this test")


def test_one_relay_at_a_time(env):
    async def go(store):
        a, b = Relay(store, _no_kafka), Relay(store, _no_kafka)
        first = (await a.lead(ttl=5), await b.lead(ttl=5), await a.lead(ttl=5))
        await store.client.delete(store.keys.relay_lease)  # as if a's lease ran out
        return first, await b.lead(ttl=5), await a.lead(ttl=5)

    assert env.run(go) == ((True, False, True), True, False)
