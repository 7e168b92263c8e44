"""The whole program's names: modules, imports, twins and aliases resolved to symbols."""

from __future__ import annotations

import os

from ._config import MigrateConfig
from ._cst import ImportBinding, Ref
from ._facts import DecoratorFacts, ModuleFacts, UnitFacts
from ._reads import Site
from ._results import Refusal
from ._share import StatementFacts

Symbol = tuple[str, str]  # (path, top-level name)
#: ("sym", path, name) | ("prime", path, name) for ``f.prime`` | ("mod", path) | ("ext", dotted)
#: | ("method", path, "Class.method") for a method reached through its class
Target = tuple[str, ...]

_ASYNQ_DECORATORS = frozenset({"asynq.asynq", "asynq.decorators.asynq"})


def module_names(path: str) -> list[str]:
    """Dotted names under which ``path`` may be imported (every suffix of its path)."""
    parts = list(os.path.splitext(os.path.abspath(path))[0].split(os.sep))
    parts = [p for p in parts if p]
    if parts and parts[-1] == "__init__":
        parts.pop()
    names = []
    for start in range(len(parts) - 1, max(-1, len(parts) - 9), -1):
        chunk = parts[start:]
        if all(p.isidentifier() for p in chunk):
            names.append(".".join(chunk))
    return names


