"""What priming twins prime, followed through objects and classes; which twins stay."""

from __future__ import annotations

from ._reads import Site
from ._resolve import Resolver, Symbol, Target


class TwinTracker(Resolver):
    """What each twin primes (through the twins and methods it calls) and which are live."""

    def unfollowed_prime(self, target: Target | None) -> str | None:
        """Why a priming function defined in this run cannot be followed (None: it can be,
        or it is not defined in this run)."""
        if target is None:
            return None
        if target[0] == "method":
            cls, _, method = target[2].partition(".")
            if self.owner_of_prime(target) is None:
                prefix = self.config.prime_prefix
                if not method.startswith(prefix):
                    return (
                        f"a priming method of {cls} (in {target[1]}) that is no method's "
                        "twin, so what it primes is not followed"
                    )
                plain = method[len(prefix) :]
                return (
                    f"a priming method of {cls} (in {target[1]}) with no method {plain} beside "
                    "it, so what it primes is not followed"
                )
            return None
        sym = self._lone_prime(target)
        if sym is not None and self.expand_primes(sym, set()) is None:
            return (
                f"a priming function (in {sym[0]}) that primes through an object or a "
                "dynamic call (such as a table of priming functions), so what it primes "
                "cannot be followed"
            )
        return None

    def method_twin_problem(self, method: Symbol, seen: set[Symbol] | None = None) -> str | None:
        """Why the twin of a method primes more than the method reads (None: it primes only
        what the method reads, as far as the analysis can follow). A caller that reads the
        method instead of priming it keeps its batching only when this is None."""
        if seen is None:
            if method in self.twin_problems:
                return self.twin_problems[method]
            seen = set()
        if method in seen:
            return None
        seen.add(method)
        path = method[0]
        mod = self.modules[path]
        unit = mod.methods.get(method[1])
        twin = mod.method_twins.get(method[1])
        problem: str | None = None
        if unit is None or twin is None:
            problem = f"{twin.name if twin else method[1]} cannot be analysed"
        else:
            reads: set[Symbol] = set()
            yielded = self.converted_methods.get(method, set())
            for site in unit.sites:
                if site.via_self and site.ordinal not in yielded:
                    continue  # ``self.m()`` left a plain call: what m reads is not batched
                if site.kind == "prop-read":
                    if site.ordinal in yielded:
                        prop = self.converted_property(path, site)
                        if prop is not None:
                            reads.add(prop)
                    continue
                target = self.target_of(path, site)
                if self.site_kind(path, site) == "call" and target and target[0] in (
                    "sym",
                    "method",
                ):
                    reads.add((target[1], target[2]))
            for site in twin.sites:
                kind = self.site_kind(path, site)
                shown = ".".join(site.ref) if site.ref else "a dynamic call"
                if kind == "local-prime":
                    lone = self._method_primes(self.target_of(path, site), set())
                    if lone is None:
                        problem = f"{twin.name} primes through {shown}, which cannot be followed"
                        break
                    problem = _primes_unread(twin.name, shown, lone, reads, method[1])
                    if problem is not None:
                        break
                    continue
                if kind == "dynamic":
                    problem = f"{twin.name} primes through {shown}, which cannot be followed"
                    break
                if kind != "call":
                    continue
                target = self.target_of(path, site)
                owner = self.owner_of_prime(target)
                if owner is None:
                    if self.is_priming_name(site, target):
                        lone = (
                            self._method_primes(target, set())
                            if target is not None and target[0] == "method"
                            else self.lone_primes(target)
                        )
                        if lone is None:
                            problem = f"{twin.name} calls {shown}, which cannot be followed"
                            break
                        problem = _primes_unread(twin.name, shown, lone, reads, method[1])
                        if problem is not None:
                            break
                    continue  # a read that decides what to prime next
                if owner not in reads:
                    problem = (
                        f"{twin.name} primes {owner[1]}, which {method[1]} does not read"
                    )
                    break
                if self.is_method(owner):
                    problem = self.method_twin_problem(owner, seen)
                    if problem is not None:
                        break
        if len(seen) == 1:
            self.twin_problems[method] = problem
        return problem

    def _method_primes(self, target: Target | None, seen: set[str]) -> set[Symbol] | None:
        """For a priming method of a known class that is no method's twin (``Book.prime``,
        reached through ``self.prime()``): what it primes (None: not such a method, or it
        primes what cannot be followed)."""
        if target is None or target[0] != "method" or target[2] in seen:
            return None if target is None or target[0] != "method" else set()
        seen.add(target[2])
        path = target[1]
        unit = self.modules[path].prime_methods.get(target[2])
        if unit is None:
            return None
        out: set[Symbol] = set()
        for site in unit.sites:
            kind = self.site_kind(path, site)
            if kind == "dynamic":
                return None
            if kind == "local-prime":
                more = self._method_primes(self.target_of(path, site), seen)
                if more is None:
                    return None
                out |= more
                continue
            if kind != "call":
                continue
            inner = self.target_of(path, site)
            owner = self.owner_of_prime(inner)
            if owner is not None and self.is_method(owner):
                if self.method_twin_problem(owner) is not None:
                    return None
            if owner is not None:
                out.add(owner)
                if inner is not None and inner[0] == "sym" and (inner[1], inner[2]) in self.twin_of:
                    more = self.expand_primes((inner[1], inner[2]), set())
                    if more is None:
                        return None
                    out |= more
            elif site.ref and self.is_priming_name(site, inner):
                if inner is None or inner[0] != "sym":
                    return None
                more = self.expand_primes((inner[1], inner[2]), set())
                if more is None:
                    return None
                out |= more
        return out

    def lone_primes(self, target: Target | None) -> set[Symbol] | None:
        """For a priming function that is nobody's twin (``prime_page_widgets``): what it
        primes, expanded (None: not such a function, or it primes what cannot be followed)."""
        sym = self._lone_prime(target)
        return None if sym is None else self.expand_primes(sym, set())

    def _lone_prime(self, target: Target | None) -> Symbol | None:
        """``target`` as a priming function defined in this run that is nobody's twin (named
        with the priming prefix), else None."""
        if target is None or target[0] != "sym":
            return None
        sym = (target[1], target[2])
        if sym in self.twin_of or self.kinds.get(sym) != "def":
            return None
        if not sym[1].startswith(self.config.prime_prefix):
            return None
        return sym

    def expand_primes(self, sym: Symbol | None, seen: set[Symbol]) -> set[Symbol] | None:
        """The functions whose keys the priming function ``sym`` primes, through the twins
        and priming functions it calls (None: something it primes cannot be followed)."""
        if sym is None or sym in seen:
            return set() if sym is not None else None
        seen.add(sym)
        if sym in self.alias_of:
            owner = self.alias_of[sym]
            return {owner} if owner is not None else None
        unit = self.unit_of(sym)
        if unit is None:
            return None
        out: set[Symbol] = set()
        for site in unit.sites:
            kind = self.site_kind(sym[0], site)
            if kind in ("dynamic", "local-prime"):
                return None
            if kind != "call":
                continue
            target = self.target_of(sym[0], site)
            owner = self.owner_of_prime(target)
            if owner is not None and self.is_method(owner):
                if self.method_twin_problem(owner) is not None:
                    return None  # it primes more than the method reads
            if owner is not None:
                out.add(owner)
                if target is not None and target[0] == "sym":
                    inner = (target[1], target[2])
                    if inner in self.twin_of:
                        more = self.expand_primes(inner, seen)
                        if more is None:
                            return None
                        out |= more
            elif site.ref and self.is_priming_name(site, target):
                if target is not None and target[0] == "method":
                    # ``Book(x).prime()``: what that priming method primes
                    more = self._method_primes(target, set())
                else:
                    more = self.expand_primes(
                        (target[1], target[2])
                        if target is not None and target[0] == "sym"
                        else None,
                        seen,
                    )
                if more is None:
                    return None
                out |= more
        return out

    # -- which priming twins and aliases are still needed ------------------------------------
    def _removable_symbols(self) -> set[Symbol]:
        out: set[Symbol] = set(self.alias_of)
        for twin, owner in self.twin_of.items():
            if twin in self.effectful:
                if owner in self.converted:
                    self.kept[twin] = (
                        f"{twin[1]} is kept although {owner[1]} is converted: besides priming "
                        f"it runs `{self.effectful[twin]}`, which its callers may rely on. "
                        f"Move that effect where it belongs, then delete {twin[1]} by hand."
                    )
                continue
            if owner in self.converted or self.kinds.get(owner) in ("cached", "asynq"):
                out.add(twin)
        return out

    def compute_liveness(self) -> None:
        removable = self._removable_symbols()
        self.removable = removable
        self.deletions: dict[tuple[str, int], set[int]] = {}
        live: set[Symbol] = set()
        work: list[Symbol] = []

        def keep(target: Target | None, why: str | None = None) -> None:
            if target is not None and target[0] == "sym":
                sym = (target[1], target[2])
                if sym in removable and sym not in live:
                    live.add(sym)
                    work.append(sym)
                    owner = self.twin_of.get(sym) or self.alias_of.get(sym)
                    if why is not None:
                        self.why_live[sym] = why.format(name=sym[1])
                        if owner is not None and owner in self.converted:
                            self.kept[sym] = self.why_live[sym]

        by_name: dict[str, list[Symbol]] = {}
        for sym in removable:
            by_name.setdefault(sym[1], []).append(sym)

        site_path = ""

        def keep_named(site: Site) -> None:
            for sym in by_name.get(site.ref[0], ()):
                keep(
                    ("sym", *sym),
                    "{name} is kept: its name appears in a string in "
                    + f"{site_path}, so it may be looked up at run time.",
                )

        for path, mod in self.modules.items():
            site_path = path
            for unit in mod.units:
                sym = (path, unit.name)
                top = unit.index >= 1 and mod.defs.get(unit.name) == unit.index
                if top and sym in removable and path not in self.frozen:
                    continue  # its references count only if the twin stays
                for site in unit.sites:
                    if site.kind == "string":
                        keep_named(site)
                if path in self.frozen:
                    for site in unit.sites:
                        keep(
                            self.target_of(path, site),
                            "{name} is kept: " + f"{path} is not rewritten by this run and uses it.",
                        )
                    continue
                if top and sym in removable:
                    continue  # its references count only if the twin stays
                # A function converted although its twin primes more than it reads keeps
                # its priming calls: they now join its rounds.
                keeps_priming = top and sym in self.keeps_priming
                converted = top and sym in self.converted and not keeps_priming
                kept_twin = top and sym in self.twin_of
                # ``prime_f = prime_g`` statements that may go: their references count only
                # if they stay (see the work loop below).
                removable_statements = {
                    index
                    for alias_name, index in mod.twin_alias_statements.items()
                    if unit.index == 0 and (path, alias_name) in removable
                }
                for site in unit.sites:
                    if site.statement in removable_statements:
                        continue
                    target = self.target_of(path, site)
                    owner = self.owner_of_prime(target)
                    if owner is None or self.is_method(owner):
                        continue  # method twins stay, and so do the calls of them
                    owner_kind = self.kinds.get(owner)
                    effectful = (
                        target is not None
                        and target[0] == "sym"
                        and (target[1], target[2]) in self.effectful
                    )
                    # Priming stays in code that stays legacy: deleting it would make each of
                    # the plain calls that follow its own round trip. Priming inside a
                    # converted function goes (its reads are yielded together instead),
                    # except a call of a twin that does more than prime.
                    if (
                        site.kind == "call"
                        and site.deletable
                        and not kept_twin
                        and not effectful
                        and (
                            converted
                            or (self.config.delete_cached_priming and owner_kind == "cached")
                        )
                    ):
                        self.deletions.setdefault((path, unit.index), set()).add(site.ordinal)
                    else:
                        where = unit.name if unit.index else "module-level code"
                        if keeps_priming:
                            why = f"{where} (in {path}) is converted and keeps calling it: "
                            why += "its twin primes more than it reads, and that priming "
                            why += f"now joins the rounds of {where}."
                        elif converted:
                            why = f"{where} (in {path}) is converted but still calls it "
                            why += "for what it does besides priming."
                        else:
                            why = f"{where} (in {path}) is not converted and still calls "
                            why += "it, so the plain calls that follow keep batching. It "
                            why += "goes once its callers are converted."
                        keep(target, "{name} is kept: " + why)
        while work:
            sym = work.pop()
            site_path = sym[0]
            twin_unit = self.unit_of(sym)
            if twin_unit is None:
                continue
            for site in twin_unit.sites:
                if site.kind == "string":
                    keep_named(site)
                else:
                    keep(
                        self.target_of(sym[0], site),
                        "{name} is kept: " + f"{sym[1]} (in {sym[0]}) stays and calls it.",
                    )
        self.live = live


def _primes_unread(
    twin: str, shown: str, primed: set[Symbol], reads: set[Symbol], method: str
) -> str | None:
    """Why ``twin`` cannot go: the call ``shown`` primes something ``method`` does not read (the
    first such, by name); None when the method reads all of it."""
    if primed <= reads:
        return None
    missing = sorted(primed - reads)[0]
    return f"{twin} calls {shown}, which primes {missing[1]}, which {method} does not read"
