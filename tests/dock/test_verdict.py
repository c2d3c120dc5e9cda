"""The trust checks in words (dock.checks.verdict): what is wrong and what to change, in
one to three sentences, from assess()'s report; the numbers stay in report.summary()."""

import re

import numpy as np
from scipy import ndimage

from napari_sparsedecon.analysis.trust import Convergence, TrustReport, assess
from napari_sparsedecon.core.params import SparseParams
from napari_sparsedecon.dock.checks import problems, verdict


def _sentences(text):
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def _beads(offset=0.0):
    rng = np.random.default_rng(3)
    x = np.zeros((128, 128))
    x[rng.integers(8, 120, 60), rng.integers(8, 120, 60)] = 2000.0
    y = ndimage.gaussian_filter(x, 3.0 / 2.3548, mode="reflect") + rng.normal(0, 2.0, x.shape)
    return y + offset, x


def test_a_right_result_is_found_fine_in_one_sentence():
    y, x = _beads()
    rep = assess(y, x, SparseParams(psf_fwhm_px=3.0, background="none"), frc_check=False,
                 hallucination=False)
    text = verdict(rep)
    assert problems(rep) == []
    assert text.startswith("No problem found") and "noise level" in text
    assert len(_sentences(text)) == 1
    assert "rms" not in text and "sigma" not in text  # the numbers are the details'
    rep.residual_rms_over_noise = 2.8  # a sparse method's prior at its defaults
    assert verdict(rep).startswith("No problem found: the residual is what a prior leaves")


def test_a_wrong_psf_and_an_unmodelled_background_are_named_with_what_to_change():
    y, x = _beads()
    wide = assess(y, x, SparseParams(psf_fwhm_px=4.5, background="none"), frc_check=False,
                  hallucination=False)
    text = verdict(wide)
    assert wide.residual_rms_over_noise > 3
    assert "check the PSF width" in text and "residual layer" in text
    assert len(_sentences(text)) <= 3
    y, x = _beads(offset=10.0)
    bg = assess(y, x, SparseParams(psf_fwhm_px=3.0, background="none"), frc_check=False,
                hallucination=False)
    text = verdict(bg)
    assert "background of about 10" in text and "camera offset" in text
    assert "PSF" not in text  # the right PSF: only the background is named


def test_many_problems_keep_to_three_sentences_worst_first():
    rep = TrustReport(residual_offset=30.4, residual_rms_over_noise=3.5, noise_sigma=2.0,
                      hallucination_fraction=0.02, advice="lower sparsity or raise fidelity",
                      convergence={"sparse": Convergence(0.05, False, "")})
    found = problems(rep)
    assert len(found) == 4 and found[0].startswith("2% of the result is bright")
    assert "lower sparsity or raise fidelity" in found[0]
    assert "far from convergence" in found[3] and "more iterations" in found[3]
    text = verdict(rep)
    assert len(_sentences(text)) == 3 and text.endswith("2 more in the details.")
    assert text.startswith(found[0]) and found[1] in text


def test_nothing_checked_says_so():
    assert verdict(TrustReport()) == "No trust check was run."
