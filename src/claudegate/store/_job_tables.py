"""The tables of asynchronous jobs and of their webhook deliveries. Times are seconds since the
epoch of the gateway's clock (a lease is compared with them, never with the database's clock)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Index, Integer, MetaData, String, Table, Text

__all__ = ["job_fair_table", "job_tables"]


def job_tables(metadata: MetaData, prefix: str) -> tuple[Table, Table]:
    """One row per job (its request, state, lease and end), one per webhook delivery."""
    jobs = Table(
        f"{prefix}jobs",
        metadata,
        Column("id", String(40), primary_key=True),
        Column("owner", String(40), nullable=False),
        Column("principal", JSON(), nullable=False),
        Column("group_id", String(60), nullable=True),
        Column("custom_id", String(200), nullable=True),
        Column("dialect", String(20), nullable=False),
        Column("request", JSON(), nullable=False),
        Column("priority", Integer(), nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer(), nullable=False),
        Column("created_at", Float(), nullable=False),
        Column("started_at", Float(), nullable=True),
        Column("finished_at", Float(), nullable=True),
        Column("next_attempt_at", Float(), nullable=False),
        Column("lease_owner", String(40), nullable=True),
        Column("lease_until", Float(), nullable=True),
        Column("result", JSON(), nullable=True),
        Column("usage", JSON(), nullable=True),
        Column("cost", Float(), nullable=True),
        Column("error", JSON(), nullable=True),
        Column("webhook_url", Text(), nullable=True),
        Column("job_metadata", JSON(), nullable=True),
        Index(f"{prefix}jobs_due", "status", "next_attempt_at"),
        Index(f"{prefix}jobs_owner", "owner", "id"),
        Index(f"{prefix}jobs_group", "group_id", "id"),
        Index(f"{prefix}jobs_recent", "group_id", "created_at"),  # the dashboard's newest jobs
    )
    deliveries = Table(
        f"{prefix}job_deliveries",
        metadata,
        Column("id", String(60), primary_key=True),
        Column("job_id", String(40), nullable=False),
        Column("owner", String(40), nullable=False),
        Column("url", Text(), nullable=False),
        Column("event_type", String(40), nullable=False),
        Column("payload", JSON(), nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer(), nullable=False),
        Column("created_at", Float(), nullable=False),
        Column("next_attempt_at", Float(), nullable=True),
        Column("lease_owner", String(40), nullable=True),
        Column("lease_until", Float(), nullable=True),
        Column("log", JSON(), nullable=False),
        Index(f"{prefix}job_deliveries_due", "status", "next_attempt_at"),
        Index(f"{prefix}job_deliveries_job", "job_id"),
    )
    return jobs, deliveries


def job_fair_table(metadata: MetaData, prefix: str) -> Table:
    """One row: the state of the fair order of claims that the replicas of the PgQueuer backend
    share (``gateway.jobs._fair``), locked by each claim."""
    return Table(
        f"{prefix}job_fair",
        metadata,
        Column("id", Integer(), primary_key=True, autoincrement=False),
        Column("state", JSON(), nullable=False),
    )
