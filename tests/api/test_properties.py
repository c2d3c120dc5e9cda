"""Property-based tests (hypothesis) over the public API and the parameter files.

The one property, for every call: either a clean ``ValueError`` / ``TypeError``
(or a ``MemoryError`` that states the size it would need) whose message names
the offending parameter, or a finite float32 result of the right shape; and the
caller's input is never changed.

The example count is bounded (``NSD_HYPOTHESIS_EXAMPLES`` scales it, default 1)
and derandomised so CI is repeatable; set ``NSD_HYPOTHESIS_RANDOM=1`` to explore
new examples locally. Arrays are small (<= 24 x 24, a few planes) and iteration
counts few, so the module runs in well under a minute on two cores.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import napari_sparsedecon as nsd  # noqa: E402
from napari_sparsedecon import cli  # noqa: E402
from napari_sparsedecon.algorithms.registry import get_method  # noqa: E402
from napari_sparsedecon.algorithms.sparse import SCHEMA as SPARSE_SCHEMA  # noqa: E402
from napari_sparsedecon.io.tiff import write_tiff  # noqa: E402

_SCALE = float(os.environ.get("NSD_HYPOTHESIS_EXAMPLES", "1"))
_RANDOM = os.environ.get("NSD_HYPOTHESIS_RANDOM") == "1"
_PHASES = tuple(p for p in hypothesis.Phase  # NSD_HYPOTHESIS_NO_SHRINK=1: report as found
                if p is not hypothesis.Phase.shrink
                or os.environ.get("NSD_HYPOTHESIS_NO_SHRINK") != "1")


def _settings(n: int):
    return settings(max_examples=max(1, int(n * _SCALE)), deadline=None,
                    derandomize=not _RANDOM, database=None, phases=_PHASES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


# -- the property --------------------------------------------------------------
GUARD = "Change one of the values given:"  # core.validation.check_result's refusal

def _check_error(err: BaseException, problems) -> None:
    """A refusal must be a ValueError/TypeError (or a sized MemoryError) whose message
    names one of the ``problems`` that the example really has (fragments such as a
    parameter's name or "NaN/Inf"); an example with no known problem must not be
    refused at all."""
    msg = str(err)
    if isinstance(err, MemoryError):
        assert "GiB" in msg, f"MemoryError without the size it needs: {msg!r}"
        return
    assert isinstance(err, ValueError | TypeError), f"raw {type(err).__name__}: {msg!r}"
    if GUARD in msg:  # the result guard: in-range values that together run away; it
        return        # names every value given (tests/base/test_result_guard.py)
    assert problems, f"a valid example was refused: {type(err).__name__}: {msg!r}"
    said = msg.split("; known:")[0]  # (the list of known names names every parameter)
    assert any(p in said for p in problems), \
        f"message names none of the example's problems {sorted(problems)}: {msg!r}"


def _check_result(out, shape) -> None:
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float32, out.dtype
    assert out.shape == tuple(shape), (out.shape, shape)
    assert np.isfinite(out).all(), "non-finite values in the result"


class Outcomes:
    """Results and refusals over a property's examples: a property whose every example
    is refused tests nothing, so ``check`` wants some results."""

    def __init__(self):
        self.results, self.refusals = 0, []

    def call(self, fn, problems, args_to_keep=()):
        """Run ``fn``; return its result or None after checking the refusal against the
        example's ``problems``. The arrays in ``args_to_keep`` must be unchanged."""
        before = [np.array(a, copy=True) for a in args_to_keep]
        try:
            out = fn()
        except (ValueError, TypeError, MemoryError) as err:
            _check_error(err, problems)
            self.refusals.append(str(err)[:80])
            out = None
        else:
            self.results += 1
        for a, b in zip(args_to_keep, before, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert np.array_equal(a, b, equal_nan=True), "the input was modified"
        return out

    def check(self, min_results=1):
        if _RANDOM:  # exploring: new examples may all be refused; the CI run may not
            return
        assert self.results >= min_results, (
            f"{self.results} example(s) reached a result ({len(self.refusals)} refused, "
            f"e.g. {sorted(set(self.refusals))[:12]})")


def image_problems(image) -> set:
    """What a refusal of this image may say (the image's real faults)."""
    a = np.asarray(image)
    problems = set()
    with np.errstate(all="ignore"):
        if not np.isfinite(a).all():
            problems.add("NaN/Inf")
        elif a.dtype.kind == "f" and np.abs(a).max() > np.finfo(np.float32).max:
            problems.add("beyond float32")
        elif not a.any():
            problems.add("all zero")
    return problems


def psf_problems(psf, image) -> set:
    """What a refusal of this PSF (with this image) may say: its real faults."""
    psf, image = np.asarray(psf), np.asarray(image)
    problems = set()
    if psf.ndim > image.ndim:
        problems.add(f"psf has {psf.ndim} dimensions")
    if not np.isfinite(psf).all():
        problems.add("psf holds NaN/Inf")
        return problems
    if psf.min() < 0:
        problems.add("psf has negative values")
    if any(n % 2 == 0 for n in psf.shape):
        problems.add("even along axis")
    if any(p > i for p, i in zip(psf.shape[::-1], image.shape[::-1], strict=False)):
        problems.add("larger than the image")
    if abs(float(psf.astype(np.float32).sum(dtype=np.float64)) - 1) > 1e-3:
        problems.add("psf sums to")
    return problems


def value_problems(kw, image) -> set:
    """Parameters valid on their own but not for this image: ``axis`` (0 only for 2-D;
    on 3-D data the planes it leaves need 4x4 pixels), three FWHMs for a 2-D image, a
    FWHM whose Gaussian PSF is larger than the image."""
    shape, problems = np.shape(image), set()
    axis = kw.get("axis", 0)
    if isinstance(axis, int) and not isinstance(axis, bool):
        if len(shape) == 2 and axis != 0:
            problems.add("axis")
        elif len(shape) == 3 and -3 <= axis <= 2:
            planes = [n for i, n in enumerate(shape) if i != axis % 3]
            if min(planes) < 4:
                problems.add("axis")
    fwhm = kw.get("psf_fwhm_px")
    vals = tuple(fwhm) if isinstance(fwhm, tuple | list) else (fwhm,)
    if 1 <= len(vals) <= 3 and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)
            and math.isfinite(v) and v > 0 for v in vals):
        vals = tuple(float(v) for v in vals)
        if len(vals) == 3 and len(shape) == 2:
            problems.add("psf_fwhm_px")
        elif max(vals) > max(shape):
            problems.add("wider than the image")
        else:
            try:
                psf = nsd.gaussian_psf(None, vals if len(vals) > 1 else vals[0])
            except ValueError:  # (under 0.01 px: refused, naming the FWHM)
                problems.add("fwhm_px")
            else:
                problems |= psf_problems(psf, image)
    if kw.get("background", "none") not in ("none", None, 0.0):  # (a mode or a level)
        problems.add("nothing is left after background subtraction")
    offset, gain = kw.get("offset", 0.0), kw.get("gain")
    gain = gain if isinstance(gain, float) and gain > 0 else 1.0  # (else estimated)
    if isinstance(offset, float):
        with np.errstate(all="ignore"):
            electrons = float(np.max(np.abs(np.asarray(image, float) - offset))) / gain
        if electrons > 1e11:  # beyond the camera model's range: name what was given
            problems.add(f"offset {offset:.3g} ADU" if offset else "gain")
        elif 0 < electrons < 1e-5:  # far below one photon: the photon methods refuse it
            problems.add("photo-electrons")
    return problems