class Resolver:
    """The whole-program index: what each name resolves to and what kind of symbol it is."""

    def __init__(
        self, facts: list[ModuleFacts], config: MigrateConfig, frozen: set[str] | None = None
    ) -> None:
        self.config = config
        #: files that are analysed but not rewritten (skipped): nothing in them changes
        self.frozen: set[str] = set(frozen or ())
        self.modules: dict[str, ModuleFacts] = {f.path: f for f in facts}
        self._by_name: dict[str, list[str]] = {}
        self._by_abspath: dict[str, str] = {}
        for path in self.modules:
            for name in module_names(path):
                self._by_name.setdefault(name, []).append(path)
            self._by_abspath[os.path.splitext(os.path.abspath(path))[0]] = path
        self._memo: dict[tuple[str, Ref], Target | None] = {}
        self._reached: dict[str, set[str] | None] | None = None
        self.local_roots = frozenset(name.split(".")[0] for name in self._by_name)
        self.kinds: dict[Symbol, str] = {}
        self.twin_of: dict[Symbol, Symbol] = {}
        self.twins: dict[Symbol, Symbol] = {}  # function -> its twin
        self.alias_of: dict[Symbol, Symbol | None] = {}
        self.generator_twins: set[Symbol] = set()
        self.candidates: set[Symbol] = set()
        self.converted: set[Symbol] = set()
        #: converted functions that keep their priming calls (their twins prime more than
        #: they read; see ``Decider.calls_own_twin``)
        self.keeps_priming: set[Symbol] = set()
        self.reasons: dict[Symbol, list[Refusal]] = {}
        self.live: set[Symbol] = set()
        #: twins that do more than prime: never deleted (twin -> the statement, as code)
        self.effectful: dict[Symbol, str] = {}
        #: twins and aliases of converted (or cached, or asynq) functions that stay, and why
        self.kept: dict[Symbol, str] = {}
        self.why_live: dict[Symbol, str] = {}
        #: converted methods: (path, "Class.method") -> ordinals of their read sites
        self.converted_methods: dict[tuple[str, str], set[int]] = {}
        self.method_reasons: dict[tuple[str, str], list[str]] = {}
        #: properties converted into an @asynq() ``get_<name>`` method they delegate to
        self.property_getters: set[tuple[str, str]] = set()
        #: properties converted so far (settled by the method fixpoint): reads of them in
        #: converted code become ``yield obj.get_p.asynq()``
        self.converted_properties: set[tuple[str, str]] = set()
        #: converted properties without a twin (read by converted code)
        self.helper_properties: set[tuple[str, str]] = set()
        #: ``prime_f = prime_g`` twins, as units that call prime_g
        self.alias_twin_units: dict[Symbol, UnitFacts] = {}
        #: functions without twins converted because converted functions read them
        self.helpers: set[Symbol] = set()
        self.twin_problems: dict[Symbol, str | None] = {}
        self._prior_methods: dict[tuple[str, str], set[int]] = {}
        #: cached functions whose miss reads nothing (see ``single_round``), memoised
        self._single_round: dict[Symbol, bool] = {}
        #: names that some class in the run lists among its bases
        self.base_names: set[str] = set().union(*(f.base_names for f in facts))
        self._classify()

    # -- module and name resolution -----------------------------------------------------
    def find_module(self, dotted: str, near: str, level: int = 0) -> str | None:
        """The indexed file for module ``dotted`` imported from ``near`` (None: not indexed)."""
        if level:
            base = os.path.dirname(os.path.abspath(near))
            for _ in range(level - 1):
                base = os.path.dirname(base)
            target = os.path.join(base, *dotted.split(".")) if dotted else base
            return self._by_abspath.get(target) or self._by_abspath.get(
                os.path.join(target, "__init__")
            )
        found = self._by_name.get(dotted)
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        here = os.path.abspath(near).split(os.sep)

        def closeness(candidate: str) -> int:
            there = os.path.abspath(candidate).split(os.sep)
            n = 0
            for a, b in zip(here, there, strict=False):
                if a != b:
                    break
                n += 1
            return n

        return max(sorted(found), key=closeness)

    def resolve(self, path: str, ref: Ref, depth: int = 0) -> Target | None:
        """What the dotted name ``ref`` used at module level of ``path`` refers to."""
        key = (path, ref)
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = None  # guards against import cycles
        result = self._resolve(path, ref, depth)
        self._memo[key] = result
        return result

    def _resolve(self, path: str, ref: Ref, depth: int) -> Target | None:
        if depth > 10 or not ref:
            return None
        mod = self.modules[path]
        head, rest = ref[0], ref[1:]
        if head in mod.defs or head in mod.aliases:
            if not rest:
                return ("sym", path, head)
            if rest == ("prime",):
                return ("prime", path, head)
            return None
        if head in mod.imports:
            return self.resolve_binding(path, mod.imports[head], rest, depth)
        if head in mod.others:
            if len(rest) == 1 and rest[0] in mod.class_members.get(head, ()):
                # ``Class.method`` of a top-level class: a method, classmethod or
                # staticmethod reached through its class.
                return ("method", path, f"{head}.{rest[0]}")
            return ("sym", path, head) if not rest else None
        for star in mod.star_imports:  # from m import *: the name may come from m
            star_path = self.find_module(star.module, path, star.level)
            if star_path is not None:
                found = self.resolve(star_path, ref, depth + 1)
                if found is not None:
                    return found
        return None

    def resolve_binding(
        self, path: str, b: ImportBinding, rest: Ref, depth: int = 0
    ) -> Target | None:
        """What ``<name bound by b>.<rest>`` refers to, for an import made in ``path``."""
        if b.name is None:
            return self._resolve_dotted(b.module.split("."), rest, path, b.level, depth)
        joined = f"{b.module}.{b.name}" if b.module else b.name
        sub = self.find_module(joined, path, b.level)
        if sub is not None:
            return self._attr_of_module(sub, rest, depth)
        base = self.find_module(b.module, path, b.level) if (b.module or b.level) else None
        if base is not None:
            return self._attr_of_module(base, (b.name, *rest), depth)
        if b.level:
            return None
        return ("ext", ".".join((joined, *rest)))

    def _attr_of_module(self, mpath: str, names: Ref, depth: int) -> Target | None:
        if not names:
            return ("mod", mpath)
        return self.resolve(mpath, names, depth + 1)

    def _resolve_dotted(
        self, parts: list[str], rest: Ref, near: str, level: int, depth: int
    ) -> Target | None:
        full = [*parts, *rest]
        for i in range(len(full), 0, -1):
            mpath = self.find_module(".".join(full[:i]), near, level)
            if mpath is not None:
                return self._attr_of_module(mpath, tuple(full[i:]), depth)
        return None if level else ("ext", ".".join(full))

    def target_of(self, path: str, site: Site) -> Target | None:
        """What a call or reference site refers to."""
        if site.kind in ("local-prime", "obj-read", "prop-read"):
            return self._object_method(path, site)
        if site.kind in ("dynamic", "string") or not site.ref:
            return None
        if site.local_import is not None:
            return self.resolve_binding(path, site.local_import, site.ref[1:])
        return self.resolve(path, site.ref)

    def _object_method(self, path: str, site: Site) -> Target | None:
        """The method ``obj.m`` names when the object's class is known (``book = Book(x)``
        or ``Book(x).m()``) and defined in this run; None otherwise."""
        if site.cls is None or len(site.ref) != 2:
            return None
        found = self.resolve(path, site.cls)
        if found is None or found[0] != "sym":
            return None
        if site.via_self and found[2] in self.base_names:
            return None  # ``self`` may be an object of a subclass that overrides the method
        members = self.modules[found[1]].class_members.get(found[2])
        if members is None or site.ref[1] not in members:
            return None
        return ("method", found[1], f"{found[2]}.{site.ref[1]}")

    def converted_property(self, path: str, site: Site) -> Symbol | None:
        """For ``obj.p`` (a ``prop-read`` site that can become a yield): the property it
        reads when that property is converted (it then has an ``@asynq()`` ``get_p``)."""
        if site.kind != "prop-read" or site.blocker is not None:
            return None
        target = self._object_method(path, site)
        if target is None:
            return None
        key = (target[1], target[2])
        return key if key in self.converted_properties else None

    def site_kind(self, path: str, site: Site) -> str:
        """``"call"`` for a call of a method on an object of a known class (for a priming
        call, only of the twin of a method: ``book.prime()`` stays unfollowed), else the
        kind the analysis recorded."""
        if site.kind in ("local-prime", "obj-read"):
            target = self._object_method(path, site)
            if target is not None and (
                site.kind == "obj-read" or self.owner_of_prime(target) is not None
            ):
                return "call"
        return site.kind

    def is_priming_name(self, site: Site, target: Target | None) -> bool:
        """Whether a call looks like priming: ``prime_*``, or ``Class.prime`` of a class."""
        if not site.ref:
            return False
        if site.ref[-1].startswith(self.config.prime_prefix):
            return True
        return target is not None and target[0] == "method" and site.ref[-1] == "prime"

    # -- classification of top-level symbols ------------------------------------------------
    def _is_generator_decorator(self, path: str, dec: DecoratorFacts) -> bool:
        if dec.ref is None or dec.called:
            return False
        target = self.resolve(path, dec.ref)
        wanted = [self.config.priming_module, self.config.generator_decorator]
        if target is None:
            return False
        if target[0] == "ext":
            return target[1].split(".")[-2:] == wanted
        if target[0] == "sym":
            stem = os.path.splitext(os.path.basename(target[1]))[0]
            return [stem, target[2]] == wanted
        return False

    def _is_asynq_decorator(self, path: str, dec: DecoratorFacts) -> bool:
        if dec.ref is None:
            return False
        target = self.resolve(path, dec.ref)
        return target is not None and target[0] == "ext" and target[1] in _ASYNQ_DECORATORS

    def is_priming_binding(self, path: str, name: str) -> bool:
        """Whether import binding ``name`` is the priming module or its generator decorator."""
        target = self.resolve(path, (name,))
        if target is None:
            return False
        module, attr = self.config.priming_module, self.config.generator_decorator
        if target[0] == "ext":
            tail = target[1].split(".")
            return tail[-1] == module or tail[-2:] == [module, attr]
        if target[0] == "mod":
            return os.path.splitext(os.path.basename(target[1]))[0] == module
        return False

    def kept_priming_imports(self, path: str) -> set[str]:
        """Module-level imports in ``path`` of priming functions and aliases that no other
        module reaches through ``path``: when the rewrite of ``path`` deletes their last use
        (priming calls in converted functions), the import goes too, even though the
        priming function itself stays for code elsewhere."""
        reached = self._reached_through().get(path, set())
        if reached is None:
            return set()
        out = set()
        for local in self.modules[path].imports:
            target = self.resolve(path, (local,))
            if target is None or target[0] != "sym" or local in reached:
                continue
            sym = (target[1], target[2])
            if sym in self.twin_of or sym in self.alias_of:
                out.add(local)
        return out

    def _reached_through(self) -> dict[str, set[str] | None]:
        """For each indexed file, the names other modules import from it (None: some module
        imports it as a module, or with ``*``, so any of its names may be reached)."""
        if self._reached is not None:
            return self._reached
        reached: dict[str, set[str] | None] = {}

        def mark(target: str | None, name: str | None) -> None:
            if target is None:
                return
            if name is None:
                reached[target] = None
            elif reached.get(target, set()) is not None:
                names = reached.setdefault(target, set())
                assert names is not None
                names.add(name)

        for mpath, mod in self.modules.items():
            bindings = list(mod.imports.values())
            for unit in [*mod.units, *mod.methods.values()]:
                bindings += [site.local_import for site in unit.sites if site.local_import]
            for b in bindings:
                if b.name is None:
                    mark(self.find_module(b.module, mpath, b.level), None)
                    continue
                joined = f"{b.module}.{b.name}" if b.module else b.name
                mark(self.find_module(joined, mpath, b.level), None)
                if b.module or b.level:
                    mark(self.find_module(b.module, mpath, b.level), b.name)
            for star in mod.star_imports:
                mark(self.find_module(star.module, mpath, star.level), None)
        self._reached = reached
        return reached

    def _classify(self) -> None:
        prefix = self.config.prime_prefix
        for path, mod in self.modules.items():
            for name, index in mod.defs.items():
                unit = mod.units[index]
                decs = unit.decorators
                if any(d.cached for d in decs):
                    kind = "cached"
                elif any(self._is_asynq_decorator(path, d) for d in decs):
                    kind = "asynq"
                elif name.startswith(prefix) and name[len(prefix) :] in mod.defs:
                    kind = "twin"
                    owner = (path, name[len(prefix) :])
                    self.twin_of[(path, name)] = owner
                    self.twins[owner] = (path, name)
                    if any(self._is_generator_decorator(path, d) for d in decs):
                        self.generator_twins.add((path, name))
                    if unit.side_effect is not None:
                        self.effectful[(path, name)] = unit.side_effect
                else:
                    kind = "def"
                self.kinds[(path, name)] = kind
            for name, ref in mod.aliases.items():
                self.kinds[(path, name)] = "alias"
                target = self.resolve(path, ref)
                alias_owner: Symbol | None = None
                if target is not None and target[0] == "sym":
                    alias_owner = (target[1], target[2])
                self.alias_of[(path, name)] = alias_owner
            for name, ref in mod.twin_aliases.items():
                function = name[len(prefix) :]
                if function in mod.defs and (path, name) not in self.kinds:
                    # ``prime_f = prime_g``: the twin of f primes what prime_g primes.
                    sym = (path, name)
                    self.kinds[sym] = "twin"
                    self.twin_of[sym] = (path, function)
                    self.twins[(path, function)] = sym
                    self.alias_twin_units[sym] = UnitFacts(
                        -1, name, [Site(0, "call", ref, None, deletable=True)]
                    )
        self.pair_by_calls()
        for fn, twin in self.twins.items():
            if self.kinds.get(twin) == "twin" and self.kinds.get(fn) == "def":
                self.candidates.add(fn)
        self._check_staged_reads()

    def is_generator_decorator(self, path: str, dec: DecoratorFacts) -> bool:
        """Whether ``dec`` (on a function of ``path``) marks a ``@priming.generator``."""
        return self._is_generator_decorator(path, dec)

    def pair_by_calls(self) -> None:
        """Pair priming functions named after no function with the function they prime,
        found by how they are called (see ``TwinTracker.pair_by_calls``)."""

    def _check_staged_reads(self) -> None:
        """A read of a staged loop (see ``Site.after``) can be read before the loop only if
        the calls it needs are reads too (cached, ``@asynq()``, primed functions or methods
        with twins): a plain call (``key = make_key(x)``) stays in the loop and cannot run
        twice, so the read is blocked like any read inside a loop."""
        self._check_search_reads()
        for path, mod in self.modules.items():
            for unit in [*mod.units, *mod.methods.values(), *mod.plain_properties.values()]:
                for site in unit.sites:
                    if site.after and site.blocker is None:
                        needed = [unit.sites[ordinal] for ordinal in site.after]
                        if not all(self.may_become_yield(path, dep) for dep in needed):
                            site.blocker = "for"
            pairs = [
                (mod.units[index], self.unit_of(self.twins[(path, name)]), name)
                for name, index in mod.defs.items()
                if (path, name) in self.candidates
            ]
            pairs += [
                (unit, mod.method_twins.get(name), name) for name, unit in mod.methods.items()
            ]
            checked = set()
            for unit, twin, name in pairs:
                checked.add(id(unit))
                if twin is not None and any(site.after or site.stage for site in unit.sites):
                    self._check_stage_rounds(path, unit, twin, name)
            # Without a twin (a helper converted with the code that reads it) there is no
            # count of rounds to hold the stages to: they stay in the loop, as before.
            for unit in [*mod.units[1:], *mod.plain_properties.values()]:
                if id(unit) not in checked:
                    for site in unit.sites:
                        if (site.after or site.stage) and site.blocker is None:
                            site.blocker = "for" if site.after else "comprehension"

    def _check_search_reads(self) -> None:
        """A read of a loop that may stop early (``Site.eager``) is made for every item
        before the loop only if the twin primes the same call for every item of a loop over
        the same thing (``prime_f(x)`` in ``for x in g(...)``, no ``if`` around it): then
        reading ahead reads no key the legacy program did not. Otherwise it stays in the
        loop, blocked like any read there."""
        for path, mod in self.modules.items():
            pairs = [
                (mod.units[index], self.unit_of(self.twins[(path, name)]))
                for name, index in mod.defs.items()
                if (path, name) in self.candidates
            ]
            pairs += [(unit, mod.method_twins.get(name)) for name, unit in mod.methods.items()]
            twin_of_unit = {id(unit): twin for unit, twin in pairs}
            for unit in [*mod.units, *mod.methods.values(), *mod.plain_properties.values()]:
                twin = twin_of_unit.get(id(unit))
                for site in unit.sites:
                    if site.eager and site.blocker is None:
                        if twin is None or not self._twin_primes_every_item(path, site, twin):
                            site.blocker = "search"

    def _twin_primes_every_item(self, path: str, site: Site, twin: UnitFacts) -> bool:
        target = self.target_of(path, site)
        if site.loop is None or target is None or target[0] != "sym":
            return False
        callee = (target[1], target[2])
        items, args = site.loop[1], site.loop[2]
        for primed in twin.sites:
            if primed.kind != "call" or primed.loop is None or not primed.loop[3]:
                continue
            if (primed.loop[0], primed.loop[1], primed.loop[2]) != (site.loop[0], items, args):
                continue
            if self.owner_of_prime(self.target_of(path, primed)) == callee:
                return True
        return False

    def _check_stage_rounds(self, path: str, unit: UnitFacts, twin: UnitFacts, name: str) -> None:
        """A function that reads in stages behind a loop is converted with its statements
        in order, reads of different statements sharing a round where ``_share`` lets them
        (see :func:`shared_rounds`). When that makes more rounds than its twin primes in (``@priming.generator`` stages), the staged reads are
        blocked: converting could cost round trips the twin did not."""
        stage: dict[int, int] = {}
        rounds: dict[int, int] = {}
        reads: dict[int, int] = {}
        single: dict[int, bool] = {}
        primed = self._primed_by(path, twin, set())
        unprimed = 0
        for site in unit.sites:
            if not self.may_become_yield(path, site):
                continue
            reads[site.top] = reads.get(site.top, 0) + 1
            stage[site.ordinal] = max(
                site.stage, 1 + site.wait, 1 + max((stage.get(a, 1) for a in site.after), default=0)
            )
            rounds[site.top] = max(rounds.get(site.top, 0), stage[site.ordinal])
            single[site.top] = single.get(site.top, True) and self.single_round(path, site)
            target = self.target_of(path, site)
            if primed is not None and target is not None and target[0] in ("sym", "method"):
                unprimed += not self._served_by(path, site, primed, set())
        needed = shared_rounds(unit.statements, rounds, reads, single)
        # A read the twin does not prime is a plain call in the original: a round of its own.
        stages = twin.yields + 1 + unprimed
        if needed <= stages:
            return
        original = f"its twin primes in {twin.yields + 1}"
        if unprimed:
            original = (
                f"the original reads in about {stages} ({original}, and {unprimed} "
                f"read{'s' if unprimed > 1 else ''} it does not prime cost a round trip "
                f"{'each ' if unprimed > 1 else ''}as plain calls)"
            )
        count = (
            f"converted, {name} would read in about {needed} rounds (yields read one after "
            "another; reads of different statements share a yield only when they do not "
            "depend on each other, nothing between them has an order that matters, and all "
            f"but the last take one round even on a cold cache), where {original}, so it "
            "could cost more round trips. Put reads that do not depend on each other in one "
            "statement (or next to each other), then rerun"
        )
        for site in unit.sites:
            if site.stage and site.blocker is None:
                site.blocker = (
                    "in a comprehension read in stages (two `for` clauses, a condition and an "
                    "element that both read, or an element whose read needs another read); "
                    + count
                )
            if site.after and site.blocker is None:
                site.blocker = (
                    "inside a `for` loop, in a stage after other reads of the same iteration; "
                    + count
                )

    def _primed_by(self, path: str, twin: UnitFacts, seen: set[Symbol]) -> set[Symbol] | None:
        """The functions and methods whose keys a twin primes, through the priming functions
        it calls (None: it calls something that cannot be followed)."""
        out: set[Symbol] = set()
        for site in twin.sites:
            if site.kind != "call":
                continue
            target = self.target_of(path, site)
            owner = self.owner_of_prime(target)
            if owner is not None:
                out.add(owner)
            if target is None or target[0] != "sym" or not self.is_priming_name(site, target):
                continue
            inner = (target[1], target[2])
            unit = self.unit_of(inner)
            if inner in seen or unit is None:
                continue
            seen.add(inner)
            more = self._primed_by(inner[0], unit, seen)
            if more is None:
                return None
            out |= more
        return out

    def _served_by(self, path: str, site: Site, primed: set[Symbol], seen: set[Symbol]) -> bool:
        """Whether a read is served by what a twin primes (``primed``) in the original: it
        reads a primed function, or a function or method all of whose own reads are served
        (``Listing.price_with_fees`` reads only ``listing``, which the twin primes). Other
        reads are plain calls in the original: a round trip each."""
        target = self.target_of(path, site)
        if target is None or target[0] not in ("sym", "method"):
            return False
        sym = (target[1], target[2])
        if sym in primed:
            return True
        if sym in seen or self.kinds.get(sym) == "cached":
            return sym in seen
        seen.add(sym)
        if target[0] == "method":
            unit = self.modules[sym[0]].methods.get(sym[1])
        else:
            unit = self.unit_of(sym)
        if unit is None:
            return False
        return all(
            self._served_by(sym[0], inner, primed, seen)
            for inner in unit.sites
            if self.may_become_yield(sym[0], inner)
        )

    def may_become_yield(self, path: str, site: Site) -> bool:
        """Whether a call site names something the rewrite turns into a yield when the
        function that makes it is converted (else that function is refused anyway)."""
        if self.site_kind(path, site) != "call":
            return False
        target = self.target_of(path, site)
        if target is None:
            return False
        if target[0] == "method":
            return target[2] in self.modules[target[1]].methods
        if target[0] != "sym":
            return False
        sym = (target[1], target[2])
        return self.kinds.get(sym) in ("cached", "asynq") or sym in self.candidates

    def single_round(self, path: str, site: Site) -> bool:
        """Whether a read takes one round even on a cold cache: it calls a cached function
        whose body (what a miss computes) reads nothing cached, primes nothing and calls
        only functions of the run that do neither (or code outside the run). Any other read
        may take more rounds (a miss that reads more, a converted function's own yields)."""
        if self.site_kind(path, site) != "call":
            return False
        target = self.target_of(path, site)
        if target is None or target[0] != "sym":
            return False
        sym = (target[1], target[2])
        if self.kinds.get(sym) != "cached":
            return False
        known = self._single_round.get(sym)
        if known is None:
            known = self._single_round[sym] = self._reads_nothing(sym, set())
        return known

    def _reads_nothing(self, sym: Symbol, seen: set[Symbol]) -> bool:
        if sym in seen:
            return True
        seen.add(sym)
        unit = self.unit_of(sym)
        if unit is None:
            return False
        for site in unit.sites:
            if site.kind != "call":
                return False
            target = self.target_of(sym[0], site)
            if target is None:
                continue  # a builtin or a local name
            if target[0] == "ext":
                if target[1].split(".")[0] == "asynq":
                    return False
                continue
            if target[0] != "sym":
                return False
            callee = (target[1], target[2])
            if self.kinds.get(callee) != "def" or not self._reads_nothing(callee, seen):
                return False
        return True

    def single_round_refs(self, path: str) -> frozenset[Ref]:
        """The dotted names (as written in ``path``) whose every call in a converted function
        or method of ``path`` is a :meth:`single_round` read: only such reads may join a yield
        earlier than the last one before them (see ``_share``)."""
        mod = self.modules[path]
        units = [mod.units[i] for n, i in mod.defs.items() if (path, n) in self.converted]
        units += list(mod.methods.values()) + list(mod.plain_properties.values())
        good: set[Ref] = set()
        bad: set[Ref] = set()
        for unit in units:
            for site in unit.sites:
                if site.kind == "call" and site.ref:
                    (good if self.single_round(path, site) else bad).add(site.ref)
        return frozenset(good - bad)

    def owner_of_prime(self, target: Target | None) -> Symbol | None:
        """The function whose keys a priming name primes (None: not a priming name)."""
        if target is None:
            return None
        if target[0] == "prime":
            return (target[1], target[2])
        if target[0] == "method":
            aliased = self.modules[target[1]].method_twin_aliases.get(target[2])
            if aliased is not None:
                return (target[1], aliased)  # ``prime_link = prime``: ``prime`` primes link
            cls, _, method = target[2].partition(".")
            prefix = self.config.prime_prefix
            if method.startswith(prefix):
                pair = (cls, method[len(prefix) :])
                if pair in self.modules[target[1]].primed_methods:
                    return (target[1], f"{cls}.{pair[1]}")
            return None
        if target[0] != "sym":
            return None
        sym = (target[1], target[2])
        if sym in self.twin_of:
            return self.twin_of[sym]
        if sym in self.alias_of:
            return self.alias_of[sym]
        return None

    def is_async_capable(self, sym: Symbol) -> bool:
        """Cached, already ``@asynq()``, or converted by this run (a function or a method)."""
        return (
            self.kinds.get(sym) in ("cached", "asynq")
            or sym in self.converted
            or sym in self.converted_methods
        )

    @staticmethod
    def is_method(sym: Symbol | None) -> bool:
        """Whether a symbol names a method (``"Class.method"``) rather than a function."""
        return sym is not None and "." in sym[1]

    def display(self, sym: Symbol, here: str) -> str:
        """How to name ``sym`` in a message written about file ``here``."""
        if sym[0] == here:
            return sym[1]
        return f"{sym[1]} (in {sym[0]})"

    def unit_of(self, sym: Symbol) -> UnitFacts | None:
        """The unit that defines a top-level function (for ``prime_f = prime_g``, a unit
        that calls ``prime_g``)."""
        alias_unit = self.alias_twin_units.get(sym)
        if alias_unit is not None:
            return alias_unit
        mod = self.modules.get(sym[0])
        if mod is None or sym[1] not in mod.defs:
            return None
        return mod.units[mod.defs[sym[1]]]


