"""The gateway core: one call pipeline under every surface (see ``_core`` for its order)."""

from __future__ import annotations

from claudegate.gateway.core._auth import credential_digest, keys_issued, presented_key
from claudegate.gateway.core._budget import budget_refusal, usage_cost
from claudegate.gateway.core._call import ANONYMOUS, Call, Dialect, Outcome, Principal, new_request_id
from claudegate.gateway.core._chat_passthrough import ChatRequest
from claudegate.gateway.core._core import GatewayCore, StreamReply
from claudegate.gateway.core._errors import (
    GatewayError,
    anthropic_body,
    anthropic_error,
    classify,
    openai_body,
    shown,
)
from claudegate.gateway.core._key_admin import KeyAdmin, KeyStanding
from claudegate.gateway.core._live import LiveState, live_state
from claudegate.gateway.core._requests import parse_json_body, require
from claudegate.gateway.core._retrieval import RetrievalService, open_store
from claudegate.gateway.core._rooms import MemoryRoomHub, RoomEvent, RoomHub, RoomSubscription, open_room_hub
from claudegate.gateway.core._stream_text import StreamObserver, StreamSink
from claudegate.gateway.core._usage_series import GROUPINGS as USAGE_GROUPINGS
from claudegate.gateway.core._usage_series import WINDOWS as USAGE_WINDOWS
from claudegate.gateway.core._usage_series import UsageSeries, usage_series

__all__ = [
    "ANONYMOUS",
    "USAGE_GROUPINGS",
    "USAGE_WINDOWS",
    "Call",
    "ChatRequest",
    "Dialect",
    "GatewayCore",
    "GatewayError",
    "KeyAdmin",
    "KeyStanding",
    "LiveState",
    "MemoryRoomHub",
    "Outcome",
    "Principal",
    "RetrievalService",
    "RoomEvent",
    "RoomHub",
    "RoomSubscription",
    "StreamObserver",
    "StreamReply",
    "StreamSink",
    "UsageSeries",
    "anthropic_body",
    "anthropic_error",
    "budget_refusal",
    "classify",
    "credential_digest",
    "keys_issued",
    "live_state",
    "new_request_id",
    "open_room_hub",
    "open_store",
    "openai_body",
    "parse_json_body",
    "presented_key",
    "require",
    "shown",
    "usage_cost",
    "usage_series",
]
