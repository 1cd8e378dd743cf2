"""Start a worker process: check the topics, build the Faust app, run it until stopped."""

from __future__ import annotations

import logging
import sys

from stream_guard.core.errors import ConfigError
from stream_guard.core.rules.pack import RuleSet
from stream_guard.settings import Settings

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


def build_worker(settings: Settings, rules: RuleSet, *, rules_source: str, partitions: int | None = None):
    from stream_guard.stream.app import Worker

    if partitions is None:
        partitions = input_partitions(settings)
    return Worker(settings, partitions=partitions, rules=rules, rules_source=rules_source)


def run_worker(settings: Settings, rules: RuleSet, *, rules_source: str) -> None:
    """Blocks until the worker stops (SIGINT/SIGTERM); exits the process like Faust does."""
    from faust.worker import Worker as FaustWorker

    from stream_guard.stream.admin import create_topics

    partitions = input_partitions(settings)
    create_topics(settings, partitions=partitions)  # outputs and internal topics, if missing
    check_group_topic(settings, partitions)
    worker = build_worker(settings, rules, rules_source=rules_source, partitions=partitions)
    logging.getLogger("stream_guard").setLevel(settings.log_level.upper().replace("WARN", "WARNING"))
    print(
        f"stream-guard worker: {settings.broker}, topics {settings.logins_topic}+{settings.transfers_topic} "
        f"({partitions} partitions), rules from {rules_source} ({len(rules.rules)} rules), "
        f"store {settings.store}, web port {settings.web_port}",
        file=sys.stderr,
        flush=True,
    )
    FaustWorker(
        worker.app,
        loglevel=_FAUST_LEVELS[settings.log_level],
        quiet=True,
        redirect_stdouts=False,
    ).execute_from_commandline()
