"""Hot reload of one strategy instance in a clock-driven or live session (DESIGN
12), asked for through the control socket (``stratagem reload``) or by a file watch
(``stratagem run --watch``).

A reload re-imports the strategy's module, reads the config file again and
validates the instance's entry, all off the session thread; a problem there
refuses the reload and the running instance goes on untouched. Then the runtime
swaps the instance between two steps (:meth:`StrategyManager.swap`): the old one
saves its state, the new one starts, takes back subscriptions and position, and
loads the state. The other strategies never wait for any of it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratagem._data.timefmt import format_ts
from stratagem._plugins.hooks import StrategyHooks
from stratagem._records import Mode
from stratagem._runtime.thread import StrategyInstance
from stratagem._session.build import Session, instance_of

if TYPE_CHECKING:
    from stratagem._config.loading import LoadedSession

log = logging.getLogger("stratagem.reload")

#: how long a reload waits for the new instance to start, beyond the old one's
#: callback timeout (which bounds its hand-over)
_START_S = 30.0


class Reloader:
    """Reloads strategy instances of one running session; one reload at a time.

    :param session: the running session.
    :param load_config: reads and validates the session's config file again, with
        the same plugins (a :class:`ConfigError` lists what is wrong).
    """

    def __init__(self, session: Session, load_config: Callable[[], LoadedSession]):
        self.session = session
        self.load_config = load_config
        self._lock = threading.Lock()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Answer one control request: ``reload`` or ``status``."""
        command = request.get("command")
        if command == "reload":
            return self.reload(str(request.get("strategy", "")))
        if command == "status":
            return self.status()
        return {"ok": False, "message": f"unknown command {command!r}"}

    def status(self) -> dict[str, Any]:
        """The session's time and each instance's state."""
        session = self.session
        time_ns = session.processor.time_ns
        return {
            "ok": True,
            "mode": str(session.mode),
            "session_time": format_ts(time_ns) if time_ns else None,
            "strategies": {
                t.instance.id: str(t.metrics.state) for t in session.manager.threads
            },
        }

    def reload(self, strategy_id: str) -> dict[str, Any]:
        """Reload ``strategy_id``: its code, its config entry, then a swap.

        :returns: ``{"ok", "message"}``, and ``"unknown": true`` when the session
            has no such strategy.
        """
        session = self.session
        manager = session.manager
        if manager.thread_of(strategy_id) is None:
            ids = ", ".join(t.instance.id for t in manager.threads) or "none"
            return {
                "ok": False,
                "unknown": True,
                "message": f"no strategy {strategy_id!r} in this session "
                f"(strategies: {ids})",
            }
        if session.mode is Mode.DATA_DRIVEN:
            return {
                "ok": False,
                "message": "hot reload applies to clock-driven and live sessions; "
                "this one is data-driven",
            }
        with self._lock:
            thread = manager.thread_of(strategy_id)
            assert thread is not None
            reimported: Reimport | None = None
            try:
                reimported = Reimport(thread.instance.strategy_cls)
                instance = self._prepare(thread.instance)
            except Exception as exc:  # noqa: BLE001 - refused, the old one runs on
                if reimported is not None:
                    reimported.undo()
                message = (
                    f"reload of {strategy_id} refused: {_describe(exc)}; the running "
                    "instance goes on unchanged"
                )
                log.error("%s", message)
                return {"ok": False, "message": message}
            try:
                handover = manager.swap(instance, session.processor.time_ns or 0)
            except RuntimeError as exc:  # the session is ending
                reimported.undo()
                return {"ok": False, "message": f"reload of {strategy_id}: {exc}"}
            if not handover.done.wait(handover.wait_s + _START_S):
                return {
                    "ok": False,
                    "message": f"reload of {strategy_id}: the new instance has not "
                    "started yet (its predecessor is still busy)",
                }
        if not handover.ok:
            reimported.undo()  # the old code runs on: its modules are current
        if handover.ok:
            message = f"reloaded {strategy_id}" + (
                f" ({handover.message})" if handover.message else ""
            )
            log.info("%s", message)
            return {"ok": True, "message": message}
        message = (
            f"reload of {strategy_id} failed: {handover.message}; the old code runs "
            "on with its state"
        )
        return {"ok": False, "message": message}

    def _prepare(self, running: StrategyInstance) -> StrategyInstance:
        """The instance to swap in, its code imported again: the entry validated
        again against it."""
        loaded = self.load_config()
        item = next((i for i in loaded.strategies if i.id == running.id), None)
        if item is None:
            raise ValueError(
                f"{running.id} is no longer an enabled strategy of {loaded.path}"
            )
        executes = loaded.config.session_data_config.execution is not None
        instance = instance_of(item, executes=executes)
        if instance.execution != running.execution:
            raise ValueError(
                "its execution entry changed; a reload changes code and config, "
                "not how a strategy trades (restart the session for that)"
            )
        # the new class must construct and resolve its hooks, as at a start
        StrategyHooks(instance.strategy_cls(instance.config), instance.id)
        return instance


