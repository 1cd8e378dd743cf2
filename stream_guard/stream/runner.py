"""Start a worker process: check the topics, build the Faust app, run it until stopped."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Collection

from stream_guard.core.errors import ConfigError
from stream_guard.core.models import ModelRegistry
from stream_guard.core.rules.pack import RuleSet
from stream_guard.settings import Settings
from stream_guard.stream.rulesync import PublishedRules

log = logging.getLogger("stream_guard.worker")

_FAUST_LEVELS = {"debug": "debug", "info": "info", "warn": "warn", "error": "error"}


def input_partitions(settings: Settings, timeout: float = 15.0) -> int:
    """The input topics' common partition count; ConfigError if missing or different."""
    from stream_guard.stream.admin import partition_counts, wait_for_broker

    wait_for_broker(settings.bootstrap_servers, timeout)
    counts = partition_counts(settings.bootstrap_servers, list(settings.input_topics))
    missing = [t for t, n in counts.items() if n is None]
    if missing:
        raise ConfigError(
            f"topic(s) {', '.join(missing)} do not exist on {settings.broker}: "
            f"create them with `stream-guard topics create --broker {settings.broker}`"
        )
    distinct = set(counts.values())
    if len(distinct) != 1:
        shown = ", ".join(f"{t} has {n}" for t, n in counts.items())
        raise ConfigError(
            f"the input topics are not co-partitioned ({shown} partitions): a user's logins and "
            "transfers would reach different workers. Give them the same partition count."
        )
    return distinct.pop()  # type: ignore[return-value]


def check_group_topic(settings: Settings, partitions: int) -> None:
    from stream_guard.stream.admin import partition_counts

    n = partition_counts(settings.bootstrap_servers, [settings.group_topic])[settings.group_topic]
    if n != partitions:
        raise ConfigError(
            f"topic {settings.group_topic} has {n} partitions, the input topics {partitions}: "
            "they must match (delete it; the worker recreates it)"
        )


def published_rules(settings: Settings, scores: Collection[str] = ()) -> tuple[RuleSet, PublishedRules] | None:
    """The rule set in force on the rules topic, loaded; None if none or if it fails to load.

    Read before the Faust app starts: an agent that waits before iterating its stream makes
    Faust skip messages (see OffsetGuard), so the agents never wait for the rules.
    """
    from stream_guard.core.errors import RuleSetError
    from stream_guard.stream.publish import latest_published

    try:
        published = asyncio.run(latest_published(settings))
    except ConfigError as exc:
        log.error("stream-guard: cannot read the rules topic: %s; using the rules directory", exc)
        return None
    if published is None:
        return None
    try:
        return published.load(scores), published
    except RuleSetError as exc:
        log.error(
            "stream-guard: the published rule set version %s is invalid (%s); using the rules directory",
            published.version, "; ".join(e.render() for e in exc.errors[:5]),
        )
        return None


def build_worker(
    settings: Settings, rules: RuleSet, *, rules_source: str, partitions: int | None = None,
    models: ModelRegistry | None = None,
):
    from stream_guard.stream.app import Worker

    if partitions is None:
        partitions = input_partitions(settings)
    found = published_rules(settings, models.names if models else ())
    published = None
    if found is not None:
        rules, published = found
        rules_source = f"published version {published.version}"
    return Worker(settings, partitions=partitions, rules=rules, rules_source=rules_source, published=published,
                  models=models)


def check_topics(settings: Settings) -> int:
    """Check the input topics, create the missing output and internal ones; the partition count."""
    from stream_guard.stream.admin import create_topics

    partitions = input_partitions(settings)
    create_topics(settings, partitions=partitions)  # outputs and internal topics, if missing
    check_group_topic(settings, partitions)
    return partitions


def run_worker(
    settings: Settings, rules: RuleSet, *, rules_source: str, partitions: int | None = None,
    models: ModelRegistry | None = None,
) -> None:
    """Blocks until the worker stops (SIGINT/SIGTERM); exits the process like Faust does."""
    from faust.worker import Worker as FaustWorker

    if partitions is None:
        partitions = check_topics(settings)
    logging.getLogger("stream_guard").setLevel(settings.log_level.upper().replace("WARN", "WARNING"))
    worker = build_worker(settings, rules, rules_source=rules_source, partitions=partitions, models=models)
    print(
        f"stream-guard worker: {settings.broker}, topics {settings.logins_topic}+{settings.transfers_topic} "
        f"({partitions} partitions), rules from {worker.rules_source} ({len(worker.user_engine.detector.rules.rules)} rules), "
        f"{len(worker.models)} models, "
        f"store {settings.store}, web port {settings.web_port}",
        file=sys.stderr,
        flush=True,
    )
    faust_worker = FaustWorker(
        worker.app,
        loglevel=_FAUST_LEVELS[settings.log_level],
        quiet=True,
        redirect_stdouts=False,
    )
    # Faust's progress spinner sets the root logger to DEBUG, so that every debug call of
    # Faust and aiokafka builds a LogRecord (3-8 % of a worker's CPU), and writes terminal
    # escapes into log files.
    faust_worker.spinner = None
    faust_worker.execute_from_commandline()
