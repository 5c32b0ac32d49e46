"""OpenAI Chat Completions <-> Anthropic Messages, as pure functions on decoded JSON.

Anthropic Messages is the canonical format inside claudegate; this module is the edge where
OpenAI clients come in (requests in, responses and chunks out) and where OpenAI-compatible
upstreams are called (requests out, responses and chunks in). Nothing here does I/O.

Requests
    ``chat_request_to_messages``, ``messages_request_to_chat``, ``response_format_tool_name``,
    ``search_result_text`` (a ``search_result`` block for a model that takes none)
Responses
    ``message_to_chat_completion``, ``chat_completion_to_message``,
    ``stop_reason_to_finish_reason``, ``finish_reason_to_stop_reason``
Streams
    ``MessagesToChatStream`` (+ ``chunk_to_sse``, ``done_sse``), ``ChatToMessagesStream``
    (+ ``estimate_input_tokens`` for its ``message_start``), ``validate_chat_stream``,
    ``validate_chat_sse``
Reasoning
    ``EFFORT_BUDGETS`` (``reasoning_effort`` -> thinking ``budget_tokens``)
Errors
    ``TranslationError``, ``anthropic_error_to_openai``, ``openai_error_to_anthropic``
"""

from __future__ import annotations

from claudegate.translate._chat_request import chat_request_to_messages
from claudegate.translate._chat_stream import MessagesToChatStream, chunk_to_sse, done_sse
from claudegate.translate._chat_tools import response_format_tool_name
from claudegate.translate._errors import (
    TranslationError,
    anthropic_error_to_openai,
    openai_error_to_anthropic,
)
from claudegate.translate._estimate import estimate_input_tokens
from claudegate.translate._mapping import (
    FINISH_REASONS,
    finish_reason_to_stop_reason,
    stop_reason_to_finish_reason,
)
from claudegate.translate._messages_request import messages_request_to_chat
from claudegate.translate._messages_stream import ChatToMessagesStream
from claudegate.translate._parts import search_result_text
from claudegate.translate._reasoning import EFFORT_BUDGETS
from claudegate.translate._responses import chat_completion_to_message, message_to_chat_completion
from claudegate.translate._validate import validate_chat_sse, validate_chat_stream

__all__ = [
    "EFFORT_BUDGETS",
    "FINISH_REASONS",
    "ChatToMessagesStream",
    "MessagesToChatStream",
    "TranslationError",
    "anthropic_error_to_openai",
    "chat_completion_to_message",
    "chat_request_to_messages",
    "chunk_to_sse",
    "done_sse",
    "estimate_input_tokens",
    "finish_reason_to_stop_reason",
    "message_to_chat_completion",
    "messages_request_to_chat",
    "openai_error_to_anthropic",
    "response_format_tool_name",
    "search_result_text",
    "stop_reason_to_finish_reason",
    "validate_chat_sse",
    "validate_chat_stream",
]