def shared_rounds(
    statements: list[StatementFacts],
    rounds: dict[int, int],
    reads: dict[int, int],
    single: dict[int, bool] | None = None,
) -> int:
    """How many rounds a converted function takes, its reads of different statements sharing
    yields as the rewrite lets them (see ``_share``): ``rounds`` is how many rounds the reads
    of each statement (by index) take, ``reads`` how many of its calls become yields,
    ``single`` whether all its reads take one round even on a cold cache.

    The rewrite reads in yields one after another, each waiting for the one before; the
    count follows it. The reads of a statement join an earlier yield when no statement in
    between assigns or changes a name they need or uses a name the statement assigns,
    calls something other than reads or is opaque: one-round reads (``single``) the
    earliest such yield, any other reads only the last yield (which then lasts as long as
    the longer of the two). A statement whose reads cannot be named ahead of it
    (``pinned``, or that calls something other than reads itself), or that can join no
    yield, adds a yield after all the others: one round per round its reads take.
    Without statement facts, every statement waits for the one before."""
    if not statements:
        return sum(rounds.values())
    single = single or {}
    #: the yields so far: [start, end, index of the statement that made it, joinable]
    groups: list[list[int]] = []

    def last_end() -> int:
        return groups[-1][1] if groups else 0

    for index, facts in enumerate(statements):
        count = rounds.get(index, 0)
        if not count:
            continue
        count = max(count, facts.chain)
        one_round = count == 1 and single.get(index, False)
        moved = facts.assigned if facts.assigns else frozenset()
        inline = facts.pinned or facts.calls > reads.get(index, 0)
        chosen = None
        if not inline:
            for k in range(len(groups) - 1, -1, -1):
                made_by = groups[k][2]
                if any(
                    g.assigned & facts.read_used
                    or moved & g.used
                    or (j > made_by and (g.opaque or g.calls > reads.get(j, 0)))
                    for j, g in enumerate(statements[made_by:index], made_by)
                ):
                    break
                if groups[k][3]:
                    chosen = k
                if not one_round:
                    break  # only the last yield
        if chosen is None:
            start = last_end()
            # reads left in their statement (``inline``) are no yield others can join
            groups.append([start, start + count, index, 0 if inline else 1])
        elif not one_round:
            # the first round joins the last yield, the others follow it
            group = groups[chosen]
            group[1] = max(group[1], group[0] + 1) + count - 1
    return last_end()