# -- strategies ----------------------------------------------------------------
_DTYPES = ("float32", "float64", "float16", "uint8", "uint16", "int16", "int32")


@st.composite
def images(draw, max_side: int = 24, max_planes: int = 4):
    """Small 2-D or 3-D images of many dtypes and magnitudes (noise, flat, one spike,
    negative offsets, all zero, NaN/Inf)."""
    ndim = draw(st.sampled_from((2, 3)))
    yx = (draw(st.integers(4, max_side)), draw(st.integers(4, max_side)))
    shape = yx if ndim == 2 else (draw(st.integers(2, max_planes)), *yx)
    dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(("poisson", "poisson", "flat", "spike", "offset", "zero",
                                 "nonfinite")))
    lam = draw(st.floats(0.5, 500))
    if kind == "flat":
        a = np.full(shape, lam)
    elif kind == "spike":
        a = np.zeros(shape)
        a[tuple(n // 2 for n in shape)] = lam
    elif kind == "zero":
        a = np.zeros(shape)
    else:
        a = rng.poisson(lam, shape).astype(np.float64)
        if kind == "offset":
            a -= lam + rng.normal(0, 3, shape)
    if dtype.kind == "f":
        hi = {2: 4, 4: 38, 8: 60}[dtype.itemsize]
        a = a * 10.0 ** draw(st.integers(-30, hi))
        if kind == "nonfinite":
            a.flat[draw(st.integers(0, a.size - 1))] = draw(
                st.sampled_from((np.nan, np.inf, -np.inf)))
        with np.errstate(over="ignore"):
            return a.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(a), info.min, info.max).astype(dtype)


#: Values no parameter accepts, or only some: wrong types, non-finite, out of range.
WILD = st.one_of(
    st.none(), st.booleans(), st.text(max_size=3), st.sampled_from(
        (float("nan"), float("inf"), -float("inf"), -1, -1.5, 0, 0.0, 10**9, 2**70, 1e300,
         -1e300, 1e-300, 2.5, "3", "none", "false", b"1", (), (1, 2, 3, 4), [2.0, -1.0],
         np.float32(1.0), np.int64(3), np.nan, np.bool_(True), {"a": 1})),
    st.lists(st.integers(-3, 5), max_size=4))


def _valid(p, *, small_iterations=True):
    """Values inside a parameter's declared range (iterations kept few for speed)."""
    if p.kind == "bool":
        return st.booleans()
    if p.kind == "choice":
        return st.sampled_from(p.choices)
    if p.kind == "int":
        lo = int(p.low) if p.low is not None else -3
        if small_iterations and "iterations" in p.name:
            return st.integers(max(lo, 0 if p.low == 0 else 1), 3)
        hi = int(p.high) if p.high is not None else lo + 5
        return st.integers(lo, min(hi, lo + 5))
    if p.name == "psf_fwhm_px":  # large PSFs are slow to build and refused anyway
        one = st.floats(0.5, 5.0)
        return st.one_of(one, st.lists(one, min_size=1, max_size=3).map(tuple))
    lo = p.low if p.low is not None else -1e6
    hi = p.high if p.high is not None else 1e6
    fl = st.floats(lo, hi, exclude_min=p.low_open, allow_nan=False, allow_infinity=False)
    # the declared range, its low end, and values near the default (what users give)
    near = [st.floats(lo, min(hi, lo + 3), exclude_min=p.low_open)] \
        if math.isfinite(lo) else []
    if isinstance(p.default, float) and p.default > 0:
        near.append(st.floats(max(lo, p.default / 10), min(hi, p.default * 10),
                              exclude_min=p.low_open))
    elif p.default == 0 and lo < 1 and hi > -1:  # a zero default (an offset): near zero,
        # not only the range's ends (an offset of -1e12 is valid and always refused)
        near.append(st.floats(max(lo, -1.0), min(hi, 1.0), exclude_min=p.low_open))
    return st.one_of(fl, *near)


def _param_values(schema, draw, *, force=("iterations", "deconv_iterations")):
    """(values, wild): a dict of some of the schema's parameters, all valid but (in about
    a third of the examples) the one named ``wild`` (else None), so that most examples reach a
    result and the rest test one refusal each. ``force`` names are always set (no
    100-iteration defaults here)."""
    chosen = [p for p in schema if p.name in force or draw(st.booleans())]
    wild = draw(st.sampled_from([p.name for p in chosen])) \
        if chosen and draw(st.integers(0, 2)) == 0 else None
    return {p.name: draw(WILD if p.name == wild else _valid(p)) for p in chosen}, wild


def _small_image(draw, *, ndim=None):
    ndim = ndim or draw(st.sampled_from((2, 3)))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    shape = (16, 16) if ndim == 2 else (3, 12, 12)
    return rng.poisson(draw(st.floats(2, 300)), shape).astype(np.float32)


def _expected_shape(method, image, kw):
    if method == "sparse" and kw.get("upsample") == 2:
        return (*image.shape[:-2], 2 * image.shape[-2], 2 * image.shape[-1])
    return image.shape


# -- deconvolve: every registered method --------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("method", nsd.methods())
def test_deconvolve_parameters(method):
    m = get_method(method)
    seen = Outcomes()

    @_settings(40)
    @given(data=st.data())
    def prop(data):
        image = _small_image(data.draw)
        kw, wild = _param_values(m.schema, data.draw)
        if not m.psf_in_schema:
            good = data.draw(st.integers(0, 3)) > 0
            kw_psf = {"psf_fwhm_px": data.draw(_valid(SPARSE_SCHEMA[9]) if good else WILD)}
            if not good:
                wild = {wild, "psf_fwhm_px"} - {None}
        elif "psf_fwhm_px" not in kw:
            kw_psf = {"psf_fwhm_px": 2.0}
        else:
            kw_psf = {}
        problems = {wild} if isinstance(wild, str) else set(wild or ())
        problems |= value_problems({**kw, **kw_psf}, image)
        out = seen.call(lambda: nsd.deconvolve(image, method, backend="numpy", **kw_psf,
                                               **kw), problems, [image])
        if out is not None:
            _check_result(out, _expected_shape(method, image, kw))

    prop()
    seen.check()


@pytest.mark.slow
@pytest.mark.parametrize("method", nsd.methods())
def test_deconvolve_images(method):
    seen = Outcomes()
    kw = {"iterations": 2}
    if method == "sparse":
        kw["deconv_iterations"] = 2

    @_settings(20)
    @given(image=images())
    def prop(image):
        # (the PSF made from the FWHM may be larger than the smallest images)
        problems = image_problems(image) | psf_problems(nsd.gaussian_psf(None, 1.5), image)
        out = seen.call(lambda: nsd.deconvolve(image, method, backend="numpy",
                                               psf_fwhm_px=1.5, **kw), problems, [image])
        if out is not None:
            _check_result(out, image.shape)

    prop()
    seen.check()


# -- sparse_deconvolve with PSF arrays ------------------------------------------
@st.composite
def psfs(draw, ndim=2):
    """Good and bad PSF arrays: Gaussian, even-sized, negative, unnormalised, NaN, 3-D."""
    kind = draw(st.sampled_from(("gauss", "gauss", "even", "negative", "unnormalised", "nan",
                                 "int", "3d", "big")))
    if kind == "3d":
        return nsd.gaussian_psf((3, 5, 5), 1.5)
    if kind == "big":
        return nsd.gaussian_psf((41, 41), 3.0)
    size = draw(st.sampled_from((1, 3, 5, 7)))
    p = nsd.gaussian_psf((size, size), draw(st.floats(0.5, 4.0)))
    if kind == "even":
        p = np.pad(p, ((0, 1), (0, 1)))
    elif kind == "negative":
        p = p - p.max() / 2
    elif kind == "unnormalised":
        p = p * draw(st.sampled_from((0.5, 2.0, 1e6)))
    elif kind == "nan":
        p = p.copy()
        p.flat[0] = np.nan
    elif kind == "int":
        p = (p * 100).astype(np.int32)
    return p


def test_sparse_deconvolve():
    seen = Outcomes()

    @_settings(30)
    @given(data=st.data())
    def prop(data):
        image = data.draw(images(max_side=20)) if data.draw(st.booleans()) \
            else _small_image(data.draw)
        psf = data.draw(psfs())
        kw, wild = _param_values(SPARSE_SCHEMA, data.draw)
        kw.pop("psf_fwhm_px", None)
        problems = (image_problems(image) | psf_problems(psf, image) | ({wild} - {None})
                    | value_problems(kw, image))
        if data.draw(st.booleans()):
            kw["clip_negative"] = data.draw(st.one_of(st.booleans(), WILD))
            if not isinstance(kw["clip_negative"], bool):
                problems.add("clip_negative")
        if kw.get("clip_negative") is True and not np.asarray(image).max() > 0:
            problems.add("all zero")  # nothing left once the negative values are clipped
        out = seen.call(lambda: nsd.sparse_deconvolve(image, psf=psf, **kw), problems,
                        [image, psf])
        if out is not None:
            _check_result(out, _expected_shape("sparse", image, kw))

    prop()
    seen.check()


# -- richardson_lucy --------------------------------------------------------------
def test_richardson_lucy():
    seen = Outcomes()

    @_settings(30)
    @given(data=st.data())
    def prop(data):
        image = data.draw(images(max_side=20))
        psf = data.draw(psfs())
        problems = image_problems(image) | psf_problems(psf, image)
        kw = {"iterations": data.draw(st.one_of(st.integers(1, 3), WILD))}
        if data.draw(st.booleans()):
            kw["acceleration"] = data.draw(st.one_of(st.sampled_from((None, "biggs")), WILD))
        if data.draw(st.booleans()):
            kw["background"] = data.draw(st.one_of(st.floats(0, 100), WILD))
        ok = {"iterations": lambda v: type(v) is int and 1 <= v <= 3,
              "acceleration": lambda v: v in (None, "biggs"),
              "background": lambda v: isinstance(v, float) and 0 <= v <= 100}
        problems |= {k for k, v in kw.items() if not ok[k](v)}
        out = seen.call(lambda: nsd.richardson_lucy(image, psf, **kw), problems,
                        [image, psf])
        if out is not None:
            _check_result(out, image.shape)

    prop()
    seen.check()


# -- gaussian_psf -----------------------------------------------------------------
_SIDE = st.one_of(st.integers(1, 31), st.sampled_from((0, -3, 2, 10**6, 2**40)))


def test_gaussian_psf():
    seen = Outcomes()

    @_settings(60)
    @given(shape=st.one_of(st.none(), st.lists(_SIDE, min_size=1, max_size=4).map(tuple),
                           WILD),
           fwhm=st.one_of(st.floats(0.1, 12), st.lists(st.floats(0.1, 12), min_size=1,
                                                        max_size=4).map(tuple),
                          st.sampled_from((1e4, 1e6, 1e12)), WILD),
           ndim=st.one_of(st.none(), st.sampled_from((2, 3)), WILD))
    def prop(shape, fwhm, ndim):
        out = seen.call(lambda: nsd.gaussian_psf(shape, fwhm, ndim=ndim),
                        {"shape", "fwhm_px", "ndim", "FWHM"})
        if out is not None:
            assert out.dtype == np.float32 and out.ndim in (2, 3)
            assert all(n % 2 == 1 for n in out.shape)
            if shape is not None:
                assert out.shape == tuple(int(s) for s in shape)
            assert np.isfinite(out).all() and out.min() >= 0
            assert abs(float(out.sum(dtype=np.float64)) - 1) < 1e-3

    prop()
    seen.check()


# -- parameter files (`run --params FILE`, as the widget saves them) -------------
_JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**12),
                       st.floats(allow_nan=False), st.text(max_size=4),
                       st.sampled_from(("rl", "biggs", "none", "low/2", "fourier")))
