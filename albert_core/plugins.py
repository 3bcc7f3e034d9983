"""Plugin discovery and the registries plugins add to.

Entry points in the ``albert_core`` group are loaded one by one; a plugin that fails to import or whose
hook raises is recorded in ``failures`` (shown by ``albert backends``) and the others still load. The core's
own plugins (`BUILTIN_PLUGINS`: the NumPy backend and the HF safetensors folder format) are registered through
the same hooks.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import threading
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import AlbertError, BackendError, FormatError, PluginError

ENTRY_POINT_GROUP = "albert_core"
# The core's own plugins, registered through the same hooks as installed ones: plugin name -> module.
BUILTIN_PLUGINS = {"albert_core": "albert_core.numpy_backend.plugin",
                   "albert_core.checkpoints": "albert_core.checkpoints.plugin"}


@dataclass
class Registration:
    """One lazily imported thing a plugin registered."""

    name: str
    factory: str  # "module:attribute"
    plugin: str
    framework: str | None = None
    install_hint: str | None = None
    distribution: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def framework_installed(self) -> bool:
        return self.framework is None or importlib.util.find_spec(self.framework) is not None


class _Registry:
    kind = "thing"
    error: type[AlbertError] = BackendError  # raised for an unknown or unloadable entry

    def __init__(self, manager: PluginManager) -> None:
        self._manager = manager
        self._items: dict[str, Registration] = {}
        self._instances: dict[str, Any] = {}
        self._current_plugin = "?"
        self._lock = threading.Lock()

    def add(self, name: str, factory: str, *, framework: str | None = None, install_hint: str | None = None,
            distribution: str | None = None, **extra: Any) -> None:
        """Register `name` -> lazy `"module:attribute"` factory. See `albert_core.hookspecs`."""
        if not isinstance(name, str) or not name or name != name.strip():
            raise PluginError(f"plugin {self._current_plugin!r} registered an invalid {self.kind} name {name!r}")
        if not isinstance(factory, str) or factory.count(":") != 1:
            raise PluginError(f"plugin {self._current_plugin!r}: {self.kind} {name!r} factory must be "
                              f"'module:attribute', got {factory!r}")
        if name in self._items:
            other = self._items[name].plugin
            raise PluginError(f"{self.kind} {name!r} is registered twice: by plugin {other!r} and by plugin "
                              f"{self._current_plugin!r}; uninstall one of them")
        self._items[name] = Registration(name, factory, self._current_plugin, framework, install_hint,
                                         distribution, extra)

    def names(self) -> list[str]:
        self._manager.load()
        return sorted(self._items)

    def registration(self, name: str) -> Registration:
        self._manager.load()
        if name not in self._items:
            close = difflib.get_close_matches(name, self._items, n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            failed = [f"{p} ({e})" for p, e in self._manager.failures.items()]
            broken = f" Plugins that failed to load: {failed}." if failed else ""
            raise self.error(f"unknown {self.kind} {name!r}.{hint} Installed: {sorted(self._items)}.{broken}")
        return self._items[name]

    def get(self, name: str) -> Any:
        """The instance for `name`, importing its framework and factory on first use."""
        reg = self.registration(name)
        with self._lock:
            if name not in self._instances:
                if not reg.framework_installed():
                    hint = reg.install_hint or f"pip install {reg.distribution or reg.framework}"
                    raise self.error(f"{self.kind} {name!r} needs the {reg.framework!r} package, which is not "
                                       f"installed; run: {hint}")
                module_name, attr = reg.factory.split(":")
                try:
                    target = getattr(importlib.import_module(module_name), attr)
                    self._instances[name] = target()
                except Exception as exc:
                    raise self.error(f"{self.kind} {name!r} (from plugin {reg.plugin!r}) failed to load: "
                                       f"{type(exc).__name__}: {exc}") from exc
            return self._instances[name]


class BackendRegistry(_Registry):
    kind = "backend"


class FormatRegistry(_Registry):
    kind = "checkpoint format"
    error = FormatError


class PluginManager:
    """Loads plugins once (thread-safe) and fills the backend and format registries."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.backends = BackendRegistry(self)
        self.formats = FormatRegistry(self)
        self.failures: dict[str, str] = {}
        self.plugin_dists: dict[str, str] = {}
        self._loaded = False
        self._lock = threading.RLock()

    def load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            for name, module in BUILTIN_PLUGINS.items():
                self.pm.register(importlib.import_module(module), name=name)
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                if self.pm.has_plugin(ep.name) or ep.name in self.failures:
                    continue
                try:
                    plugin = ep.load()
                    if self.pm.is_registered(plugin):
                        continue
                    self.pm.register(plugin, name=ep.name)
                    if ep.dist is not None:
                        self.plugin_dists[ep.name] = f"{ep.dist.metadata['Name']} {ep.dist.version}"
                except Exception as exc:  # a broken plugin must not hide the others
                    self.failures[ep.name] = f"{type(exc).__name__}: {exc}"
            try:
                self.pm.check_pending()
            except pluggy.PluginValidationError as exc:
                self.failures[getattr(exc, "plugin_name", "?")] = f"unknown hook: {exc}"
            self._call_each("albert_core_register_backends", self.backends)
            self._call_each("albert_core_register_formats", self.formats)

    def _call_each(self, hook_name: str, registry: _Registry) -> None:
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            registry._current_plugin = impl.plugin_name
            try:
                impl.function(registry=registry)
            except Exception as exc:
                self.failures[impl.plugin_name] = f"{hook_name} raised {type(exc).__name__}: {exc}"
        registry._current_plugin = "?"

    def register(self, plugin: object, name: str) -> None:
        """Add a plugin object at run time (tests, notebooks); its hooks run immediately."""
        self.load()
        self.pm.register(plugin, name=name)
        self.pm.check_pending()
        for hook_name, registry in (("albert_core_register_backends", self.backends),
                                    ("albert_core_register_formats", self.formats)):
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                if impl.plugin_name == name:
                    registry._current_plugin = name
                    impl.function(registry=registry)


manager = PluginManager()


def available_backends() -> list[str]:
    """Names of the registered backends (their frameworks are not imported)."""
    return manager.backends.names()


def get_backend(name: str):
    """The backend instance for `name` (imports its framework on first use)."""
    return manager.backends.get(name)
