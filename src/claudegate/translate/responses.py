"""OpenAI Responses API <-> Anthropic Messages, as pure functions on decoded JSON.

The edge where clients of ``POST /v1/responses`` come in: their request becomes a canonical
(Anthropic Messages) request, and the canonical answer goes back as a ``response`` object or as
the Responses API's typed stream events. Nothing here does I/O or keeps conversations: the
gateway stores them (``previous_response_id``) and hands the history in.

Requests
    ``responses_request_to_messages``, ``REASONING_BUDGETS``, ``conversation_with``
Responses
    ``response_shell`` (+ ``ResponseShell``), ``message_to_response``, ``response_object``,
    ``response_usage``
Streams
    ``MessagesToResponsesStream``, ``response_event_to_sse``
"""

from __future__ import annotations

from claudegate.translate._responses_input import conversation_with
from claudegate.translate._responses_output import (
    ResponseShell,
    message_to_response,
    response_object,
    response_shell,
    response_usage,
)
from claudegate.translate._responses_request import REASONING_BUDGETS, responses_request_to_messages
from claudegate.translate._responses_stream import MessagesToResponsesStream, response_event_to_sse

__all__ = [
    "REASONING_BUDGETS",
    "MessagesToResponsesStream",
    "ResponseShell",
    "conversation_with",
    "message_to_response",
    "response_event_to_sse",
    "response_object",
    "response_shell",
    "response_usage",
    "responses_request_to_messages",
]
