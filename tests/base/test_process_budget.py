"""``--memory-budget`` covers the whole process (issue 25 item 6: a 256 MB budget on a
200 MB stack peaked at 313 MiB, the interpreter and its libraries uncounted): what the
process already holds is taken off before the data are planned."""

import numpy as np
import pytest

from napari_sparsedecon.base import resources
from napari_sparsedecon.cli import main
from napari_sparsedecon.io.tiff import write_tiff
from napari_sparsedecon.largedata import batch


def test_process_rss_is_what_the_interpreter_holds():
    """The same figure as psutil's resident set size (an allocation need not raise it in
    a long-lived process: freed pages are reused)."""
    psutil = pytest.importorskip("psutil")
    held = resources.process_rss()
    ref = psutil.Process().memory_info().rss
    assert 20 * 2**20 < held < 64 * 2**30  # numpy and pytest are loaded here
    assert abs(held - ref) <= 0.05 * ref + 8 * 2**20


def test_the_data_get_the_budget_less_what_the_process_holds(monkeypatch):
    monkeypatch.setattr(resources, "process_rss", lambda: 100 * 2**20)
    room = resources.data_budget(512 * 2**20)
    assert room == int(resources.BUDGET_MARGIN * 512 * 2**20) - 100 * 2**20
    assert resources.data_budget(None) is None  # the default budget is unchanged
    with pytest.raises(MemoryError, match=r"holds itself .*at least 123MiB"):
        resources.data_budget(110 * 2**20)


def test_a_budget_below_what_the_program_needs_is_a_usage_error(tmp_path, capsys):
    src = tmp_path / "a.tif"
    write_tiff(src, np.random.default_rng(0).poisson(30, (32, 32)).astype(np.uint16))
    code = main(["run", str(src), "--method", "sparse", "--psf-fwhm-px", "2",
                 "--memory-budget", "40MiB", "-o", str(tmp_path / "o.tif")])
    assert code == 2
    assert "this program holds itself" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


def test_the_run_plans_tiles_within_the_budget_less_the_process(tmp_path, monkeypatch,
                                                                 capsys):
    """The dry run plans with what is left: the same budget gives smaller tiles when the
    process holds more."""
    src = tmp_path / "a.tif"
    write_tiff(src, np.random.default_rng(0).poisson(30, (4, 600, 600)).astype(np.uint16),
               axes="TYX")
    seen = []
    real = batch.dry_run_lines

    def spy(jobs, params, **kw):
        seen.append(kw["memory_budget"])
        return real(jobs, params, **kw)

    monkeypatch.setattr(batch, "dry_run_lines", spy)
    monkeypatch.setattr(resources, "process_rss", lambda: 50 * 2**20)
    assert main(["run", str(src), "--method", "sparse", "--psf-fwhm-px", "2",
                 "--memory-budget", "256MiB", "--dry-run"]) == 0
    assert seen == [int(resources.BUDGET_MARGIN * 256 * 2**20) - 50 * 2**20]
