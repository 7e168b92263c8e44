"""Exporters of traces (``asynq.tracing``): Chrome trace-event JSON and the dependency graph.

- Chrome trace-event JSON (``to_chrome``/``write_chrome``) for Perfetto (ui.perfetto.dev) or
  ``chrome://tracing``: the rounds with their batch flushes nested in them, one track per round;
  one bar per task from its start to its end; and the steps the thread actually ran;
- the dependency graph as Graphviz DOT (``to_dot``/``write_dot``), rendered to SVG by ``dot`` when
  it is installed (``write_svg``): tasks are ellipses, batches are boxes grouped by round, and an
  arrow goes from each task to what it waited on. Large traces collapse to one node per function.

Each function takes a stopped ``Trace`` and reads only its public records; the ``Trace`` methods of
the same names call them.
"""

from __future__ import annotations

import heapq
import html
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tracing import BatchTrace, TaskTrace, Trace

__all__ = [
    "to_chrome",
    "write_chrome",
    "to_dot",
    "write_dot",
    "write_svg",
    "write_trace_files",
    "dot_available",
    "MAX_PICTURE_POINTS",
]

#: The largest picture ``to_dot(detail="auto")`` aims for, in points (1/72 inch) each way: about
#: 1,900 pixels at 96 dpi, the width of a screen.
MAX_PICTURE_POINTS = 1400


# -- Chrome trace events ---------------------------------------------------------------------------


def to_chrome(trace: Trace) -> dict[str, Any]:
    """The trace as Chrome trace-event JSON data (``{"traceEvents": [...]}``).

    Process 1 holds the rounds: one track per round, with one event for the round and, nested
    in it, one event per flushed batch. Process 2 holds the tasks: one event per task from its
    first step to its end, spread over as many lanes as needed so that bars never overlap on
    a track, and a "steps" track with each step the thread ran."""
    events: list[dict[str, Any]] = []

    def meta(pid: int, tid: int | None, kind: str, value: Any) -> None:
        event: dict[str, Any] = {"name": kind, "ph": "M", "pid": pid, "args": {}}
        if tid is not None:
            event["tid"] = tid
        if kind.endswith("sort_index"):
            event["args"]["sort_index"] = value
        else:
            event["args"]["name"] = value
        events.append(event)

    meta(1, None, "process_name", f"asynq rounds ({trace.thread})")
    meta(1, None, "process_sort_index", 1)
    meta(2, None, "process_name", f"asynq tasks ({trace.thread})")
    meta(2, None, "process_sort_index", 2)
    for round_ in trace.rounds:
        meta(1, round_.index, "thread_name", f"round {round_.index}")
        meta(1, round_.index, "thread_sort_index", round_.index)
        batches = [trace.batch(i) for i in round_.batches]
        events.append(
            _complete(
                f"round {round_.index}",
                "round",
                round_.start,
                round_.end,
                1,
                round_.index,
                {
                    "batches": len(batches),
                    "items": sum(b.items for b in batches),
                    "keys": sum(b.keys or 0 for b in batches),
                },
            )
        )
        for b in batches:
            start = b.start if b.start is not None else round_.start
            events.append(
                _complete(
                    f"{b.kind} ({_plural(b.items, 'item')})",
                    "batch",
                    start,
                    b.end if b.end is not None else start,
                    1,
                    round_.index,
                    {
                        "batch": b.id,
                        "items": b.items,
                        "keys": b.keys,
                        "key_sample": b.key_sample,
                    },
                )
            )
    meta(2, 0, "thread_name", "steps")
    meta(2, 0, "thread_sort_index", 0)
    for t in trace.tasks:
        for start, end in t.steps:
            events.append(_complete(t.label, "step", start, end, 2, 0, {"task": t.id}))
    ran = [t for t in trace.tasks if t.start is not None]
    lanes = _lanes([(t.start or 0.0, t.end if t.end is not None else trace.duration) for t in ran])
    for lane in sorted(set(lanes)):
        meta(2, lane, "thread_name", f"tasks {lane}")
        meta(2, lane, "thread_sort_index", lane)
    for t, lane in zip(ran, lanes, strict=True):
        start = t.start or 0.0
        events.append(
            _complete(
                t.label,
                "task",
                start,
                t.end if t.end is not None else max(trace.duration, start),
                2,
                lane,
                {
                    "task": t.id,
                    "creator": t.creator,
                    "waits_on": [f"{kind} {i}" for kind, i in t.waits_on],
                    "steps": len(t.steps),
                    "run_us": round(t.run_seconds * 1e6, 3),
                    "finished": t.end is not None,
                    "error": t.error,
                    "sync_call_in": t.sync_call_in,
                },
            )
        )
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"source": "asynq", "stats": trace.stats.as_dict(rounds=False)},
    }


