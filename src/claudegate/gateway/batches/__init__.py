"""Batches on the gateway: Anthropic Message Batches and the OpenAI Batch API (with its files).

A batch's requests run as jobs of the job engine (``claudegate.gateway.jobs``), one group per
batch, so each passes the core's auth, limits, budget, routing and failover as its submitter and
writes one ledger row; or, for a Message Batch whose route asks for it, the upstream's own batch
API runs them. The surfaces (``surfaces/message_batches.py``, ``surfaces/openai_batches.py``)
parse and frame; everything else is here::

    service = app.batches                     # BatchService
    batch = await service.create_messages(principal, [(custom_id, params), ...],
                                          headers=..., webhook=None, base_url="http://host")
    batch, counts = await service.settle(batch)          # ended once every request has
    async for line in service.message_results(batch): ...
"""

from __future__ import annotations

from claudegate.gateway.batches._files import FileEntry, Files, file_json
from claudegate.gateway.batches._records import Batch, BatchApi, BatchRecords
from claudegate.gateway.batches._requests import message_requests, webhook_url
from claudegate.gateway.batches._service import BatchService
from claudegate.gateway.batches._upstream import BATCH_DISCOUNT, Handoff, UpstreamBatches, batch_usage_record
from claudegate.gateway.batches._views import message_result, openai_batch_json

__all__ = [
    "BATCH_DISCOUNT",
    "Batch",
    "BatchApi",
    "BatchRecords",
    "BatchService",
    "FileEntry",
    "Files",
    "Handoff",
    "UpstreamBatches",
    "batch_usage_record",
    "file_json",
    "message_requests",
    "message_result",
    "openai_batch_json",
    "webhook_url",
]
