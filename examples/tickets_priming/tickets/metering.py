"""Usage metering: billable lookups (the risk vendor bills per score) and the audit trail.

Counters are per request; the middleware in cache.request() resets them.
"""

_counters = {}
_audit_lines = []


def start_request():
    _counters.clear()
    del _audit_lines[:]


def record(what, n=1):
    _counters[what] = _counters.get(what, 0) + n


def audit(line):
    _audit_lines.append(line)


def count(what):
    return _counters.get(what, 0)


def audit_lines():
    return list(_audit_lines)