def write_chrome(trace: Trace, path: str) -> str:
    """Write ``to_chrome()`` as JSON to ``path``; returns the path."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(to_chrome(trace), f)
    return path


# -- the dependency graph ----------------------------------------------------------------------------


def to_dot(
    trace: Trace, detail: str = "auto", max_tasks: int = 60, max_points: int = MAX_PICTURE_POINTS
) -> str:
    """The dependency graph in Graphviz DOT.

    ``detail="tasks"``: one node per task; ``"calls"``: the tasks one task created for the
    same function are one node (``name_of_user × 50``), so the tree of calls stays but a
    fan-out is one node; ``"functions"``: one node per function, one box per batch kind and
    round. ``"auto"`` picks the most detailed one whose picture fits in ``max_points``
    (points, 1/72 inch) both ways, drawn top to bottom or, when that is too wide, left to
    right; tasks only up to ``max_tasks`` tasks; functions when nothing else fits."""
    if detail not in ("auto", "tasks", "calls", "functions"):
        raise ValueError(f"detail must be 'auto', 'tasks', 'calls' or 'functions', got {detail!r}")
    layout = _Layout(trace)
    if detail == "auto":
        detail, rankdir = layout.choose(max_tasks, max_points)
    else:
        rankdir = layout.direction(detail, max_points)
    if detail == "tasks":
        return _dot_tasks(trace, rankdir)
    if detail == "calls":
        return _dot_groups(trace, layout.call_groups(), "c", rankdir)
    return _dot_groups(trace, layout.function_groups(), "f", rankdir)


def write_dot(
    trace: Trace,
    path: str,
    detail: str = "auto",
    max_tasks: int = 60,
    max_points: int = MAX_PICTURE_POINTS,
) -> str:
    """Write ``to_dot()`` to ``path``; returns the path."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(to_dot(trace, detail, max_tasks, max_points))
    return path


def write_svg(
    trace: Trace,
    path: str,
    detail: str = "auto",
    max_tasks: int = 60,
    max_points: int = MAX_PICTURE_POINTS,
) -> str:
    """Render the graph to SVG with Graphviz ``dot`` (which must be installed)."""
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            "Graphviz `dot` is not installed (Debian: apt-get install graphviz); "
            "write_dot() still works"
        )
    subprocess.run(
        [dot, "-Tsvg", "-o", path],
        input=to_dot(trace, detail, max_tasks, max_points).encode("utf-8"),
        check=True,
        capture_output=True,
    )
    return path


def dot_available() -> bool:
    """Whether Graphviz ``dot`` is on the PATH (needed for SVG)."""
    return shutil.which("dot") is not None


