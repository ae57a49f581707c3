"""One run's providers and desired resources: read live -> diff -> plan -> apply.

The session knows no service and no estate: it is handed the desired resources and the
providers that hold the live state (the command line builds both from the registry).
Kinds are routed to the single provider that declares them in ``SUPPORTS``; a session
plans only the desired resources of the kinds its providers own (``in_scope``), and
refuses a desired kind with no owner.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from itertools import compress
from operator import itemgetter

from ispctl.reconciler.engine.apply import ApplyResult, Listener, Observer, StopCheck, apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.errors import ConfigError
from ispctl.reconciler.engine.heap import collector_paused
from ispctl.reconciler.engine.narrow import read_within
from ispctl.reconciler.engine.outlined import Outlined, kind_counts
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.provider import Lockable, Provider
from ispctl.reconciler.engine.resources import Index, Resource

Resources = dict[tuple[str, str], Resource]
# Told a short label ("reading ldap") before each slow step of a plan, so a terminal can show
# where a long plan is; it must not raise.
Progress = Callable[[str], None]


def in_scope(desired: Index, providers: Iterable[Provider]) -> Index:
    """The desired resources of the kinds these providers own.

    The desired state describes every service; a machine reconciles only the services it
    enables (``providers`` / ``ISPCTL_PROVIDERS``): a CI runner that reaches the directory
    but not the mail store plans no maildirs, and the mail host plans them (those placed on
    it only, ``Provider.reconciles``).
    """
    owners = {kind: p for p in providers for kind in p.SUPPORTS}
    # Kinds whose provider keeps every object (``reconciles_all``: a mail store outside a
    # cluster) need no question per object: when the desired state holds no other kind, it is
    # kept whole (a copy, in C).
    whole = {kind for kind, p in owners.items() if p.reconciles_all()}
    kinds = set(kind_counts(desired))
    if isinstance(desired, Outlined) and kinds & owners.keys() <= whole:  # a view: no object made
        return desired if kinds <= whole else desired.only(whole)
    if kinds <= whole:
        return dict(desired)
    if kinds & owners.keys() <= whole:  # only kinds owned by none to leave out: in C too
        return dict(compress(desired.items(), map(whole.__contains__, map(itemgetter(0), desired))))
    # A host-local provider keeps only the objects placed on its host (Provider.reconciles).
    return {ident: r for ident, r in desired.items()
            if ident[0] in whole or (ident[0] in owners and owners[ident[0]].reconciles(r))}


@dataclass
class Session:
    """Desired state plus the providers that hold the live state, for one run."""

    desired: Index
    providers: list[Provider] = field(default_factory=list)
    live: Resources = field(default_factory=dict)  # from the last plan
    # What the gates' shares count as existing, by kind: ``live``'s, or for a narrowed plan
    # also the desired objects outside what it read (``narrow``).
    existing: Counter[str] = field(default_factory=Counter)
    # Everything the desired state compiles to, also kinds no provider here owns: how a DNS
    # record belongs to a domain and a tenant, for scopes and per-tenant views. A narrowed
    # run's outlines it in groups (``outlined.Outlined``): a narrowed plan looks at a group as
    # a whole.
    compiled: Index = field(default_factory=dict)
    # After a narrowed plan: the part of ``compiled`` its views need (``narrow.Narrowed.context``);
    # empty after a full one (then ``compiled`` is the context).
    scope_context: Resources = field(default_factory=dict)

    def route(self, kind: str) -> Provider:
        owners = [p for p in self.providers if kind in p.SUPPORTS]
        if len(owners) != 1:
            raise ConfigError(f"resource kind {kind!r} is supported by {len(owners)} providers; exactly one must own "
                              "it")
        return owners[0]

    def lock_keeper(self) -> Lockable | None:
        """The first provider that keeps the estate's apply lock, if any is enabled."""
        return next((p for p in self.providers if isinstance(p, Lockable)), None)

    def read_live(self, progress: Progress | None = None) -> Resources:
        live: Resources = {}
        for provider in self.providers:
            if progress is not None:
                progress(f"reading {provider.name}")
            live.update(provider.read())
        return live

    def plan(self, prune: bool = True, *, progress: Progress | None = None,
             anchors: frozenset[str] | None = None) -> Plan:
        """The changes that make the live state match the desired one.

        With ``anchors`` (the addresses a scope keeps changes at or below), only what the
        scope needs is read and compared (``narrow``): the plan holds at least every change
        ``scope.apply_scope`` keeps from the full plan, exactly as the full plan has it.
        """
        # Every desired kind needs an owner, and no kind any provider claims may have two
        # (live objects of such a kind would be read twice and could not be deleted):
        # refuse before reading anything.
        kinds = set(kind_counts(self.desired))
        for provider in self.providers:
            kinds |= provider.SUPPORTS
        for kind in sorted(kinds):
            self.route(kind)
        # Kinds whose delete a provider carries out by archiving (the mail store): the plan
        # says "archived", never "destroyed", for them, in the provider's words.
        archives = {kind: note for p in self.providers for kind, note in p.ARCHIVES.items()}
        self.scope_context = {}
        with collector_paused():  # the read and the diff build what lives on (engine/heap.py)
            if anchors is None:
                self.live = self.read_live(progress)
                self.existing = kind_counts(self.live)
                return self.described(compute_plan(self.desired, self.live, prune=prune, archives=archives))
            narrowed = read_within(self.desired, self.compiled or self.desired, anchors, self.providers, progress)
            self.live, self.existing, self.scope_context = narrowed.live, narrowed.existing, narrowed.context
            return self.described(compute_plan(narrowed.desired, narrowed.live, prune=prune, archives=archives))

    def described(self, plan: Plan) -> Plan:
        """The plan with each change's ``detail`` from its provider (``Provider.describe``):
        one call per change, from what the provider's read kept or the resources alone."""
        changes = []
        for change in plan.changes:
            detail = tuple(self.route(change.kind).describe(change.before, change.after))
            changes.append(replace(change, detail=detail) if detail else change)
        return replace(plan, changes=tuple(changes))

    def apply(self, plan: Plan, on_outcome: Listener | None = None, *, observer: Observer | None = None,
              stop: StopCheck | None = None) -> ApplyResult:
        return apply_plan(plan, self.route, on_outcome, observer=observer, stop=stop)

    def close(self) -> None:
        for provider in self.providers:
            provider.close()
