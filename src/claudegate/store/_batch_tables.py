"""The tables of batches (Anthropic Message Batches and OpenAI batches) and of uploaded files.

A batch's requests are jobs of the job table (their ``group_id`` is the batch's id); its row keeps
what the batch APIs show beyond them. Times are seconds since the epoch of the gateway's clock.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text

__all__ = ["batch_tables"]


def batch_tables(metadata: MetaData, prefix: str) -> dict[str, Table]:
    """One row per batch, one per file (its bytes inline: files are bounded by config)."""
    batches = Table(
        f"{prefix}batches",
        metadata,
        Column("id", String(60), primary_key=True),
        Column("owner", String(40), nullable=False),
        Column("api", String(16), nullable=False),
        Column("created_at", Float(), nullable=False),
        Column("expires_at", Float(), nullable=False),
        Column("request_count", Integer(), nullable=False),
        Column("cancel_initiated_at", Float(), nullable=True),
        Column("expired_at", Float(), nullable=True),
        Column("ended_at", Float(), nullable=True),
        Column("webhook_url", Text(), nullable=True),
        Column("details", JSON(), nullable=False),
        Index(f"{prefix}batches_owner", "owner", "api", "created_at"),
    )
    files = Table(
        f"{prefix}files",
        metadata,
        Column("id", String(60), primary_key=True),
        Column("owner", String(40), nullable=False),
        Column("purpose", String(32), nullable=False),
        Column("filename", String(512), nullable=False),
        Column("bytes", Integer(), nullable=False),
        Column("created_at", Float(), nullable=False),
        Column("expires_at", Float(), nullable=True),
        Column("content", LargeBinary(), nullable=False),
        Index(f"{prefix}files_owner", "owner", "created_at"),
    )
    return {"batches": batches, "files": files}
