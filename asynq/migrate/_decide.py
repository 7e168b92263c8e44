"""The conversion decision: which functions and methods are converted, and why not."""

from __future__ import annotations

from ._facts import UnitFacts
from ._reads import Site
from ._resolve import Symbol
from ._results import Refusal
from ._walk_decision import WalkChecker

_BLOCKER_SENTENCES = {
    "lambda": (
        "inside a lambda; a lambda cannot yield, so the read cannot join a batch. "
        "Move the read out of the lambda, then rerun"
    ),
    "nested-def": (
        "inside a nested function, which would have to become asynq too. "
        "Move the read into the outer function, then rerun"
    ),
    "nested-class": "inside a nested class. Move the read out of the class, then rerun",
    "with": (
        "inside a `with` block; yielding there would keep the context manager open while "
        "other tasks run. Read the value before the `with`, then rerun"
    ),
    "while": (
        "inside a `while` loop whose number of rounds may depend on the values read; "
        "converting it would cost one round trip per iteration. Rewrite it as a `for` loop "
        "or a comprehension, then rerun"
    ),
    "for": (
        "inside a `for` loop that does more than collect one read per item into a local "
        "list or dict; converting it would cost one round trip per item. Rewrite the loop "
        "as a comprehension over the cached call, then rerun"
    ),
    "for-else": "inside the `else` of a `for` loop. Move the read after the loop, then rerun",
    "search": (
        "inside a `for` loop that may stop early (`break`, `return`, `raise`), and its twin "
        "does not prime that call for every item of the loop, so reading every item first "
        "could read keys the loop never reaches, and reading as it goes would cost one round "
        "trip per item. Prime the call for every item in the twin, or rewrite the search as "
        "a comprehension, then rerun"
    ),
    "comprehension": (
        "in a comprehension's condition, inner loop or inside a larger element expression; "
        "only a comprehension whose element is exactly the call becomes one batched yield. "
        "Compute the reads in their own comprehension first, then rerun"
    ),
    "genexp": (
        "in a generator expression that is not consumed at once by list(), tuple(), set(), "
        "sum(), min(), max(), any(), all(), sorted() or str.join(). Use a list "
        "comprehension, then rerun"
    ),
    "finally": (
        "inside a `finally` block, which also runs while the generator is being closed. "
        "Read the value before the `try`, then rerun"
    ),
    "broad-except": (
        "inside a `try` whose handler catches BaseException or GeneratorExit (or is a bare "
        "`except:`), which would also swallow the scheduler's own signals. Catch Exception "
        "instead, then rerun"
    ),
    "match": "inside a `match` statement, which the codemod does not rewrite. Read the "
    "value before the `match`, then rerun",
    "try-star": "inside a `try`/`except*`, which the codemod does not rewrite. Read the "
    "value before the `try`, then rerun",
}


def blocker_sentence(blocker: str) -> str:
    """The explanation of a blocker code (see ``BLOCKERS``)."""
    return _BLOCKER_SENTENCES.get(blocker, blocker)


