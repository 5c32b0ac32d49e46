"""OpenTelemetry attribute names the project's spans use, kept here rather than imported.

The GenAI semantic conventions live outside the OpenTelemetry API package and are still being
renamed (``gen_ai.system`` became ``gen_ai.provider.name``), so the names are pinned as constants:
a span keeps its shape whatever version of the conventions package is installed. Names of the
project's own (``claudegate.*``) follow the same dotted style. Pure constants: no imports, no I/O.
"""

from __future__ import annotations

__all__ = [
    "CLAUDEGATE_ATTEMPTS",
    "CLAUDEGATE_DEPLOYMENT",
    "CLAUDEGATE_JOBS",
    "CLAUDEGATE_JOB_ID",
    "CLAUDEGATE_KEY_ID",
    "CLAUDEGATE_REQUEST_ID",
    "CLAUDEGATE_SURFACE",
    "CLAUDEGATE_TOOL_OUTCOME",
    "CLAUDEGATE_WEBHOOK_ATTEMPT",
    "CLAUDEGATE_WEBHOOK_EVENT",
    "CLAUDEGATE_WEBHOOK_ID",
    "CLAUDEGATE_WEBHOOK_OUTCOME",
    "ERROR_TYPE",
    "GEN_AI_INPUT_MESSAGES",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_OUTPUT_MESSAGES",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MAX_TOKENS",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_REQUEST_TEMPERATURE",
    "GEN_AI_RESPONSE_FINISH_REASONS",
    "GEN_AI_RESPONSE_ID",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_TOOL_CALL_ID",
    "GEN_AI_TOOL_NAME",
    "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "HTTP_RESPONSE_STATUS_CODE",
    "OPERATION_CHAT",
    "OPERATION_EXECUTE_TOOL",
    "SERVER_ADDRESS",
    "URL_FULL",
]

# GenAI semantic conventions (gen_ai.*).
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"

OPERATION_CHAT = "chat"
OPERATION_EXECUTE_TOOL = "execute_tool"

# General conventions.
ERROR_TYPE = "error.type"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
SERVER_ADDRESS = "server.address"
URL_FULL = "url.full"

# The project's own.
CLAUDEGATE_REQUEST_ID = "claudegate.request_id"
CLAUDEGATE_KEY_ID = "claudegate.key_id"
CLAUDEGATE_SURFACE = "claudegate.surface"
CLAUDEGATE_DEPLOYMENT = "claudegate.deployment"
CLAUDEGATE_ATTEMPTS = "claudegate.attempts"
CLAUDEGATE_JOB_ID = "claudegate.job_id"
CLAUDEGATE_JOBS = "claudegate.jobs"
CLAUDEGATE_WEBHOOK_ID = "claudegate.webhook.id"
CLAUDEGATE_WEBHOOK_ATTEMPT = "claudegate.webhook.attempt"
CLAUDEGATE_WEBHOOK_EVENT = "claudegate.webhook.event"
CLAUDEGATE_WEBHOOK_OUTCOME = "claudegate.webhook.outcome"
CLAUDEGATE_TOOL_OUTCOME = "claudegate.tool.outcome"
