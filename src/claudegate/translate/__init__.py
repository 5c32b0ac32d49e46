"""Translation between the OpenAI and Anthropic dialects (pure; see ``claudegate.translate.openai``)."""

from __future__ import annotations

from claudegate.translate.openai import (
    EFFORT_BUDGETS,
    FINISH_REASONS,
    ChatToMessagesStream,
    MessagesToChatStream,
    TranslationError,
    anthropic_error_to_openai,
    chat_completion_to_message,
    chat_request_to_messages,
    chunk_to_sse,
    done_sse,
    estimate_input_tokens,
    finish_reason_to_stop_reason,
    message_to_chat_completion,
    messages_request_to_chat,
    openai_error_to_anthropic,
    response_format_tool_name,
    search_result_text,
    stop_reason_to_finish_reason,
    validate_chat_sse,
    validate_chat_stream,
)

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
