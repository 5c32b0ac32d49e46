"""Files of the OpenAI Files API (``/v1/files``): batch input uploaded by a key, and the output and
error files its batches write. Each belongs to one owner; its bytes live in the store, bounded per
file and per owner by ``batches``; an expired file is gone."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from claudegate.gateway._config import BatchesConfig
from claudegate.gateway.core import GatewayError

if TYPE_CHECKING:
    from sqlalchemy import Row

    from claudegate.store import Database

__all__ = ["FileEntry", "Files", "file_json", "new_file_id"]


def new_file_id() -> str:
    return "file-" + os.urandom(12).hex()


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A stored file, without its bytes."""

    id: str
    owner: str
    purpose: str
    filename: str
    bytes: int
    created_at: float
    expires_at: float | None


def file_json(entry: FileEntry) -> dict[str, Any]:
    """The file object OpenAI's clients read (``openai.types.FileObject``)."""
    return {
        "id": entry.id,
        "object": "file",
        "bytes": entry.bytes,
        "created_at": int(entry.created_at),
        "expires_at": int(entry.expires_at) if entry.expires_at is not None else None,
        "filename": entry.filename,
        "purpose": entry.purpose,
        "status": "processed",
        "status_details": None,
    }


def _entry(row: Row[Any, Any, Any, Any, Any, Any, Any]) -> FileEntry:
    data = row._mapping
    return FileEntry(
        id=data["id"],
        owner=data["owner"],
        purpose=data["purpose"],
        filename=data["filename"],
        bytes=data["bytes"],
        created_at=data["created_at"],
        expires_at=data["expires_at"],
    )


class Files:
    """The files table of one database (see the module docstring)."""

    def __init__(
        self, database: Database, config: Callable[[], BatchesConfig], clock: Callable[[], float]
    ) -> None:
        self.database = database
        self.table = database.tables.files
        self.config = config
        self.clock = clock
        c = self.table.c
        self._meta = (c.id, c.owner, c.purpose, c.filename, c.bytes, c.created_at, c.expires_at)

    def _live(self, owner: str) -> Any:
        c = self.table.c
        return (c.owner == owner) & (c.expires_at.is_(None) | (c.expires_at > self.clock()))

    def entry(
        self, owner: str, purpose: str, filename: str, size: int, ttl: float | None = None
    ) -> FileEntry:
        """A new file's entry (not yet stored); a 413 past the size of one file."""
        config = self.config()
        if size > config.max_file_bytes:
            raise GatewayError(
                413, "invalid_request_error", f"file: at most {config.max_file_bytes} bytes per file", "file"
            )
        now = self.clock()
        return FileEntry(
            id=new_file_id(),
            owner=owner,
            purpose=purpose,
            filename=filename,
            bytes=size,
            created_at=now,
            expires_at=now + (ttl if ttl is not None else config.file_ttl),
        )

    async def insert(self, connection: AsyncConnection, entry: FileEntry, content: bytes) -> None:
        """Write ``entry`` in ``connection``'s transaction (a batch's output, with its end)."""
        row = {name: getattr(entry, name) for name in FileEntry.__slots__}
        await connection.execute(self.table.insert().values(**row, content=content))

    async def add(self, entry: FileEntry, content: bytes) -> None:
        """Store an uploaded file; a 413 when its owner would keep more than allowed."""
        cap = self.config().max_key_file_bytes
        c = self.table.c
        async with self.database.engine.begin() as connection:
            await connection.execute(
                self.table.delete().where(c.owner == entry.owner, c.expires_at <= self.clock())
            )
            if cap is not None:
                query = select(func.sum(c.bytes)).where(c.owner == entry.owner)
                held = (await connection.execute(query)).scalar() or 0
                if held + entry.bytes > cap:
                    raise GatewayError(
                        413,
                        "invalid_request_error",
                        f"file: this key keeps {held} bytes of files; at most {cap} are allowed "
                        "(delete some first)",
                        "file",
                    )
            await self.insert(connection, entry, content)

    async def get(self, file_id: str, owner: str) -> FileEntry | None:
        query = select(*self._meta).where(self.table.c.id == file_id, self._live(owner))
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return _entry(row) if row is not None else None

    async def content(self, file_id: str, owner: str) -> bytes | None:
        c = self.table.c
        query = select(c.content).where(c.id == file_id, self._live(owner))
        async with self.database.engine.connect() as connection:
            value = (await connection.execute(query)).scalar()
        return bytes(value) if value is not None else None

    async def page(
        self, owner: str, *, purpose: str | None, after: str | None, limit: int, ascending: bool
    ) -> tuple[list[FileEntry], bool]:
        """``owner``'s files by creation time after the file ``after``; and whether more follow."""
        c = self.table.c
        query = select(*self._meta).where(self._live(owner))
        if purpose is not None:
            query = query.where(c.purpose == purpose)
        if after is not None:
            cursor = await self.get(after, owner)
            if cursor is None:
                return [], False
            key = (cursor.created_at, cursor.id)
            if ascending:
                query = query.where((c.created_at > key[0]) | ((c.created_at == key[0]) & (c.id > key[1])))
            else:
                query = query.where((c.created_at < key[0]) | ((c.created_at == key[0]) & (c.id < key[1])))
        order = (c.created_at.asc(), c.id.asc()) if ascending else (c.created_at.desc(), c.id.desc())
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query.order_by(*order).limit(limit + 1))).all()
        return [_entry(row) for row in rows[:limit]], len(rows) > limit

    async def delete(self, file_id: str, owner: str) -> bool:
        c = self.table.c
        async with self.database.engine.begin() as connection:
            result = await connection.execute(self.table.delete().where(c.id == file_id, c.owner == owner))
        return int(cast(Any, result).rowcount) == 1
