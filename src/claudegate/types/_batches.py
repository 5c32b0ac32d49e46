"""Message batches: many requests processed asynchronously, with results as JSON lines."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, TypeAlias

from pydantic import Tag

from claudegate.types._base import UNKNOWN, UnknownObject, WireModel, type_discriminator
from claudegate.types._errors import ErrorResponse
from claudegate.types._messages import Message
from claudegate.types._params import MessageCreateParams

__all__ = [
    "BatchCanceled",
    "BatchErrored",
    "BatchExpired",
    "BatchOutcome",
    "BatchProcessingStatus",
    "BatchRequest",
    "BatchRequestCounts",
    "BatchResult",
    "BatchSucceeded",
    "MessageBatch",
    "MessageBatchCreateParams",
    "MessageBatchPage",
    "UnknownBatchOutcome",
]

BatchProcessingStatus: TypeAlias = Literal["in_progress", "canceling", "ended"] | str
"""Where a batch is in its life. Values newer than this list still parse (as plain strings)."""


class BatchRequest(WireModel):
    """One request of a batch: a caller-chosen ``custom_id`` and the ``POST /v1/messages`` body."""

    custom_id: str
    params: MessageCreateParams


class MessageBatchCreateParams(WireModel):
    """The body of ``POST /v1/messages/batches``."""

    requests: list[BatchRequest]


class BatchRequestCounts(WireModel):
    """How many of a batch's requests are in each state."""

    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0


class MessageBatch(WireModel):
    """A batch as the API reports it; times are RFC 3339 strings, kept exactly as sent."""

    _sent_nulls: ClassVar[tuple[str, ...]] = ("archived_at", "cancel_initiated_at", "ended_at", "results_url")

    id: str
    type: Literal["message_batch"] = "message_batch"
    archived_at: str | None = None
    cancel_initiated_at: str | None = None
    created_at: str
    ended_at: str | None = None
    expires_at: str
    processing_status: BatchProcessingStatus
    request_counts: BatchRequestCounts
    results_url: str | None = None


class MessageBatchPage(WireModel):
    """A page of batches; pass ``last_id`` as ``after_id`` for the next page while ``has_more``."""

    data: list[MessageBatch]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class BatchSucceeded(WireModel):
    """The request succeeded: here is its ``message``."""

    type: Literal["succeeded"] = "succeeded"
    message: Message


class BatchErrored(WireModel):
    """The request failed: here is its error envelope."""

    type: Literal["errored"] = "errored"
    error: ErrorResponse


class BatchCanceled(WireModel):
    """The batch was canceled before this request ran."""

    type: Literal["canceled"] = "canceled"


class BatchExpired(WireModel):
    """The batch expired before this request ran."""

    type: Literal["expired"] = "expired"


class UnknownBatchOutcome(UnknownObject):
    """A result kind claudegate does not know, kept whole."""


BatchOutcome: TypeAlias = Annotated[
    Annotated[BatchSucceeded, Tag("succeeded")]
    | Annotated[BatchErrored, Tag("errored")]
    | Annotated[BatchCanceled, Tag("canceled")]
    | Annotated[BatchExpired, Tag("expired")]
    | Annotated[UnknownBatchOutcome, Tag(UNKNOWN)],
    type_discriminator("succeeded", "errored", "canceled", "expired"),
]
"""A ``BatchResult``'s ``result``; unknown kinds parse as ``UnknownBatchOutcome``."""


class BatchResult(WireModel):
    """One line of a batch's results file: ``{"custom_id": ..., "result": {...}}``."""

    custom_id: str
    result: BatchOutcome
