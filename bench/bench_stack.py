"""The benchmarks' occupation, on the private stack the demo and the tests run too
(provisioner/private_services/stack.py): every part starts its servers through it."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from provisioner.private_services.smtp import DISCARD
from provisioner.private_services.stack import Occupation, PrivateStack, WikiAdmin

BENCH = Occupation(base_dn="dc=bench,dc=occupy", name="Bench", list_domain="lists.bench.occupy")
CHECKOUT = Path(__file__).resolve().parent.parent


def bench_stack(folder: Path, wiki_admin: WikiAdmin | None = None) -> PrivateStack:
    """slapd with `dbnosync` (fast_writes) for every part and kind alike; mail accepted and dropped;
    Redmine as deployed (PostgreSQL, puma: make bench-tools)."""
    return PrivateStack(folder, BENCH, fast_writes=True, mail=DISCARD, wiki_admin=wiki_admin,
                        redmine_deployed_shape=True)


def app_config(stack: PrivateStack, **settings: Any) -> dict[str, Any]:
    """The portal's settings on the stack (a store and a runner folder in its folder), plus `settings`."""
    return stack.portal_config(SECRET_KEY=secrets.token_urlsafe(32), **settings)
