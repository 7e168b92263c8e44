"""The whole-program plan, and what the rewrite of each file must do."""

from __future__ import annotations

import dataclasses

from ._decide import Decider
from ._results import Refusal
from ._twin_facts import call_arguments


@dataclasses.dataclass
class FilePlan:
    """What the rewrite of one file must do; computed by :class:`Program`."""

    path: str
    #: converted function unit -> ordinals of its sites that are reads to turn into yields
    converted: dict[int, set[int]] = dataclasses.field(default_factory=dict)
    #: unit -> ordinals of whole-statement priming calls to delete
    deletions: dict[int, set[int]] = dataclasses.field(default_factory=dict)
    #: units (top-level twin functions) to delete
    delete_units: set[int] = dataclasses.field(default_factory=set)
    #: module-level ``prime_f = f.prime`` aliases to delete
    delete_aliases: set[str] = dataclasses.field(default_factory=set)
    #: units left exactly as they are (twins still needed by unconverted code)
    kept_units: set[int] = dataclasses.field(default_factory=set)
    #: twins and aliases of converted functions that stay, and why (reported)
    kept: list[Refusal] = dataclasses.field(default_factory=list)
    #: (class, method) of converted methods -> ordinals of their read sites
    converted_methods: dict[tuple[str, str], set[int]] = dataclasses.field(default_factory=dict)
    #: converted properties: they delegate to a new @asynq() ``get_<name>`` method
    properties: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    #: import bindings to drop when nothing uses them any more
    removable_imports: set[str] = dataclasses.field(default_factory=set)
    #: imports of priming functions that stay: dropped when the rewrite deletes their last use
    priming_imports: set[str] = dataclasses.field(default_factory=set)
    #: dotted names of reads that take one round even on a cold cache (see ``_share``)
    single_round: frozenset[tuple[str, ...]] = frozenset()
    add_asynq_import: bool = False
    #: top-level names of the modules being migrated (imports of them are the project's own)
    local_roots: frozenset[str] = frozenset()
    refusals: list[Refusal] = dataclasses.field(default_factory=list)
    #: functions of this file paired with a twin by how it is called (``unit``: the
    #: function's; ``reason``: the sentence that says so), reported as notes
    paired: list[Refusal] = dataclasses.field(default_factory=list)
    #: converted function unit -> the call of its twin the rewrite adds as its first
    #: statement (``prime_f(x)``): its twin primes more than it reads
    twin_calls: dict[int, str] = dataclasses.field(default_factory=dict)
    #: class -> method twins (or class-body aliases) to delete: nothing uses their names
    delete_members: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    #: the method twins deleted, and why (``method``: where), reported as notes
    deleted_members: list[Refusal] = dataclasses.field(default_factory=list)

    @property
    def has_work(self) -> bool:
        """Whether the rewrite could change anything in this file."""
        return bool(
            self.converted
            or self.converted_methods
            or any(self.deletions.values())
            or self.delete_units
            or self.delete_aliases
            or self.removable_imports
            or self.delete_members
        )


