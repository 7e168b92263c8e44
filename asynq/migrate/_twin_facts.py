"""Facts for pairing twins by how they are called, and for finding the uses of priming names.

Computed in the worker with the rest of a module's facts (see ``_facts``):

- :func:`twin_hints`: which priming function a function calls first thing with its own
  arguments (``def page(x): prime_stuff(x); ...``), and which function a priming call is
  followed by with the same arguments (``prime_x(a)`` then ``y = render(a)``). The
  whole-program analysis pairs a priming function that is nobody's twin by name with the
  one function these point at (``_twins.TwinTracker.pair_by_calls``).
- :func:`prime_name_uses`: where each name that starts with the priming prefix appears
  (as a name, an attribute or inside a string), by the function, method or class-body
  alias it appears in, so that a method twin can be deleted when no use of its name is
  left after the migration.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst

from ._cst import Ref, child_nodes, dotted_name, import_bindings, local_names
from ._reads import Site

#: where a priming name is used: ("unit", index of a top-level function), ("method",
#: "Class.name"), ("alias", "Class.name") for ``prime_a = prime_b`` in a class body, or
#: ("module", "") for any other code
Where = tuple[str, str]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _statements(body: cst.BaseSuite) -> list[cst.BaseStatement]:
    if isinstance(body, cst.SimpleStatementSuite):
        return [cst.SimpleStatementLine(body=body.body)]
    assert isinstance(body, cst.IndentedBlock)
    return list(body.body)


def _lone_small(stmt: cst.BaseStatement) -> cst.BaseSmallStatement | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt.body[0]
    return None


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    small = _lone_small(stmt)
    return isinstance(small, cst.Expr) and isinstance(
        small.value, (cst.SimpleString, cst.ConcatenatedString)
    )


def _code(node: cst.CSTNode) -> str:
    return " ".join(cst.Module(body=[]).code_for_node(node).split())


def _arguments(call: cst.Call) -> tuple[tuple[str, str], ...] | None:
    """The arguments of a call as (keyword or "", code); None with ``*``/``**`` arguments."""
    out = []
    for arg in call.args:
        if arg.star:
            return None
        out.append((arg.keyword.value if arg.keyword is not None else "", _code(arg.value)))
    return tuple(out)


def _priming_call(stmt: cst.BaseStatement, prefix: str) -> tuple[Ref, cst.Call] | None:
    """``prime_x(...)`` (or ``module.prime_x(...)``) alone as a statement."""
    small = _lone_small(stmt)
    if not isinstance(small, cst.Expr) or not isinstance(small.value, cst.Call):
        return None
    ref = dotted_name(small.value.func)
    if ref is None or not ref[-1].startswith(prefix):
        return None
    return ref, small.value


def _reading_call(stmt: cst.BaseStatement, prefix: str) -> tuple[Ref, cst.Call] | None:
    """``f(...)`` as the whole value of a statement (``y = f(a)``, ``return f(a)``,
    ``f(a)``), where ``f`` is no priming name."""
    small = _lone_small(stmt)
    value: cst.BaseExpression | None = None
    if isinstance(small, (cst.Expr, cst.Return)):
        value = small.value
    elif isinstance(small, (cst.Assign, cst.AnnAssign)):
        value = small.value
    if not isinstance(value, cst.Call):
        return None
    ref = dotted_name(value.func)
    if ref is None or ref[-1].startswith(prefix):
        return None
    return ref, value


def _same_as_parameters(call: cst.Call, params: cst.Parameters) -> bool:
    """Whether ``call`` passes exactly the parameters of the function, each by its own name
    (positional ones in order, keyword-only ones as ``p=p``)."""
    if params.star_arg is not None and isinstance(params.star_arg, cst.Param):
        return False
    if params.star_kwarg is not None:
        return False
    args = _arguments(call)
    if args is None:
        return False
    positional = [p.name.value for p in (*params.posonly_params, *params.params)]
    keyword_only = [p.name.value for p in params.kwonly_params]
    passed_positional: list[str] = []
    passed_keyword: set[str] = set()
    for keyword, code in args:
        if keyword:
            if code != keyword:
                return False
            passed_keyword.add(keyword)
        else:
            if passed_keyword:
                return False
            passed_positional.append(code)
    if passed_positional != positional[: len(passed_positional)]:
        return False
    rest = positional[len(passed_positional) :]
    return passed_keyword == set(rest) | set(keyword_only) and len(passed_keyword) == len(
        rest
    ) + len(keyword_only)


def twin_hints(fn: cst.FunctionDef, prefix: str) -> tuple[Ref | None, list[tuple[Ref, Ref]]]:
    """``(opening, follows)`` for a top-level function.

    ``opening``: the priming function ``fn`` calls as its first statement (after its
    docstring) with exactly its own parameters, else None. ``follows``: for every priming
    call in ``fn`` (at any depth of its blocks) that the next statement follows with a call
    of the same arguments, (the priming name, the function the next statement calls).
    """
    body = _statements(fn.body)
    if body and _is_docstring(body[0]):
        body = body[1:]
    opening: Ref | None = None
    if body:
        found = _priming_call(body[0], prefix)
        if found is not None and _same_as_parameters(found[1], fn.params):
            opening = found[0]
    follows: list[tuple[Ref, Ref]] = []
    blocks: list[Sequence[cst.BaseStatement]] = [body]
    while blocks:
        block = blocks.pop()
        for stmt, after in zip(block, [*block[1:], None], strict=True):
            if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                continue
            blocks += _sub_blocks(stmt)
            if after is None:
                continue
            primed = _priming_call(stmt, prefix)
            read = _reading_call(after, prefix) if primed is not None else None
            if primed is None or read is None:
                continue
            if _arguments(primed[1]) is not None and _arguments(primed[1]) == _arguments(read[1]):
                follows.append((primed[0], read[0]))
    return opening, follows


def signature(params: cst.Parameters) -> tuple[str, ...]:
    """The parameters of a function as names, by kind (defaults left out): ``a``, ``*args``,
    ``k=`` (keyword-only), ``**kw``; a ``/`` or a bare ``*`` as itself."""
    out = [p.name.value for p in params.posonly_params]
    if params.posonly_params:
        out.append("/")
    out += [p.name.value for p in params.params]
    if isinstance(params.star_arg, cst.Param):
        out.append("*" + params.star_arg.name.value)
    elif params.kwonly_params:
        out.append("*")
    out += [p.name.value + "=" for p in params.kwonly_params]
    if params.star_kwarg is not None:
        out.append("**" + params.star_kwarg.name.value)
    return tuple(out)


def call_arguments(sig: tuple[str, ...]) -> str:
    """The arguments that pass a function's own parameters on (see :func:`signature`)."""
    out = []
    for part in sig:
        if part in ("/", "*"):
            continue
        out.append(f"{part}{part[:-1]}" if part.endswith("=") else part)
    return ", ".join(out)


