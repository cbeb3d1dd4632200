"""The kinds of model the service serves, in one table.

Adding a kind means one :class:`~app.services.model_kind.ServingKind` subclass and
one line in :data:`SERVING_KINDS` (and its exporter in :mod:`ml.export.kinds`);
:func:`kind_class` is the only place a registry row's ``kind`` is looked up.
"""

from __future__ import annotations

from app.services.model_kind import ROLES, ModelRegistryError, ServingKind
from app.services.musimnet import ServingMuSimNet
from app.services.twobranch import ServingModel

__all__ = ["SERVING_KINDS", "kind_class", "kinds_in_role"]

#: Every kind of model the registry accepts, each with its role.
SERVING_KINDS: tuple[type[ServingKind], ...] = (ServingModel, ServingMuSimNet)


def kind_class(kind: str) -> type[ServingKind]:
    """The serving class of a registry row's (or entry's) ``kind``."""
    for candidate in SERVING_KINDS:
        if kind in candidate.kinds:
            return candidate
    known = sorted(name for candidate in SERVING_KINDS for name in candidate.kinds)
    raise ModelRegistryError(f"unknown model kind {kind!r} (known: {', '.join(known)})")


def kinds_in_role(role: str) -> tuple[str, ...]:
    """The ``kind`` values of the models of ``role``."""
    if role not in ROLES:
        raise ValueError(f"no model role {role!r} (roles: {', '.join(ROLES)})")
    return tuple(
        name for candidate in SERVING_KINDS if candidate.role == role for name in candidate.kinds
    )
