"""The auditor: a whole published site checked at once (site.py), with the verifier's own
checks, and what only the custodian's data room can show (dataroom.py)."""

from .dataroom import DEFAULT_SAMPLE, DataRoom
from .report import CHECKS, FAIL, NOT_APPLICABLE, PASS, AuditCheck, AuditReport
from .site import audit_site

__all__ = [
    "CHECKS",
    "DEFAULT_SAMPLE",
    "FAIL",
    "NOT_APPLICABLE",
    "PASS",
    "AuditCheck",
    "AuditReport",
    "DataRoom",
    "audit_site",
]
