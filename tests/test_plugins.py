"""Plugin discovery: lazy registration, no framework imports, broken plugins isolated, clear errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import albert_core
from albert_core import BackendError, PluginError
from albert_core.plugins import PluginManager


def test_import_and_listing_import_no_framework():
    """In a fresh interpreter, importing `albert_core`, then `albert_core.cli`, then listing the backends imports
    no framework, checked after each step."""
    code = textwrap.dedent("""
        import sys

        def frameworks():
            return [m for m in ("torch", "jax", "tensorflow", "flax", "keras") if m in sys.modules]

        import albert_core
        assert not frameworks(), ("import albert_core", frameworks())
        import albert_core.cli
        assert not frameworks(), ("import albert_core.cli", frameworks())
        names = albert_core.available_backends()
        assert "numpy" in names, names
        loaded = frameworks()
        assert not loaded, ("albert_core.available_backends()", loaded)
        print("ok", names)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


class _Plugin:
    def __init__(self, *names, factory="albert_core.numpy_backend:NumpyBackend", framework=None, fail=False):
        self.names, self.factory, self.framework, self.fail = names, factory, framework, fail

    @albert_core.hookimpl
    def albert_core_register_backends(self, registry):
        if self.fail:
            raise RuntimeError("plugin exploded")
        for name in self.names:
            registry.add(name, self.factory, framework=self.framework, install_hint=f"pip install albert-{name}")


def _manager(*plugins) -> PluginManager:
    manager = PluginManager()
    manager.load()
    for i, plugin in enumerate(plugins):
        try:
            manager.register(plugin, name=f"p{i}")
        except Exception as exc:  # mirror discovery: record and go on
            manager.failures[f"p{i}"] = str(exc)
    return manager


def test_numpy_backend_registered_and_loaded_lazily():
    manager = _manager()
    assert "numpy" in manager.backends.names()
    backend = manager.backends.get("numpy")
    assert backend.name == "numpy" and manager.backends.get("numpy") is backend


def test_duplicate_names_are_an_error():
    manager = _manager(_Plugin("dup"), _Plugin("dup"))
    assert "registered twice" in manager.failures["p1"] and "'p0'" in manager.failures["p1"]


def test_broken_plugin_does_not_hide_others():
    manager = _manager(_Plugin(fail=True), _Plugin("fine"))
    assert "plugin exploded" in manager.failures["p0"] or "p0" in manager.failures
    assert "fine" in manager.backends.names()


def test_unknown_backend_suggests_close_match():
    with pytest.raises(BackendError, match="unknown backend 'nmupy'. Did you mean 'numpy'"):
        albert_core.get_backend("nmupy")


def test_missing_framework_says_what_to_install():
    manager = _manager(_Plugin("ghost", factory="ghost_pkg.backend:Ghost", framework="ghost_framework_xyz"))
    with pytest.raises(BackendError, match="needs the 'ghost_framework_xyz' package.*pip install albert-ghost"):
        manager.backends.get("ghost")


def test_bad_factory_reports_plugin():
    manager = _manager(_Plugin("broken", factory="albert_core.nothing_here:Nope"))
    with pytest.raises(BackendError, match="'broken' .from plugin 'p0'. failed to load"):
        manager.backends.get("broken")
    with pytest.raises(PluginError, match="module:attribute"):
        manager.backends._current_plugin = "x"
        manager.backends.add("bad", "no_colon")


def test_typo_hook_is_caught():
    class Typo:
        @albert_core.hookimpl
        def albert_core_register_backend(self, registry):  # missing "s"
            pass

    manager = _manager()
    with pytest.raises(Exception, match="unknown hook"):
        manager.register(Typo(), name="typo")


def test_entry_point_failures_are_recorded(monkeypatch):
    import importlib.metadata as md

    class EP:
        name, dist = "exploding", None

        def load(self):
            raise ImportError("no module named exploding_backend")

    real = md.entry_points
    monkeypatch.setattr(md, "entry_points", lambda group=None: [EP(), *real(group=group)])
    manager = PluginManager()
    assert "numpy" in manager.backends.names()
    assert "exploding_backend" in manager.failures["exploding"]
