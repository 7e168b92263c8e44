"""The audit trail: staff and billing want to know who looked at what.

Lines are collected per request and shipped to the log pipeline when the request ends.
"""

_lines = []
counters = {}


def record(event, **details):
    """Append one audit line to the current request's trail and bump its counter."""
    parts = [event] + [f"{k}={details[k]}" for k in sorted(details)]
    _lines.append(" ".join(parts))
    counters[event] = counters.get(event, 0) + 1


def current_trail():
    return list(_lines)


def start_request():
    del _lines[:]
    counters.clear()


def end_request():
    trail = list(_lines)
    del _lines[:]
    return trail