def write_trace_files(trace: Trace, out_dir: str, name: str = "trace") -> list[str]:
    """Write ``trace`` into ``out_dir`` (created if missing): ``<name>.json`` (Chrome trace
    events), ``<name>.dot`` and, when Graphviz is installed, ``<name>.svg``. Returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, name)
    paths = [write_chrome(trace, base + ".json"), write_dot(trace, base + ".dot")]
    if dot_available():
        paths.append(write_svg(trace, base + ".svg"))
    return paths


# -- helpers -------------------------------------------------------------------------------------------


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (plural or noun + 's')}"


def _complete(
    name: str, cat: str, start: float, end: float, pid: int, tid: int, args: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "cat": cat,
        "ph": "X",
        "ts": round(start * 1e6, 3),
        "dur": round(max(end - start, 0.0) * 1e6, 3),
        "pid": pid,
        "tid": tid,
        "args": args,
    }


def _lanes(intervals: list[tuple[float, float]]) -> list[int]:
    """Assign each interval a lane (numbered from 1) so that intervals in one lane never
    overlap; as few lanes as possible."""
    lanes = [0] * len(intervals)
    free: list[tuple[float, int]] = []  # (end of the lane's last interval, lane)
    count = 0
    for index in sorted(range(len(intervals)), key=lambda i: intervals[i]):
        start, end = intervals[index]
        if free and free[0][0] <= start:
            _, lane = heapq.heappop(free)
        else:
            count += 1
            lane = count
        lanes[index] = lane
        heapq.heappush(free, (end, lane))
    return lanes


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html(text: str) -> str:
    return html.escape(text, quote=True)


# (task id -> node number, node number -> (tooltip, label)): how _dot_groups draws tasks.
_Groups = tuple[dict[int, int], dict[int, tuple[str, str]]]

# What Graphviz makes of this module's nodes (Helvetica 10 pt), in points: per character of a
# label, an ellipse's margins, a line of text, and the gaps between nodes and between ranks.
_CHAR, _MARGIN, _LINE, _NODE_GAP, _RANK_GAP = 6.5, 24.0, 13.0, 18.0, 32.0


class _Layout:
    """Estimates how large each level of detail draws, to pick one that fits.

    Graphviz puts each task one rank below its creator, and a batch one rank below the deepest
    task that waits on it; a rank is a row (top to bottom) or a column (left to right). The
    estimate sums the nodes' label sizes along the widest rank; it errs on the large side."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        depth: dict[int, int] = {}
        for t in trace.tasks:  # a creator is recorded before the tasks it creates
            depth[t.id] = depth.get(t.creator, -1) + 1 if t.creator is not None else 0
        self.depth = depth
        self._groups: dict[str, _Groups] = {}

    # -- groups of tasks -----------------------------------------------------------------------

    def function_groups(self) -> _Groups:
        """One node per function."""
        found = self._groups.get("functions")
        if found is None:
            keys: dict[str, int] = {}
            node_of_task: dict[int, int] = {}
            for t in self.trace.tasks:
                node_of_task[t.id] = keys.setdefault(f"{t.module}.{t.name}", len(keys) + 1)
            counts = _counts(node_of_task)
            labels = {
                node: (key, f"{key.rsplit('.', 1)[-1]}\n× {counts[node]}")
                for key, node in keys.items()
            }
            found = self._groups["functions"] = (node_of_task, labels)
        return found

    def call_groups(self) -> _Groups:
        """One node per task that created others; the tasks one task created for the same
        function, and that created none themselves, share one node (a fan-out)."""
        found = self._groups.get("calls")
        if found is None:
            tasks = self.trace.tasks
            creators = {t.creator for t in tasks if t.creator is not None}
            keys: dict[tuple[Any, ...], int] = {}
            node_of_task: dict[int, int] = {}
            first: dict[int, TaskTrace] = {}
            for t in tasks:
                if t.id in creators:
                    key: tuple[Any, ...] = ("task", t.id)
                else:
                    parent = node_of_task.get(t.creator) if t.creator is not None else None
                    key = ("calls", parent, t.module, t.name)
                node = keys.setdefault(key, len(keys) + 1)
                node_of_task[t.id] = node
                first.setdefault(node, t)
            counts = _counts(node_of_task)
            labels = {}
            for node, t in first.items():
                if counts[node] == 1:
                    labels[node] = (f"{t.module}.{t.label}", _shorten(t.label, 48))
                else:
                    labels[node] = (f"{t.module}.{t.name}", f"{t.name}\n× {counts[node]}")
            found = self._groups["calls"] = (node_of_task, labels)
        return found

    # -- sizes ---------------------------------------------------------------------------------

    def choose(self, max_tasks: int, max_points: int) -> tuple[str, str]:
        """The most detailed (detail, rankdir) whose picture fits in ``max_points`` each way."""
        for detail in ("tasks", "calls"):
            if detail == "tasks" and len(self.trace.tasks) > max_tasks:
                continue
            for rankdir in ("TB", "LR"):
                width, height = self.size(detail, rankdir)
                if width <= max_points and height <= max_points:
                    return detail, rankdir
        return "functions", self.direction("functions", max_points)

    def direction(self, detail: str, max_points: int) -> str:
        """Top to bottom, unless that is wider than ``max_points`` and left to right is smaller."""
        width, height = self.size(detail, "TB")
        if width <= max_points:
            return "TB"
        across, down = self.size(detail, "LR")
        return "LR" if max(across, down) < max(width, height) else "TB"

    def size(self, detail: str, rankdir: str) -> tuple[float, float]:
        """The estimated (width, height) in points of the picture."""
        ranks = self._ranks(detail)
        along = [sum(w for w, _ in r) + _NODE_GAP * (len(r) - 1) for r in ranks]  # TB: a row
        thick = [max(h for _, h in r) for r in ranks]
        if rankdir == "TB":
            return max(along, default=0.0), sum(thick) + _RANK_GAP * (len(ranks) - 1)
        columns = [sum(h for _, h in r) + _NODE_GAP * (len(r) - 1) for r in ranks]
        widest = [max(w for w, _ in r) for r in ranks]
        return sum(widest) + _RANK_GAP * (len(ranks) - 1), max(columns, default=0.0)

    def _ranks(self, detail: str) -> list[list[tuple[float, float]]]:
        trace = self.trace
        if detail == "tasks":
            node_of_task = {t.id: t.id for t in trace.tasks}
            labels = {t.id: _shorten(t.label, 48) for t in trace.tasks}
            batch_key: dict[int, Any] = {b.id: b.id for b in trace.batches}
        else:
            groups = self.call_groups() if detail == "calls" else self.function_groups()
            node_of_task = groups[0]
            labels = {node: label for node, (_, label) in groups[1].items()}
            batch_key = {b.id: (b.round, b.kind) for b in trace.batches}
        rank_of: dict[Any, int] = {}
        for t in trace.tasks:
            node = node_of_task[t.id]
            rank_of[node] = min(rank_of.get(node, 1 << 30), self.depth[t.id])
        batch_rank: dict[Any, int] = {}
        batch_label: dict[Any, str] = {}
        for t in trace.tasks:
            for kind, target in t.waits_on:
                if kind == "batch":
                    key = batch_key[target]
                    batch_rank[key] = max(batch_rank.get(key, 0), self.depth[t.id] + 1)
        for b in trace.batches:
            key = batch_key[b.id]
            sample = ", ".join(islice(b.key_sample, 4))
            batch_label[key] = max(b.kind, sample[:60], key=len)
        ranks: dict[int, list[tuple[float, float]]] = {}
        for node, rank in rank_of.items():
            ranks.setdefault(rank, []).append(_node_size(labels[node]))
        for key, rank in batch_rank.items():
            width, _ = _node_size(batch_label[key])
            ranks.setdefault(rank, []).append((width, 3 * _LINE + 14))
        return [ranks[r] for r in sorted(ranks)]


