"""Upstream providers: each turns a canonical (Anthropic Messages) request into an answer.

``anthropic`` passes bytes through, ``openai`` speaks to any OpenAI-compatible server,
``salesforce`` to Salesforce's Models API, ``simulator`` answers in process.
"""

from claudegate.providers._base import (
    NativeStream,
    Provider,
    ProviderRequest,
    ProviderResponse,
    ProviderStream,
)
from claudegate.providers.anthropic import AnthropicProvider
from claudegate.providers.openai_compat import OpenAICompatProvider
from claudegate.providers.salesforce import SalesforceProvider

__all__ = [
    "AnthropicProvider",
    "NativeStream",
    "OpenAICompatProvider",
    "Provider",
    "ProviderRequest",
    "ProviderResponse",
    "ProviderStream",
    "SalesforceProvider",
]