def held_call(fn: cst.FunctionDef) -> str | None:
    """The first call in ``fn`` of a function held in a local name or a parameter
    (``primer = PRIMERS.get(kind)`` then ``primer(x)``), as code; None if there is none. In a priming function, what such a call primes
    cannot be known."""
    local = set(local_names(fn))
    stack: list[cst.CSTNode] = [fn.body]
    calls: list[cst.Call] = []
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            local -= set(import_bindings(node))  # an imported function is known by name
        elif isinstance(node, cst.Call):
            calls.append(node)
        stack.extend(reversed(child_nodes(node)))
    for node in calls:
        if isinstance(node.func, cst.Name) and node.func.value in local:
            return _code(node)
    return None


def _sub_blocks(stmt: cst.BaseStatement) -> list[list[cst.BaseStatement]]:
    """The blocks of statements of a compound statement (none for a simple one)."""
    if isinstance(stmt, cst.SimpleStatementLine):
        return []
    out: list[list[cst.BaseStatement]] = []
    parts: list[object] = [getattr(stmt, "body", None), getattr(stmt, "orelse", None)]
    if isinstance(stmt, (cst.Try, cst.TryStar)):
        parts += [*stmt.handlers, stmt.finalbody]
    while parts:
        part = parts.pop()
        if isinstance(part, cst.BaseSuite):
            out.append(_statements(part))
        elif isinstance(part, cst.If):
            parts += [part.body, part.orelse]
        elif isinstance(part, (cst.Else, cst.Finally, cst.ExceptHandler, cst.ExceptStarHandler)):
            parts.append(part.body)
    return out