class Program(Decider):
    """The whole-program index: which functions are cached, primed, converted, and why not."""

    def _kept_for_plain_reads(self, twin: tuple[str, str], why: str) -> str:
        """Why ``twin`` stays, when its own function is converted with reads left as plain
        calls: those reads, and why each cannot become a yield (``why`` otherwise)."""
        for fn, reads in self.plain_reads.items():
            if self.twins.get(fn) == twin and twin not in self.effectful:
                calls = "now calls it first" if fn in self.added_twin_calls else "keeps calling it"
                return (
                    f"{twin[1]} is kept: {fn[1]} (in {fn[0]}) is converted and {calls}; its "
                    f"priming, which now joins the rounds of {fn[1]}, serves the reads "
                    f"{fn[1]} leaves as plain calls. " + " ".join(reads)
                )
        return why

    # -- per-file plans ---------------------------------------------------------------------
    def plan(self, path: str) -> FilePlan:
        """What the rewrite must do in ``path`` (call :meth:`decide` first)."""
        mod = self.modules[path]
        out = FilePlan(path)
        for name, index in mod.defs.items():
            sym = (path, name)
            if sym in self.converted:
                reads: set[int] = set()
                for site in mod.units[index].sites:
                    if self.converted_property(path, site) is not None:
                        reads.add(site.ordinal)  # ``book.p``: ``yield book.get_p.asynq()``
                        continue
                    target = self.target_of(path, site)
                    if site.blocker is not None and sym in self.keeps_priming:
                        continue  # stays a plain call, served by the twin's priming
                    if (
                        self.site_kind(path, site) == "call"
                        and target is not None
                        and target[0] in ("sym", "method")
                        and self.is_async_capable((target[1], target[2]))
                    ):
                        reads.add(site.ordinal)
                out.converted[index] = reads
                if sym in self.added_twin_calls:
                    twin_sym = self.twins[sym]
                    twin_unit = self.unit_of(twin_sym)
                    assert twin_unit is not None
                    arguments = call_arguments(twin_unit.signature)
                    call = f"{twin_sym[1]}({arguments})"
                    out.twin_calls[index] = call
                    out.paired.append(
                        Refusal(
                            path,
                            name,
                            f"{name} now starts with `{call}`: its twin primes more than it "
                            f"reads, and that priming joins the rounds of {name}, as the "
                            "callers' priming did before.",
                            unit=index,
                        )
                    )
            elif sym in self.removable and sym not in self.live:
                out.delete_units.add(index)
            elif sym in self.twin_of:
                out.kept_units.add(index)
        for name in [*mod.aliases, *mod.twin_aliases]:
            if (path, name) in self.removable and (path, name) not in self.live:
                out.delete_aliases.add(name)
        for (dpath, unit_index), ordinals in self.deletions.items():
            if dpath == path and unit_index not in out.delete_units:
                out.deletions[unit_index] = set(ordinals)
        for local in mod.imports:
            target = self.resolve(path, (local,))
            if target is not None and target[0] == "sym":
                sym = (target[1], target[2])
                if sym in self.removable and sym not in self.live:
                    out.removable_imports.add(local)
            elif self.is_priming_binding(path, local):
                out.removable_imports.add(local)
        out.priming_imports = self.kept_priming_imports(path) - out.removable_imports
        out.single_round = self.single_round_refs(path)
        if (out.converted or out.converted_methods) and self.resolve(path, ("asynq",)) not in (
            ("ext", "asynq.asynq"),
            ("ext", "asynq.decorators.asynq"),
        ):
            out.add_asynq_import = True
            out.local_roots = self.local_roots
        for paired_twin, sentence in sorted(self.paired.items()):
            paired_fn = self.twin_of[paired_twin]
            if paired_fn[0] == path:
                out.paired.append(
                    Refusal(path, paired_fn[1], sentence, unit=mod.defs[paired_fn[1]])
                )
        for fn in sorted(self.candidates - self.converted):
            if fn[0] == path:
                out.refusals.extend(self.reasons.get(fn, []))
        for sym, why in sorted(self.kept.items()):
            if sym[0] == path and (sym in self.effectful or sym in self.live):
                out.kept.append(Refusal(path, sym[1], self._kept_for_plain_reads(sym, why)))
        # Every other priming function that stays says why, so that nothing is left unexplained.
        prefix = self.config.prime_prefix
        reported = {k.function for k in out.kept}
        for name, index in sorted(mod.defs.items()):
            sym = (path, name)
            owner = self.twin_of.get(sym)
            if (
                not name.startswith(prefix)
                or name in reported
                or index in out.delete_units
                or (
                    owner is not None
                    and owner in self.candidates
                    and owner not in self.converted
                    and sym not in self.paired
                )
            ):
                continue
            if owner is not None and owner in self.candidates and owner not in self.converted:
                why = (
                    f"{name} is kept: it is the twin of {self.display(owner, path)} "
                    f"({self.paired_why[sym]}), which is left for review, so the legacy code "
                    "that calls it stays as it is."
                )
            elif sym in self.why_live:
                why = self.why_live[sym]
            elif owner is not None and self.kinds.get(owner) in ("cached", "asynq"):
                why = (
                    f"{name} is kept: it primes {owner[1]}, which needs no conversion, and "
                    "legacy code still calls it."
                )
            elif sym in self.effectful:
                why = (
                    f"{name} is kept: besides priming it runs `{self.effectful[sym]}`, which "
                    "its callers may rely on."
                )
            elif sym in self.unpaired:
                why = (
                    f"{name} is kept: it is a priming function with no function "
                    f"{name[len(prefix):]} to convert; {self.unpaired[sym]}. The legacy code "
                    "that calls it stays as it is."
                )
            else:
                why = (
                    f"{name} is kept: it is a priming function with no function "
                    f"{name[len(prefix):]} to convert, so the legacy code that calls it stays "
                    "as it is."
                )
            out.kept.append(Refusal(path, name, why))
        for name, ref in sorted(mod.twin_aliases.items()):
            function = name[len(prefix) :]
            owner = self.twin_of.get((path, name))
            if (
                name in out.delete_aliases
                or name in reported
                or (owner is not None and owner in self.candidates)
            ):
                continue  # deleted, already explained, or its function is in the report
            out.kept.append(
                Refusal(
                    path,
                    name,
                    f"{name} is kept: it is another name for the priming function "
                    f"{'.'.join(ref)}, which the codemod does not pair with {function}"
                    + (
                        f", so {function} is not converted. Write {name} as a function "
                        "that primes what it reads, then rerun."
                        if function in mod.defs
                        else "."
                    ),
                )
            )
        for cls, method in mod.lone_prime_methods:
            out.kept.append(
                Refusal(
                    path,
                    f"{cls}.{method}",
                    f"{cls}.{method} is kept: it is a priming method with no method "
                    f"{method[len(prefix):]} to convert; methods stay as they are.",
                    method=(cls, method),
                )
            )
        for name in sorted(mod.plain_properties):
            if (path, name) in self.helper_properties:
                cls, method = name.split(".")
                out.converted_methods[(cls, method)] = self.converted_methods[(path, name)]
                out.properties.add((cls, method))
        for cls, method in mod.primed_methods:
            key = (path, f"{cls}.{method}")
            twin = f"{cls}.{prefix}{method}"
            if key in self.converted_methods:
                out.converted_methods[(cls, method)] = self.converted_methods[key]
                if key in self.property_getters:
                    out.properties.add((cls, method))
                deleted = self.deleted_method_twins.get((path, twin))
                if deleted is not None:
                    out.delete_members.setdefault(cls, set()).add(prefix + method)
                    out.deleted_members.append(
                        Refusal(path, twin, deleted, method=(cls, prefix + method))
                    )
                    continue
                out.kept.append(
                    Refusal(
                        path,
                        twin,
                        self.kept_method_twins.get(
                            (path, twin),
                            f"{twin} is kept although {cls}.{method} is converted: callers "
                            "prime through objects, which the codemod does not follow, so it "
                            "cannot tell whether anything still calls it. Delete it once "
                            "nothing does.",
                        ),
                        method=(cls, prefix + method),
                    )
                )
                continue
            reasons = self.method_reasons.get(
                key, [f"{cls}.{method} is a method the codemod could not analyse."]
            )
            for reason in reasons:
                out.refusals.append(
                    Refusal(path, f"{cls}.{method}", reason, method=(cls, method))
                )
        if out.converted_methods and self.resolve(path, ("asynq",)) not in (
            ("ext", "asynq.asynq"),
            ("ext", "asynq.decorators.asynq"),
        ):
            out.add_asynq_import = True
            out.local_roots = self.local_roots
        return out
