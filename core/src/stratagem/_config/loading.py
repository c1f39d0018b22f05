"""Reading a session config file: two-phase validation with every error at once.

Phase 1 validates the file against :class:`~stratagem._config.models.SessionConfig`.
Phase 2 loads only the plugins the file refers to, resolves each enabled strategy's
``module``, validates its ``config`` with the strategy's own config class (and each
scanner's with its model), then checks what spans both: intervals the session must
derive, symbols it must hold, unique instance ids. Every problem becomes one
:class:`ConfigIssue` naming the file and the JSON path; :class:`ConfigError` carries
them all.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from stratagem._config.models import (
    ReporterEntry,
    ScannerConfig,
    SessionConfig,
    SessionDataConfig,
    StrategyEntry,
)
from stratagem._data.intervals import (
    IntervalError,
    canonical_interval,
    interval_minutes,
)
from stratagem._plugins.loader import (
    PluginCatalogue,
    PluginLookupError,
    PluginRecord,
    load_plugins,
)
from stratagem._records import (
    BrokerSpec,
    DataSourceSpec,
    ReporterSpec,
    ScannerSpec,
    StrategySpec,
)
from stratagem._strategy import StrategyConfig

Loc = tuple[str | int, ...]

_SESSION: Loc = ("session_data_config",)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a session config file.

    :param file: the config file as given.
    :param path: JSON path of the offending value, e.g.
        ``session_data_config.strategies[0].config.fast_period`` (``$`` for the
        document, empty when the file is not JSON).
    :param message: what is wrong.
    :param suggestion: a did-you-mean replacement, if one is close.
    :param context: the strategy or scanner the value configures, with the
        distribution and version it comes from.
    :param line: line of a JSON syntax error.
    :param column: column of a JSON syntax error.
    """

    file: str
    path: str
    message: str
    suggestion: str | None = None
    context: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        text = f"{where}: {self.path}: " if self.path else f"{where}: "
        text += self.message
        if self.suggestion is not None:
            text += f"; did you mean {self.suggestion!r}?"
        if self.context is not None:
            text += f" [{self.context}]"
        return text


class ConfigError(ValueError):
    """A session config file is invalid; ``issues`` lists every problem found.

    :param issues: the problems, in file order (phase 1 before phase 2).
    """

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


@dataclass(frozen=True)
class ResolvedStrategy:
    """One enabled strategy instance, resolved and validated.

    :param id: the instance id: the entry's ``id``, or its ``module`` suffixed
        ``#2``, ``#3`` … when repeated.
    :param index: position in ``session_data_config.strategies``.
    :param entry: the entry as the session file states it.
    :param spec: the strategy's spec (class and config class).
    :param config: the entry's ``config`` validated by ``spec.config``.
    :param dist: distribution the strategy came from (``"-"`` when unknown).
    :param version: that distribution's version (``"-"`` when unknown).
    """

    id: str
    index: int
    entry: StrategyEntry
    spec: StrategySpec
    config: StrategyConfig
    dist: str
    version: str

    @property
    def json_path(self) -> str:
        """Where the entry sits in the file, for messages."""
        return json_path((*_SESSION, "strategies", self.index))


@dataclass(frozen=True)
class ResolvedScanner:
    """One scanner, resolved and validated.

    :param index: position in ``session_data_config.scanners``.
    :param name: the scanner's registered name.
    :param entry: the entry as the session file states it.
    :param spec: its spec.
    :param config: the entry's ``config`` validated by ``spec.config``.
    :param dist: distribution the scanner came from.
    :param version: that distribution's version.
    """

    index: int
    name: str
    entry: ScannerConfig
    spec: ScannerSpec
    config: BaseModel
    dist: str
    version: str


@dataclass(frozen=True)
class ResolvedReporter:
    """One ``reporters`` entry, resolved and validated.

    :param index: position in ``session_data_config.reporters``.
    :param id: the reporter as failure records name it: its name, suffixed ``#2``,
        ``#3`` … when listed again.
    :param name: the registered reporter name.
    :param spec: its :class:`~stratagem.ReporterSpec`, or None for a plugin that
        implements ``stratagem_report_metrics`` (registered under ``name``).
    :param config: the entry's ``config`` validated by ``spec.config`` (None
        without a spec).
    :param dist: distribution the reporter came from.
    :param version: that distribution's version.
    """

    index: int
    id: str
    name: str
    spec: ReporterSpec | None
    config: BaseModel | None
    dist: str
    version: str


