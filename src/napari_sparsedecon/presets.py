"""Microscope presets: the microscope's PSF for every method, and the paper
pipeline's (method ``"sparse"``) parameters.

A preset describes a microscope and sample: its PSF recipe (below) applies to every
method; its parameters are the paper pipeline's. With any other method a preset gives
the PSF only: that method's parameters stay its own (``sparse_psf``, ``rl_tv`` and
``rl`` choose their weights or stopping iteration per image by data splitting; a
published fidelity or sparsity is on the paper pipeline's scale and means nothing to
them). :func:`preset_method_params` says which values a preset sets for a method.

Two kinds:

- **published**: the eight settings the authors used for the paper's figures
  (Zhao et al., Nat. Biotechnol. 40, 606-617 (2022); table on page 4 of the
  user manual of their Sparse-SIM v1.0.3 release), named by microscope and
  sample; the table's values are kept as published (:attr:`Preset.published`)
  and converted to this project's conventions (:attr:`Preset.params`).
- **project**: starting points for widefield, confocal and Airyscan data
  chosen by this project from the manual's rules of thumb. They are *not*
  from the published table.

Each preset carries its PSF recipe: an in-focus Airy pattern from the
effective NA and the emission wavelength, made at the image's pixel size
(:func:`napari_sparsedecon.psf.airy.airy_psf`).

Conventions (see ``docs/presets.md``)
-------------------------------------
The published code's sparsity term enters the Fourier denominator as
``sparsity**2`` but the right-hand side as ``sparsity * (d - b)``; this
project solves the objective as written (``sparsity`` in both). At a fixed
point of the published iteration (``d = g``, ``b`` a subgradient of ``|g|``)
its g-step reads

    (fidelity + sparsity**2 - sparsity) g = fidelity f - H'(b) - sparsity b,

the optimality condition of the objective with fidelity ``fidelity +
sparsity**2 - sparsity`` and data ``a f``, ``a = fidelity / (fidelity +
sparsity**2 - sparsity)``. Substituting ``g = a h`` and dividing by ``a``
(the L1 terms are 1-homogeneous, the data term 2-homogeneous) turns it into
exactly this project's objective for ``h`` with the *same* fidelity and
sparsity. So :func:`from_published` keeps both values, and the published
result is ``a`` times ours: a global intensity factor that the published
max-1 normalisation removes (``tests/presets/test_presets.py`` checks this against
an independent implementation of the published iteration).

Nothing here imports Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Preset", "PublishedSparsity", "from_published", "get_preset", "list_presets",
           "preset_method_params", "preset_params", "preset_psf", "PRESETS",
           "PARAMS_METHOD"]

#: The method whose parameters the presets hold (for every other one: the PSF only).
PARAMS_METHOD = "sparse"

#: Reference of the published table.
TABLE_REFERENCE = ("Zhao et al., Nat. Biotechnol. 40, 606-617 (2022); parameter table, "
                   "Sparse-SIM v1.0.3 user manual p. 4")

#: The table's background column -> this project's background modes.
PUBLISHED_BACKGROUND = {"none": "none", "strong (HI)": "high/2", "weak (HI)": "high/2.5",
                        "strong (LI)": "low/1", "with background (LI)": "low/2",
                        "weak (LI)": "low/2.5"}
#: The table's up-sampling column -> (upsample, upsample_method).
PUBLISHED_UPSAMPLING = {"none": (1, "fourier"), "Fourier": (2, "fourier"),
                        "spatial": (2, "spatial")}
#: The table's deconvolution method -> this project's. "LR" is Biggs-Andrews
#: accelerated Richardson-Lucy; Landweber ("LW") is not implemented, so it runs
#: as accelerated RL too (noted on the preset).
PUBLISHED_DECONV = {"LR": "biggs", "LW": "biggs"}


class PublishedSparsity(NamedTuple):
    """Result of :func:`from_published`."""

    fidelity: float
    sparsity: float
    #: published result = intensity_scale x this project's result (before the
    #: max-1 normalisation that the published code applies).
    intensity_scale: float


def from_published(fidelity: float, sparsity: float) -> PublishedSparsity:
    """Convert the published code's (fidelity, sparsity) to this project's convention.

    Both values carry over unchanged; the published solution is this
    project's times ``fidelity / (fidelity + sparsity**2 - sparsity)`` (see
    the module docstring for the derivation). Raises a ValueError where the
    published iteration has no solution (``fidelity + sparsity**2 -
    sparsity <= 0``).

    Examples
    --------
    >>> from_published(150, 10)
    PublishedSparsity(fidelity=150.0, sparsity=10.0, intensity_scale=0.625)
    """
    fid, s = float(fidelity), float(sparsity)
    if not fid > 0:
        raise ValueError(f"fidelity must be > 0, got {fidelity!r}")
    if not s >= 0:
        raise ValueError(f"sparsity must be >= 0, got {sparsity!r}")
    den = fid + s * s - s
    if den <= 0:
        raise ValueError(f"fidelity {fid:g} with sparsity {s:g} has no solution in the "
                         f"published convention (fidelity + sparsity^2 - sparsity <= 0)")
    return PublishedSparsity(fid, s, fid / den)


@dataclass(frozen=True)
class Preset:
    """One microscope preset.

    ``params`` are in this project's conventions (every parameter of the
    ``"sparse"`` method except the PSF); ``published`` holds the table's row
    as published (empty for project presets).
    """

    name: str
    microscope: str
    sample: str
    source: str  # "published" or "project"
    reference: str
    effective_na: float
    wavelength_nm: float
    params: dict
    camera: str = ""
    pixel_nm: float | None = None  # the published data's pixel size (the PSF uses the image's)
    published: dict = field(default_factory=dict)
    notes: tuple = ()

    @property
    def psf_recipe(self) -> dict:
        """How the PSF is made: Airy from the effective NA and wavelength at the image's pixel
        size."""
        return {"model": "airy", "effective_na": self.effective_na,
                "wavelength_nm": self.wavelength_nm}

    @property
    def label(self) -> str:
        """One line for menus: name, microscope, sample, and where it comes from."""
        src = "published" if self.source == "published" else "project start, not published"
        return f"{self.name} ({self.microscope}, {self.sample}; {src})"


def _published(column, microscope, camera, sample, figure, pixel, emission, na, iters, fid,
               cont, spars, dec_iters, background, dec_method, upsampling) -> Preset:
    conv = from_published(fid, spars)
    up, up_method = PUBLISHED_UPSAMPLING[upsampling]
    params = {"fidelity": conv.fidelity, "sparsity": conv.sparsity, "continuity": float(cont),
              "iterations": iters, "background": PUBLISHED_BACKGROUND[background],
              "upsample": up, "upsample_method": up_method,
              "deconv_method": PUBLISHED_DECONV[dec_method], "deconv_iterations": dec_iters}
    notes = ["continuity acts on t/z and is unused for a single 2-D image"]
    if dec_method == "LW":
        notes.append("published deconvolution: Landweber (not implemented here); runs as "
                     "accelerated RL, which usually needs fewer iterations (5-15) than "
                     "Landweber (30-50): lower deconv_iterations if edges ring")
    if up == 2:
        notes.append("the PSF is made at the input pixel size and resampled to the x2 grid")
    name = f"{microscope}-{sample}".lower().replace(" ", "-")
    published = {"column": column, "microscope": microscope, "camera": camera,
                 "sample": sample, "figure": figure, "pixel_nm": pixel, "emission_nm": emission,
                 "effective_na": na, "sparse_iterations": iters, "fidelity": fid,
                 "continuity": cont, "sparsity": spars, "deconv_iterations": dec_iters,
                 "background": background, "deconv_method": dec_method,
                 "upsampling": upsampling}
    return Preset(name=name, microscope=microscope, camera=camera, sample=sample,
                  source="published",
                  reference=f"{TABLE_REFERENCE}, column {column} ({figure})",
                  effective_na=float(na), wavelength_nm=float(emission), pixel_nm=pixel,
                  params=params, published=published, notes=tuple(notes))


_PUBLISHED = (
    # column, microscope, camera, sample, figure, pixel nm, emission nm, effective NA,
    # sparse iterations, fidelity, continuity, sparsity, deconv iterations, background,
    # deconv method, up-sampling
    _published(1, "2D-SIM", "sCMOS", "actin", "Fig. 4a", 32.5, 488, 3, 100, 150, 1, 10, 30,
               "none", "LR", "none"),
    _published(2, "2D-SIM", "sCMOS", "LysoView", "Fig. 4m", 32.5, 488, 3, 100, 30, 0.1, 2.5,
               5, "strong (HI)", "LR", "none"),
    _published(3, "TIRF-SIM", "sCMOS", "caveolae", "Fig. 4j", 32.5, 488, 5, 100, 1000, 0.1,
               90, 50, "none", "LW", "Fourier"),
    _published(4, "SD-SIM", "sCMOS", "actin", "Ext. Fig. 6", 38.23, 488, 2.5, 100, 40, 0.4, 2,
               10, "weak (HI)", "LR", "none"),
    _published(5, "SD-SIM", "sCMOS", "CCP", "Ext. Fig. 6", 38.23, 561, 2.5, 100, 60, 0.6, 5,
               15, "strong (HI)", "LR", "none"),
    _published(6, "SD-SIM", "EMCCD", "peroxisome", "Fig. 6e", 94, 405, 2.5, 300, 40, 0.1, 0.5,
               10, "none", "LR", "spatial"),
    _published(7, "SD-SIM", "EMCCD", "tubulin", "Fig. 6e", 94, 488, 2.5, 300, 25, 0.1, 0.45,
               7, "none", "LR", "spatial"),
    _published(8, "SD-SIM", "EMCCD", "lysosome", "Fig. 6e", 94, 561, 2.5, 300, 25, 0.1, 0.4,
               7, "strong (LI)", "LR", "spatial"),
)

_PROJECT_REF = ("napari-sparsedecon starting point, NOT from the published table: chosen from "
                "the manual's rules of thumb (sparsity and continuity below fidelity / 10)")


def _project(name, microscope, na, wavelength, notes, **params) -> Preset:
    full = {"continuity": 0.5, "iterations": 100, "upsample": 1, "upsample_method": "fourier",
            "deconv_method": "biggs", **params}
    return Preset(name=name, microscope=microscope, sample="any", source="project",
                  reference=_PROJECT_REF, effective_na=na, wavelength_nm=wavelength,
                  params=full, notes=("not from the published table; a starting point to "
                                      "tune", *notes))


_PROJECT = (
    _project("widefield", "widefield", 1.4, 520,
             ("NA 1.4 oil objective, green emission; set the NA and wavelength of yours",
              "weak high-intensity background removes out-of-focus haze"),
             fidelity=100.0, sparsity=5.0, background="high/2.5", deconv_iterations=10),
    _project("confocal", "confocal", 1.6, 520,
             ("effective NA 1.6 = NA 1.4 x ~1.15 gain of a ~1 Airy-unit pinhole",
              "lower SNR than widefield: smaller fidelity; weak low-intensity background"),
             fidelity=50.0, sparsity=2.5, background="low/2.5", deconv_iterations=10),
    _project("airyscan", "Airyscan", 2.4, 520,
             ("effective NA 2.4 = NA 1.4 x ~1.7 Airyscan resolution gain",),
             fidelity=100.0, sparsity=5.0, background="none", deconv_iterations=10),
)

#: Every preset by name (published first, in table order).
PRESETS = {p.name: p for p in (*_PUBLISHED, *_PROJECT)}


def list_presets(source: str | None = None) -> list[Preset]:
    """All presets (``source="published"`` or ``"project"`` to filter), published first."""
    if source not in (None, "published", "project"):
        raise ValueError(f"source must be 'published', 'project' or None, got {source!r}")
    return [p for p in PRESETS.values() if source is None or p.source == source]


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (case-insensitive); unknown names raise a ValueError
    listing the known ones."""
    key = str(name).strip().lower()
    if key not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)} "
                         f"(napari-sparsedecon presets lists them with their values)")
    return PRESETS[key]


