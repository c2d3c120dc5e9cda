"""The progress record every ``iter_...`` generator yields."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

import numpy as np


class Stage(StrEnum):
    """What is running. A ``str`` enum: ``Stage.SPARSE == "sparse"``."""

    PREPARE = "prepare"
    SPARSE = "sparse"
    DECONV = "deconv"
    TILES = "tiles"
    TRUST = "trust checks"
    SWEEP = "sweep"


class Progress(NamedTuple):
    """One step of a long computation.

    Attributes
    ----------
    stage : Stage (or its string value)
        What is running (see :class:`Stage`).
    iteration : int
        Iterations done in this stage (1-based once work has started).
    total : int
        Iterations this stage will run (a maximum when a stopping rule may end it
        early).
    estimate : numpy.ndarray or None
        The current estimate when the caller asked for it, else None.
    fraction : float or None
        Overall fraction of the whole run done (0..1), across stages, when the
        runner knows it (``iter_deconvolve`` always fills it).
    tile : SweepTile or None
        For ``Stage.SWEEP``: the combination that just finished (its parameter values,
        result image and scores), delivered as it finishes; None otherwise.
    """

    stage: str
    iteration: int
    total: int
    estimate: np.ndarray | None = None
    fraction: float | None = None
    tile: object | None = None
