"""The SQL tables of the durable store, built per table prefix so deployments can share a database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

from claudegate.store._batch_tables import batch_tables
from claudegate.store._event_tables import event_tables
from claudegate.store._job_tables import job_fair_table, job_tables
from claudegate.store._usage_rollup import rollup_tables

__all__ = ["Tables", "UTCDateTime", "build_tables"]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        # SQLite keeps the wall-clock text only, so every value is normalised to UTC first.
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY, not a BIGINT one.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True, slots=True)
class Tables:
    """The store's tables and the metadata that creates them."""

    metadata: MetaData
    api_keys: Table
    usage: Table
    threads: Table
    thread_messages: Table
    responses: Table
    jobs: Table
    job_deliveries: Table
    job_fair: Table
    webhook_secrets: Table
    webhook_endpoints: Table
    batches: Table
    files: Table
    usage_hourly: Table
    usage_daily: Table
    usage_latency_hourly: Table
    usage_latency_daily: Table
    usage_rollup_state: Table
    events: Table
    event_outbox: Table


def build_tables(prefix: str = "cg_") -> Tables:
    """Describe the store's tables with every name starting with ``prefix``."""
    metadata = MetaData()
    api_keys = Table(
        f"{prefix}api_keys",
        metadata,
        Column("id", String(40), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("prefix", String(16), nullable=False),
        Column("key_hash", String(64), nullable=False, unique=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("revoked_at", UTCDateTime(), nullable=True),
        Column("admin", Boolean(), nullable=False, default=False),
        Column("allowed_models", JSON(), nullable=False),
        Column("requests_per_minute", Integer(), nullable=True),
        Column("input_tokens_per_minute", Integer(), nullable=True),
        Column("output_tokens_per_minute", Integer(), nullable=True),
        Column("concurrent_requests", Integer(), nullable=True),
        Column("cost_per_day", Float(), nullable=True),
        Column("cost_per_month", Float(), nullable=True),
    )
    usage = Table(
        f"{prefix}usage",
        metadata,
        Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        Column("time", UTCDateTime(), nullable=False),
        Column("request_id", String(100), nullable=False),
        Column("key_id", String(40), nullable=True),
        Column("model", String(200), nullable=False),
        Column("deployment", String(200), nullable=False),
        Column("input_tokens", Integer(), nullable=False),
        Column("output_tokens", Integer(), nullable=False),
        Column("cache_write_tokens", Integer(), nullable=False),
        Column("cache_read_tokens", Integer(), nullable=False),
        Column("cost", Float(), nullable=False),
        Column("latency_ms", Float(), nullable=False),
        Column("status", Integer(), nullable=False),
        Column("dialect", String(20), nullable=False),
        Column("stream", Boolean(), nullable=False),
        Index(f"{prefix}usage_key_time", "key_id", "time"),
        Index(f"{prefix}usage_time", "time"),
    )
    threads, thread_messages = _thread_tables(metadata, prefix)
    responses = Table(
        f"{prefix}responses",
        metadata,
        Column("id", String(100), primary_key=True),
        Column("owner", String(40), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("expires_at", UTCDateTime(), nullable=False),
        Column("response", Text(), nullable=False),
        Column("conversation", Text(), nullable=False),
        Index(f"{prefix}responses_expires_at", "expires_at"),
    )
    jobs, job_deliveries = job_tables(metadata, prefix)
    return Tables(
        metadata=metadata,
        jobs=jobs,
        job_deliveries=job_deliveries,
        job_fair=job_fair_table(metadata, prefix),
        api_keys=api_keys,
        usage=usage,
        threads=threads,
        thread_messages=thread_messages,
        responses=responses,
        **_webhook_tables(metadata, prefix),
        **batch_tables(metadata, prefix),
        **rollup_tables(metadata, prefix),
        **event_tables(metadata, prefix),
    )


def _thread_tables(metadata: MetaData, prefix: str) -> tuple[Table, Table]:
    """Message threads: one row per thread (its head is the reply a ``continue`` names), one per
    stored message. Times are seconds since the epoch of the gateway's clock."""
    threads = Table(
        f"{prefix}threads",
        metadata,
        Column("id", String(40), primary_key=True),
        Column("owner", String(40), nullable=False),
        Column("head", String(200), nullable=False),
        Column("deployment", String(200), nullable=True),
        Column("system", JSON(), nullable=True),
        Column("tools", JSON(), nullable=True),
        Column("size", BigInteger(), nullable=False),
        Column("length", Integer(), nullable=False),
        Column("expires_at", Float(), nullable=False),
        Column("claimed_until", Float(), nullable=True),
        Index(f"{prefix}threads_owner_head", "owner", "head"),
        Index(f"{prefix}threads_expires", "expires_at"),
    )
    thread_messages = Table(
        f"{prefix}thread_messages",
        metadata,
        Column("thread_id", String(40), primary_key=True),
        Column("position", Integer(), primary_key=True, autoincrement=False),
        Column("message_id", String(200), nullable=True),
        Column("message", JSON(), nullable=True),
        Index(f"{prefix}thread_messages_id", "message_id"),
    )
    return threads, thread_messages


def _webhook_tables(metadata: MetaData, prefix: str) -> dict[str, Table]:
    """Webhook signing secrets (a key's current one, and previous ones until their overlap ends) and
    the endpoints disabled by a ``410 Gone``; ``owner`` is a key id, ``jwt:<subject>`` or
    ``anonymous``."""
    secrets = Table(
        f"{prefix}webhook_secrets",
        metadata,
        Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        Column("owner", String(40), nullable=False),
        Column("secret", String(200), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("expires_at", UTCDateTime(), nullable=True),
        Index(f"{prefix}webhook_secrets_owner", "owner"),
    )
    endpoints = Table(
        f"{prefix}webhook_endpoints",
        metadata,
        Column("owner", String(40), primary_key=True),
        Column("url_digest", String(64), primary_key=True),
        Column("url", Text(), nullable=False),
        Column("disabled_at", UTCDateTime(), nullable=False),
        Column("status", Integer(), nullable=False),
    )
    return {"webhook_secrets": secrets, "webhook_endpoints": endpoints}