_JSON_VALUE = st.one_of(_JSON_LEAF, st.lists(_JSON_LEAF, max_size=4))


@st.composite
def param_files(draw, wild_rate=0.3):
    """(text, suspects, has_psf) of a parameter file: mostly a JSON object over the
    schema, with wild values and unknown keys; sometimes not an object, or not JSON at
    all (never with ``wild_rate=0``: valid files only). ``suspects`` are the keys a
    refusal may name (those given a wild value, unknown ones), or None for a file that
    is no JSON object (the refusal names the file)."""
    kind = draw(st.sampled_from(("object", "object", "object", "object", "other_json",
                                 "not_json"))) if wild_rate else "object"
    if kind == "not_json":
        return draw(st.sampled_from(("", "{", "iterations: 3", "{'iterations': 3}",
                                     "NaN", "\x00\x01", "[1, 2"))), None, False
    if kind == "other_json":
        v = draw(_JSON_VALUE)
        return json.dumps(v), (None if not isinstance(v, dict) else set()), False
    d, suspects = {}, set()
    for p in SPARSE_SCHEMA:
        if p.name in ("iterations", "deconv_iterations") or draw(st.booleans()):
            wild = draw(st.floats(0, 1)) < wild_rate
            d[p.name] = draw(_JSON_VALUE if wild else _valid(p))
            if wild:
                suspects.add(p.name)
    if wild_rate and draw(st.floats(0, 1)) < 0.1:
        key = draw(st.sampled_from(("iteration", "psf", "method", "")))
        d[key] = 1
        suspects.add(f"'{key}'")
    text = json.dumps(d, allow_nan=True)
    if wild_rate and draw(st.floats(0, 1)) < 0.1:  # non-standard JSON that Python's json reads
        text = text.replace("}", ', "fidelity": NaN}') if d else '{"fidelity": Infinity}'
        suspects.add("fidelity")
    has_psf = "psf_fwhm_px" in d and "psf_fwhm_px" not in suspects
    return text, suspects, has_psf


