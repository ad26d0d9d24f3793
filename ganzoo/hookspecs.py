"""The hooks a ganzoo plugin may implement. This module is the plugin contract.

A plugin is a module listed under the ``ganzoo`` entry-point group that defines functions
decorated with :data:`ganzoo.hookimpl`. pluggy passes only the arguments an implementation
names, so arguments added here later break no plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ganzoo.registry import Registrar

PROJECT = "ganzoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_components(registrar: Registrar) -> None:
    """Register this plugin's components.

    ``registrar`` is bound to the calling plugin, so every component records the distribution
    and version it came from::

        @hookimpl
        def register_components(registrar):
            registrar.generator("resnet_9blocks", ResnetGenerator, config=ResnetConfig)
            registrar.loss("lsgan", LSGANLoss)
    """
