"""claudegate: a typed Claude client, a tool runtime, and a gateway that speaks Anthropic and OpenAI."""

from claudegate._version import __version__

__all__ = ["__version__"]
