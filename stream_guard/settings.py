"""Settings of the streaming and actions commands (worker, topics, produce, rules publish,
demo, actions, freeze, tasks, api).

Each setting comes, highest precedence first, from a command-line flag, the environment
(``STREAM_GUARD_BROKER``, ``STREAM_GUARD_PARTITIONS``, …), a config file (TOML or YAML,
given with ``--config`` or ``STREAM_GUARD_CONFIG``) and the defaults below.

>>> Settings(broker="127.0.0.1:9092").broker
'kafka://127.0.0.1:9092'
>>> Settings(broker="kafka://a:9092,b:9092").bootstrap_servers
'a:9092,b:9092'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from stream_guard.actions.config import ActionsConfig
from stream_guard.api.config import ApiConfig
from stream_guard.core.clock import parse_duration
from stream_guard.core.errors import ConfigError

CONFIG_ENV = "STREAM_GUARD_CONFIG"


class Settings(BaseSettings):
    """Where the worker reads and writes, and how it keeps state."""

    model_config = SettingsConfigDict(
        env_prefix="STREAM_GUARD_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    broker: str = Field(
        "kafka://127.0.0.1:9092",
        description="Kafka bootstrap servers: kafka://host:port[,host:port…] (the scheme may be left out).",
    )
    app_id: str = Field("stream-guard", description="Faust app id: the consumer group and the prefix of internal topics.")
    logins_topic: str = "logins"
    transfers_topic: str = "transfers"
    decisions_topic: str = "stream-guard.decisions"
    dead_letter_topic: str = "stream-guard.dead-letter"
    rules_topic: str = "stream-guard.rules"
    group_topic: str = Field(
        "stream-guard.group-items",
        description="Internal: events' contributions to rules keyed by something else than the user (by: ip).",
    )
    partitions: int = Field(4, ge=1, description="Partitions of the topics `topics create` makes.")
    replication_factor: int = Field(1, ge=1)
    rules_dir: Path | None = Field(None, description="Rules used until a rule set is published (default: ./rules, else the bundled pack).")
    models_dir: Path | None = Field(None, description="Anomaly model declarations (default: ./models, else the bundled ones); see docs/models.md.")
    lateness: str = Field("10m", description="Accept events this far behind a user's newest event.")
    data_dir: Path = Field(Path("stream-guard-data"), description="Faust's data directory (RocksDB tables live here).")
    store: Literal["memory", "rocksdb"] = Field(
        "memory",
        description="Where tables live between changelog writes: memory (recovered from the changelog on start) or rocksdb (on disk under data_dir; only the changelog's tail is replayed).",
    )
    web_port: int = Field(6066, ge=1, le=65535, description="Faust's web port; give each worker on a host its own.")
    batch_size: int = Field(500, ge=1, description="Events taken from the stream at a time.")
    batch_wait: float = Field(0.01, gt=0, description="Seconds to wait for a batch to fill.")
    flush_interval: float = Field(1.0, gt=0, description="Seconds between state writes to the changelog (one write per changed key).")
    flush_events: int = Field(20_000, ge=1, description="Write state sooner when a partition has this many events pending.")
    merge_hold: float = Field(0.5, ge=0, description="Longest a login waits for the transfers of the same moment (and vice versa) to put the two topics in event-time order.")
    merge_max_hold: float = Field(120.0, gt=0, description="Longest an event waits for the other topic even when that topic is known to have more to deliver (a backlog being caught up).")
    fetch_max_wait: float = Field(0.02, gt=0, description="Longest a fetch waits for data at the broker (Faust's own default is 1.5 s; 20 ms measured a lower latency tail than 50 or 10).")
    session_timeout: float = Field(10.0, gt=0, description="Kafka consumer session and rebalance timeout (seconds).")
    gc_interval: float = Field(
        600.0, ge=0,
        description="Seconds between the worker's full garbage collections (0: Python's own schedule, which pauses the worker more often as its cache grows).",
    )
    log_level: Literal["debug", "info", "warn", "error"] = "warn"
    stats_file: Path | None = Field(
        None, description="Write the worker's counters here as JSON every second (the demo and benchmarks read it)."
    )
    # -- the actions agent (stream-guard actions, freeze) --
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis of the actions: redis://, rediss://, unix:// or redis+cluster://host:port.",
    )
    freezes_topic: str = "stream-guard.freezes"
    alerts_topic: str = "stream-guard.alerts"
    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    # -- the HTTP API and the console (stream-guard api) --
    api: ApiConfig = Field(default_factory=ApiConfig)

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("the broker URL is empty")
        if "://" not in v:
            v = "kafka://" + v
        scheme, _, hosts = v.partition("://")
        if scheme != "kafka":
            raise ValueError(f"unsupported broker scheme {scheme!r}: use kafka://host:port")
        for h in hosts.split(","):
            host, _, port = h.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{h!r} is not host:port")
        return v

    @field_validator("lateness")
    @classmethod
    def _lateness(cls, v: str) -> str:
        parse_duration(v)
        return v

    @property
    def bootstrap_servers(self) -> str:
        """The host:port list aiokafka and kcat take."""
        return self.broker.partition("://")[2]

    @property
    def lateness_seconds(self) -> float:
        return parse_duration(self.lateness)

    @property
    def input_topics(self) -> tuple[str, str]:
        return (self.logins_topic, self.transfers_topic)

    @property
    def output_topics(self) -> tuple[str, ...]:
        return (self.decisions_topic, self.dead_letter_topic)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get(CONFIG_ENV)
        if path:
            sources.append(_file_source(settings_cls, Path(path)))
        return tuple(sources)


def _file_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.suffix == ".toml":
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    if path.suffix in (".yaml", ".yml"):
        return YamlConfigSettingsSource(settings_cls, yaml_file=path)
    raise ConfigError(f"config file {path}: use .toml or .yaml")


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Settings from flags (``overrides``, None meaning not given), environment and file.

    Raises :class:`ConfigError` with every problem in one readable message.
    """
    from pydantic import ValidationError

    given = {k: v for k, v in overrides.items() if v is not None}
    old = os.environ.get(CONFIG_ENV)
    try:
        if config is not None:
            os.environ[CONFIG_ENV] = str(config)
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
    finally:
        if config is not None:
            if old is None:
                os.environ.pop(CONFIG_ENV, None)
            else:
                os.environ[CONFIG_ENV] = old
