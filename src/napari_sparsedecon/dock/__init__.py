"""The deconvolution dock's state, Qt-free: method, parameters, PSF source, preset,
parameter files, jobs (whole-layer run, ROI preview, sweep, tiled run, Suggest) and the
result's metadata record. The napari dock (``_widgets/deconv.py``) is a thin view that
subscribes to :class:`DeconvModel`'s events; tests drive the model without napari.
"""

from .model import DeconvModel, ImageInfo, Signal
from .psf_source import PSF_SOURCES, PSFChoice, ResolvedPSF, ViewChoice, resolve_psf

__all__ = ["DeconvModel", "ImageInfo", "PSFChoice", "PSF_SOURCES", "ResolvedPSF", "Signal",
           "ViewChoice", "resolve_psf"]