class Decider(WalkChecker):
    """The conversion fixpoint over functions, helpers and methods."""

    #: converted functions that keep calling their twin because some of their own reads stay
    #: plain calls (served by that priming) -> why each such read cannot become a yield
    plain_reads: dict[Symbol, list[str]]

    def blocker_text(self, blocker: str) -> str:
        """The sentence that explains a blocker code (see ``blocker_sentence``)."""
        return blocker_sentence(blocker)

    # -- the conversion decision -------------------------------------------------------------
    def _local_reasons(self, fn: Symbol) -> list[Refusal]:
        path, name = fn
        mod = self.modules[path]
        unit = self.unit_of(fn)
        twin_sym = self.twins[fn]
        twin = self.unit_of(twin_sym)
        assert unit is not None and twin is not None
        twin_name = twin_sym[1]
        out: list[Refusal] = []

        def refuse(
            reason: str, where: UnitFacts, site: Site | None = None, about_twin: bool = False
        ) -> None:
            if where.index < 0 or (where is twin and twin_sym[0] != path):
                # a ``prime_f = prime_g`` twin, or one in another file: point at the function
                where, site = unit, None
            out.append(
                Refusal(
                    path,
                    name,
                    reason,
                    where.index,
                    site.ordinal if site else None,
                    about_twin=about_twin,
                )
            )

        if path in self.frozen:
            refuse(f"{name} is in a file this run does not rewrite.", unit)
            return out
        if unit.is_async:
            refuse(
                f"{name} is an `async def`; asynq functions are generators. Convert it by hand.",
                unit,
            )
        if unit.has_yield:
            refuse(
                f"{name} already contains `yield` or `await`, so it cannot become an "
                "asynq generator automatically. Convert it by hand.",
                unit,
            )
        for dec in unit.decorators:
            refuse(
                f"{name} has the decorator @{dec.text}, which may not accept a generator "
                "function. Remove or move the decorator, or convert it by hand.",
                unit,
            )
        asynq_binding = mod.imports.get("asynq")
        if (
            asynq_binding is not None
            and self.resolve(path, ("asynq",))
            not in (("ext", "asynq.asynq"), ("ext", "asynq.decorators.asynq"))
        ) or ("asynq" in mod.defs or "asynq" in mod.others):
            refuse(
                "this module already uses the name `asynq` for something else, so the "
                "`@asynq()` decorator cannot be imported. Rename that binding, then rerun.",
                unit,
            )
        if twin.is_async:
            refuse(
                f"its twin {twin_name} is an `async def`, which the legacy priming "
                "runtime does not drive. Convert it by hand.",
                twin,
            )
        if twin.held_call is not None:
            refuse(
                f"its twin {twin_name} calls `{twin.held_call}`, a function held in a "
                "variable, so what it primes cannot be known. Spell the priming call out, "
                "then rerun.",
                twin,
                about_twin=True,
            )
        for site in twin.sites:
            kind = self.site_kind(twin_sym[0], site)
            if kind == "local-prime":
                refuse(
                    f"its twin {twin_name} calls {'.'.join(site.ref)}, a priming method of "
                    "an object, which the codemod does not follow; converting "
                    f"{name} would lose that batching. Convert it by hand, or prime "
                    "through module-level twins, then rerun.",
                    twin,
                    site,
                    about_twin=True,
                )
            elif kind == "dynamic":
                refuse(
                    f"its twin {twin_name} makes a dynamic call (such as getattr(...)()), "
                    "so what it primes cannot be known. Spell the priming call out, "
                    "then rerun.",
                    twin,
                    site,
                    about_twin=True,
                )
            elif kind == "call" and self.is_priming_name(
                site, target := self.target_of(twin_sym[0], site)
            ):
                unfollowed = self.unfollowed_prime(target)
                if unfollowed is not None:
                    refuse(
                        f"its twin {twin_name} calls {'.'.join(site.ref)}, {unfollowed}; "
                        f"converting {name} would lose that batching. Convert it by hand, or "
                        "prime through twins that name what they prime, then rerun.",
                        twin,
                        site,
                        about_twin=True,
                    )
                elif self.owner_of_prime(target) is None and self.lone_primes(target) is None:
                    refuse(
                        f"its twin {twin_name} calls {'.'.join(site.ref)}, which is not a "
                        "priming twin defined in the files being migrated. Include the "
                        "module that defines it in the run, then rerun.",
                        twin,
                        site,
                        about_twin=True,
                    )
        for site in unit.sites:
            if site.kind == "call" and self.target_of(path, site) == ("sym", path, name):
                why = self.recursion_reason(fn, site)
                if why is not None:
                    refuse(why, unit, site)
                break
        for site in unit.sites:
            if site.kind == "dynamic":
                refuse(
                    f"{name} makes a dynamic call (such as getattr(...)()) that may read a "
                    "cached value the codemod cannot see. Call the function by name, "
                    "then rerun.",
                    unit,
                    site,
                )
                continue
            owner = self.owner_of_prime(self.target_of(path, site))
            if owner is None or self.is_method(owner):
                continue  # priming methods stay, and so do the calls of them
            if site.kind == "ref":
                refuse(
                    f"{name} uses the priming function {'.'.join(site.ref)} as a value, "
                    "which the codemod cannot remove. Call it as a statement or drop it, "
                    "then rerun.",
                    unit,
                    site,
                )
            elif site.local_import is not None:
                refuse(
                    f"{name} calls {'.'.join(site.ref)} through an import made inside the "
                    "function, which the codemod does not remove. Import it at module level "
                    "(or delete the call), then rerun.",
                    unit,
                    site,
                    about_twin=True,
                )
            elif not site.deletable:
                refuse(
                    f"{name} calls {'.'.join(site.ref)} in an expression or with "
                    "arguments that have side effects, so the priming call cannot simply "
                    "be deleted. Make it a plain statement, then rerun.",
                    unit,
                    site,
                    about_twin=True,
                )
        return out

    def _dependent_reasons(self, fn: Symbol) -> list[Refusal]:
        path, name = fn
        unit = self.unit_of(fn)
        twin_sym = self.twins[fn]
        twin = self.unit_of(twin_sym)
        assert unit is not None and twin is not None
        out: list[Refusal] = []
        reads: dict[Symbol, Site] = {}
        for site in unit.sites:
            prop = self.converted_property(path, site)
            if prop is not None:
                reads.setdefault(prop, site)  # ``book.p``: read through ``book.get_p``
                continue
            if self.site_kind(path, site) != "call":
                continue
            target = self.target_of(path, site)
            if target is None or target[0] not in ("sym", "method"):
                continue
            callee = (target[1], target[2])
            if target[0] == "method":
                if callee[1] not in self.modules[callee[0]].methods:
                    continue  # a method without a twin: read as before, synchronously
            elif callee == fn:
                reads.setdefault(callee, site)  # its own recursion (see recursion_reason)
                continue
            elif not (self.is_async_capable(callee) or callee in self.candidates):
                continue
            reads.setdefault(callee, site)
            shown = self.display(callee, path)
            if site.blocker is not None:
                out.append(
                    Refusal(
                        path,
                        name,
                        f"{name} reads {shown} {blocker_sentence(site.blocker)}.",
                        unit.index,
                        site.ordinal,
                        about_twin=True,
                    )
                )
            elif target[0] == "method" and callee not in self.converted_methods:
                out.append(
                    Refusal(
                        path,
                        name,
                        f"{name} reads {shown}, which is not converted (see its own entry); "
                        f"converting only the caller would fetch {callee[1]}'s keys one call "
                        f"at a time. Convert {callee[1]} first, then rerun.",
                        unit.index,
                        site.ordinal,
                        about_twin=True,
                        served_by_twin=True,
                    )
                )
            elif callee in self.candidates and callee not in self.converted:
                why = (
                    "its file is not rewritten by this run"
                    if callee[0] in self.frozen
                    else "see its own entry"
                )
                out.append(
                    Refusal(
                        path,
                        name,
                        f"{name} reads {shown}, which is not converted ({why}); converting "
                        f"only the caller would fetch {callee[1]}'s keys one call at a time. "
                        f"Convert {callee[1]} first, then rerun.",
                        unit.index,
                        site.ordinal,
                        about_twin=True,
                        served_by_twin=True,
                    )
                )
        walks = self.walk_reads_reason(path, name, unit)
        if walks is not None:
            out.append(Refusal(path, name, walks[0], unit.index, walks[1], about_twin=True))
        through_helpers = self._read_through_helpers(set(reads))
        seen_reads = set(reads) | through_helpers
        twin_path = twin_sym[0]
        here = twin.index >= 0 and twin_path == path  # refusals about the twin point at it
        for site in twin.sites:
            if self.site_kind(twin_path, site) != "call":
                continue
            target = self.target_of(twin_path, site)
            owner = self.owner_of_prime(target)
            if owner is None:
                # A priming function of no function: what it primes must be read here.
                lone = self.lone_primes(target)
                if lone is not None and not lone <= seen_reads:
                    missing = sorted(lone - seen_reads)[0]
                    shown = self.display(missing, path)
                    out.append(
                        Refusal(
                            path,
                            name,
                            f"its twin {twin_sym[1]} calls {'.'.join(site.ref)}, which "
                            f"primes {shown}, but {name} never reads {missing[1]} "
                            "directly, so converting would lose that batching.",
                            twin.index if here else unit.index,
                            site.ordinal if here else None,
                            about_twin=True,
                            served_by_twin=True,
                        )
                    )
                continue
            problem = self.method_twin_problem(owner) if self.is_method(owner) else None
            if problem is not None:
                out.append(
                    Refusal(
                        path,
                        name,
                        f"its twin {twin_sym[1]} calls {'.'.join(site.ref)}, but {problem}, "
                        f"so reading {owner[1]} instead would lose that batching. Make the "
                        f"twin prime only what {owner[1]} reads, or convert {name} by hand, "
                        "then rerun.",
                        twin.index if here else unit.index,
                        site.ordinal if here else None,
                        about_twin=True,
                        served_by_twin=True,
                    )
                )
                reads[owner] = site  # one message per primed method
                continue
            if owner not in reads and owner not in through_helpers:
                # Reading what the owner's twin primes is as good as reading the owner.
                expanded = self.expand_primes(
                    self.twins.get(owner) if owner in self.twins else None, set()
                )
                if expanded and expanded <= seen_reads:
                    continue
                shown = self.display(owner, path)
                out.append(
                    Refusal(
                        path,
                        name,
                        f"its twin {twin_sym[1]} primes {shown}, but "
                        f"{name} never reads {owner[1]} directly (maybe through a "
                        "helper function), so converting would lose that batching. "
                        "Give the helper its own twin or read the value in "
                        f"{name}, then rerun.",
                        twin.index if here else unit.index,
                        site.ordinal if here else None,
                        about_twin=True,
                        served_by_twin=True,
                    )
                )
                reads[owner] = site  # one message per primed function
        if not reads and not out and not any(site.kind == "dynamic" for site in unit.sites):
            out.append(
                Refusal(
                    path,
                    name,
                    f"{name} reads no cached or primed function, so "
                    "there is nothing to batch. Delete its twin "
                    f"{twin_sym[1]} by hand if it is unused.",
                    unit.index,
                )
            )
        return out

    def _read_through_helpers(self, start: set[Symbol]) -> set[Symbol]:
        """What the converted helpers among ``start`` read, transitively."""
        seen: set[Symbol] = set()
        work = [sym for sym in start if sym in self.helpers]
        while work:
            helper = work.pop()
            if helper in seen or helper not in self.converted:
                continue
            seen.add(helper)
            unit = self.unit_of(helper)
            assert unit is not None
            for site in unit.sites:
                target = self.target_of(helper[0], site)
                if site.kind == "call" and target is not None and target[0] == "sym":
                    callee = (target[1], target[2])
                    seen.add(callee)
                    if callee in self.helpers:
                        work.append(callee)
        return seen

    def _helper_reasons(self, fn: Symbol, local_only: bool) -> bool:
        """Whether a function without a twin cannot become an ``@asynq()`` helper of the
        functions converted with it (True: it cannot)."""
        path, name = fn
        mod = self.modules[path]
        unit = self.unit_of(fn)
        assert unit is not None
        if path in self.frozen or unit.is_async or unit.has_yield or unit.decorators:
            return True
        if ("asynq" in mod.defs or "asynq" in mod.others) or (
            mod.imports.get("asynq") is not None
            and self.resolve(path, ("asynq",))
            not in (("ext", "asynq.asynq"), ("ext", "asynq.decorators.asynq"))
        ):
            return True
        reads = 0
        for site in unit.sites:
            if site.kind in ("dynamic", "local-prime", "ref"):
                return True
            target = self.target_of(path, site)
            owner = self.owner_of_prime(target)
            if owner is not None and not self.is_method(owner):
                return True  # it primes: leave it to its own twin, if any
            if site.kind != "call" or target is None or target[0] != "sym":
                continue
            callee = (target[1], target[2])
            if callee == fn:
                return True  # recursion (see _local_reasons)
            if self.kinds.get(callee) in ("cached", "asynq") or callee in self.candidates or (
                callee in self.helpers
            ):
                if site.blocker is not None:
                    return True
                if local_only:
                    reads += 1
                elif self.is_async_capable(callee):
                    reads += 1
                else:
                    return True  # reads something that stays synchronous
        return reads == 0

    def decide(self) -> None:
        """Compute which primed functions are converted (the largest consistent set), and the
        plain helper functions without twins that they read, converted with them."""
        self.check_walks()
        local = {fn: self._local_reasons(fn) for fn in sorted(self.candidates)}
        self.close_walks()
        self.converted = {fn for fn, reasons in local.items() if not self._blocks(fn, reasons)}
        self.helpers = {
            sym
            for sym, kind in self.kinds.items()
            if kind == "def"
            and sym not in self.candidates
            and not sym[1].startswith(self.config.prime_prefix)
            and self.unit_of(sym) is not None
        }
        self.helpers = {h for h in self.helpers if not self._helper_reasons(h, local_only=True)}
        self.converted |= self.helpers
        readers: dict[Symbol, set[Symbol]] = {}
        for fn in self.candidates | self.helpers:
            unit = self.unit_of(fn)
            assert unit is not None
            for site in unit.sites:
                target = self.target_of(fn[0], site)
                if target is not None and target[0] in ("sym", "method"):
                    readers.setdefault((target[1], target[2]), set()).add(fn)
        # Functions may read converted methods (``Class.method(x)``) and methods may read
        # converted functions: decide both until neither set shrinks any more.
        self._decide_methods()
        while True:
            work = sorted(self.converted)
            while work:
                fn = work.pop()
                if fn not in self.converted:
                    continue
                blocked = (
                    self._helper_reasons(fn, local_only=False)
                    if fn in self.helpers
                    else self._blocks(fn, self._dependent_reasons(fn))
                )
                if blocked:
                    self.converted.discard(fn)
                    work.extend(sorted(r for r in readers.get(fn, ()) if r in self.converted))
            # A helper is converted only for the converted functions that read it.
            while True:
                needed: set[Symbol] = set()
                for fn in self.converted:
                    for caller in readers.get(fn, ()):
                        if caller in self.converted and caller != fn:
                            needed.add(fn)
                unused = {h for h in self.helpers & self.converted if h not in needed}
                if not unused:
                    break
                self.converted -= unused
            self.helpers &= self.converted
            before = dict(self.converted_methods)
            self._decide_methods()
            if self.converted_methods == before:
                break
        self._prune_helper_properties()
        for fn in sorted(self.candidates - self.converted):
            self.reasons[fn] = local[fn] + self._dependent_reasons(fn)
            twin = self.twins[fn]
            if (
                self.reasons[fn]
                and all(r.served_by_twin for r in self.reasons[fn])
                and twin in self.effectful
                and self.may_call_twin(fn, effects=True)
            ):
                unit = self.unit_of(fn)
                assert unit is not None
                self.reasons[fn].append(
                    Refusal(
                        fn[0],
                        fn[1],
                        f"{fn[1]} could be converted with a call of {twin[1]} as its first "
                        f"statement, but besides priming {twin[1]} runs "
                        f"`{self.effectful[twin]}`, which would then run once more for each "
                        f"call of {fn[1]}. Move that effect out of {twin[1]}, then rerun.",
                        unit.index,
                    )
                )
            elif (
                self.reasons[fn]
                and all(r.served_by_twin for r in self.reasons[fn])
                and self.may_call_twin(fn, callers=False)
                and (unprimed_by := self._unpriming_caller(fn, twin)) is not None
            ):
                unit = self.unit_of(fn)
                assert unit is not None
                self.reasons[fn].append(
                    Refusal(
                        fn[0],
                        fn[1],
                        f"{fn[1]} could be converted with a call of {twin[1]} as its first "
                        f"statement, but {unprimed_by} calls {fn[1]} without priming it, so "
                        "that call would then fetch keys the original never read (one more "
                        f"round trip). Prime {fn[1]} in {unprimed_by} too, or convert it by "
                        "hand, then rerun.",
                        unit.index,
                    )
                )
        self.keeps_priming = set()
        self.plain_reads = {}
        self.added_twin_calls = set()
        for fn in sorted(self.converted & self.candidates):
            lifted = local[fn] + self._dependent_reasons(fn)
            if lifted:
                self.keeps_priming.add(fn)
                if not self.calls_own_twin(fn):
                    self.added_twin_calls.add(fn)  # the rewrite calls its twin first
                reads = [r.reason for r in lifted if r.reason.startswith(f"{fn[1]} reads ")]
                if reads:
                    self.plain_reads[fn] = reads
        self.compute_liveness()

    def _blocks(self, fn: Symbol, reasons: list[Refusal]) -> bool:
        """Whether ``reasons`` keep ``fn`` from being converted. Reasons about what its twin
        primes beyond what ``fn`` reads do not, when ``fn`` calls its twin itself: converted,
        it keeps that call, whose priming joins its rounds (``asynq.priming``). Nor do they
        when the rewrite can add that call as the first statement of ``fn``."""
        if not reasons:
            return False
        if not all(r.about_twin for r in reasons):
            return True
        if self.calls_own_twin(fn):
            return False
        # Added, the call serves what the twin primes beyond fn's reads, and the plain calls
        # of functions left unconverted; other reasons (reads that cannot become yields where
        # they are, priming that cannot be followed) are lifted only for functions that call
        # their twin themselves.
        return not all(r.served_by_twin for r in reasons) or not self.may_call_twin(fn)

    def may_call_twin(self, fn: Symbol, effects: bool = False, callers: bool = True) -> bool:
        """Whether the rewrite can make the converted ``fn`` call its twin first: the twin is
        a function of the same module (not an alias) with the same parameters, that does
        nothing but prime (``effects``: or that does more), and every caller of ``fn`` primes
        it (``callers``: checked)."""
        twin = self.twins.get(fn)
        if twin is None or twin[0] != fn[0] or twin in self.alias_twin_units:
            return False
        if twin in self.effectful and not effects:
            return False  # calling it would run its effect once more per call of fn
        unit, twin_unit = self.unit_of(fn), self.unit_of(twin)
        if unit is None or twin_unit is None or twin_unit.is_async:
            return False
        if unit.signature != twin_unit.signature:
            return False
        return not callers or self._unpriming_caller(fn, twin) is None

    def _unpriming_caller(self, fn: Symbol, twin: Symbol) -> str | None:
        """A function of the run (or "module-level code") that calls ``fn`` but does not call
        its twin, itself or through its own twin; None if there is none. Only when there is
        none does a call of the twin added to ``fn`` prime nothing the original program did
        not: for a caller that never primed ``fn`` it would fetch keys the original never read
        (one more round trip, and misses computed for nothing)."""

        def calls(path: str, unit: UnitFacts, target: Symbol) -> bool:
            return any(
                site.kind == "call" and self.target_of(path, site) == ("sym", *target)
                for site in unit.sites
            )

        for path, mod in self.modules.items():
            for unit in [*mod.units, *mod.methods.values()]:
                if (path, unit.name) in (fn, twin) or not calls(path, unit, fn):
                    continue
                if mod.units and unit is mod.units[0]:
                    return "module-level code" + ("" if path == fn[0] else f" (in {path})")
                if calls(path, unit, twin):
                    continue
                own_twin = self.twins.get((path, unit.name))
                own_unit = self.unit_of(own_twin) if own_twin is not None else None
                if own_twin is None or own_unit is None or not calls(own_twin[0], own_unit, twin):
                    return self.display((path, unit.name), fn[0])
        return None

    def calls_own_twin(self, fn: Symbol) -> bool:
        """Whether the body of ``fn`` calls its twin as a statement of its own."""
        unit = self.unit_of(fn)
        twin = self.twins.get(fn)
        if unit is None or twin is None or self.unit_of(twin) is None:
            return False
        return any(
            site.kind == "call"
            and site.deletable
            and site.local_import is None
            and self.target_of(fn[0], site) == ("sym", *twin)
            for site in unit.sites
        )

    def _prune_helper_properties(self) -> None:
        """Keep a converted property without a twin only while converted code reads it."""
        plain = {
            (path, name) for path, mod in self.modules.items() for name in mod.plain_properties
        }
        while True:
            used: set[tuple[str, str]] = set()
            units: list[tuple[str, UnitFacts | None, set[int] | None]] = [
                (fn[0], self.unit_of(fn), None) for fn in self.converted
            ]
            for (path, name), yielded in self.converted_methods.items():
                mod = self.modules[path]
                units.append(
                    (path, mod.methods.get(name) or mod.plain_properties.get(name), yielded)
                )
            for path, unit, only in units:
                for site in unit.sites if unit is not None else ():
                    if only is not None and site.ordinal not in only:
                        continue
                    prop = self.converted_property(path, site)
                    if prop is not None:
                        used.add(prop)
            unused = {key for key in plain & set(self.converted_methods) if key not in used}
            if not unused:
                break
            for key in unused:
                del self.converted_methods[key]
            self.converted_properties -= unused
        self.helper_properties = plain & set(self.converted_methods)

    def _decide_methods(self) -> None:
        """Decide every method with a twin against the functions converted so far (and,
        for ``self.m()`` reads, against the methods converted in the previous pass, until
        that settles)."""
        self.twin_problems.clear()
        self._prior_methods = {}
        self.converted_properties = set()
        while True:  # the prior only grows, so this settles
            self.method_reasons = {}
            self.converted_methods = {}
            self.property_getters = set()
            for path, mod in self.modules.items():
                for name, unit in mod.methods.items():
                    reasons, reads = self._method_decision(path, name, unit)
                    if reasons:
                        self.method_reasons[(path, name)] = reasons
                    else:
                        self.converted_methods[(path, name)] = reads
                # Properties without a twin that read cached values: helpers of the
                # converted code that reads them (see _prune_helper_properties).
                for name, unit in mod.plain_properties.items():
                    reasons, reads = self._method_decision(path, name, unit)
                    if not reasons:
                        self.converted_methods[(path, name)] = reads
            if self.converted_methods == self._prior_methods:
                break
            self._prior_methods = dict(self.converted_methods)
            self.converted_properties = self.property_getters & set(self.converted_methods)

    def _method_decision(
        self, path: str, name: str, unit: UnitFacts
    ) -> tuple[list[str], set[int]]:
        """Whether a method with a priming twin can become an ``@asynq()`` method (its twin
        stays: callers prime it through objects the codemod cannot follow)."""
        method = name.split(".")[-1]
        reasons: list[str] = []
        if path in self.frozen:
            return [f"{name} is in a file this run does not rewrite."], set()
        if unit.is_async:
            reasons.append(f"{name} is an `async def`; asynq methods are generators.")
        if unit.has_yield:
            reasons.append(
                f"{name} already contains `yield` or `await`, so it cannot become an asynq "
                "generator automatically. Convert it by hand."
            )
        cls = name.split(".")[0]
        if [d.text for d in unit.decorators] == ["property"]:
            getter = f"get_{method}"
            if getter in self.modules[path].class_members.get(cls, []):
                reasons.append(
                    f"{name} is a property, and a property cannot yield; the codemod would "
                    f"give it an @asynq() method {getter} to delegate to, but {cls} already "
                    f"has a {getter}. Rename it, then rerun."
                )
            else:
                self.property_getters.add((path, name))
        for dec in unit.decorators:
            if dec.text == "property" and len(unit.decorators) == 1:
                continue
            if dec.text == "property" or dec.text.endswith(".setter"):
                reasons.append(
                    f"{name} is a property with other decorators, and a property cannot "
                    "yield. Convert it by hand."
                )
            elif dec.text not in ("classmethod", "staticmethod"):
                reasons.append(
                    f"{name} has the decorator @{dec.text}, which may not accept a generator "
                    "function. Remove or move the decorator, or convert it by hand."
                )
        reads: set[int] = set()
        for site in unit.sites:
            if site.kind == "dynamic":
                reasons.append(
                    f"{name} makes a dynamic call (such as getattr(...)()) that may read a "
                    "cached value the codemod cannot see. Call the function by name, then rerun."
                )
                continue
            if site.kind == "prop-read":
                # ``self.p`` / ``book.p``: a yield once p is a converted property (it stays
                # a plain attribute read otherwise)
                if self.converted_property(path, site) is not None:
                    reads.add(site.ordinal)
                continue
            if site.kind == "obj-read" and site.via_self and site.blocker is None:
                # ``self.m()``: a yield once m is converted (it stays a plain call otherwise)
                target = self.target_of(path, site)
                if target is not None and (target[1], target[2]) in self._prior_methods:
                    reads.add(site.ordinal)
                continue
            if site.kind != "call":
                continue
            target = self.target_of(path, site)
            if target is None or target[0] != "sym":
                continue
            callee = (target[1], target[2])
            shown = self.display(callee, path)
            if self.is_async_capable(callee):
                if site.blocker is not None:
                    reasons.append(f"{name} reads {shown} {blocker_sentence(site.blocker)}.")
                else:
                    reads.add(site.ordinal)
            elif callee in self.candidates:
                reasons.append(
                    f"{name} reads {shown}, which is not converted (see its own entry). "
                    f"Convert {callee[1]} first, then rerun."
                )
        walks = self.walk_reads_reason(path, name, unit)
        if walks is not None:
            reasons.append(walks[0])
        if not reads and not reasons:
            reasons.append(
                f"{name} reads nothing cached that the codemod can see (reads through `self` "
                "or other objects are not followed), so there is nothing to batch. Convert it "
                "by hand if it is worth it."
            )
        return reasons, reads