@dataclass(frozen=True)
class LoadedSession:
    """A session file that passed both phases.

    :param config: the validated session config.
    :param path: the config file.
    :param sha256: hex digest of the file's bytes, for the run manifest.
    :param strategies: the enabled strategy instances, in file order.
    :param scanners: the scanners, in file order.
    :param data_source: the data source ``data.source`` names.
    :param plugins: the plugins loaded to resolve it (holding the plugin manager).
    :param broker: the broker ``execution.broker`` names (None without execution).
    :param reporters: the ``reporters`` entries, in file order.
    """

    config: SessionConfig
    path: Path
    sha256: str
    strategies: tuple[ResolvedStrategy, ...]
    scanners: tuple[ResolvedScanner, ...]
    data_source: DataSourceSpec
    plugins: PluginCatalogue
    broker: BrokerSpec | None = None
    reporters: tuple[ResolvedReporter, ...] = ()


def json_path(loc: Iterable[str | int]) -> str:
    """Render a location as a JSON path: ``a.b[0]["odd key"]``; ``$`` when empty.

    :param loc: keys and indexes from the document root.
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text or "$"


def session_json_schema(plugins: PluginCatalogue | None = None) -> dict[str, Any]:
    """The JSON schema of a session config file (``stratagem schema``).

    :param plugins: loaded plugins: a ``reporters`` item naming one of their
        reporters with a typed config is described by that reporter's model. None
        (the default): the core's models alone, as
        ``docs/session_config.schema.json`` holds them.
    """
    specs = [] if plugins is None else _reporter_specs(plugins)
    if specs:
        schema = _schema_with_reporters(specs)
    else:
        schema = SessionConfig.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _reporter_specs(plugins: PluginCatalogue) -> list[ReporterSpec]:
    return [plugins.reporter(name) for name in plugins.names("reporter")]


def _schema_with_reporters(specs: Sequence[ReporterSpec]) -> dict[str, Any]:
    """The session schema where an item ``{"name": N, "config": ...}`` of
    ``reporters`` naming one of ``specs`` is checked against that spec's model."""
    from pydantic.json_schema import models_json_schema

    models = [SessionConfig, SessionDataConfig, ReporterEntry]
    models += [spec.config for spec in specs if spec.config not in models]
    refs, top = models_json_schema(
        [(model, "validation") for model in models], by_alias=True
    )
    defs = top["$defs"]

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return dict(refs[(model, "validation")])

    def name_of(model: type[BaseModel]) -> str:
        return str(ref(model)["$ref"]).rsplit("/", 1)[-1]

    named = [
        {
            "type": "object",
            "title": f"{spec.name} reporter",
            "description": spec.description,
            "properties": {"name": {"const": spec.name}, "config": ref(spec.config)},
            "required": ["name"],
            "additionalProperties": False,
        }
        for spec in specs
    ]
    others = {
        "allOf": [
            ref(ReporterEntry),
            {"properties": {"name": {"not": {"enum": [s.name for s in specs]}}}},
        ]
    }
    reporters = defs[name_of(SessionDataConfig)]["properties"]["reporters"]
    reporters["items"] = {"anyOf": [{"type": "string"}, *named, others]}
    schema: dict[str, Any] = defs.pop(name_of(SessionConfig))
    schema["$defs"] = defs
    return schema


