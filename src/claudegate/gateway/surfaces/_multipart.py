"""A ``multipart/form-data`` body as its fields, parsed in memory with ``python-multipart`` (the
body was already read within its size limit)."""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from claudegate.gateway.core import GatewayError

__all__ = ["FormPart", "parse_form"]


@dataclass(frozen=True, slots=True)
class FormPart:
    """One field: its value, and the file name a file field was sent with."""

    data: bytes
    filename: str | None


class _Collector:
    def __init__(self) -> None:
        self.parts: dict[str, FormPart] = {}
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._data = bytearray()

    def part_begin(self) -> None:
        self._headers = {}
        self._data = bytearray()

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field = bytearray()
        self._value = bytearray()

    def part_data(self, data: bytes, start: int, end: int) -> None:
        self._data += data[start:end]

    def part_end(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name")
        if name is None:
            return
        filename = params.get(b"filename")
        self.parts[name.decode("utf-8", "replace")] = FormPart(
            bytes(self._data), filename.decode("utf-8", "replace") if filename is not None else None
        )


def parse_form(content_type: str | None, body: bytes) -> dict[str, FormPart]:
    """The fields of a form body; a 400 when it is not ``multipart/form-data`` or is malformed."""
    kind, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise GatewayError(
            400, "invalid_request_error", "the body must be multipart/form-data (a file upload)"
        )
    collector = _Collector()
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": collector.part_begin,
            "on_header_field": collector.header_field,
            "on_header_value": collector.header_value,
            "on_header_end": collector.header_end,
            "on_part_data": collector.part_data,
            "on_part_end": collector.part_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise GatewayError(400, "invalid_request_error", f"the multipart body is malformed: {exc}") from None
    return collector.parts