def preset_method_params(name: str | Preset, method: str) -> dict:
    """The parameter values a preset sets for ``method``: all of the paper pipeline's
    (but its PSF) for ``"sparse"``, none for any other method (the preset gives that
    method the PSF only, :func:`preset_psf`)."""
    p = name if isinstance(name, Preset) else get_preset(name)
    return dict(p.params) if method == PARAMS_METHOD else {}


def preset_note(name: str | Preset, method: str) -> str:
    """What a preset does with ``method``, in words (for the dock and the record)."""
    p = name if isinstance(name, Preset) else get_preset(name)
    psf = (f"Airy PSF of effective NA {p.effective_na:g} at {p.wavelength_nm:g} nm, made "
           f"at the image's pixel size")
    if method == PARAMS_METHOD:
        return f"sets the {psf} and every parameter"
    return (f"sets the {psf}; the parameters of {method!r} stay its own (the preset's "
            f"fidelity and sparsity are the paper pipeline's)")


def preset_psf(name: str | Preset, pixel_size_nm: float | None):
    """The preset's PSF at ``pixel_size_nm`` (the image's pixel size): a
    :class:`~napari_sparsedecon.psf.models.GeneratedPSF` (Airy)."""
    from .psf.airy import airy_psf

    p = name if isinstance(name, Preset) else get_preset(name)
    if pixel_size_nm is None:
        raise ValueError(
            f"preset {p.name!r} makes its PSF from the image's pixel size, which is not known: "
            f"pass pixel_size_nm=<nm per pixel> (the published data had {p.pixel_nm} nm), "
            f"set the layer's scale (napari) or the file's pixel size, or give psf=... "
            f"yourself" if p.pixel_nm else
            f"preset {p.name!r} makes its PSF from the image's pixel size, which is not known: "
            f"pass pixel_size_nm=<nm per pixel>, set the layer's scale (napari) or the file's "
            f"pixel size, or give psf=... yourself")
    return airy_psf(effective_na=p.effective_na, wavelength_nm=p.wavelength_nm,
                    pixel_nm=pixel_size_nm)


def preset_params(name: str, pixel_size_nm: float | None = None, **overrides) -> dict:
    """Keyword arguments for ``deconvolve(image, "sparse", **...)`` from a preset.

    Every parameter of the ``"sparse"`` method comes from the preset, and
    ``psf`` is its Airy PSF at ``pixel_size_nm`` (the image's pixel size in nm,
    required unless a ``psf`` array or ``psf_fwhm_px`` is among the
    overrides). ``overrides`` (explicit parameters) replace the preset's
    values and are validated; unknown names raise a ValueError.

    Examples
    --------
    >>> kw = preset_params("sd-sim-tubulin", 94, iterations=50)
    >>> kw["iterations"], kw["fidelity"], kw["upsample"], kw["psf"].shape
    (50, 25.0, 2, (9, 9))
    """
    from .algorithms.sparse import SCHEMA
    from .params import validate

    p = get_preset(name)
    own_psf = overrides.pop("psf", None)
    out = validate(SCHEMA, {**p.params, **overrides}, what="parameters of method 'sparse'")
    if own_psf is not None:
        out["psf"] = own_psf
    elif out["psf_fwhm_px"] is None:
        out["psf"] = preset_psf(p, pixel_size_nm).data
    return out