def referenced_plugin_names(document: object) -> frozenset[str]:
    """Plugin-facing names a parsed session file refers to, for ``load_plugins(only=)``.

    Enabled strategies' ``module`` names (import paths excluded), scanner names, the
    data source, the reporters and the extra ``plugins``; defaults apply where the
    file is silent. Tolerates a malformed document: what cannot be read is skipped.

    :param document: the parsed JSON document.
    """
    session = _get(document, "session_data_config")
    names: set[str] = set()
    for entry in _items(_get(session, "strategies")):
        module = _get(entry, "module")
        if isinstance(module, str) and ":" not in module:
            if _get(entry, "enabled", True) is not False:
                names.add(module)
    for scanner in _items(_get(session, "scanners")):
        if isinstance(_get(scanner, "name"), str):
            names.add(_get(scanner, "name"))
    broker = _get(_get(session, "execution"), "broker")
    if isinstance(broker, str):
        names.add(broker)
    source = _get(_get(session, "data"), "source", _default("data").source)
    if isinstance(source, str):
        names.add(source)
    for item in _items(_get(session, "reporters", _default("reporters"))):
        # a name, {"name": ...}, or one of the defaults' ReporterEntry
        if isinstance(item, ReporterEntry):
            item = item.name
        name = _get(item, "name", item)
        if isinstance(name, str):
            names.add(name)
    names.update(p for p in _items(_get(session, "plugins")) if isinstance(p, str))
    return frozenset(names)


def load_session(
    path: str | os.PathLike[str],
    *,
    plugins: PluginCatalogue | None = None,
    strict_plugins: bool = False,
    entry_points: Iterable[EntryPoint] | None = None,
    builtins: bool = True,
) -> LoadedSession:
    """Read, validate and resolve a session config file.

    :param path: the JSON file.
    :param plugins: an already loaded catalogue; by default only the plugins the file
        refers to are loaded (a strategy no entry enables is never imported).
    :param strict_plugins: make any plugin that fails to load fatal.
    :param entry_points: entry points to load instead of the installed ones.
    :param builtins: register the built-in plugins.
    :raises ConfigError: listing every problem in the file.
    :raises ~stratagem._plugins.loader.PluginLoadError: with ``strict_plugins``, when
        a plugin fails to load.
    """
    path = Path(path)
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [ConfigIssue(file, "", f"cannot read the file: {exc.strerror or exc}")]
        ) from None
    try:
        document = json.loads(data)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigIssue(file, "", f"the file is not UTF-8 text: {exc.reason}")]
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [
                ConfigIssue(
                    file,
                    "",
                    f"invalid JSON: {exc.msg}",
                    line=exc.lineno,
                    column=exc.colno,
                )
            ]
        ) from None

    return load_session_document(
        document,
        path,
        sha256=hashlib.sha256(data).hexdigest(),
        plugins=plugins,
        strict_plugins=strict_plugins,
        entry_points=entry_points,
        builtins=builtins,
    )


def load_session_document(
    document: object,
    path: str | os.PathLike[str],
    *,
    sha256: str,
    plugins: PluginCatalogue | None = None,
    strict_plugins: bool = False,
    entry_points: Iterable[EntryPoint] | None = None,
    builtins: bool = True,
) -> LoadedSession:
    """Validate and resolve a parsed session config, as :func:`load_session` does
    with a file's contents; sweeps validate one document per parameter set this
    way, without writing it to a file.

    :param document: the parsed JSON document.
    :param path: the file it stands for: named in messages, and relative
        ``data.path`` and ``data.history`` are resolved from its folder.
    :param sha256: hex digest recorded as the config's (the run manifest's).
    :param plugins: an already loaded catalogue; by default only the plugins the
        document refers to are loaded.
    :param strict_plugins: make any plugin that fails to load fatal.
    :param entry_points: entry points to load instead of the installed ones.
    :param builtins: register the built-in plugins.
    :raises ConfigError: listing every problem in the document.
    """
    path = Path(path)
    file = str(path)
    issues: list[ConfigIssue] = []
    session: SessionConfig | None = None
    partial: SessionDataConfig | None = None
    invalid: set[str] = set()
    try:
        session = SessionConfig.model_validate(document)
    except ValidationError as exc:
        issues += _issues_from(exc, file, SessionConfig, ())
        # phase 2 still checks what it can, with the parts of the file that are valid
        partial, invalid = _valid_part(document, file, issues)

    if plugins is None:
        plugins = load_plugins(
            entry_points=entry_points,
            builtins=builtins,
            only=referenced_plugin_names(document),
            strict=strict_plugins,
        )
    resolver = _Resolver(file, document, session, plugins, issues, partial, invalid)
    strategies, scanners, data_source = resolver.resolve()
    if issues:
        raise ConfigError(issues)
    assert session is not None and data_source is not None
    return LoadedSession(
        config=session,
        path=path,
        sha256=sha256,
        strategies=strategies,
        scanners=scanners,
        data_source=data_source,
        plugins=plugins,
        broker=resolver.broker,
        reporters=resolver.reporters,
    )


