"""The audit trail: who looked at what, for the compliance team and for metered billing."""

AUDIT_LOG = []
METERED = {}


def record(event, **fields):
    AUDIT_LOG.append(dict(fields, event=event, seq=len(AUDIT_LOG) + 1))


def meter(company_id, what):
    """Count one billable lookup for a company (invoiced monthly)."""
    key = f"{company_id}:{what}"
    METERED[key] = METERED.get(key, 0) + 1


def recent(limit):
    return AUDIT_LOG[-limit:]
