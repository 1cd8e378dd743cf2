"""``stream-guard worker``: run the detector as a Faust worker on Kafka."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stream_guard.cli._common import (
    BrokerOpt,
    ConfigOpt,
    ModelsOption,
    err,
    quiet_kafka_client,
    rules_and_models_or_exit,
    rules_dir_or_default,
    settings_or_exit,
)
from stream_guard.core.errors import ConfigError


def worker_command(
    broker: BrokerOpt = None,
    web_port: Annotated[
        int | None, typer.Option("--web-port", help="Faust's web port; each worker on a host needs its own (default 6066).", show_default=False)
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="Rules used until a rule set is published (default: ./rules, else the bundled pack).", show_default=False),
    ] = None,
    models: ModelsOption = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Faust's data directory (RocksDB tables).", show_default=False)
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="memory (recover from the changelog) or rocksdb (on disk under --data-dir).", show_default=False)
    ] = None,
    lateness: Annotated[str | None, typer.Option("--lateness", help="Accept events this far behind a user's newest event (default 10m).", show_default=False)] = None,
    log_level: Annotated[str | None, typer.Option("--log-level", "-l", help="debug, info, warn or error (default warn).", show_default=False)] = None,
    stats_file: Annotated[
        Path | None, typer.Option("--stats-file", help="Write the worker's counters here as JSON every second.", show_default=False)
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Consume logins and transfers, detect, publish decisions (runs until Ctrl-C).

    The input topics must exist with the same partition count (stream-guard topics create);
    a new consumer group starts from the earliest offset.
    """
    settings = settings_or_exit(
        config, broker=broker, web_port=web_port, rules_dir=rules, models_dir=models, data_dir=data_dir,
        store=store, lateness=lateness, log_level=log_level, stats_file=stats_file,
    )
    ruleset, registry = rules_and_models_or_exit(settings.rules_dir, settings.models_dir)
    from stream_guard.stream.runner import check_topics, run_worker

    try:
        with quiet_kafka_client():  # until Faust takes over the logging
            partitions = check_topics(settings)
        run_worker(settings, ruleset, rules_source=str(rules_dir_or_default(settings.rules_dir)), partitions=partitions,
                   models=registry)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
