"""API keys with scopes.

Keys come from ``V2M_API_KEYS`` (static) and from the ``api_keys`` table
(issued by an administrator; only their SHA-256 is stored). Keys are required
when ``V2M_REQUIRE_API_KEYS`` is set, when static keys are configured, or once a
key was ever issued (revoked ones included; see ``Runtime.auth_enabled``). Only
with none of these does the service run open, and it says so loudly at start-up.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import get_db, get_runtime
from app.api.errors import ApiError
from app.db.models import ApiKey
from app.runtime import Runtime


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def presented_key(request: Request) -> str | None:
    if key := request.headers.get("x-api-key"):
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def scopes_for(secret: str, runtime: Runtime, db: Session) -> frozenset[str] | None:
    """The scopes of a valid key, or None for an unknown or revoked one."""
    presented = secret.encode()  # compare_digest refuses non-ASCII str: compare bytes
    for static, scopes in runtime.static_keys.items():
        if hmac.compare_digest(static.encode(), presented):
            return scopes
    row = db.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(secret), ApiKey.revoked.is_(False))
    )
    return frozenset(row.scopes.split(",")) if row else None


def require_scope(*accepted: str):
    """Dependency: the request must carry a key with one of ``accepted`` (or ``admin``)."""

    def check(
        request: Request, runtime: Runtime = Depends(get_runtime), db: Session = Depends(get_db)
    ) -> None:
        if not runtime.auth_enabled(db):
            return
        secret = presented_key(request)
        if secret is None:
            raise ApiError(
                401, "unauthorized", "an API key is required (X-API-Key or Authorization: Bearer)"
            )
        scopes = scopes_for(secret, runtime, db)
        if scopes is None:
            raise ApiError(401, "unauthorized", "unknown or revoked API key")
        if scopes.isdisjoint({*accepted, "admin"}):
            raise ApiError(
                403, "forbidden", f"this key lacks the scope {' or '.join(map(repr, accepted))}"
            )

    return check
