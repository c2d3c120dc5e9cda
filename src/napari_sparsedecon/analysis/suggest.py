"""Parameter suggestions from a region of interest: each method's own estimate
(``Method.suggest``); the paper pipeline's calibration table is
:mod:`napari_sparsedecon.core.suggest`, re-exported here."""

from __future__ import annotations

from ..core.suggest import (  # noqa: F401 - this module's API
    BACKGROUND_SIGMAS,
    CALIBRATION,
    Suggestion,
    signal_and_noise,
    suggest_parameters,
)
