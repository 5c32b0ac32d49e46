"""Message threads (beta ``message-threads-2026-08-12``) as plain data: the ``thread`` request field,
a ``continue`` rewritten into the stateless request it stands for, and the thread errors.

A thread's first request is a whole Messages request plus ``"thread": {"type": "create"}``; the
server keeps the conversation, Claude's reply included, under the reply's ``id``. A later request
sends only the messages added since that reply plus ``"thread": {"type": "continue",
"previous_message_id": id}`` and leaves out ``system`` and ``tools``, which the thread keeps.
Whoever holds the conversation turns a ``continue`` back into a stateless request with
``expand_continue``.

Errors carry ``error.details.error_code``, which the official SDK's thread helper acts on:
``thread_not_found`` (404) makes it replay the whole conversation under a new thread, as do
``thread_already_continued`` and ``thread_continue_in_flight`` (400); ``thread_unsupported_request``
(400) makes a tool runner go on without a thread; ``thread_fingerprint_mismatch`` (400) names a
create-only field that a ``continue`` changed. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from claudegate.translate._errors import TranslationError

__all__ = [
    "CREATE_ONLY_FIELDS",
    "THREADS_BETA",
    "ThreadError",
    "ThreadErrorCode",
    "ThreadParam",
    "changed_create_only_fields",
    "expand_continue",
    "read_thread",
    "reply_turn",
    "without_thread",
]

THREADS_BETA = "message-threads-2026-08-12"
"""The ``anthropic-beta`` value thread requests carry."""

CREATE_ONLY_FIELDS = ("system", "tools")
"""Fields a thread keeps from its ``create``; a ``continue`` leaves them out."""

ThreadErrorCode = Literal[
    "thread_not_found",
    "thread_already_continued",
    "thread_continue_in_flight",
    "thread_fingerprint_mismatch",
    "thread_unsupported_request",
]

_STATUS: dict[str, tuple[int, str]] = {
    "thread_not_found": (404, "not_found_error"),
    "thread_already_continued": (400, "invalid_request_error"),
    "thread_continue_in_flight": (400, "invalid_request_error"),
    "thread_fingerprint_mismatch": (400, "invalid_request_error"),
    "thread_unsupported_request": (400, "invalid_request_error"),
}


@dataclass(frozen=True, slots=True)
class ThreadParam:
    """A request's ``thread`` field: ``create``, or ``continue`` from ``previous_message_id``."""

    kind: Literal["create", "continue"]
    previous_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class ThreadError:
    """A thread refusal: its HTTP status, error type, ``error_code`` and message."""

    code: ThreadErrorCode
    message: str

    @property
    def status(self) -> int:
        return _STATUS[self.code][0]

    @property
    def error_type(self) -> str:
        return _STATUS[self.code][1]

    def error_object(self) -> dict[str, Any]:
        """The envelope's ``error`` object, ``details.error_code`` included."""
        return {"type": self.error_type, "message": self.message, "details": {"error_code": self.code}}

    def envelope(self, request_id: str | None = None) -> dict[str, Any]:
        """The whole Anthropic error body."""
        return {"type": "error", "error": self.error_object(), "request_id": request_id}

    @classmethod
    def not_found(cls, previous_message_id: str) -> ThreadError:
        return cls(
            "thread_not_found",
            f"thread.previous_message_id: no thread holds {previous_message_id[:100]!r} (it expired, "
            'or never existed); replay the full conversation with thread {"type": "create"}',
        )

    @classmethod
    def already_continued(cls, previous_message_id: str) -> ThreadError:
        return cls(
            "thread_already_continued",
            f"thread.previous_message_id: {previous_message_id[:100]!r} has already been continued, and "
            "each response can be continued only once; continue from the thread's most recent response id",
        )

    @classmethod
    def in_flight(cls, previous_message_id: str) -> ThreadError:
        return cls(
            "thread_continue_in_flight",
            "thread.previous_message_id: another request is still continuing from "
            f"{previous_message_id[:100]!r}; wait for its response, or replay the full conversation "
            'with thread {"type": "create"}',
        )

    @classmethod
    def fingerprint_mismatch(cls, fields: Sequence[str]) -> ThreadError:
        named = " and ".join(f"`{field}`" for field in fields)
        return cls(
            "thread_fingerprint_mismatch",
            f"{named} differ from the values the thread was created with; leave them out of a continue, or "
            'replay the full conversation with thread {"type": "create"} to change them',
        )


def read_thread(request: Mapping[str, Any]) -> ThreadParam | None:
    """The request's ``thread`` field (None when absent or null); a malformed one raises
    ``TranslationError`` naming the field."""
    value = request.get("thread")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TranslationError("thread: Input should be a valid dictionary", field="thread")
    kind = value.get("type")
    if kind == "create":
        extra = sorted(set(value) - {"type"})
        if extra:
            raise TranslationError(
                f"thread.{extra[0]}: Extra inputs are not permitted", field=f"thread.{extra[0]}"
            )
        return ThreadParam("create")
    if kind == "continue":
        previous = value.get("previous_message_id")
        if previous is None:
            raise TranslationError(
                "thread.previous_message_id: Field required", field="thread.previous_message_id"
            )
        if not isinstance(previous, str) or not previous:
            raise TranslationError(
                "thread.previous_message_id: Input should be a non-empty string",
                field="thread.previous_message_id",
            )
        extra = sorted(set(value) - {"type", "previous_message_id"})
        if extra:
            raise TranslationError(
                f"thread.{extra[0]}: Extra inputs are not permitted", field=f"thread.{extra[0]}"
            )
        return ThreadParam("continue", previous)
    raise TranslationError("thread.type: Input should be 'create' or 'continue'", field="thread.type")


def without_thread(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request as a stateless one: ``thread`` left out."""
    return {key: value for key, value in request.items() if key != "thread"}


def changed_create_only_fields(request: Mapping[str, Any], system: Any, tools: Any) -> list[str]:
    """The create-only fields a ``continue`` repeats with another value than the thread keeps."""
    kept = {"system": system, "tools": tools}
    return [field for field in CREATE_ONLY_FIELDS if field in request and request[field] != kept[field]]


def expand_continue(
    request: Mapping[str, Any], *, system: Any, tools: Any, history: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The stateless request a ``continue`` stands for: the thread's ``system`` and ``tools``, its
    history followed by the request's new messages, and ``thread`` left out."""
    expanded = {key: value for key, value in request.items() if key not in ("thread", *CREATE_ONLY_FIELDS)}
    if system is not None:
        expanded["system"] = system
    if tools is not None:
        expanded["tools"] = tools
    expanded["messages"] = [*history, *(request.get("messages") or ())]
    return expanded


def reply_turn(message: Mapping[str, Any]) -> dict[str, Any]:
    """A reply as the next request sends it back: the assistant turn with the content as returned."""
    return {"role": "assistant", "content": message.get("content") or []}
