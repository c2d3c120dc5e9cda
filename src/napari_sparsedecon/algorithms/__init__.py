"""Deconvolution methods: one module per method plus :mod:`.registry`.

A method module declares its parameter schema (:mod:`napari_sparsedecon.params`),
the generator that runs it, and a docs entry, and registers one
:class:`~.registry.Method`. The CLI, the widgets, parameter files and result
metadata all take their method lists and controls from the registry.
"""
