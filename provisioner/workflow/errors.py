"""Errors the workflow raises for people to read."""

from __future__ import annotations


class WorkflowError(Exception):
    """A request that cannot be done as asked; the message says why."""


class InvalidInput(WorkflowError):
    """Some fields were refused; `errors` maps each field to its reason."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in errors.items()))
        self.errors = errors


class LinkInvalid(WorkflowError):
    """A link that was tampered with, expired, used already or no longer matches."""