def _node_size(label: str) -> tuple[float, float]:
    lines = label.split("\n")
    return max(len(line) for line in lines) * _CHAR + _MARGIN, max(36.0, len(lines) * _LINE + 12)


def _counts(node_of_task: dict[int, int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for node in node_of_task.values():
        counts[node] = counts.get(node, 0) + 1
    return counts


def _dot_head(trace: Trace, rankdir: str = "TB") -> list[str]:
    flushed = sum(1 for b in trace.batches if b.round is not None)
    title = (
        f"{_plural(len(trace.tasks), 'task')} · {_plural(len(trace.rounds), 'round')} · "
        f"{_plural(flushed, 'batch flush', 'batch flushes')}"
    )
    return [
        "digraph asynq {",
        f'  graph [rankdir={rankdir}, fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.45, '
        f"newrank=true, ordering=out, label={_quote(title)}, labelloc=t];",
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [color="#555555", arrowsize=0.6];',
    ]


def _batch_label(kind: str, items: int, keys: int | None, sample: Iterable[str]) -> str:
    lines = [f"<B>{_html(kind)}</B>"]
    detail = _plural(items, "item")
    if keys is not None and keys != items:
        detail += f", {_plural(keys, 'distinct key')}"
    lines.append(_html(detail))
    shown = list(islice(sample, 4))
    if shown:
        lines.append(
            f'<FONT POINT-SIZE="9">{_html(", ".join(shown))}{", …" if items > 4 else ""}</FONT>'
        )
    return "<" + "<BR/>".join(lines) + ">"


def _round_cluster(index: int, body: list[str], seconds: float) -> list[str]:
    return [
        f"  subgraph cluster_round_{index} {{",
        f'    label="round {index} ({seconds * 1000:.2f} ms)"; labeljust=l; style="rounded,filled"; '
        'fillcolor="#f3f6fb"; color="#9aa9c2"; fontsize=10;',
        *body,
        "  }",
    ]


def _dot_tasks(trace: Trace, rankdir: str = "TB") -> str:
    lines = _dot_head(trace, rankdir)
    for t in trace.tasks:
        style = 'style=filled, fillcolor="#ffffff"'
        if t.error is not None:
            style = 'style=filled, fillcolor="#f8d7da", color="#b02a37"'
        elif t.end is None:
            style = 'style="filled,dashed", fillcolor="#fff3cd"'
        tooltip = f"{t.module}.{t.label}"
        if t.error:
            tooltip += f"\nraised {t.error}"
        lines.append(
            f"  t{t.id} [label={_quote(_shorten(t.label, 48))}, shape=ellipse, {style}, "
            f"tooltip={_quote(tooltip)}];"
        )
    flushed: dict[int, list[BatchTrace]] = {}
    for b in trace.batches:
        node = (
            f'b{b.id} [shape=box, style=filled, fillcolor="#dbe7f6", color="#4a6a94", '
            f"label={_batch_label(b.kind, b.items, b.keys, b.key_sample)}];"
        )
        if b.round is None:
            lines.append("  " + node)
        else:
            flushed.setdefault(b.round, []).append(b)
    for round_ in trace.rounds:
        body = [
            f'    b{b.id} [shape=box, style=filled, fillcolor="#dbe7f6", color="#4a6a94", '
            f"label={_batch_label(b.kind, b.items, b.keys, b.key_sample)}];"
            for b in flushed.get(round_.index, [])
        ]
        if body:
            lines += _round_cluster(round_.index, body, round_.end - round_.start)
    waited_on = {i for t in trace.tasks for kind, i in t.waits_on if kind == "task"}
    for t in trace.tasks:
        seen = set()
        for kind, target in t.waits_on:
            if (kind, target) in seen:
                continue
            seen.add((kind, target))
            lines.append(f"  t{t.id} -> {kind[0]}{target};")
        if t.sync_call_in is not None:
            lines.append(
                f'  t{t.sync_call_in} -> t{t.id} [style=dashed, color="#b02a37", '
                'fontcolor="#b02a37", label="sync call", fontsize=9];'
            )
        elif t.creator is not None and t.id not in waited_on:
            lines.append(f'  t{t.creator} -> t{t.id} [style=dotted, color="#999999"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_groups(trace: Trace, groups_of: _Groups, prefix: str, rankdir: str = "TB") -> str:
    """The graph with one node per group of tasks (``_Layout`` makes the groups)."""
    lines = _dot_head(trace, rankdir)
    node_of_task, labels = groups_of
    calls: dict[int, int] = {}
    errors: dict[int, int] = {}
    for t in trace.tasks:
        node = node_of_task[t.id]
        calls[node] = calls.get(node, 0) + 1
        if t.error is not None:
            errors[node] = errors.get(node, 0) + 1
    for node, (key, label) in labels.items():
        style = 'style=filled, fillcolor="#ffffff"'
        if node in errors:
            label += f"\n{errors[node]} raised"
            style = 'style=filled, fillcolor="#f8d7da", color="#b02a37"'
        lines.append(
            f"  {prefix}{node} [label={_quote(label)}, shape=ellipse, {style}, "
            f"tooltip={_quote(key)}];"
        )
    groups: dict[tuple[int | None, str], list[BatchTrace]] = {}
    for b in trace.batches:
        groups.setdefault((b.round, b.kind), []).append(b)
    group_ids = {group: index for index, group in enumerate(groups, 1)}

    def group_node(group: tuple[int | None, str]) -> str:
        batches = groups[group]
        kind = group[1] if len(batches) == 1 else f"{group[1]} × {len(batches)}"
        keys = [b.keys for b in batches if b.keys is not None]
        sample = [k for b in batches for k in b.key_sample]
        label = _batch_label(
            kind, sum(b.items for b in batches), sum(keys) if keys else None, sample
        )
        return (
            f'g{group_ids[group]} [shape=box, style=filled, fillcolor="#dbe7f6", '
            f'color="#4a6a94", label={label}];'
        )

    for group in groups:
        if group[0] is None:
            lines.append("  " + group_node(group))
    for round_ in trace.rounds:
        body = ["    " + group_node(g) for g in groups if g[0] == round_.index]
        if body:
            lines += _round_cluster(round_.index, body, round_.end - round_.start)
    batch_group = {b.id: group_ids[(b.round, b.kind)] for b in trace.batches}
    # Each edge counts the task-level edges it stands for: calls waited on, or tasks that
    # waited on a batch of that kind and round.
    edges: dict[tuple[str, str, str], int] = {}
    for t in trace.tasks:
        source = f"{prefix}{node_of_task[t.id]}"
        for kind, target in dict.fromkeys(t.waits_on):
            if kind == "task":
                edge = (source, f"{prefix}{node_of_task[target]}", "")
            else:
                edge = (source, f"g{batch_group[target]}", "")
            edges[edge] = edges.get(edge, 0) + 1
        if t.sync_call_in is not None:
            edge = (f"{prefix}{node_of_task[t.sync_call_in]}", source, "sync")
            edges[edge] = edges.get(edge, 0) + 1
    for (source, head, style), count in edges.items():
        label = "× " + str(count) if count > 1 else ""
        attrs: list[str] = []
        if style == "sync":
            label = "sync call " + label
            attrs = ["style=dashed", 'color="#b02a37"', 'fontcolor="#b02a37"']
        if label:
            attrs += [f"label={_quote(label.strip())}", "fontsize=9"]
        lines.append(f"  {source} -> {head}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
