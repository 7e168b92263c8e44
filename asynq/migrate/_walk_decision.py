"""Whether a walk (recursion, or a ``while`` loop that reads) is converted: its rounds,
counted on the converted code, against the rounds its twin primes in (see ``_walks``)."""

from __future__ import annotations

from ._facts import UnitFacts
from ._reads import Site
from ._resolve import Symbol
from ._twins import TwinTracker
from ._walks import WalkShape, parse_function, shape, trial_shape


def _rounds(count: int) -> str:
    return f"{count} round" if count == 1 else f"{count} rounds"


class WalkChecker(TwinTracker):
    """Decides the walks before the conversion fixpoint: a ``while`` loop's reads are
    unblocked when the converted walk takes no more rounds than its twin; a function that
    calls itself is refused (:meth:`recursion_reason`) when it would."""

    #: functions that call themselves -> why they are not converted (None: they may be)
    _recursion: dict[Symbol, str | None]
    #: walks that may be converted, and what reads them, transitively ("Class.method" for
    #: methods): reading one costs as many rounds as the walk takes
    walk_readers: set[Symbol]

    def blocker_text(self, blocker: str) -> str:
        """The sentence that explains a blocker code (the decision knows them)."""
        return blocker

    # -- shapes -----------------------------------------------------------------------------
    def _twin_shape(
        self, path: str, unit: UnitFacts | None, name: str, seen: set[tuple[str, str]]
    ) -> WalkShape | None:
        """The shape of a priming function (its own ``while`` loop or recursion, or that of
        the one priming function it hands over to, before it yields anything). A method
        (``name`` is "Class.method") calls itself by no bare name."""
        if unit is None or (path, name) in seen:
            return None
        seen.add((path, name))
        own_yields = unit.yields
        if unit.source is not None:
            fn = parse_function(unit.source)
            if fn is None:
                return None
            found = shape(fn, set() if "." in name else {fn.name.value})
            if found.to_self is not None or found.loops:
                return found
            own_yields = found.yields
        if own_yields:
            return None  # it yields itself: what it hands over to starts later
        for site in unit.sites:
            if site.kind != "call":
                continue
            target = self.target_of(path, site)
            if target is None or target[0] != "sym" or not self.is_priming_name(site, target):
                continue
            sym = (target[1], target[2])
            followed = self._twin_shape(sym[0], self.unit_of(sym), sym[1], seen)
            if followed is not None:
                return followed
        return None

    def _is_trial_read(self, path: str, me: Symbol, site: Site) -> bool:
        """Whether the rewrite may make ``site`` a yield (an upper bound: counting a read
        that stays a plain call only makes the count larger)."""
        if site.blocker is not None and not site.walk:
            return False
        if site.walk and (site.after or site.stage):
            return False
        if site.kind == "prop-read":
            # a property of a class of the run, which may be converted (not a plain attribute)
            target = self.target_of(path, site)
            if target is None:
                return False
            mod = self.modules[target[1]]
            return target[2] in mod.plain_properties or target[2] in mod.methods
        if site.kind == "obj-read":
            return site.via_self
        if self.site_kind(path, site) == "call" and self.target_of(path, site) == ("sym", *me):
            return True  # a call on itself
        return self.may_become_yield(path, site)

    def _converted_shape(
        self, path: str, unit: UnitFacts, me: Symbol, cls: str | None
    ) -> WalkShape | None:
        if unit.source is None:
            return None
        return trial_shape(
            unit.source,
            unit.sites,
            lambda site: self._is_trial_read(path, me, site),
            self.config,
            cls,
        )

    # -- while walks -------------------------------------------------------------------
    def check_walks(self) -> None:
        """Unblock the reads of ``while`` loops that convert into walks no slower than
        their twins; explain the others."""
        self._recursion = {}
        self.walk_readers = set()
        todo: list[tuple[str, str, UnitFacts, UnitFacts | None, str, str | None]] = []
        for fn in sorted(self.candidates):
            unit = self.unit_of(fn)
            twin = self.twins[fn]
            if unit is not None and any(site.walk for site in unit.sites):
                todo.append((fn[0], fn[1], unit, self.unit_of(twin), twin[1], None))
        for path, mod in sorted(self.modules.items()):
            for name, unit in sorted(mod.methods.items()):
                if any(site.walk for site in unit.sites):
                    twin_unit = mod.method_twins.get(name)
                    twin_name = twin_unit.name if twin_unit is not None else "its twin"
                    todo.append((path, name, unit, twin_unit, twin_name, name.split(".")[0]))
        for path, name, unit, twin_unit, twin_name, cls in todo:
            why = self._walk_reason(path, name, unit, twin_unit, twin_name, cls)
            if why is None:
                self.walk_readers.add((path, name))
            for site in unit.sites:
                if not site.walk:
                    continue
                if why is None and not (site.after or site.stage):
                    site.blocker = None
                elif why is not None:
                    site.blocker = why

    def _walk_reason(
        self,
        path: str,
        name: str,
        unit: UnitFacts,
        twin_unit: UnitFacts | None,
        twin_name: str,
        cls: str | None,
    ) -> str | None:
        """None when the ``while`` walk of ``name`` may be converted, else why not (a
        blocker sentence: it follows "reads X")."""
        short = twin_name.split(".")[-1]
        twin = self._twin_shape(path, twin_unit, twin_name, set())
        twin_loop = twin.loop if twin is not None else None
        if twin_loop is None:
            return "while"  # its twin does not walk: the general reason
        mine = self._converted_shape(path, unit, (path, name), cls)
        if mine is None:
            return "while"
        loop = mine.loop
        if loop is None:
            return (
                "inside a `while` loop that, converted, would read in more than one loop "
                "(or in a loop inside another), where its twin "
                f"{short} primes one step of one loop per round; it could cost more round "
                "trips. Read in one `while` loop, one step per iteration, then rerun"
            )
        before, each, after = loop
        t_before, t_each, t_after = twin_loop
        if each <= t_each and before <= t_before and after <= t_after + 1:
            return None
        return (
            f"inside a `while` loop; converted, {name} would read in {_rounds(each)} per "
            f"iteration, {before} before the loop and {after} after it, where its twin "
            f"{short} primes in {_rounds(t_each)} per iteration, {t_before} before its loop "
            f"and {t_after} after it, so it could cost more round trips. Put the reads of an "
            "iteration next to each other (or in one statement), then rerun"
        )

    # -- reading walks -----------------------------------------------------------------
    def close_walks(self) -> None:
        """Add the recursions that may be converted to the walks, then everything that reads
        a walk (call :meth:`recursion_reason` for every function that calls itself first)."""
        self.walk_readers |= {fn for fn, why in self._recursion.items() if why is None}
        units: list[tuple[str, str, UnitFacts]] = []
        for path, mod in self.modules.items():
            units += [(path, name, mod.units[index]) for name, index in mod.defs.items()]
            units += [(path, name, unit) for name, unit in mod.methods.items()]
        prefix = self.config.prime_prefix
        units = [u for u in units if not u[1].split(".")[-1].startswith(prefix)]
        changed = True
        while changed:
            changed = False
            for path, name, unit in units:
                if (path, name) in self.walk_readers:
                    continue
                if any(self._read_walk(path, site) for site in unit.sites):
                    self.walk_readers.add((path, name))
                    changed = True

    def _read_walk(self, path: str, site: Site) -> Symbol | None:
        if self.site_kind(path, site) != "call":
            return None
        target = self.target_of(path, site)
        if target is None or target[0] not in ("sym", "method"):
            return None
        sym = (target[1], target[2])
        return sym if sym in self.walk_readers else None

    def walk_reads_reason(self, path: str, name: str, unit: UnitFacts) -> tuple[str, int] | None:
        """Why a function or method that reads walks in separate yields is not converted,
        and the first such read (None: it reads them in one yield, or reads at most one).
        Each such yield would wait for its whole walk before the next starts, where the twin
        primes them together. Reads in one statement share a yield when their function is a
        dotted name and their arguments call nothing (``Book(x).m()`` does not)."""
        groups: dict[object, Symbol] = {}
        first = -1
        for site in unit.sites:
            walk = self._read_walk(path, site)
            if walk is None or walk == (path, name):
                continue
            key: object = site.top if site.early else (site.top, site.ordinal)
            groups.setdefault(key, walk)
            first = site.ordinal if first < 0 else first
        if len(groups) < 2:
            return None
        walks = ", ".join(sorted({sym[1] for sym in groups.values()}))
        return (
            f"{name} reads walks ({walks}) in {len(groups)} separate yields (separate "
            "statements, or reads whose receiver or arguments call something), so each "
            "would wait for the whole walk before it, where its twin primes them together. "
            "Read them in one statement whose arguments call nothing, then rerun.",
            first,
        )

    # -- recursion ---------------------------------------------------------------------
    def recursion_reason(self, fn: Symbol, call: Site) -> str | None:
        """Why ``fn``, which calls itself at ``call``, is not converted (None: it is, if
        nothing else stops it). Converted, every call on itself in a statement is yielded
        together, so one round reads a whole level of the tree, as its twin primes it."""
        if fn in self._recursion:
            return self._recursion[fn]
        why = self._recursion_reason(fn, call)
        self._recursion[fn] = why
        return why

    def _recursion_reason(self, fn: Symbol, call: Site) -> str | None:
        path, name = fn
        unit = self.unit_of(fn)
        twin_sym = self.twins[fn]
        assert unit is not None
        twin_name = twin_sym[1]
        by_hand = (
            " It is left working as it is; convert it by hand (for example level by level, "
            "yielding the reads of a whole level together)."
        )
        if call.blocker is not None:
            return f"{name} calls itself {self.blocker_text(call.blocker)}." + by_hand
        twin = self._twin_shape(path, self.unit_of(twin_sym), twin_name, set())
        if twin is None or twin.to_self is None:
            return (
                f"{name} calls itself, but its twin {twin_name} does not prime the calls it "
                "makes on itself (a priming function that calls itself), so there is no "
                "count of rounds per level to hold the converted recursion to: it could cost "
                "more round trips." + by_hand
            )
        mine = self._converted_shape(path, unit, fn, None)
        if mine is None or mine.to_self is None:
            return (
                f"{name} calls itself where the call cannot become a yield, so each level "
                "would wait for the whole walk below it." + by_hand
            )
        if mine.self_yields > 1:
            return (
                f"{name} calls itself in {mine.self_yields} separate yields (one needs what "
                "another returns, or they are in separate statements), so each waits for "
                "the whole walk below the one before it; its twin primes a whole level "
                "together." + by_hand
            )
        if mine.nested or mine.loops:
            return (
                f"{name} calls itself and reads inside a loop, so the rounds of each level "
                "depend on the values read; its twin primes a whole level together." + by_hand
            )
        twin_stages = twin.yields + 1
        if mine.to_self <= twin.to_self and mine.yields <= twin_stages:
            return None
        return (
            f"{name} calls itself; converted, it would read in {_rounds(mine.to_self)} "
            f"before its calls on itself (so each level of the tree would start "
            f"{_rounds(mine.to_self)} after the level above) and in {_rounds(mine.yields)} "
            f"in all, where its twin {twin_name} primes the next level after "
            f"{_rounds(twin.to_self)} and primes in {_rounds(twin_stages)} in all, so it could "
            "cost more round trips. Put the reads that do not depend on each other next to "
            "each other (or in one statement), then rerun." + by_hand
        )
