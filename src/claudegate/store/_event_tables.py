"""The table of accepted events (``/v1/events``). An event's pipeline runs are jobs of the job
table whose ``group_id`` is the event's ``group_id``; its row keeps what the event was and makes
its id idempotent per owner. The outbox holds the runs whose result event is still to be published
to the broker (written with the run's end). Times are seconds since the epoch of the gateway's
clock."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Integer, MetaData, String, Table

__all__ = ["event_tables"]


def event_tables(metadata: MetaData, prefix: str) -> dict[str, Table]:
    """One row per accepted event; one per result event not yet published."""
    events = Table(
        f"{prefix}events",
        metadata,
        Column("owner", String(40), primary_key=True),
        Column("id", String(200), primary_key=True),
        Column("type", String(200), nullable=False),
        Column("payload", JSON(), nullable=True),
        Column("priority", String(8), nullable=True),
        Column("group_id", String(60), nullable=False, unique=True),
        Column("runs", Integer(), nullable=False),
        Column("received_at", Float(), nullable=False),
    )
    outbox = Table(
        f"{prefix}event_outbox",
        metadata,
        Column("job_id", String(40), primary_key=True),
        Column("created_at", Float(), nullable=False),
    )
    return {"events": events, "event_outbox": outbox}
