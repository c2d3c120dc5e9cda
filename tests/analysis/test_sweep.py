import numpy as np
import pytest

from napari_sparsedecon.analysis.sweep import iter_sweep, montage, sweep, value_range
from napari_sparsedecon.core.params import SparseParams
from napari_sparsedecon.core.phantom import make_phantom

ROI = make_phantom((160, 160), seed=0).noisy[60:124, 60:124].copy()
BASE = SparseParams(psf_fwhm_px=3.44, iterations=20, deconv_iterations=5)


def test_value_range():
    assert value_range(1, 100, 3, "log") == pytest.approx([1, 10, 100])
    assert value_range(0, 1, 3) == pytest.approx([0, 0.5, 1])
    with pytest.raises(ValueError):
        value_range(0, 1, 3, "log")


def test_two_parameter_sweep_order_montage_and_scores():
    grid = {"fidelity": [50.0, 150.0], "sparsity": [1.0, 5.0, 15.0]}
    seen = []
    gen = iter_sweep(ROI, BASE, grid)
    while True:
        try:
            seen.append(next(gen))
        except StopIteration as stop:
            tiles = stop.value
            break
    assert [p.iteration for p in seen] == [1, 2, 3, 4, 5, 6]
    # results as they finish, each in its own typed record, in product order
    assert all(p.estimate is None and p.tile.image.shape == ROI.shape for p in seen)
    assert [p.tile.values for p in seen] == [t.values for t in tiles]
    assert [p.fraction for p in seen] == pytest.approx([k / 6 for k in range(1, 7)])
    assert tiles[1].values == {"fidelity": 50.0, "sparsity": 5.0}
    img, labels = montage(tiles, grid)
    assert img.shape == (2 * 64 + 2, 3 * 64 + 4)
    assert labels[5] == ((66, 132), "fidelity 150, sparsity 15")
    np.testing.assert_array_equal(img[66:130, 132:196], tiles[5].image)
    # more sparsity -> fewer bright pixels; all scores finite
    for row in (0, 1):
        sp = [tiles[row * 3 + k].scores["sparsity"] for k in range(3)]
        assert sp[0] >= sp[1] >= sp[2]
    assert all(np.isfinite(list(t.scores.values())).all() for t in tiles)


def test_bad_sweeps():
    with pytest.raises(ValueError, match="cannot sweep"):
        sweep(ROI, BASE, {"background": ["none"]})
    with pytest.raises(ValueError, match="one or two"):
        sweep(ROI, BASE, {"fidelity": [1.0], "sparsity": [1.0], "continuity": [1.0]})
    with pytest.raises(ValueError):
        sweep(ROI, BASE, {"fidelity": [-1.0]})


def test_one_parameter_integer_sweep():
    tiles = sweep(ROI, BASE, {"deconv_iterations": [0, 3.0]})
    assert [t.values["deconv_iterations"] for t in tiles] == [0, 3]
    img, _ = montage(tiles, {"deconv_iterations": [0, 3]})
    assert img.shape == (2 * 64 + 2, 64)


def test_sweep_without_deconvolution_needs_no_psf():
    base = SparseParams(iterations=10, deconv_method="none")
    tiles = sweep(ROI, base, {"sparsity": [1.0, 5.0]})
    assert len(tiles) == 2 and "residual" not in tiles[0].scores
    tiles = sweep(ROI, SparseParams(iterations=10), {"deconv_iterations": [0]})
    assert tiles[0].values == {"deconv_iterations": 0}


def test_parse_values_lists_ranges_and_errors():
    from napari_sparsedecon.analysis.sweep import parse_values

    assert parse_values("50, 100,200") == [50.0, 100.0, 200.0]
    assert parse_values("10:1000:3 log") == pytest.approx([10.0, 100.0, 1000.0])
    assert parse_values("0:1:3") == [0.0, 0.5, 1.0]
    for bad in ("", "ten", "1:2", "1:10:3 cubic", "0:10:3 log"):
        with pytest.raises(ValueError):
            parse_values(bad)


def test_tile_at_maps_montage_pixels_to_tiles():
    from napari_sparsedecon.analysis.sweep import tile_at

    grid = {"fidelity": [1, 2], "sparsity": [1, 2, 3]}
    assert tile_at(grid, (10, 20), (5, 5)) == 0
    assert tile_at(grid, (10, 20), (15, 50)) == 5  # row 1, column 2
    assert tile_at(grid, (10, 20), (10.5, 5)) is None  # the gap
    assert tile_at(grid, (10, 20), (40, 5)) is None  # outside