@pytest.fixture(scope="module")
def small_tif(tmp_path_factory):
    p = tmp_path_factory.mktemp("props") / "in.tif"
    write_tiff(p, np.random.default_rng(3).poisson(30, (16, 16)).astype(np.float32),
               scale=(0.1, 0.1))
    return p


def _run_cli(argv, capsys):
    capsys.readouterr()
    rc = cli.main(argv)
    return rc, capsys.readouterr().err


def _check_file_refusal(err, pfile, suspects, psf_given):
    """A refused file: the message names the file and what is wrong with it."""
    assert err.startswith("napari-sparsedecon: error:"), err
    said = err.split("; known:")[0]
    if suspects is None:  # not a JSON object at all
        assert str(pfile) in said, err
        return
    if not suspects and not psf_given:
        assert "psf" in said, err  # the one fault: no PSF given anywhere
        return
    assert suspects or not psf_given, f"a valid file was refused: {err}"
    assert str(pfile) in said or "psf" in said, err
    assert any(k in said for k in suspects | ({"psf"} if not psf_given else set())), \
        f"names none of {sorted(suspects)}: {err}"


@pytest.mark.slow
def test_params_file_is_validated_up_front(small_tif, capsys):
    seen = Outcomes()

    @_settings(60)
    @given(spec=st.one_of(param_files(), param_files(wild_rate=0)), psf_flag=st.booleans())
    def prop(spec, psf_flag):
        text, suspects, has_psf = spec
        with tempfile.TemporaryDirectory() as d:
            pfile = Path(d) / "params.json"
            pfile.write_text(text, encoding="utf-8")
            before = pfile.read_bytes(), small_tif.read_bytes()
            argv = ["run", "--method", "sparse", str(small_tif), "--params", str(pfile),
                    "--dry-run", "--out-dir", d] + (["--psf-fwhm-px", "2"] if psf_flag else [])
            rc, err = _run_cli(argv, capsys)
            assert (pfile.read_bytes(), small_tif.read_bytes()) == before
            assert "Traceback" not in err
            assert rc in (0, 2), (rc, err)
            if rc == 2:
                _check_file_refusal(err, pfile, suspects, psf_flag or has_psf)
                seen.refusals.append(err[:80])
            else:
                seen.results += 1

    prop()
    seen.check()


