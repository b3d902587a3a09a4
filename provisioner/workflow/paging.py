"""One page of a long list, and where it sits among the others."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int   # from 1
    size: int     # items per page
    total: int    # items on every page together

    @property
    def count(self) -> int:
        """How many pages there are (one, even for nothing)."""
        return max(1, -(-self.total // self.size))

    @property
    def first_index(self) -> int:
        """The position of the page's first item among all, from 1."""
        return (self.number - 1) * self.size + 1


def page_number(number: int, total: int, size: int) -> int:
    """`number` brought into range: below the first is the first, past the last the last."""
    return min(max(number, 1), max(1, -(-total // size)))


def page_of(items: Sequence[T], number: int, size: int) -> Page[T]:
    """The page `number` of a list already read whole."""
    number = page_number(number, len(items), size)
    start = (number - 1) * size
    return Page(list(items[start:start + size]), number, size, len(items))
