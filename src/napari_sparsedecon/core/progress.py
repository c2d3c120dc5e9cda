"""The progress record every ``iter_...`` generator yields."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Progress(NamedTuple):
    """One step of a long computation.

    Attributes
    ----------
    stage : str
        What is running: ``"background"``, ``"upsample"``, ``"sparse"``, ``"deconv"``.
    iteration : int
        Iterations done in this stage (1-based once work has started).
    total : int
        Iterations this stage will run.
    estimate : numpy.ndarray or None
        The current estimate when the caller asked for it, else None.
    """

    stage: str
    iteration: int
    total: int
    estimate: np.ndarray | None = None