def test_params_file_runs(small_tif, capsys):
    """Files that pass validation also run: exit 0 and a finite output, or exit 2."""
    from napari_sparsedecon.io.tiff import read_tiff

    seen = Outcomes()

    @_settings(12)
    @given(spec=st.one_of(param_files(), param_files(wild_rate=0)))
    def prop(spec):
        text, suspects, _ = spec
        with tempfile.TemporaryDirectory() as d:
            pfile = Path(d) / "params.json"
            pfile.write_text(text, encoding="utf-8")
            out = Path(d) / "out.tif"
            rc, err = _run_cli(["run", "--method", "sparse", str(small_tif), "--params",
                                str(pfile), "-o", str(out), "--psf-fwhm-px", "2"], capsys)
            assert "Traceback" not in err
            assert rc in (0, 2), (rc, err)
            assert list(Path(d).glob(".*.part")) == []
            if rc == 0:
                res = np.asarray(read_tiff(out)[0])
                assert np.isfinite(res).all()
                seen.results += 1
            else:
                _check_file_refusal(err, pfile, suspects, True)
                seen.refusals.append(err[:80])

    prop()
    seen.check()


@pytest.mark.parametrize("text", ["null", "[1, 2]", '"x"', "3", "{", "", "\x00",
                                  '{"iterations": "5"}'])
