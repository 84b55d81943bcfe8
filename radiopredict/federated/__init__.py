"""Federated studies: several hospitals fit one model while only aggregates leave each site.

Each algorithm is a pure *site step* (local rows -> sums, counts, gradients, Hessians) and a pure
*server step* (a generator of requests); :class:`LocalRunner` runs them in one process and
:mod:`radiopredict.federated.flower` carries the same requests over Flower (``flwr``, the
``federated`` extra). See ``docs/federated.md``.
"""

from __future__ import annotations

from radiopredict.federated.protocol import (
    AuditLog,
    FederatedError,
    LocalRunner,
    Request,
    SiteData,
    SiteDroppedError,
    SiteRefusedError,
    settings_hash,
)
from radiopredict.federated.synthetic import make_site_tables, write_site_tables

__all__ = [
    "AuditLog",
    "FederatedError",
    "LocalRunner",
    "Request",
    "SiteData",
    "SiteDroppedError",
    "SiteRefusedError",
    "settings_hash",
    "make_site_tables",
    "write_site_tables",
]