class _Resolver:
    """Phase 2, appending to the issues of phase 1."""

    def __init__(
        self,
        file: str,
        document: Any,
        session: SessionConfig | None,
        plugins: PluginCatalogue,
        issues: list[ConfigIssue],
        partial: SessionDataConfig | None = None,
        invalid: set[str] | None = None,
    ) -> None:
        #: keys of ``session_data_config`` that failed phase 1: checks that depend on
        #: them are skipped (their defaults would only add false problems)
        self.invalid = invalid or set()
        self.file = file
        self.document = document
        self.session = session.session_data_config if session else partial
        self.plugins = plugins
        self.issues = issues
        self.broker: BrokerSpec | None = None
        self.reporters: tuple[ResolvedReporter, ...] = ()

    def issue(self, loc: Loc, message: str, suggestion: str | None = None) -> None:
        self.issues.append(ConfigIssue(self.file, json_path(loc), message, suggestion))

    def resolve(
        self,
    ) -> tuple[
        tuple[ResolvedStrategy, ...],
        tuple[ResolvedScanner, ...],
        DataSourceSpec | None,
    ]:
        data_source = self._data_source()
        self.reporters = tuple(self._reporters())
        self._check_plugins()
        broker = self._broker()
        scanners = self._scanners()
        candidates = {
            symbol
            for scanner in scanners
            for symbol in _candidate_symbols(scanner.config)
        }
        self._check_bar_symbols(candidates)
        entries = self._enabled_entries()
        ids = self._instance_ids(entries)
        strategies: list[ResolvedStrategy] = []
        for index, entry in entries:
            resolved = self._strategy(index, entry, ids.get(index))
            if resolved is None:
                continue
            strategies.append(resolved)
            if self.session is not None:
                self._check_intervals(resolved)
                self._check_symbols(resolved, candidates)
                self._check_execution(resolved)
        self.broker = broker
        return tuple(strategies), tuple(scanners), data_source

    # --- entries --------------------------------------------------------------

    def _enabled_entries(self) -> list[tuple[int, StrategyEntry]]:
        if self.session is not None:
            listed = list(enumerate(self.session.strategies))
        else:
            # phase 1 failed: still check each entry that is well formed on its own
            raw = _get(_get(self.document, "session_data_config"), "strategies")
            listed = []
            for index, item in enumerate(_items(raw)):
                try:
                    listed.append((index, StrategyEntry.model_validate(item)))
                except ValidationError:
                    continue
        return [(index, entry) for index, entry in listed if entry.enabled]

    def _instance_ids(self, entries: list[tuple[int, StrategyEntry]]) -> dict[int, str]:
        ids: dict[int, str] = {}
        owner: dict[str, int] = {}
        for index, entry in entries:
            if entry.id is None:
                continue
            if entry.id in owner:
                self.issue(
                    (*_SESSION, "strategies", index, "id"),
                    f"id {entry.id!r} is already used by "
                    f"{json_path((*_SESSION, 'strategies', owner[entry.id]))}",
                )
                continue
            owner[entry.id] = index
            ids[index] = entry.id
        counters: dict[str, int] = {}
        for index, entry in entries:
            if entry.id is not None:
                continue
            count = counters.get(entry.module, 0)
            while True:
                count += 1
                candidate = entry.module if count == 1 else f"{entry.module}#{count}"
                if candidate not in owner:
                    break
            counters[entry.module] = count
            owner[candidate] = index
            ids[index] = candidate
        return ids

    def _strategy(
        self, index: int, entry: StrategyEntry, instance_id: str | None
    ) -> ResolvedStrategy | None:
        where: Loc = (*_SESSION, "strategies", index)
        try:
            spec = self.plugins.strategy(entry.module)
            origin = self.plugins.provider("strategy", entry.module)
        except PluginLookupError as exc:
            self.issue((*where, "module"), exc.detail, exc.suggestion)
            return None
        context = f"strategy {entry.module} from {origin.dist} {origin.version}"
        try:
            config = spec.config.model_validate(entry.config)
        except ValidationError as exc:
            self.issues.extend(
                _issues_from(exc, self.file, spec.config, (*where, "config"), context)
            )
            return None
        if instance_id is None:
            return None
        return ResolvedStrategy(
            id=instance_id,
            index=index,
            entry=entry,
            spec=spec,
            config=config,
            dist=origin.dist,
            version=origin.version,
        )

    def _check_intervals(self, resolved: ResolvedStrategy) -> None:
        assert self.session is not None
        if "streaming" in self.invalid:
            return  # reported in phase 1
        published = self.session.intervals
        where: Loc = (*_SESSION, "strategies", resolved.index, "config")
        for interval in resolved.config.intervals_used():
            loc = (*where, *_locate(resolved.entry.config, interval, "interval"))
            try:
                canonical = canonical_interval(interval)
            except IntervalError as exc:
                self.issue(loc, str(exc))
                continue
            if canonical in published:
                continue
            upkeep = "session_data_config.streaming.data_upkeep"
            fix = f"add {interval_minutes(canonical)} to {upkeep}.derived_intervals"
            if not self.session.streaming.data_upkeep.enabled:
                fix = f"enable {upkeep} and {fix}"
            self.issue(
                loc,
                f"interval {interval!r} is not derived by the session (it publishes "
                f"{', '.join(published)}); {fix}",
            )

    def _check_bar_symbols(self, candidates: set[str]) -> None:
        if self.session is None or {"symbols", "bars", "scanners"} & self.invalid:
            return
        known = [*self.session.symbols, *sorted(candidates - set(self.session.symbols))]
        for symbol in self.session.bars.symbols:
            if symbol in known:
                continue
            hint = difflib.get_close_matches(symbol, known, n=1)
            self.issue(
                (*_SESSION, "bars", "symbols", symbol),
                f"symbol {symbol!r} is not in session_data_config.symbols "
                f"({', '.join(self.session.symbols)}) nor named by a scanner",
                hint[0] if hint else None,
            )

    def _check_symbols(self, resolved: ResolvedStrategy, candidates: set[str]) -> None:
        assert self.session is not None
        if {"symbols", "scanners"} & self.invalid:
            return  # reported in phase 1
        known = [*self.session.symbols, *sorted(candidates - set(self.session.symbols))]
        where: Loc = (*_SESSION, "strategies", resolved.index, "config")
        for symbol in resolved.config.symbols_used():
            if symbol in known:
                continue
            hint = difflib.get_close_matches(symbol, known, n=1)
            scanners = " nor named by a scanner" if self.session.scanners else ""
            self.issue(
                (*where, *_locate(resolved.entry.config, symbol, "symbol")),
                f"symbol {symbol!r} is not in session_data_config.symbols "
                f"({', '.join(self.session.symbols)}){scanners}",
                hint[0] if hint else None,
            )

    # --- scanners and data source ------------------------------------------------

    def _scanners(self) -> list[ResolvedScanner]:
        if self.session is None:
            return []
        resolved: list[ResolvedScanner] = []
        for index, scanner in enumerate(self.session.scanners):
            where: Loc = (*_SESSION, "scanners", index)
            try:
                spec = self.plugins.scanner(scanner.name)
                origin = self.plugins.provider("scanner", scanner.name)
            except PluginLookupError as exc:
                self.issue((*where, "name"), exc.detail, exc.suggestion)
                continue
            try:
                config = spec.config.model_validate(scanner.config)
            except ValidationError as exc:
                context = f"scanner {scanner.name} from {origin.dist} {origin.version}"
                self.issues.extend(
                    _issues_from(
                        exc, self.file, spec.config, (*where, "config"), context
                    )
                )
                continue
            resolved.append(
                ResolvedScanner(
                    index=index,
                    name=scanner.name,
                    entry=scanner,
                    spec=spec,
                    config=config,
                    dist=origin.dist,
                    version=origin.version,
                )
            )
        return resolved

    def _broker(self) -> BrokerSpec | None:
        if self.session is None:
            return None
        if self.session.execution is not None:
            name = self.session.execution.broker
        else:
            # an execution block that failed phase 1 still names its broker
            raw = _get(_get(self.document, "session_data_config"), "execution")
            name = _get(raw, "broker")
            if not isinstance(name, str):
                return None
        try:
            return self.plugins.broker(name)
        except PluginLookupError as exc:
            self.issue((*_SESSION, "execution", "broker"), exc.detail, exc.suggestion)
            return None

    def _check_execution(self, resolved: ResolvedStrategy) -> None:
        assert self.session is not None
        if resolved.entry.execution is not None and self.session.execution is None:
            self.issue(
                (*_SESSION, "strategies", resolved.index, "execution"),
                f"strategy {resolved.id!r} has an 'execution' entry but the session "
                "has no book to trade in: add session_data_config.execution (e.g. "
                '{"broker": "paper", "initial_cash": 100000})',
            )

    def _check_plugins(self) -> None:
        if self.session is None:
            return
        loaded = [r.name for r in self.plugins.records]
        for index, name in enumerate(self.session.plugins):
            try:
                record = self.plugins.record_of(name)
            except KeyError:
                hint = difflib.get_close_matches(name, loaded, n=1)
                self.issue(
                    (*_SESSION, "plugins", index),
                    f"no plugin named {name!r} is installed (entry point group "
                    "'stratagem')",
                    hint[0] if hint else None,
                )
                continue
            if record.status != "OK":
                self.issue(
                    (*_SESSION, "plugins", index),
                    f"plugin {name!r} ({record.origin}) failed to load: {record.error}",
                )

    def _reporters(self) -> list[ResolvedReporter]:
        if self.session is None or "reporters" in self.invalid:
            return []
        raw = _items(_get(_get(self.document, "session_data_config"), "reporters"))
        resolved: list[ResolvedReporter] = []
        repeats: dict[str, int] = {}
        for index, entry in enumerate(self.session.reporters):
            bare = index < len(raw) and isinstance(raw[index], str)
            found = self._reporter(index, entry, bare)
            if found is None:
                continue
            spec, config, origin = found
            repeats[entry.name] = repeats.get(entry.name, 0) + 1
            count = repeats[entry.name]
            resolved.append(
                ResolvedReporter(
                    index=index,
                    id=entry.name if count == 1 else f"{entry.name}#{count}",
                    name=entry.name,
                    spec=spec,
                    config=config,
                    dist=origin.dist,
                    version=origin.version,
                )
            )
        return resolved

    def _reporter(
        self, index: int, entry: ReporterEntry, bare: bool
    ) -> tuple[ReporterSpec | None, BaseModel | None, PluginRecord] | None:
        """One entry's spec, validated config and origin; None after an issue.

        :param index: the entry's position in ``reporters``.
        :param entry: the entry.
        :param bare: the file gives it as a bare name (its path is then the item's).
        """
        where: Loc = (*_SESSION, "reporters", index)
        name = entry.name
        hooked = name in self.plugins.reporters
        if hooked and name not in self.plugins.names("reporter"):
            origin = self.plugins.record_of(name)
            if entry.config:
                self.issue(
                    (*where, "config"),
                    f"reporter {name!r} ({origin.origin}) takes no config: it "
                    "implements stratagem_report_metrics; only reporters offered "
                    "through stratagem_reporters have options",
                )
                return None
            return None, None, origin
        try:
            spec = self.plugins.reporter(name)
            origin = self.plugins.provider("reporter", name)
        except PluginLookupError as exc:
            name_loc = where if bare else (*where, "name")
            self.issue(name_loc, exc.detail, exc.suggestion)
            return None
        try:
            config = spec.config.model_validate(entry.config)
        except ValidationError as exc:
            context = f"reporter {name} from {origin.dist} {origin.version}"
            self.issues.extend(
                _issues_from(exc, self.file, spec.config, (*where, "config"), context)
            )
            return None
        return spec, config, origin

    def _data_source(self) -> DataSourceSpec | None:
        if self.session is None:
            return None
        try:
            return self.plugins.data_source(self.session.data.source)
        except PluginLookupError as exc:
            self.issue((*_SESSION, "data", "source"), exc.detail, exc.suggestion)
            return None