class Reimport:
    """Fresh imports of the modules defining a strategy class, which can be undone.

    Each module is executed again from its source as a new module object that
    replaces it in ``sys.modules``; the running instance's class keeps its own
    module, globals included, so a reload that fails leaves the running code
    exactly as it was. The module defining the class comes first, then its
    package when that re-exports from it.

    :param strategy_cls: the running instance's class.
    :raises Exception: what importing raises (a syntax error, a failing import);
        ``sys.modules`` is then as before.
    """

    def __init__(self, strategy_cls: type) -> None:
        self._previous: dict[str, Any] = {}
        name = strategy_cls.__module__
        names = [name]
        package = getattr(sys.modules.get(name), "__package__", None)
        if package and package != name and package in sys.modules:
            names.append(package)
        try:
            for module_name in names:
                self._fresh(module_name)
        except BaseException:
            self.undo()
            raise

    def _fresh(self, name: str) -> None:
        old = sys.modules.get(name)
        source = getattr(old, "__file__", None)
        if old is None or not source:
            return
        importlib.invalidate_caches()
        _forget_bytecode(source)
        search = getattr(old.__spec__, "submodule_search_locations", None)
        spec = importlib.util.spec_from_file_location(
            name, source, submodule_search_locations=search
        )
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {name} again from {source}")
        module = importlib.util.module_from_spec(spec)
        self._previous[name] = old
        sys.modules[name] = module
        spec.loader.exec_module(module)

    def undo(self) -> None:
        """Put the modules that ran before back in ``sys.modules``."""
        for name, module in self._previous.items():
            sys.modules[name] = module
        self._previous.clear()


def _forget_bytecode(source: str) -> None:
    """Remove a module's cached bytecode: a source rewritten within the same second
    and size would otherwise be read from the stale cache."""
    if source.endswith(".py"):
        Path(importlib.util.cache_from_source(source)).unlink(missing_ok=True)


def _describe(exc: BaseException) -> str:
    issues = getattr(exc, "issues", None)
    if issues:
        return "config: " + "; ".join(str(issue) for issue in issues)
    return f"{type(exc).__name__}: {exc}"


class Watcher:
    """``--watch``: reloads a strategy when its module file or the config changes.

    :param reloader: the session's reloader.
    :param config_path: the session config file.
    """

    def __init__(self, reloader: Reloader, config_path: Path) -> None:
        self.reloader = reloader
        self.config_path = Path(config_path).resolve()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="stratagem-watch", daemon=True
        )

    def files(self) -> dict[Path, list[str]]:
        """Each watched file and the strategy ids it reloads (the config: all)."""
        out: dict[Path, list[str]] = {}
        threads = self.reloader.session.manager.threads
        for thread in threads:
            module = sys.modules.get(thread.instance.strategy_cls.__module__)
            source = getattr(module, "__file__", None)
            if source:
                out.setdefault(Path(source).resolve(), []).append(thread.instance.id)
        out.setdefault(self.config_path, []).extend(t.instance.id for t in threads)
        return out

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _watch(self) -> None:
        from watchfiles import watch

        watched = self.files()
        folders = sorted({path.parent for path in watched})
        log.info("watching %d files for changes", len(watched))
        for changes in watch(*folders, stop_event=self._stop, rust_timeout=500):
            changed = {Path(path).resolve() for _, path in changes}
            ids = _ids_for(changed - {self.config_path}, watched)
            if self.config_path in changed:
                ids = [*ids, *self._changed_entries(ids)]
            for strategy_id in ids:
                reply = self.reloader.reload(strategy_id)
                level = logging.INFO if reply["ok"] else logging.ERROR
                log.log(level, "%s", reply["message"])

    def _changed_entries(self, already: Sequence[str]) -> list[str]:
        """Strategies whose entry in the config file differs from what runs."""
        try:
            loaded = self.reloader.load_config()
        except Exception as exc:  # noqa: BLE001 - said, nothing reloaded
            log.error("%s changed but does not load: %s", self.config_path, exc)
            return []
        running = {
            t.instance.id: t.instance for t in self.reloader.session.manager.threads
        }
        out = []
        for item in loaded.strategies:
            now = running.get(item.id)
            if now is None or item.id in already:
                continue
            if item.spec.strategy is not now.strategy_cls or item.config != now.config:
                out.append(item.id)
        return out


def _ids_for(changed: set[Path], watched: dict[Path, list[str]]) -> Sequence[str]:
    ids: dict[str, None] = {}
    for path in changed:
        for strategy_id in watched.get(path, ()):
            ids[strategy_id] = None
    return list(ids)
