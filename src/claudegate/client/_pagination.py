"""Cursor pagination over list endpoints (``data``, ``has_more``, ``first_id``, ``last_id``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

__all__ = ["AsyncPaginator", "Page"]

T = TypeVar("T")


class Page(Generic[T]):
    """One page of results."""

    def __init__(self, data: list[T], *, has_more: bool, first_id: str | None, last_id: str | None) -> None:
        self.data = data
        self.has_more = has_more
        self.first_id = first_id
        self.last_id = last_id

    def __repr__(self) -> str:
        return f"Page(items={len(self.data)}, has_more={self.has_more}, last_id={self.last_id!r})"


class AsyncPaginator(Generic[T]):
    """Iterate every item across pages (``async for``), or fetch just one page.

    >>> async for model in client.models.list(limit=5):   # fetches further pages as needed
    ...     print(model.id)
    """

    def __init__(
        self,
        fetch: Callable[[str | None], Awaitable[dict[str, Any]]],
        parse: Callable[[Any], T],
    ) -> None:
        self._fetch = fetch
        self._parse = parse
        self.pages_fetched = 0

    async def page(self, after_id: str | None = None) -> Page[T]:
        """The page after ``after_id`` (the first page when None)."""
        body = await self._fetch(after_id)
        self.pages_fetched += 1
        return Page(
            [self._parse(item) for item in body.get("data") or []],
            has_more=bool(body.get("has_more")),
            first_id=body.get("first_id"),
            last_id=body.get("last_id"),
        )

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        after: str | None = None
        while True:
            page = await self.page(after)
            for item in page.data:
                yield item
            if not page.has_more or not page.data or page.last_id is None or page.last_id == after:
                return
            after = page.last_id

    async def to_list(self) -> list[T]:
        """Every item of every page."""
        return [item async for item in self]
