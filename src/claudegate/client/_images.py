"""Build image content blocks from bytes, files or URLs, checking type and size before any upload."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from claudegate.errors import UserError

__all__ = [
    "IMAGE_MEDIA_TYPES",
    "MAX_IMAGE_BYTES",
    "image_block_from_bytes",
    "image_block_from_file",
    "image_block_from_url",
    "sniff_image_media_type",
]

IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE_BYTES = 5 * 1024 * 1024
"""The API's limit for one base64 image, measured on the decoded bytes."""


def sniff_image_media_type(data: bytes) -> str | None:
    """The media type the bytes really are (by magic number), or None when not a supported image."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_block_from_bytes(
    data: bytes, media_type: str | None = None, *, cache_control: dict[str, str] | None = None
) -> dict[str, Any]:
    """A base64 ``image`` block; the media type is detected from the bytes when not given."""
    detected = sniff_image_media_type(data)
    if media_type is None:
        if detected is None:
            raise UserError(
                f"unsupported image: not JPEG, PNG, GIF or WebP (supported: {', '.join(IMAGE_MEDIA_TYPES)})",
                field="source.media_type",
            )
        media_type = detected
    if media_type not in IMAGE_MEDIA_TYPES:
        raise UserError(
            f"unsupported image media type {media_type!r}; use one of {', '.join(IMAGE_MEDIA_TYPES)}",
            field="source.media_type",
        )
    if detected is not None and detected != media_type:
        raise UserError(f"the image bytes are {detected}, not {media_type}", field="source.media_type")
    if len(data) > MAX_IMAGE_BYTES:
        raise UserError(
            f"image is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES} bytes (5 MiB)", field="source.data"
        )
    block: dict[str, Any] = {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": media_type,
            "data": base64.b64encode(data).decode("ascii"),
        },
    }
    if cache_control is not None:
        block["cache_control"] = cache_control
    return block


def image_block_from_file(path: str | Path, media_type: str | None = None) -> dict[str, Any]:
    """A base64 ``image`` block read from a file."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read image file {str(file)!r}: {exc.strerror}", field="path") from exc
    return image_block_from_bytes(data, media_type)


def image_block_from_url(url: str) -> dict[str, Any]:
    """A url-source ``image`` block (the API fetches it; this function fetches nothing)."""
    if not url.startswith(("https://", "http://")):
        raise UserError("an image URL must start with https:// or http://", field="source.url")
    return {"type": "image", "source": {"type": "url", "url": url}}
