"""Pipeline prompts: Jinja2 templates rendered in its immutable sandbox.

An event's payload is data handed to the template, never template code: it is not parsed, and
whatever it holds is rendered as text. The sandbox refuses attribute access to Python internals
(``__class__``, ``__globals__``, ``mro``…) and calls that mutate; the environment has no globals
(no ``cycler``, ``joiner``, ``namespace``, ``lipsum``), and a name or field the event lacks is an
error rather than empty text.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from claudegate.errors import UserError

__all__ = ["PromptTemplate", "TemplateRefused"]

_MAX_OUTPUT = 1_000_000
"""Characters of one rendered prompt."""


class TemplateRefused(UserError):
    """A template could not be rendered for an event (an unsafe access, a missing field)."""


def _environment() -> ImmutableSandboxedEnvironment:
    environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    environment.globals.clear()
    return environment


_ENVIRONMENT = _environment()


class PromptTemplate:
    """One compiled template.

    >>> PromptTemplate("Moderate: {{ payload.text }}").render({"payload": {"text": "hi"}})
    'Moderate: hi'
    """

    def __init__(self, source: str, *, field: str = "prompt") -> None:
        self.source = source
        self.field = field
        try:
            self._template: Template = _ENVIRONMENT.from_string(source)
        except TemplateSyntaxError as exc:
            raise UserError(f"not a valid template: {exc.message} (line {exc.lineno})", field=field) from None

    def render(self, context: dict[str, Any]) -> str:
        """The text for ``context``; ``TemplateRefused`` when the sandbox or a missing name stops it."""
        try:
            text = self._template.render(context)
        except SecurityError as exc:
            raise TemplateRefused(
                f"the template was refused by the sandbox: {exc}", field=self.field
            ) from None
        except TemplateError as exc:
            raise TemplateRefused(
                f"the template could not be rendered: {exc.message}", field=self.field
            ) from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise TemplateRefused(
                f"the template could not be rendered: {type(exc).__name__}: {exc}", field=self.field
            ) from None
        if len(text) > _MAX_OUTPUT:
            raise TemplateRefused(f"the rendered template exceeds {_MAX_OUTPUT} characters", field=self.field)
        return text
