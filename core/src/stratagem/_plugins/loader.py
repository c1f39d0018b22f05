"""Guarded plugin loading: built-ins and ``stratagem`` entry points into one catalogue.

:func:`load_plugins` builds a fresh :class:`pluggy.PluginManager` (there is no global
one) and a :class:`PluginCatalogue` around it. Every plugin goes through one guarded
path, so a broken distribution is recorded as ``LOAD FAILED`` with its distribution,
version, entry point and error while every other plugin still loads:

1. import the entry point (or the built-in module);
2. ``register`` it, then ``check_pending()`` so an unknown hook fails here, attributed
   to this plugin;
3. call each of its discovery implementations on its own and check the records.

A name offered by two plugins marks both ``DUPLICATE`` and resolves to neither.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import inspect
import os
import re
import traceback
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

import pluggy
from pydantic import BaseModel

from stratagem import hookspecs
from stratagem._plugins.failures import one_line_error
from stratagem._plugins.hooks import (
    DISCOVERY_HOOKS,
    REPORT_HOOK,
    STRATEGY_HOOKS,
    PluginHooks,
    new_plugin_manager,
)
from stratagem._records import (
    BrokerSpec,
    DataSourceSpec,
    ReporterSpec,
    ScannerSpec,
    StrategySpec,
)
from stratagem._strategy import Strategy, StrategyConfig

ENTRY_POINT_GROUP = "stratagem"
DISABLE_AUTOLOAD_ENV = "STRATAGEM_DISABLE_PLUGIN_AUTOLOAD"
UNKNOWN = "-"

#: Plugins shipped inside the ``stratagem`` distribution, registered through the same
#: guarded path as entry points (in this order, before them). An item is a module
#: name, registered under that name, or ``"name = module:attribute"`` to register an
#: attribute under a chosen name (for instance a reporter under the name that session
#: configs list in ``reporters``).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "stratagem._builtin.sources",
    "console = stratagem._builtin.reporters:console",
    "json = stratagem._builtin.reporters:json_file",
    "stratagem._builtin.scanners",
    "stratagem._builtin.brokers",
)

OfferKind = Literal["strategy", "scanner", "data_source", "broker", "reporter"]


class PluginStatus(StrEnum):
    """Outcome of loading one plugin."""

    OK = "OK"
    LOAD_FAILED = "LOAD FAILED"
    DUPLICATE = "DUPLICATE"


@dataclass(frozen=True)
class PluginRecord:
    """What loading one plugin produced, for ``stratagem plugins`` and error messages.

    :param name: the name the plugin is registered under (the entry point name, or
        the built-in's name).
    :param dist: distribution name, ``"-"`` when unknown (an injected entry point).
    :param version: distribution version, ``"-"`` when unknown.
    :param value: the entry point value (``package.module[:attribute]``).
    :param status: OK, LOAD FAILED or DUPLICATE.
    :param error: one line, ``ExcType: message`` (or the duplicate's explanation).
    :param strategies: strategy names the plugin offers.
    :param scanners: scanner names the plugin offers.
    :param data_sources: data source names the plugin offers.
    :param brokers: broker names the plugin offers.
    :param reporters: names of the reporters with a typed config it offers
        (``stratagem_reporters``).
    :param reporter: whether it implements ``stratagem_report_metrics``.
    :param builtin: whether it ships inside the ``stratagem`` distribution.
    :param traceback: the full traceback of a load failure, shown with ``-v``.
    """

    name: str
    dist: str
    version: str
    value: str
    status: PluginStatus
    error: str | None = None
    strategies: tuple[str, ...] = ()
    scanners: tuple[str, ...] = ()
    data_sources: tuple[str, ...] = ()
    brokers: tuple[str, ...] = ()
    reporters: tuple[str, ...] = ()
    reporter: bool = False
    builtin: bool = False
    traceback: str | None = field(default=None, repr=False, compare=False)

    @property
    def origin(self) -> str:
        """``"dist version"`` for messages, or the entry point value when unknown."""
        if self.dist == UNKNOWN:
            return f"entry point {self.value}"
        return f"{self.dist} {self.version}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as ``stratagem plugins --json`` prints it."""
        data: dict[str, Any] = {
            "name": self.name,
            "distribution": self.dist,
            "version": self.version,
            "entry_point": self.value,
            "status": str(self.status),
            "error": self.error,
        }
        for key in ("strategies", "scanners", "data_sources", "brokers", "reporters"):
            data[key] = list(getattr(self, key))
        data["reporter"] = self.reporter
        data["builtin"] = self.builtin
        return data


class PluginLoadError(RuntimeError):
    """``strict`` loading met plugins that failed to load or clash.

    :param failures: the records that are not OK.
    """

    def __init__(self, failures: Sequence[PluginRecord]) -> None:
        self.failures = tuple(failures)
        lines = [f"{len(self.failures)} plugin(s) failed to load (strict plugins):"]
        lines += [f"  {describe_failure(record)}" for record in self.failures]
        super().__init__("\n".join(lines))


class PluginLookupError(LookupError):
    """A strategy, scanner or data source name that does not resolve.

    :param kind: ``"strategy"``, ``"scanner"`` or ``"data_source"``.
    :param name: the name that was asked for.
    :param detail: what is wrong, without the suggestion.
    :param suggestion: the closest name that does resolve, if any.
    :param known: the names that do resolve.
    """

    def __init__(
        self,
        kind: OfferKind,
        name: str,
        detail: str,
        suggestion: str | None = None,
        known: Sequence[str] = (),
    ) -> None:
        self.kind = kind
        self.name = name
        self.detail = detail
        self.suggestion = suggestion
        self.known = tuple(known)
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.suggestion is None:
            return self.detail
        return f"{self.detail}; did you mean {self.suggestion!r}?"


def describe_failure(record: PluginRecord) -> str:
    """One line naming a failed plugin, its distribution, entry point and error.

    :param record: a record whose status is not OK.
    """
    return (
        f"{record.name} ({record.dist} {record.version}, entry point {record.value}): "
        f"{record.status}: {record.error}"
    )


@dataclass(frozen=True)
class _Kind:
    key: OfferKind
    label: str
    plural: str
    hook: str
    record_type: type


_KINDS: dict[OfferKind, _Kind] = {
    kind.key: kind
    for kind in (
        _Kind(
            "strategy", "strategy", "strategies", "stratagem_strategies", StrategySpec
        ),
        _Kind("scanner", "scanner", "scanners", "stratagem_scanners", ScannerSpec),
        _Kind(
            "data_source",
            "data source",
            "data sources",
            "stratagem_data_sources",
            DataSourceSpec,
        ),
        _Kind("broker", "broker", "brokers", "stratagem_brokers", BrokerSpec),
        _Kind("reporter", "reporter", "reporters", "stratagem_reporters", ReporterSpec),
    )
}
_OFFER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_HOOK_PREFIX = f"{hookspecs.PROJECT_NAME}_"
_IMPL_MARKER = f"{hookspecs.PROJECT_NAME}_impl"
_HOOK_NAMES = tuple(name for name in vars(hookspecs) if name.startswith(_HOOK_PREFIX))


class PluginCatalogue:
    """The loaded plugins: their manager, one record each, and name lookups.

    Built by :func:`load_plugins` on the main thread, before any strategy thread
    starts; afterwards only strategy import paths are resolved (and cached).

    :param pm: the plugin manager holding every plugin that loaded.
    :param records: one record per plugin, built-ins first.
    :param offers: per kind, per name, the spec and the name of the plugin offering it
        (names offered twice are absent).
    :param conflicts: per kind, per name offered twice or more, the offering plugins.
    :param not_loaded: names of installed entry points this catalogue did not import
        (a run imports only the plugins its config names).
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        records: Sequence[PluginRecord],
        offers: Mapping[OfferKind, Mapping[str, tuple[Any, str]]],
        conflicts: Mapping[OfferKind, Mapping[str, tuple[str, ...]]],
        not_loaded: Sequence[str] = (),
    ) -> None:
        self.pm = pm
        self.not_loaded = tuple(sorted(set(not_loaded)))
        self.records = tuple(records)
        self._by_name = {record.name: record for record in self.records}
        self._offers = {kind: dict(offers.get(kind, {})) for kind in _KINDS}
        self._conflicts = {kind: dict(conflicts.get(kind, {})) for kind in _KINDS}
        self._imported: dict[str, tuple[StrategySpec, PluginRecord]] = {}

    # --- records ----------------------------------------------------------------

    @property
    def failures(self) -> tuple[PluginRecord, ...]:
        """Records whose status is LOAD FAILED or DUPLICATE."""
        return tuple(r for r in self.records if r.status is not PluginStatus.OK)

    def record_of(self, plugin_name: str) -> PluginRecord:
        """The record of the plugin registered (or attempted) under ``plugin_name``.

        :param plugin_name: an entry point name or built-in name.
        :raises KeyError: when no plugin of that name was attempted.
        """
        return self._by_name[plugin_name]

    @property
    def reporters(self) -> tuple[str, ...]:
        """Names of the loaded plugins that implement ``stratagem_report_metrics``
        (reporters with a typed config are :meth:`names` ``("reporter")``)."""
        return tuple(record.name for record in self.records if record.reporter)

    # --- offered names ----------------------------------------------------------

    def names(self, kind: OfferKind) -> tuple[str, ...]:
        """Sorted names of ``kind`` that resolve (offered exactly once).

        :param kind: ``"strategy"``, ``"scanner"`` or ``"data_source"``.
        """
        return tuple(sorted(self._offers[kind]))

    @property
    def strategy_names(self) -> tuple[str, ...]:
        """Sorted strategy names that resolve."""
        return self.names("strategy")

    def strategy(self, name: str) -> StrategySpec:
        """The strategy a config's ``module`` names.

        :param name: a registered strategy name, or an import path
            ``package.module:Class`` of a :class:`stratagem.Strategy` subclass (its
            config class is ``Class.config_class``).
        :raises PluginLookupError: for an unknown or duplicated name, or an import
            path that does not import or is not a strategy.
        """
        if ":" in name:
            return self._import_strategy(name)[0]
        spec: StrategySpec = self._lookup("strategy", name)
        return spec

    def scanner(self, name: str) -> ScannerSpec:
        """The scanner registered as ``name``.

        :param name: a scanner name from ``scanners[].name``.
        :raises PluginLookupError: for an unknown or duplicated name.
        """
        spec: ScannerSpec = self._lookup("scanner", name)
        return spec

    def broker(self, name: str) -> BrokerSpec:
        """The broker registered as ``name``.

        :param name: a broker name from ``execution.broker``, e.g. ``"paper"``.
        :raises PluginLookupError: for an unknown or duplicated name.
        """
        spec: BrokerSpec = self._lookup("broker", name)
        return spec

    def reporter(self, name: str) -> ReporterSpec:
        """The reporter with a typed config registered as ``name``.

        :param name: a reporter name from ``reporters``, e.g. ``"prometheus"``.
        :raises PluginLookupError: for an unknown or duplicated name.
        """
        spec: ReporterSpec = self._lookup("reporter", name)
        return spec

    def data_source(self, name: str) -> DataSourceSpec:
        """The data source registered as ``name``.

        :param name: a data source name, e.g. ``"csv"``.
        :raises PluginLookupError: for an unknown or duplicated name.
        """
        spec: DataSourceSpec = self._lookup("data_source", name)
        return spec

    def provider(self, kind: OfferKind, name: str) -> PluginRecord:
        """The record of the plugin that offers ``name``, for distribution and version.

        For a strategy import path the record describes the module's distribution
        (``"-"`` when it is not installed).

        :param kind: ``"strategy"``, ``"scanner"`` or ``"data_source"``.
        :param name: the offered name (or strategy import path).
        :raises PluginLookupError: when ``name`` does not resolve.
        """
        if kind == "strategy" and ":" in name:
            return self._import_strategy(name)[1]
        self._lookup(kind, name)
        return self._by_name[self._offers[kind][name][1]]

    # --- internals --------------------------------------------------------------

    def _lookup(self, kind: OfferKind, name: str) -> Any:
        offer = self._offers[kind].get(name)
        if offer is not None:
            return offer[0]
        label = _KINDS[kind].label
        clashing = self._conflicts[kind].get(name)
        if clashing:
            owners = " and ".join(
                f"{self._by_name[p].origin} (plugin {p})" for p in clashing
            )
            raise PluginLookupError(
                kind,
                name,
                f"{label} {name!r} is offered by more than one plugin: {owners}; "
                "uninstall all but one of them",
            )
        failed = self._by_name.get(name)
        if failed is not None and failed.status is PluginStatus.LOAD_FAILED:
            raise PluginLookupError(
                kind,
                name,
                f"{label} {name!r} cannot be used: its plugin "
                + describe_failure(failed),
            )
        # a reporter is also a plugin implementing stratagem_report_metrics
        hooked = self.reporters if kind == "reporter" else ()
        known = tuple(sorted({*self.names(kind), *hooked, *self.not_loaded}))
        hint = difflib.get_close_matches(name, known, n=1)
        installed = ", ".join(known) or "none"
        detail = (
            f"unknown {label} {name!r} (installed {_KINDS[kind].plural}: {installed})"
        )
        raise PluginLookupError(
            kind, name, detail, suggestion=hint[0] if hint else None, known=known
        )

    def _import_strategy(self, path: str) -> tuple[StrategySpec, PluginRecord]:
        cached = self._imported.get(path)
        if cached is not None:
            return cached
        module_name, _, qualname = path.partition(":")
        try:
            if not module_name or not qualname:
                raise ValueError("expected 'package.module:Class'")
            target: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                target = getattr(target, part)
        except Exception as exc:
            hint = ""
            if isinstance(exc, ModuleNotFoundError):
                hint = (
                    f"; {exc.name or module_name!r} is not importable here: install "
                    "the distribution that provides it (for a local package, "
                    "'pip install -e PATH'), or add its folder to PYTHONPATH"
                )
            raise PluginLookupError(
                "strategy",
                path,
                f"cannot import strategy {path!r}: {one_line_error(exc)}{hint}",
            ) from exc
        if not (isinstance(target, type) and issubclass(target, Strategy)):
            raise PluginLookupError(
                "strategy",
                path,
                f"{path!r} is {target!r}, not a stratagem.Strategy subclass",
            )
        config_class = target.config_class
        if not (
            isinstance(config_class, type) and issubclass(config_class, StrategyConfig)
        ):
            raise PluginLookupError(
                "strategy",
                path,
                f"{path}.config_class is {config_class!r}, not a "
                "stratagem.StrategyConfig subclass",
            )
        try:
            check_strategy_class(target, path)
        except TypeError as exc:
            raise PluginLookupError("strategy", path, str(exc)) from None
        doc = inspect.cleandoc(vars(target).get("__doc__") or "")
        spec = StrategySpec(
            name=path,
            strategy=target,
            config=config_class,
            description=doc.splitlines()[0] if doc else "",
        )
        dist, version = _distribution_of_module(module_name)
        record = PluginRecord(
            name=path,
            dist=dist,
            version=version,
            value=path,
            status=PluginStatus.OK,
            strategies=(path,),
        )
        self._imported[path] = (spec, record)
        return spec, record


def autoload_disabled() -> bool:
    """Whether ``STRATAGEM_DISABLE_PLUGIN_AUTOLOAD`` turns entry point discovery off."""
    return bool(os.environ.get(DISABLE_AUTOLOAD_ENV))


def installed_entry_points() -> list[importlib.metadata.EntryPoint]:
    """Entry points of the ``stratagem`` group, sorted by name and value."""
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return sorted(found, key=lambda ep: (ep.name, ep.value))


def load_plugins(
    *,
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    builtins: bool = True,
    only: Collection[str] | None = None,
    strict: bool = False,
    blocked: Collection[str] = (),
) -> PluginCatalogue:
    """Load built-ins and entry point plugins into a fresh catalogue.

    :param entry_points: entry points to load; ``None`` discovers the installed ones
        of group ``stratagem`` unless ``STRATAGEM_DISABLE_PLUGIN_AUTOLOAD`` is set.
    :param builtins: register :data:`BUILTIN_PLUGINS` first.
    :param only: load only the entry points whose name is in ``only`` (the names a
        session config refers to); if a name matches no entry point and resolves to
        nothing loaded (no plugin, strategy, scanner or data source of that name),
        every other entry point is loaded too, so names resolve by what the plugins
        offer. ``None`` loads all.
    :param strict: raise :class:`PluginLoadError` when any plugin is LOAD FAILED or
        DUPLICATE.
    :param blocked: plugin names never to import or register.
    :raises PluginLoadError: with ``strict``, naming every failure.
    """
    pm = new_plugin_manager()
    for name in blocked:
        pm.set_blocked(name)
    loader = _Loader(pm)

    if builtins:
        for item in BUILTIN_PLUGINS:
            name, _, value = (part.strip() for part in item.rpartition("="))
            loader.load_builtin(name or value, value)

    if entry_points is None:
        eps = [] if autoload_disabled() else installed_entry_points()
    else:
        eps = list(entry_points)
    eps = [ep for ep in eps if not pm.is_blocked(ep.name)]
    loader.available = [ep.name for ep in eps]

    if only is None:
        loader.load_entry_points(eps)
        loader.discover_registered()
    else:
        wanted = set(only)
        loader.load_entry_points([ep for ep in eps if ep.name in wanted])
        loader.discover_registered()
        unmatched = wanted - {ep.name for ep in eps}
        if any(not loader.resolves(name) for name in unmatched):
            loader.load_entry_points([ep for ep in eps if ep.name not in wanted])
            loader.discover_registered()

    catalogue = loader.finish()
    if strict and catalogue.failures:
        raise PluginLoadError(catalogue.failures)
    return catalogue


class _Loader:
    """The one guarded registration path, shared by built-ins and entry points.

    Plugins are imported and registered first (each checked on its own), then every
    registered plugin is asked what it offers through :class:`PluginHooks`, so a
    wrapper from any plugin wraps every plugin's discovery.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.hooks = PluginHooks(pm)
        self.records: list[PluginRecord] = []
        #: names of every entry point that could have been loaded
        self.available: list[str] = []
        # registered, not yet asked what they offer
        self._registered: list[str] = []
        # per loaded plugin: its offers, per kind, name -> spec
        self.offers: dict[str, dict[OfferKind, dict[str, Any]]] = {}

    def load_builtin(self, name: str, value: str) -> None:
        if self.pm.is_blocked(name):
            return
        self._load(
            name,
            value,
            "stratagem",
            _own_version(),
            builtin=True,
            obtain=lambda: importlib.metadata.EntryPoint(
                name, value, ENTRY_POINT_GROUP
            ).load(),
        )

    def load_entry_points(self, eps: Iterable[importlib.metadata.EntryPoint]) -> None:
        for ep in eps:
            dist = getattr(ep, "dist", None)
            dist_name = UNKNOWN if dist is None else str(dist.name)
            version = UNKNOWN if dist is None else str(dist.version)
            self._load(ep.name, ep.value, dist_name, version, False, ep.load)

    def resolves(self, name: str) -> bool:
        if self.pm.has_plugin(name):
            return True
        return any(
            name in kinds.get(kind, {})
            for kinds in self.offers.values()
            for kind in _KINDS
        )

    def _load(
        self,
        name: str,
        value: str,
        dist: str,
        version: str,
        builtin: bool,
        obtain: Callable[[], object],
    ) -> None:
        record = PluginRecord(
            name=name,
            dist=dist,
            version=version,
            value=value,
            status=PluginStatus.LOAD_FAILED,
            builtin=builtin,
        )
        plugin: object = None
        try:
            taken = self._record_named(name)
            if taken is not None:
                raise ValueError(
                    f"plugin name {name!r} is already taken by {taken.origin}"
                )
            plugin = obtain()
            self._register(name, plugin)
        except Exception as exc:
            if plugin is not None and self.pm.get_plugin(name) is plugin:
                self.pm.unregister(name=name)
            self.records.append(_failed(record, exc))
            return
        self.records.append(record)
        self._registered.append(name)

    def discover_registered(self) -> None:
        """Ask every plugin registered since the last call what it offers."""
        names, self._registered = self._registered, []
        for name in names:
            index = next(i for i, r in enumerate(self.records) if r.name == name)
            record = self.records[index]
            try:
                offers = self._discover(name)
            except Exception as exc:
                self.pm.unregister(name=name)
                self.records[index] = _failed(record, exc)
                continue
            self.offers[name] = offers
            self.records[index] = replace(
                record,
                status=PluginStatus.OK,
                strategies=tuple(offers["strategy"]),
                scanners=tuple(offers["scanner"]),
                data_sources=tuple(offers["data_source"]),
                brokers=tuple(offers["broker"]),
                reporters=tuple(offers["reporter"]),
                reporter=name in self.hooks.implementers(REPORT_HOOK),
            )

    def _record_named(self, name: str) -> PluginRecord | None:
        for record in self.records:
            if record.name == name:
                return record
        return None

    def _register(self, name: str, plugin: object) -> None:
        if plugin is None:
            raise TypeError("the entry point refers to None, not a plugin")
        if self.pm.is_registered(plugin):
            raise ValueError(
                f"{plugin!r} is already registered as {self.pm.get_name(plugin)!r}"
            )
        _check_marked(plugin)
        misplaced = [
            attr
            for attr in STRATEGY_HOOKS
            if inspect.isroutine(getattr(plugin, attr, None))
        ]
        if misplaced:
            raise TypeError(
                f"{misplaced[0]} is a per-strategy hook, called for one strategy "
                "instance in its own thread: define it as a method of a "
                "stratagem.Strategy subclass (or override "
                f"{misplaced[0].removeprefix('stratagem_')}), not at module level"
            )
        self.pm.register(plugin, name=name)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            unknown = sorted(
                caller.name
                for caller in self.pm.get_hookcallers(plugin) or ()
                if not caller.has_spec()
            )
            if exc.plugin is not plugin or not unknown:
                raise
            hint = difflib.get_close_matches(unknown[0], _HOOK_NAMES, n=1)
            raise pluggy.PluginValidationError(
                plugin,
                f"unknown hook {unknown[0]!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else ""),
            ) from None

    def _discover(self, name: str) -> dict[OfferKind, dict[str, Any]]:
        offers: dict[OfferKind, dict[str, Any]] = {}
        for kind in _KINDS.values():
            found: dict[str, Any] = {}
            implemented = name in self.hooks.implementers(kind.hook)
            result = self.hooks.discover(kind.hook, name) if implemented else []
            for spec in _checked_specs(kind, result):
                if spec.name in found:
                    raise ValueError(
                        f"{kind.hook} offers {kind.label} {spec.name!r} twice"
                    )
                found[spec.name] = spec
            offers[kind.key] = found
        return offers

    def finish(self) -> PluginCatalogue:
        owners: dict[OfferKind, dict[str, list[str]]] = {k: {} for k in _KINDS}
        for plugin_name, kinds in self.offers.items():
            for kind, specs in kinds.items():
                for offered in specs:
                    owners[kind].setdefault(offered, []).append(plugin_name)

        conflicts: dict[OfferKind, dict[str, tuple[str, ...]]] = {
            kind: {n: tuple(p) for n, p in names.items() if len(p) > 1}
            for kind, names in owners.items()
        }
        problems: dict[str, list[str]] = {}
        by_name = {record.name: record for record in self.records}
        for kind, names in conflicts.items():
            label = _KINDS[kind].label
            for offered, plugins in names.items():
                for plugin_name in plugins:
                    others = ", ".join(
                        f"{by_name[o].origin} (plugin {o})"
                        for o in plugins
                        if o != plugin_name
                    )
                    problems.setdefault(plugin_name, []).append(
                        f"{label} {offered!r} is also offered by {others}"
                    )
        records = [
            replace(r, status=PluginStatus.DUPLICATE, error="; ".join(problems[r.name]))
            if r.name in problems
            else r
            for r in self.records
        ]
        offers: dict[OfferKind, dict[str, tuple[Any, str]]] = {
            kind: {
                offered: (self.offers[plugins[0]][kind][offered], plugins[0])
                for offered, plugins in names.items()
                if len(plugins) == 1
            }
            for kind, names in owners.items()
        }
        attempted = {record.name for record in records}
        not_loaded = [name for name in self.available if name not in attempted]
        return PluginCatalogue(self.pm, records, offers, conflicts, not_loaded)


def _checked_specs(kind: _Kind, result: object) -> list[Any]:
    type_name = kind.record_type.__name__
    if not isinstance(result, list | tuple):
        raise TypeError(
            f"{kind.hook} returned {type(result).__name__}, expected a list of "
            f"{type_name}"
        )
    for index, spec in enumerate(result):
        if not isinstance(spec, kind.record_type):
            raise TypeError(
                f"{kind.hook} returned {type(spec).__name__} at index {index}, "
                f"expected {type_name}"
            )
        if not isinstance(spec.name, str) or not _OFFER_NAME.match(spec.name):
            raise ValueError(
                f"{kind.hook} offers a {kind.label} named {spec.name!r}; names are "
                "letters, digits, '_', '.' and '-'"
            )
        if isinstance(spec, StrategySpec):
            if not (
                isinstance(spec.strategy, type) and issubclass(spec.strategy, Strategy)
            ):
                raise TypeError(
                    f"strategy {spec.name!r}: {spec.strategy!r} is not a "
                    "stratagem.Strategy subclass"
                )
            if not (
                isinstance(spec.config, type)
                and issubclass(spec.config, StrategyConfig)
            ):
                raise TypeError(
                    f"strategy {spec.name!r}: config {spec.config!r} is not a "
                    "stratagem.StrategyConfig subclass"
                )
            check_strategy_class(spec.strategy, spec.name)
        elif isinstance(spec, ScannerSpec | ReporterSpec):
            if not (
                isinstance(spec.config, type) and issubclass(spec.config, BaseModel)
            ):
                raise TypeError(
                    f"{kind.label} {spec.name!r}: config {spec.config!r} is not a "
                    "pydantic model class"
                )
        if not isinstance(spec, StrategySpec) and not callable(spec.factory):
            raise TypeError(f"{kind.label} {spec.name!r}: factory is not callable")
    return list(result)


def _distribution_of_module(module_name: str) -> tuple[str, str]:
    top = module_name.split(".")[0]
    dists = importlib.metadata.packages_distributions().get(top, [])
    if not dists:
        return UNKNOWN, UNKNOWN
    try:
        return dists[0], importlib.metadata.version(dists[0])
    except importlib.metadata.PackageNotFoundError:
        return dists[0], UNKNOWN


def _failed(record: PluginRecord, exc: BaseException) -> PluginRecord:
    return replace(
        record,
        status=PluginStatus.LOAD_FAILED,
        error=one_line_error(exc),
        traceback="".join(traceback.format_exception(exc)),
    )


def _own_version() -> str:
    from stratagem import __version__

    return str(__version__)


def _check_marked(plugin: object) -> None:
    for attr in dir(plugin):
        if attr.startswith(_HOOK_PREFIX):
            value = getattr(plugin, attr, None)
            if inspect.isroutine(value) and not hasattr(value, _IMPL_MARKER):
                raise TypeError(
                    f"{attr} is not marked @stratagem.hookimpl; pluggy would "
                    "ignore it silently"
                )


def check_strategy_class(cls: type[Strategy], name: str) -> None:
    """Check a strategy class's hook methods as pluggy will when it runs, at load.

    Registers the class itself with a fresh plugin manager: pluggy verifies each
    method's arguments against its spec (a subset, by name) exactly as it will for
    every instance, so a wrong signature is a load error, not a failure at the first
    bar.

    :param cls: the strategy class.
    :param name: its registered name, for messages.
    :raises TypeError: when a hook method does not fit its spec or the hook is not a
        per-strategy hook.
    """
    wrong_place = [
        attr for attr in (*DISCOVERY_HOOKS, REPORT_HOOK) if hasattr(cls, attr)
    ]
    if wrong_place:
        raise TypeError(
            f"strategy {name!r}: {cls.__qualname__}.{wrong_place[0]} is a plugin "
            "hook; implement it at module level in the plugin, not on the strategy"
        )
    probe = new_plugin_manager()
    try:
        probe.register(cls, name=f"probe:{name}")
        probe.check_pending()
    except pluggy.PluginValidationError as exc:
        problem = _signature_problem(cls, probe) or exc
        raise TypeError(f"strategy {name!r}: {problem}") from None
    finally:
        if probe.is_registered(cls):
            probe.unregister(cls)


def _signature_problem(cls: type, pm: pluggy.PluginManager) -> str | None:
    """Which hook method takes arguments its hook does not pass, said plainly."""
    for hook in STRATEGY_HOOKS:
        method = getattr(cls, hook, None)
        if method is None:
            continue
        caller = getattr(pm.hook, hook)
        spec_args = caller.spec.argnames if caller.spec else ()
        taken = [
            p
            for p in list(inspect.signature(method).parameters)[1:]
            if p not in spec_args
        ]
        if taken:
            return (
                f"{cls.__qualname__}.{hook} takes {', '.join(taken)}, which the "
                f"hook does not pass (it passes {', '.join(spec_args)}: take any of "
                "them, by name)"
            )
    return None