def test_bad_params_file_names_the_file(small_tif, capsys, tmp_path, text):
    """Found by the property tests: a file holding JSON other than an object gave raw
    messages ("argument after ** must be a mapping, not NoneType") that named neither the
    file nor a parameter; malformed JSON named no file."""
    pfile = tmp_path / "p.json"
    pfile.write_text(text, encoding="utf-8")
    rc, err = _run_cli(["run", "--method", "sparse",
                        str(small_tif), "--params", str(pfile), "--dry-run",
                        "--psf-fwhm-px", "2"], capsys)
    assert rc == 2
    assert f"--params {pfile}" in err, err
    assert "mapping" not in err and "Traceback" not in err


def test_params_record_from_dict_refuses_non_mappings():
    from napari_sparsedecon.core.params import SparseParams

    for bad in (None, [1, 2], "x", 3):
        with pytest.raises(TypeError, match="name: value"):
            SparseParams.from_dict(bad)


# -- unbounded work (issue 16 item 9): every entry point refuses above 10 000 ---------
@pytest.mark.parametrize("argv", [
    ["run", "--method", "sparse", "--iterations", "1000000000", "--dry-run"],
    ["run", "--method", "sparse", "--deconv-iterations", "1000000000", "--dry-run"],
    ["rl", "--iterations", "1000000000"], ["rl_tv", "--iterations", "10001"],
    ["sparse_psf", "--iterations", "1000000000"],
])
def test_cli_refuses_unbounded_iterations(small_tif, capsys, tmp_path, argv):
    rc, err = _run_cli([argv[0], str(small_tif), "--psf-fwhm-px", "2", *argv[1:], "-o",
                        str(tmp_path / "o.tif")], capsys)
    assert rc == 2 and "must be <= 10000" in err, err
    assert not (tmp_path / "o.tif").exists()


def test_params_file_refuses_unbounded_iterations(small_tif, capsys, tmp_path):
    """The file format the widget saves and `run --params` reads."""
    pfile = tmp_path / "p.json"
    pfile.write_text('{"iterations": 1000000000}')
    rc, err = _run_cli(["run", "--method", "sparse",
                        str(small_tif), "--params", str(pfile), "--dry-run"], capsys)
    assert rc == 2 and "iterations must be <= 10000" in err and str(pfile) in err, err


@pytest.mark.parametrize("method", nsd.methods())
def test_api_refuses_unbounded_iterations(method):
    img = np.ones((16, 16), np.float32)
    with pytest.raises(ValueError, match="iterations must be <= 10000"):
        nsd.deconvolve(img, method, psf_fwhm_px=2.0, iterations=10**9)
