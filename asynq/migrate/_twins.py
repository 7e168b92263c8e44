"""What priming twins prime, followed through objects and classes; which twins stay."""

from __future__ import annotations

from ._cst import Ref
from ._reads import Site
from ._resolve import Resolver, Symbol, Target


class TwinTracker(Resolver):
    """What each twin primes (through the twins and methods it calls) and which are live."""

    #: twins paired by how they are called -> the sentence that says so (reported)
    paired: dict[Symbol, str]
    #: twins paired by how they are called -> how (the end of that sentence)
    paired_why: dict[Symbol, str]
    #: priming functions named after no function that could not be paired -> why
    unpaired: dict[Symbol, str]
    #: converted functions that do not call their twin although it primes more than they
    #: read: the rewrite adds that call as their first statement
    added_twin_calls: set[Symbol]

    def pair_by_calls(self) -> None:
        """Pair a priming function that is nobody's twin by name (``prime_staff_dashboard``)
        with the one function it primes: the function that calls it first thing with its own
        arguments (``def staff_dashboard_page(staff_id): prime_staff_dashboard(staff_id)``),
        or the function its callers call right after it with the same arguments
        (``prime_signals(order_id)`` then ``signal_breakdown(order_id)``). Only a plain
        function without a twin can be paired, and only when the pairing is unambiguous
        (one function for the priming function, one priming function for the function)."""
        self.paired = {}
        self.paired_why = {}
        self.unpaired = {}
        self.added_twin_calls = set()
        prefix = self.config.prime_prefix
        lone = {
            sym
            for sym, kind in self.kinds.items()
            if kind == "def" and sym[1].startswith(prefix) and sym not in self.twin_of
        }
        if not lone:
            return
        #: priming function -> function -> how it was found (None: it is called at the
        #: function's start, else the function that calls both)
        claims: dict[Symbol, dict[Symbol, Symbol | None]] = {}

        def resolved(path: str, ref: Ref) -> Symbol | None:
            target = self.resolve(path, ref)
            if target is None or target[0] != "sym":
                return None
            return (target[1], target[2])

        for path, mod in self.modules.items():
            for name, index in mod.defs.items():
                unit = mod.units[index]
                if unit.opening_prime is not None:
                    twin = resolved(path, unit.opening_prime)
                    if twin in lone:
                        assert twin is not None
                        claims.setdefault(twin, {}).setdefault((path, name), None)
                for prime_ref, read_ref in unit.prime_follows:
                    twin, read = resolved(path, prime_ref), resolved(path, read_ref)
                    if twin in lone and read is not None:
                        assert twin is not None
                        claims.setdefault(twin, {}).setdefault(read, (path, name))
        chosen: dict[Symbol, list[Symbol]] = {}  # function -> the priming functions pairing it
        for twin, found in sorted(claims.items()):
            eligible = sorted(
                fn
                for fn in found
                if self.kinds.get(fn) == "def"
                and not fn[1].startswith(prefix)
                and fn not in self.twins
            )
            if len(eligible) == 1:
                chosen.setdefault(eligible[0], []).append(twin)
            elif len(eligible) > 1:
                names = ", ".join(self.display(fn, twin[0]) for fn in eligible[:-1])
                names += " and " + self.display(eligible[-1], twin[0])
                self.unpaired[twin] = (
                    f"{names} each go with it (called at their start with the same arguments, "
                    "or right after it with them), so it is paired with none of them"
                )
            else:
                fn = sorted(found)[0]
                kind = self.kinds.get(fn)
                what = (
                    "a cached function"
                    if kind == "cached"
                    else "an @asynq() function"
                    if kind == "asynq"
                    else "a function with a twin of its own"
                    if fn in self.twins
                    else None
                )
                if what is not None:
                    self.unpaired[twin] = (
                        f"the function it goes with, {self.display(fn, twin[0])}, is {what}, "
                        "so it is not that function's twin"
                    )
        for fn, twins in sorted(chosen.items()):
            if len(twins) > 1:
                for twin in twins:
                    others = ", ".join(t[1] for t in twins if t != twin)
                    self.unpaired[twin] = (
                        f"{self.display(fn, twin[0])} goes with it, but also with {others}, so "
                        "it is paired with neither"
                    )
                continue
            twin = twins[0]
            how = claims[twin][fn]
            where = "" if twin[0] == fn[0] else f" (in {twin[0]})"
            if how is None:
                why = "it is called at its start with the same arguments"
            else:
                caller = self.display(how, fn[0])
                why = f"{caller} calls {fn[1]} right after it, with the same arguments"
            self.paired[twin] = f"{twin[1]}{where} is {fn[1]}'s twin: {why}."
            self.paired_why[twin] = why
            self.twin_of[twin] = fn
            self.twins[fn] = twin
            self.kinds[twin] = "twin"
            twin_unit = self.unit_of(twin)
            assert twin_unit is not None
            if any(self.is_generator_decorator(twin[0], d) for d in twin_unit.decorators):
                self.generator_twins.add(twin)
            if twin_unit.side_effect is not None:
                self.effectful[twin] = twin_unit.side_effect

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
        if unit is None or unit.held_call is not None:
            return None  # ``primer(x)``: what a function held in a variable primes is unknown
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
        """Which twins and aliases stay (``live``), which priming calls go (``deletions``),
        and which twins of converted methods go (``deleted_method_twins``). Deleting a
        method twin can leave the twins it called unused, and deleting those can leave
        other method twins' names unused: repeat until neither changes."""
        #: method twins (path, "Class.prime_m") deleted: what they call keeps nothing alive
        self.dead_members: set[tuple[str, str]] = set()
        while True:
            self.kept = {}
            self.why_live = {}
            self._compute_liveness_once()
            self.compute_method_twin_deletions()
            dead = set(self.deleted_method_twins)
            if dead == self.dead_members:
                return
            self.dead_members = dead

    def _compute_liveness_once(self) -> None:
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
        for fn in sorted(self.added_twin_calls):
            keep(
                ("sym", *self.twins[fn]),
                "{name} is kept: "
                + f"{fn[1]} (in {fn[0]}) is converted and now calls it first: its twin primes "
                + f"more than it reads, and that priming joins the rounds of {fn[1]}.",
            )

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
                dead = {
                    ordinal
                    for ordinal, member in mod.member_sites.items()
                    if unit.index == 0 and (path, member) in self.dead_members
                }
                for site in unit.sites:
                    if site.kind == "string" and site.ordinal not in dead:
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
                    if site.statement in removable_statements or site.ordinal in dead:
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

    def compute_method_twin_deletions(self) -> None:
        """Which twins of converted methods go: those whose name nothing left after the
        migration uses (no call, attribute, name or word in a string, on any object, in
        any file of the run), and that do nothing but prime. A twin named by an alias in
        the class body (``prime_card = prime_author``) goes as that alias statement."""
        prefix = self.config.prime_prefix
        #: (path, "Class.prime_m") -> the attribute name ``prime_m``
        candidates: dict[tuple[str, str], str] = {}
        #: (path, "Class.prime_m") -> why it stays (reported)
        self.kept_method_twins: dict[tuple[str, str], str] = {}
        for path, mod in self.modules.items():
            if path in self.frozen:
                continue
            for cls, method in mod.primed_methods:
                if (path, f"{cls}.{method}") not in self.converted_methods:
                    continue
                attr = prefix + method
                twin = mod.method_twins.get(f"{cls}.{method}")
                if twin is not None and twin.name == f"{cls}.{attr}" and twin.side_effect:
                    self.kept_method_twins[(path, f"{cls}.{attr}")] = (
                        f"{cls}.{attr} is kept although {cls}.{method} is converted: besides "
                        f"priming it runs `{twin.side_effect}`, which its callers may rely on. "
                        f"Move that effect where it belongs, then delete {cls}.{attr} by hand."
                    )
                    continue
                candidates[(path, f"{cls}.{attr}")] = attr
        uses: dict[str, list[tuple[str, tuple[str, str]]]] = {}
        for path, mod in self.modules.items():
            for name, wheres in mod.prime_name_uses.items():
                uses.setdefault(name, []).extend((path, where) for where in sorted(wheres))
        gone_units = {
            (path, str(self.modules[path].defs[name]))
            for path, name in self.removable - self.live
            if name in self.modules[path].defs
        }
        deleted = set(candidates)

        def stays(path: str, where: tuple[str, str]) -> bool:
            if path in self.frozen:
                return True
            kind, name = where
            if kind == "unit":
                return (path, name) not in gone_units
            if kind in ("method", "alias"):
                return (path, name) not in deleted
            return True

        changed = True
        while changed:
            changed = False
            for key in sorted(deleted):
                live_uses = [use for use in uses.get(candidates[key], ()) if stays(*use)]
                if live_uses:
                    deleted.discard(key)
                    changed = True
                    cls, _, attr = key[1].partition(".")
                    method = attr[len(prefix) :]
                    self.kept_method_twins[key] = (
                        f"{key[1]} is kept: {cls}.{method} is converted, but the name {attr} "
                        f"is still used in {self._where(*live_uses[0])}, and a method twin "
                        "stays while anything may call it by its name. Delete it once nothing "
                        "uses it."
                    )
        self.deleted_method_twins: dict[tuple[str, str], str] = {}
        for key in sorted(deleted):
            cls, _, attr = key[1].partition(".")
            method = attr[len(prefix) :]
            self.deleted_method_twins[key] = (
                f"Deleted {key[1]}, the twin of {cls}.{method}, which is converted: nothing "
                f"left in the files being migrated uses the name {attr} (no call, attribute, "
                "name or string mentions it)."
            )

    def _where(self, path: str, where: tuple[str, str]) -> str:
        """A place named by ``_twin_facts.prime_name_uses``, for a message."""
        kind, name = where
        if kind == "unit":
            unit = self.modules[path].units[int(name)]
            return f"{unit.name} (in {path})"
        if kind in ("method", "alias"):
            return f"{name} (in {path})"
        return f"module-level code (in {path})"


def _primes_unread(
    twin: str, shown: str, primed: set[Symbol], reads: set[Symbol], method: str
) -> str | None:
    """Why ``twin`` cannot go: the call ``shown`` primes something ``method`` does not read (the
    first such, by name); None when the method reads all of it."""
    if primed <= reads:
        return None
    missing = sorted(primed - reads)[0]
    return f"{twin} calls {shown}, which primes {missing[1]}, which {method} does not read"
