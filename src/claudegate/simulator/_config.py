"""Configuration of the simulator: one pydantic model, every knob with a documented default."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_MODELS", "ModelSpec", "SimulatorConfig"]


class ModelSpec(BaseModel):
    """One model the simulator answers for, as ``GET /v1/models`` lists it."""

    model_config = ConfigDict(frozen=True)

    id: str
    display_name: str
    created_at: str
    """RFC 3339 release time."""
    aliases: tuple[str, ...] = ()
    """Other names accepted in requests; responses name the model by ``id``."""
    max_input_tokens: int = 1_000_000
    max_tokens: int = 128_000
    exclusive_temperature_top_p: bool = True
    """Requests giving both ``temperature`` and ``top_p`` (any value, ``-1`` included) get 400, as
    the live API answers for the models released since Claude Opus 4.1."""


DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(id="claude-opus-5-5", display_name="Claude Opus 5.5", created_at="2026-09-22T00:00:00Z"),
    ModelSpec(id="claude-opus-5", display_name="Claude Opus 5", created_at="2026-07-24T00:00:00Z"),
    ModelSpec(id="claude-sonnet-5", display_name="Claude Sonnet 5", created_at="2026-06-30T00:00:00Z"),
    ModelSpec(id="claude-opus-4-8", display_name="Claude Opus 4.8", created_at="2026-05-28T00:00:00Z"),
    ModelSpec(id="claude-sonnet-4-6", display_name="Claude Sonnet 4.6", created_at="2026-02-17T00:00:00Z"),
    ModelSpec(id="claude-opus-4-6", display_name="Claude Opus 4.6", created_at="2026-02-05T00:00:00Z"),
    ModelSpec(
        id="claude-opus-4-5-20251101",
        display_name="Claude Opus 4.5",
        created_at="2025-11-24T00:00:00Z",
        aliases=("claude-opus-4-5",),
        max_input_tokens=200_000,
        max_tokens=64_000,
    ),
    ModelSpec(
        id="claude-haiku-4-5-20251001",
        display_name="Claude Haiku 4.5",
        created_at="2025-10-15T00:00:00Z",
        aliases=("claude-haiku-4-5",),
        max_input_tokens=200_000,
        max_tokens=64_000,
    ),
    ModelSpec(
        id="claude-sonnet-4-5-20250929",
        display_name="Claude Sonnet 4.5",
        created_at="2025-09-29T00:00:00Z",
        aliases=("claude-sonnet-4-5",),
        max_input_tokens=200_000,
        max_tokens=64_000,
    ),
    # Older, but still what some clients probe with (n8n's credential test asks for it by name).
    ModelSpec(
        id="claude-3-haiku-20240307",
        display_name="Claude Haiku 3",
        created_at="2024-03-07T00:00:00Z",
        max_input_tokens=200_000,
        max_tokens=4_096,
        exclusive_temperature_top_p=False,
    ),
)


class SimulatorConfig(BaseModel):
    """Everything the simulator can be told; the defaults answer at once, accept any key and never fail."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_keys: tuple[str, ...] = ()
    """Keys accepted in ``x-api-key`` or ``Authorization: Bearer``; empty accepts any key or none."""
    fault: str | None = None
    """A fault applied to requests that carry no ``x-sim-fault`` header (same syntax, see ``_faults``)."""
    time_to_first_token: float = Field(default=0.0, ge=0)
    """Seconds between ``message_start`` and the first content event (a JSON reply waits as long)."""
    event_delay: float = Field(default=0.0, ge=0)
    """Seconds between stream events after the first (a JSON reply waits as long per event)."""
    batch_delay: float = Field(default=1.0, ge=0)
    """Seconds a message batch takes from creation to ``ended``."""
    stall_timeout: float = Field(default=600.0, gt=0)
    """Longest time a ``stall`` fault holds a connection open before closing it."""
    cache_min_tokens: int = Field(default=1024, ge=0)
    """Shortest prompt prefix (in tokens) that a ``cache_control`` breakpoint caches, as the live API."""
    verify_signatures: bool = True
    """Reject thinking blocks sent back with a signature the simulator did not issue."""
    openai_default_max_tokens: int = Field(default=4096, ge=1)
    """``max_tokens`` for ``/v1/chat/completions`` requests that set no limit."""
    models: tuple[ModelSpec, ...] = DEFAULT_MODELS
    """The model catalogue, newest first; requests naming another model get 404."""
    log_limit: int = Field(default=10_000, ge=1)
    """How many request-log entries are kept (oldest dropped first)."""
    seed: int = 0
    """Mixed into every request hash: two simulators with different seeds answer differently."""
    thread_ttl: float = Field(default=300.0, gt=0)
    """Seconds a message thread lives after its last turn (the API's five minutes)."""