def _issues_from(
    exc: ValidationError,
    file: str,
    model: type[BaseModel],
    prefix: Loc,
    context: str | None = None,
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        kind = error["type"]
        suggestion = None
        if kind == "extra_forbidden":
            key = str(loc[-1])
            message = f"unknown key {key!r}"
            fields = _field_names(_model_at(model, loc[:-1]))
            close = difflib.get_close_matches(key, fields, n=1)
            suggestion = close[0] if close else None
        elif kind == "missing":
            message = "required key is missing"
        elif kind in ("value_error", "assertion_error"):
            message = str(error.get("ctx", {}).get("error") or error["msg"])
        else:
            message = error["msg"]
            value = error.get("input")
            if isinstance(value, _SCALARS):
                shown = repr(value)
                message += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
        issues.append(
            ConfigIssue(file, json_path((*prefix, *loc)), message, suggestion, context)
        )
    return issues


#: stands for a ``symbols`` list that did not validate, so that other keys can be
#: checked
_NO_SYMBOLS = "\0invalid"


def _valid_part(
    document: Any, file: str, issues: list[ConfigIssue]
) -> tuple[SessionDataConfig | None, set[str]]:
    """``session_data_config`` with its invalid keys set to their defaults, so that
    phase 2 reports its problems in the same pass as phase 1's.

    Also reports what phase 1 could not reach: a rule across keys (``end`` after
    ``start``) runs only once every key is valid.
    """
    raw = _get(document, "session_data_config")
    if not isinstance(raw, dict):
        return None, set()
    data = dict(raw)
    invalid: set[str] = set()
    for _ in range(len(data) + 2):
        try:
            return SessionDataConfig.model_validate(data), invalid
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        keys = {
            e["loc"][0] for e in errors if e["loc"] and isinstance(e["loc"][0], str)
        }
        if not keys:
            # a rule across keys, reached now that the keys themselves are valid
            issues += [
                ConfigIssue(
                    file,
                    json_path(_SESSION),
                    str(e.get("ctx", {}).get("error") or e["msg"]),
                )
                for e in errors
            ]
            data.pop("start", None)
            data.pop("end", None)
            continue
        invalid |= keys
        for key in keys:
            data.pop(key, None)
        if "symbols" in keys:
            data["symbols"] = [_NO_SYMBOLS]
    return None, invalid


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        if isinstance(part, str):
            found = _as_model(current)
            if found is None:
                return None
            current = None
            for name, info in found.model_fields.items():
                if part in (name, info.alias):
                    current = info.annotation
                    break
        else:
            args = [a for a in get_args(_strip_none(current)) if a is not Ellipsis]
            origin = get_origin(_strip_none(current))
            if origin not in (list, tuple, set, frozenset, Sequence) or not args:
                return None
            current = args[0]
        if current is None:
            return None
    return _as_model(current)


def _strip_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _as_model(annotation: Any) -> type[BaseModel] | None:
    annotation = _strip_none(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    names: list[str] = []
    for name, info in model.model_fields.items():
        names.append(info.alias or name)
    return names


def _locate(config: Mapping[str, Any], value: str, field_stem: str) -> Loc:
    """Where ``value`` sits in a raw strategy config: ``stem`` or ``stems[i]``."""
    for key in (field_stem, f"{field_stem}s"):
        found = config.get(key)
        if found == value:
            return (key,)
        if isinstance(found, list):
            for position, item in enumerate(found):
                if item == value:
                    return (key, position)
    return ()


def _candidate_symbols(config: BaseModel) -> list[str]:
    method = getattr(config, "candidate_symbols", None)
    if not callable(method):
        return []
    return [symbol for symbol in method() if isinstance(symbol, str)]


def _get(container: object, key: str, default: Any = None) -> Any:
    return container.get(key, default) if isinstance(container, dict) else default


def _items(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _default(field_name: str) -> Any:
    return SessionDataConfig.model_fields[field_name].get_default(
        call_default_factory=True
    )
