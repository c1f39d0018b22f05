"""The one place stratagem calls hooks, always through pluggy's callers.

- **Discovery and reporting** call one plugin's implementation at a time through
  ``PluginManager.subset_hook_caller`` with every other plugin's *plain*
  implementation removed: pluggy's argument subsets apply and every wrapper
  (``wrapper=True`` or ``hookwrapper=True``) of any plugin runs around the call,
  while each result stays traced to the plugin that produced it and one raising
  implementation cannot keep the others from being called.
- **Per-strategy hooks** go through each instance's own plugin manager (it holds that
  instance alone), resolved once when the instance starts: :class:`StrategyHooks`.
  A plain implementation is called directly with the arguments it names, so the
  per-notification cost stays a function call; a strategy whose hook has wrappers is
  called through its pluggy caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

from stratagem import hookspecs

#: hooks called for one strategy instance, in its own thread
STRATEGY_HOOKS: tuple[str, ...] = (
    "stratagem_on_start",
    "stratagem_on_bars",
    "stratagem_on_symbol_added",
    "stratagem_on_fill",
    "stratagem_on_stop",
    "stratagem_on_save",
    "stratagem_on_load",
)
#: hooks a plugin module (not a strategy) implements
DISCOVERY_HOOKS: tuple[str, ...] = (
    "stratagem_strategies",
    "stratagem_scanners",
    "stratagem_data_sources",
    "stratagem_brokers",
    "stratagem_reporters",
)
REPORT_HOOK = "stratagem_report_metrics"


def new_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager holding stratagem's hook specifications."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def is_wrapper(impl: pluggy.HookImpl) -> bool:
    return bool(impl.wrapper or impl.hookwrapper)


class PluginHooks:
    """Typed calls into a loaded plugin manager (discovery and reporting).

    :param pm: the session's plugin manager.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    def implementers(self, hook: str) -> list[str]:
        """Plugins with a plain (non-wrapper) implementation of ``hook``."""
        caller = getattr(self.pm.hook, hook)
        return [
            impl.plugin_name for impl in caller.get_hookimpls() if not is_wrapper(impl)
        ]

    def caller_for(self, hook: str, plugin_name: str) -> pluggy.HookCaller:
        """``hook`` as implemented by ``plugin_name`` alone, inside every wrapper.

        :param hook: a hook name, e.g. ``"stratagem_strategies"``.
        :param plugin_name: the plugin whose plain implementation is kept.
        """
        caller = getattr(self.pm.hook, hook)
        others = [
            impl.plugin
            for impl in caller.get_hookimpls()
            if not is_wrapper(impl) and impl.plugin_name != plugin_name
        ]
        return self.pm.subset_hook_caller(hook, others)

    def discover(self, hook: str, plugin_name: str) -> list[Any] | None:
        """What one plugin's implementation of a discovery hook returned.

        :param hook: one of :data:`DISCOVERY_HOOKS`.
        :param plugin_name: the offering plugin.
        :returns: the value its implementation returned, after every wrapper; None
            when the plugin does not implement the hook or returned None (pluggy
            keeps no None result).
        """
        if plugin_name not in self.implementers(hook):
            return None
        # one plain implementation is called, so pluggy collects at most one result
        results = self.caller_for(hook, plugin_name)()
        return results[0] if results else None


class StrategyHooks:
    """One strategy instance's lifecycle hooks, resolved once through pluggy.

    :param strategy: the instance (a :class:`stratagem.Strategy`).
    :param name: the instance id, as its plugin name.
    """

    __slots__ = (
        "on_start",
        "on_bars",
        "on_symbol_added",
        "on_fill",
        "on_stop",
        "on_save",
        "on_load",
        "pm",
    )

    def __init__(self, strategy: object, name: str) -> None:
        pm = new_plugin_manager()
        pm.register(strategy, name=name)
        pm.check_pending()
        self.pm = pm
        for hook in STRATEGY_HOOKS:
            setattr(
                self, hook.removeprefix("stratagem_"), self._resolve(strategy, hook)
            )

    def _resolve(self, strategy: object, hook: str) -> Callable[..., Any]:
        caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
        spec_args = caller.spec.argnames if caller.spec else ()
        impls = caller.get_hookimpls()
        signature = ", ".join(spec_args)
        if not impls:
            return _noop(signature)
        if len(impls) > 1 or is_wrapper(impls[0]):
            call = caller
            keywords = ", ".join(f"{a}={a}" for a in spec_args)
            return _compile(f"lambda {signature}: call({keywords})", call=call)
        impl = impls[0]
        forwarded = _base_forwarding(strategy, hook, impl)
        if forwarded is not None:
            return forwarded
        if tuple(impl.argnames) == tuple(spec_args):
            return impl.function
        keywords = ", ".join(f"{a}={a}" for a in impl.argnames)
        return _compile(f"lambda {signature}: call({keywords})", call=impl.function)


def _base_forwarding(
    strategy: object, hook: str, impl: pluggy.HookImpl
) -> Callable[..., Any] | None:
    """The lifecycle method itself when ``impl`` is the base class's forwarding
    (it only calls it with the same arguments): one call less per notification."""
    from stratagem._strategy import Strategy

    base = getattr(Strategy, hook, None)
    if getattr(impl.function, "__func__", None) is base:
        method: Callable[..., Any] = getattr(strategy, hook.removeprefix("stratagem_"))
        return method
    return None


def _noop(signature: str) -> Callable[..., Any]:
    return _compile(f"lambda {signature}: None")


def _compile(source: str, **names: Any) -> Callable[..., Any]:
    # a lambda with the spec's positional signature that calls the implementation
    # with the arguments it names, as pluggy would, without a call to build kwargs
    function: Callable[..., Any] = eval(source, dict(names))  # noqa: S307 - fixed text
    return function
