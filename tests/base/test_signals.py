"""Signals are held back while a native extension initialises: a SIGTERM raised as an
exception inside pyopencl's first import (nanobind) aborted `run` with exit -6 and left
its temporary output (seen once in CI, tests/cli/test_cli_safety.py)."""

import contextlib
import os
import signal
import sys

import pytest

from napari_sparsedecon.base import signals
from napari_sparsedecon.base.signals import deferred_signals
from napari_sparsedecon.cli.common import Terminated, _signals_unwind


def _spin():
    for _ in range(10000):  # bytecodes run: a pending Python-level handler runs here
        pass


def test_a_sigterm_inside_the_block_is_raised_after_it():
    reached_end_of_block = False
    with pytest.raises(Terminated), _signals_unwind():
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            _spin()
            reached_end_of_block = True
        _spin()
    assert reached_end_of_block


def test_a_sigint_inside_nested_blocks_is_raised_after_the_outermost():
    steps = []
    with pytest.raises(KeyboardInterrupt), _signals_unwind():
        with deferred_signals():
            with deferred_signals():
                os.kill(os.getpid(), signal.SIGINT)
                _spin()
                steps.append("inner")
            _spin()
            steps.append("outer")
        _spin()
    assert steps == ["inner", "outer"]
    assert not signals.deferring()


def test_outside_a_block_the_signal_unwinds_at_once():
    with pytest.raises(Terminated), _signals_unwind():
        os.kill(os.getpid(), signal.SIGTERM)
        _spin()
        pytest.fail("not interrupted")


def test_the_opencl_import_runs_inside_the_guard(monkeypatch):
    from napari_sparsedecon.backends.opencl import device

    seen = []

    @contextlib.contextmanager
    def spy():
        with deferred_signals():
            seen.append("enter")
            yield
            seen.append("pyopencl" in sys.modules)

    monkeypatch.setattr(signals, "deferred_signals", spy)
    with contextlib.suppress(device.OpenCLUnavailable):
        device._cl()
    assert seen[0] == "enter" and len(seen) == 2