def _words_with_prefix(text: str, prefix: str) -> list[str]:
    if prefix not in text:
        return []
    return [w for w in _WORD.findall(text) if w.startswith(prefix)]


def prime_name_uses(module: cst.Module, prefix: str) -> dict[str, set[Where]]:
    """Every name starting with ``prefix`` used anywhere in ``module`` (a name, an attribute,
    or a word inside a string), and where. A ``def`` of the name and the left-hand side of a
    class-body alias ``prime_a = prime_b`` define it and are not uses."""
    out: dict[str, set[Where]] = {}

    def scan(node: cst.CSTNode, where: Where, skip: cst.CSTNode | None = None) -> None:
        stack = [node]
        while stack:
            item = stack.pop()
            if item is skip:
                continue
            if isinstance(item, cst.Name):
                if item.value.startswith(prefix):
                    out.setdefault(item.value, set()).add(where)
                continue
            if isinstance(item, (cst.SimpleString, cst.FormattedStringText)):
                for word in _words_with_prefix(item.value, prefix):
                    out.setdefault(word, set()).add(where)
                continue
            if isinstance(item, cst.FunctionDef):
                stack.append(item.params)
                stack.extend(d for d in item.decorators)
                stack.append(item.body)
                if item.returns is not None:
                    stack.append(item.returns)
                continue
            stack.extend(child_nodes(item))

    unit = 0
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef):
            unit += 1
            scan(stmt, ("unit", str(unit)))
            continue
        if isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
            cls = stmt.name.value
            for arg in stmt.bases:
                scan(arg, ("module", ""))
            for dec in stmt.decorators:
                scan(dec, ("module", ""))
            for item in stmt.body.body:
                if isinstance(item, cst.FunctionDef):
                    scan(item, ("method", f"{cls}.{item.name.value}"))
                    continue
                small = _lone_small(item)
                if (
                    isinstance(small, cst.Assign)
                    and len(small.targets) == 1
                    and isinstance(small.targets[0].target, cst.Name)
                    and small.targets[0].target.value.startswith(prefix)
                ):
                    target = small.targets[0].target
                    scan(item, ("alias", f"{cls}.{target.value}"), skip=target)
                    continue
                scan(item, ("module", ""))
            continue
        scan(stmt, ("module", ""))
    return out


def member_sites(others: Sequence[cst.BaseStatement], sites: list[Site], prefix: str) -> dict[int, str]:
    """For the sites of the module unit (``others`` are its statements) that sit in a
    priming member of a top-level class (``def prime_m`` or ``prime_a = ...`` in the class
    body): ordinal -> "Class.member". The sites must carry their nodes."""
    by_statement: dict[int, list[Site]] = {}
    for site in sites:
        if site.node is not None:
            by_statement.setdefault(site.statement, []).append(site)
    out: dict[int, str] = {}
    for index, here in by_statement.items():
        stmt = others[index]
        if not isinstance(stmt, cst.ClassDef) or not isinstance(stmt.body, cst.IndentedBlock):
            continue
        owner: dict[int, str] = {}
        for item in stmt.body.body:
            name: str | None = None
            if isinstance(item, cst.FunctionDef):
                name = item.name.value
            else:
                small = _lone_small(item)
                if (
                    isinstance(small, cst.Assign)
                    and len(small.targets) == 1
                    and isinstance(small.targets[0].target, cst.Name)
                ):
                    name = small.targets[0].target.value
            if name is None or not name.startswith(prefix):
                continue
            stack: list[cst.CSTNode] = [item]
            while stack:
                node = stack.pop()
                owner[id(node)] = f"{stmt.name.value}.{name}"
                stack.extend(child_nodes(node))
        for site in here:
            member = owner.get(id(site.node))
            if member is not None:
                out[site.ordinal] = member
    return out
