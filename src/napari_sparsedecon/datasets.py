"""Bundled data: the real 2-D Airyscan image and the synthetic phantom."""

from __future__ import annotations

from importlib import resources

import numpy as np

#: PSF setting used with the bundled C. elegans image: a Gaussian of sigma
#: 1.5 px (FWHM about 3.5 px), the value its original package demonstrates.
CELEGANS_PSF_FWHM_PX = 3.53


def celegans() -> np.ndarray:
    """Real 2-D Airyscan image of a C. elegans intestine, (316, 316) float32.

    From the sdeconv package (BSD 3-Clause, see ``data/LICENSE-sdeconv-data.txt``).
    """
    import tifffile

    with resources.as_file(resources.files(__package__) / "data" / "celegans.tif") as p:
        return tifffile.imread(p).astype(np.float32)


def celegans_path():
    return resources.files(__package__) / "data" / "celegans.tif"
