"""Shared set-up of the widget tests."""


def dock(viewer, widget, layer, field="image"):
    """Dock ``widget`` in ``viewer`` with ``layer`` chosen in its layer field."""
    viewer.window.add_dock_widget(widget)
    choice = getattr(widget, field)
    choice.reset_choices()
    choice.value = layer
    return widget
