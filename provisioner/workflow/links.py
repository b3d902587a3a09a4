"""Signed links for mails: a purpose, a payload and the time they were made.

The time is part of the signed payload (rather than itsdangerous's timed
serializer) so that the workflow's clock decides expiry, in tests too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from ..languages import Text
from .errors import LinkInvalid


def make_token(secret_key: str, purpose: str, payload: Mapping[str, object], now: datetime) -> str:
    serializer = URLSafeSerializer(secret_key, salt=f"occupy-provisioner:{purpose}")
    return serializer.dumps({**payload, "iat": int(now.timestamp())})


def read_token(secret_key: str, purpose: str, token: str, *, max_age: timedelta,
               now: datetime) -> dict[str, object]:
    serializer = URLSafeSerializer(secret_key, salt=f"occupy-provisioner:{purpose}")
    try:
        payload = serializer.loads(token)
    except BadSignature:
        raise LinkInvalid(Text("This link is not valid. Copy the whole link from the mail.")) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("iat"), int):
        raise LinkInvalid(Text("This link is not valid. Copy the whole link from the mail."))
    age = now.timestamp() - payload["iat"]
    if age > max_age.total_seconds() or age < -300:
        raise LinkInvalid(Text("This link has expired."))
    return payload
