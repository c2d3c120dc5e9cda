"""Files through napari itself: open without a reader dialog, calibrated once a dock is
open; File > Save's writers keep the calibration."""

import numpy as np
import pytest
import tifffile

pytest.importorskip("napari")

from napari_sparsedecon._widgets.deconv import SparseDeconWidget, layer_pixel_nm  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def fiji_tif(tmp_path):
    p = tmp_path / "fiji.tif"
    tifffile.imwrite(p, np.ones((3, 24, 32), np.uint16), imagej=True,
                     resolution=(1 / 0.065, 1 / 0.065),
                     metadata={"axes": "ZYX", "unit": "um", "spacing": 0.2})
    return p


def test_tiff_opens_without_reader_choice_and_docks_calibrate_it(make_napari_viewer,
                                                                  fiji_tif):
    from napari.plugins import _npe2
    from napari.settings import get_settings

    viewer = make_napari_viewer()
    get_settings().plugins.extension2reader = {}  # a first open: no remembered choice
    # napari shows "Choose reader" exactly when more than one plugin claims the file
    assert list(_npe2.get_readers(str(fiji_tif))) == ["napari"]
    before, = viewer.open(str(fiji_tif))  # raises MultipleReaderError if ambiguous
    viewer.window.add_dock_widget(SparseDeconWidget(viewer))
    assert before.scale == pytest.approx([0.2, 0.065, 0.065])
    assert [str(u) for u in before.units] == ["micrometer"] * 3
    assert layer_pixel_nm(before) == pytest.approx(65.0)
    after, = viewer.open(str(fiji_tif))  # with a dock open: calibrated as it arrives
    assert after.scale == pytest.approx([0.2, 0.065, 0.065])
    plain = viewer.add_image(np.zeros((8, 8)))  # no file: left alone
    assert plain.scale == pytest.approx([1, 1])


def test_save_offers_the_plugin_writers_and_keeps_calibration(make_napari_viewer, tmp_path):
    from napari.plugins import _npe2

    viewer = make_napari_viewer()
    layer = viewer.add_image(np.ones((3, 16, 16), np.float32), name="GFP",
                             scale=(0.2, 0.065, 0.065), units=("um",) * 3,
                             axis_labels=("z", "y", "x"))
    names, _ = _npe2.file_extensions_string_for_layers([layer])
    for entry in ("OME-TIFF (*.ome.tif *.ome.tiff)", "TIFF (ImageJ, with scale)",
                  "OME-Zarr (*.ome.zarr *.zarr)"):
        assert entry in names
    out = tmp_path / "saved.ome.tif"
    viewer.layers.save(str(out), selected=False)  # the longest extension: our OME writer
    with tifffile.TiffFile(out) as tf:
        assert tf.is_ome and not tf.is_imagej
        px = tifffile.xml2dict(tf.ome_metadata)["OME"]["Image"]["Pixels"]
    assert px["PhysicalSizeX"] == pytest.approx(0.065) and px["PhysicalSizeXUnit"] == "µm"
    assert px["PhysicalSizeZ"] == pytest.approx(0.2) and px["Channel"]["Name"] == "GFP"
    viewer.layers.save(str(tmp_path / "saved.zarr"), plugin="napari-sparsedecon")
    back, = viewer.open(str(tmp_path / "saved.zarr"), plugin="napari-sparsedecon")
    assert back.scale == pytest.approx([0.2, 0.065, 0.065])
    assert back.name.startswith("GFP")  # "GFP [1]": napari keeps layer names unique
