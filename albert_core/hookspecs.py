"""Hook specifications: the whole plugin surface of albert-core.

A plugin is a module (or object) named by an entry point in the ``albert_core`` group::

    [project.entry-points.albert_core]
    mybackend = "my_albert_backend.plugin"

and defines some of the hooks below with ``albert_core.hookimpl``. Hooks only *register* things, by
name and by a lazy ``"module:attribute"`` factory string, so discovering plugins never imports a
framework; the factory is imported the first time the thing is used. Each plugin's hooks are called one
plugin at a time, so a plugin that raises is reported (``albert backends``) and never hides the others.
"""

from __future__ import annotations

import pluggy

PROJECT = "albert_core"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def albert_core_register_backends(registry):
    """Register the compute backends this plugin provides.

    Called once per plugin when the registry is first needed. Call
    ``registry.add(name, factory, framework=..., install_hint=..., distribution=...)`` for each backend:

    - ``name``: what users pass as ``backend=`` (lower case, e.g. ``"jax"``); a name registered twice is an
      error reported against both plugins.
    - ``factory``: ``"package.module:attribute"`` naming a zero-argument callable (usually the class) that
      returns an ``albert_core.Backend``. It is imported only when the backend is first used.
    - ``framework``: the import name of the framework (``"torch"``), checked before importing the factory
      so a missing framework gives "install ..." instead of a traceback.
    - ``install_hint``: the pip command that installs what is missing.
    - ``distribution``: the distribution that ships the backend, shown by ``albert backends``.

    :param registry: the ``albert_core.plugins.BackendRegistry`` to add to.
    :returns: nothing; the return value is ignored.
    """


@hookspec
def albert_core_register_formats(registry):
    """Register checkpoint formats this plugin can read (and possibly write).

    Call ``registry.add(name, factory, framework=..., install_hint=..., distribution=...)`` with a lazy
    ``"module:attribute"`` factory returning an object with:

    - ``name: str`` and ``description: str``;
    - ``detect(path) -> bool``: cheap check (file names only, no framework import) that ``path`` is in this
      format;
    - ``read(path) -> albert_core.checkpoints.Checkpoint``: the config, a mapping of canonical (HF-named) float
      arrays, and a report of skipped entries;
    - optionally ``write(path, checkpoint)``.

    The built-in ``hf-safetensors`` format (an HF model folder) is registered through this same hook.

    :param registry: the ``albert_core.plugins.FormatRegistry`` to add to.
    :returns: nothing; the return value is ignored.
    """
