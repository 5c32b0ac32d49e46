"""Typed async and sync clients for the Claude API.

>>> from claudegate.client import AsyncClient, RetryPolicy
>>> client = AsyncClient(retry=RetryPolicy())
"""

from claudegate.client._breaker import CircuitBreaker, CircuitState, is_failure_status, is_upstream_failure
from claudegate.client._caching import (
    CacheSavings,
    CacheUsage,
    cache_control,
    cache_last_message,
    cache_system,
    cache_tools,
)
from claudegate.client._client import DEFAULT_BASE_URL, AsyncClient
from claudegate.client._compression import Compression
from claudegate.client._curl import to_curl
from claudegate.client._dynamic_config import ClientSettings, DynamicConfig
from claudegate.client._failover import Endpoint, EndpointHealth, Failover, FailoverStrategy
from claudegate.client._health import EndpointCheck, HealthChecker, HealthStrategy, HealthSummary
from claudegate.client._httptools import HttpToolsTransport
from claudegate.client._images import (
    IMAGE_MEDIA_TYPES,
    MAX_IMAGE_BYTES,
    image_block_from_bytes,
    image_block_from_file,
    image_block_from_url,
)
from claudegate.client._limiter import RateLimiter, estimate_input_tokens
from claudegate.client._mock import MockResponse, MockTransport
from claudegate.client._observers import CallbackObserver, StreamObserver, TextWindowObserver
from claudegate.client._pagination import AsyncPaginator, Page
from claudegate.client._params import BatchRequestParam, ClientOptions, MessageCreateArgs, RequestOptions
from claudegate.client._pipeline import Reliability
from claudegate.client._prices import PRICES, ModelPrice, cost_of_usage, price_for_model
from claudegate.client._quota import QuotaLimit, QuotaManager, QuotaMetric, QuotaPeriod
from claudegate.client._reliability_settings import (
    BreakerSettings,
    EndpointSettings,
    FailoverSettings,
    LimiterSettings,
    QuotaLimitSettings,
    QuotaSettings,
    RetrySettings,
)
from claudegate.client._resources import AsyncBatches, AsyncMessages, AsyncModels
from claudegate.client._retry import RetryPolicy
from claudegate.client._secret_audit import SECRET_AUDIT, SecretAudit, SecretReveal
from claudegate.client._secrets import (
    SECRET_HEADERS,
    ApiKey,
    check_anthropic_key,
    find_secrets_file,
    load_secrets_file,
    redact_headers,
    resolve_api_key,
)
from claudegate.client._stream_control import ControlledStream
from claudegate.client._streaming import AsyncMessageStream, AsyncMessageStreamManager
from claudegate.client._sync import (
    Batches,
    Client,
    Messages,
    MessageStream,
    MessageStreamManager,
    Models,
    Paginator,
)
from claudegate.client._timeouts import Timeout
from claudegate.client._transport import AiohttpTransport, AsyncTransport, Request, Response
from claudegate.client._validation import validate_count_tokens_request, validate_message_request

__all__ = [
    "DEFAULT_BASE_URL",
    "IMAGE_MEDIA_TYPES",
    "MAX_IMAGE_BYTES",
    "PRICES",
    "SECRET_AUDIT",
    "SECRET_HEADERS",
    "AiohttpTransport",
    "ApiKey",
    "AsyncBatches",
    "AsyncClient",
    "AsyncMessageStream",
    "AsyncMessageStreamManager",
    "AsyncMessages",
    "AsyncModels",
    "AsyncPaginator",
    "AsyncTransport",
    "BatchRequestParam",
    "Batches",
    "BreakerSettings",
    "CacheSavings",
    "CacheUsage",
    "CallbackObserver",
    "CircuitBreaker",
    "CircuitState",
    "Client",
    "ClientOptions",
    "ClientSettings",
    "Compression",
    "ControlledStream",
    "DynamicConfig",
    "Endpoint",
    "EndpointCheck",
    "EndpointHealth",
    "EndpointSettings",
    "Failover",
    "FailoverSettings",
    "FailoverStrategy",
    "HealthChecker",
    "HealthStrategy",
    "HealthSummary",
    "HttpToolsTransport",
    "LimiterSettings",
    "MessageCreateArgs",
    "MessageStream",
    "MessageStreamManager",
    "Messages",
    "MockResponse",
    "MockTransport",
    "ModelPrice",
    "Models",
    "Page",
    "Paginator",
    "QuotaLimit",
    "QuotaLimitSettings",
    "QuotaManager",
    "QuotaMetric",
    "QuotaPeriod",
    "QuotaSettings",
    "RateLimiter",
    "Reliability",
    "Request",
    "RequestOptions",
    "Response",
    "RetryPolicy",
    "RetrySettings",
    "SecretAudit",
    "SecretReveal",
    "StreamObserver",
    "TextWindowObserver",
    "Timeout",
    "cache_control",
    "cache_last_message",
    "cache_system",
    "cache_tools",
    "check_anthropic_key",
    "cost_of_usage",
    "estimate_input_tokens",
    "find_secrets_file",
    "image_block_from_bytes",
    "image_block_from_file",
    "image_block_from_url",
    "is_failure_status",
    "is_upstream_failure",
    "load_secrets_file",
    "price_for_model",
    "redact_headers",
    "resolve_api_key",
    "to_curl",
    "validate_count_tokens_request",
    "validate_message_request",
]
