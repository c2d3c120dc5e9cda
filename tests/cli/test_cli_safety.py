"""The command line never destroys what the user owns (issue 16).

Each abuse case checks three things: the user's files are unchanged, nothing
is left behind (no ``.part`` files or folders), and the exit code is the
documented one (0 ok, 1 some file failed, 2 bad usage, 128+N on signal N).
"""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

import napari_sparsedecon
from napari_sparsedecon.cli import main
from napari_sparsedecon.io.ome_zarr import read_ome_zarr, write_ome_zarr
from napari_sparsedecon.io.tiff import read_tiff, write_tiff
from napari_sparsedecon.largedata import batch

FAST = ["--iterations", "3", "--deconv-iterations", "1", "--psf-fwhm-px", "2"]
SRC = Path(napari_sparsedecon.__file__).resolve().parents[1]  # the code under test


def _img(seed=0, shape=(24, 28)):
    return np.random.default_rng(seed).poisson(30, shape).astype(np.uint16)


@pytest.fixture
def tif(tmp_path):
    p = tmp_path / "in.tif"
    write_tiff(p, _img(), scale=(0.1, 0.1))
    return p


def _digest(path: Path) -> str:
    """Content hash of a file or of a whole folder tree (names and bytes)."""
    h = hashlib.sha256()
    if path.is_dir():
        for q in sorted(path.rglob("*")):
            h.update(str(q.relative_to(path)).encode())
            if q.is_file():
                h.update(q.read_bytes())
    else:
        h.update(path.read_bytes())
    return h.hexdigest()


def _leftovers(root: Path):
    return [p for p in root.rglob("*") if p.name.endswith(".part")]


def _refused(capsys, argv, protected, rc=2, words=()):
    before = {p: _digest(p) for p in protected}
    assert main(argv) == rc
    err = capsys.readouterr().err
    for w in words:
        assert w in err, err
    for p, d in before.items():
        assert _digest(p) == d, f"{p} was changed"
    return err


# 1. an output never replaces (or lands inside) an input, PSF or parameter file

def test_rl_output_onto_its_input_is_refused(tif, tmp_path, capsys):
    _refused(capsys, ["rl", str(tif), "-o", str(tif), "--psf-fwhm-px", "2", "--iterations",
                      "1"], [tif], words=["is an input"])
    _refused(capsys, ["rl", str(tif), "-o", str(tif), "--psf-fwhm-px", "2", "--iterations",
                      "1", "--overwrite"], [tif], words=["is an input"])
    assert not _leftovers(tmp_path)


@pytest.mark.parametrize("how", ["same", "relative", "symlink", "hardlink"])
def test_run_output_onto_its_input_is_refused_even_with_overwrite(tif, tmp_path, capsys,
                                                                  monkeypatch, how):
    out = str(tif)
    if how == "relative":
        (tmp_path / "sub").mkdir()
        monkeypatch.chdir(tmp_path / "sub")
        out = "../sub/../in.tif"
    elif how == "symlink":
        (tmp_path / "link.tif").symlink_to(tif)
        out = str(tmp_path / "link.tif")
    elif how == "hardlink":
        os.link(tif, tmp_path / "hard.tif")
        out = str(tmp_path / "hard.tif")
    _refused(capsys, ["run", "--method", "sparse",
                      str(tif), "-o", out, "--overwrite", *FAST], [tif],
             words=["is an input"])
    assert not _leftovers(tmp_path)


def test_run_output_onto_params_or_psf_file_is_refused(tif, tmp_path, capsys):
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps({"iterations": 3, "deconv_iterations": 1}))
    psf = tmp_path / "psf.tif"
    from napari_sparsedecon.psf.basic import gaussian_psf

    write_tiff(psf, gaussian_psf((7, 7), 2.0), scale=(0.1, 0.1))
    _refused(capsys, ["run", "--method", "sparse",
                      str(tif), "--params", str(pfile), "--psf-fwhm-px", "2", "-o",
                      str(pfile), "--overwrite"], [tif, pfile])
    ptif = tmp_path / "p.tif"  # a parameter file with an image's name
    ptif.write_text(pfile.read_text())
    _refused(capsys, ["run", "--method", "sparse",
                      str(tif), "--params", str(ptif), "--psf-fwhm-px", "2", "-o",
                      str(ptif), "--overwrite"], [tif, ptif], words=["parameter file"])
    _refused(capsys, ["run", "--method", "sparse",
                      str(tif), "--psf", str(psf), "-o", str(psf), "--overwrite",
                      "--iterations", "3"], [tif, psf], words=["PSF"])
    _refused(capsys, ["rl", str(tif), "--psf", str(psf), "-o", str(psf), "--overwrite"],
             [tif, psf], words=["PSF"])


def test_output_inside_an_input_store_is_refused(tmp_path, capsys):
    store = tmp_path / "in.zarr"
    write_ome_zarr(store, _img().astype(np.float32)[None].repeat(3, 0), scale=(1, .1, .1))
    for fmt in ("zarr", "tif"):
        _refused(capsys, ["run", "--method", "sparse",
                          str(store), "--out-dir", str(store), "--format", fmt,
                          "--overwrite", *FAST], [store], words=["inside"])
    assert not _leftovers(tmp_path)


def test_output_folder_holding_an_input_is_never_replaced(tmp_path, capsys):
    # out.zarr is a plain folder that happens to hold the input image
    folder = tmp_path / "out.zarr"
    folder.mkdir()
    src = folder / "a.tif"
    write_tiff(src, _img(), scale=(0.1, 0.1))
    _refused(capsys, ["run", "--method", "sparse",
                      str(src), "-o", str(folder), "--overwrite", *FAST], [src, folder],
             words=["holds"])


# 2. results are never silently lost

def test_same_stem_inputs_get_distinct_outputs(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    for i, name in enumerate(["a.tif", "a.tiff", "a.ome.tif"]):
        write_tiff(d / name, _img(i), scale=(0.1, 0.1))
    out = tmp_path / "out"
    assert main(["run", "--method", "sparse", str(d), "--out-dir", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    assert "3 ok" in err
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 3, names
    # each output holds its own input's result
    srcs = {read_tiff(out / n)[1]["metadata"]["source"] for n in names}
    assert len(srcs) == 3


def test_same_name_from_two_folders_into_one_out_dir_is_refused(tmp_path, capsys):
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        write_tiff(tmp_path / sub / "a.tif", _img(), scale=(0.1, 0.1))
    out = tmp_path / "out"
    _refused(capsys, ["run", "--method", "sparse",
                      str(tmp_path / "x"), str(tmp_path / "y"), "--out-dir", str(out),
                      *FAST], [], words=["same output"])
    assert not out.exists()


def test_rerun_on_a_folder_skips_its_own_outputs(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    write_tiff(d / "a.tif", _img(), scale=(0.1, 0.1))
    assert main(["run", "--method", "sparse", str(d), *FAST]) == 0
    assert main(["rl", str(d / "a.tif"), "-o", str(d / "a_rl.tif"), "--psf-fwhm-px", "2",
                 "--iterations", "1"]) == 0
    capsys.readouterr()
    assert main(["run", "--method", "sparse", str(d), "--overwrite", *FAST]) == 0
    assert main(["run", "--method", "sparse", str(d / "*.tif"), "--overwrite", *FAST]) == 0
    assert sorted(p.name for p in d.iterdir()) == ["a.tif", "a_rl.tif", "a_sparse.tif"]


@pytest.mark.parametrize("tile", ["0", "-5"])
def test_non_positive_tile_is_refused(tif, tmp_path, capsys, tile):
    _refused(capsys, ["run", "--method", "sparse",
                      str(tif), "--out-dir", str(tmp_path / "o"), "--tile", tile,
                      *FAST], [tif], words=["--tile"])
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kind", ["bool", "complex"])
def test_bool_and_complex_tiffs_are_refused(tmp_path, capsys, kind):
    a = _img() > 30 if kind == "bool" else _img().astype(np.complex64) * (1 + 1j)
    src = tmp_path / f"{kind}.tif"
    tifffile.imwrite(src, a)
    out = tmp_path / "o.tif"
    err = _refused(capsys, ["run", "--method", "sparse",
                            str(src), "-o", str(out), *FAST], [src], rc=1)
    assert ("is boolean" if kind == "bool" else "is complex") in err
    assert not out.exists() and not _leftovers(tmp_path)


def test_missing_chunk_of_an_input_store_is_an_error(tmp_path, capsys):
    store = tmp_path / "in.zarr"
    write_ome_zarr(store, _img().astype(np.float32)[None].repeat(3, 0) + 1,
                   scale=(1, .1, .1), chunks=(1, 24, 28))
    chunks = sorted(p for p in store.rglob("*") if p.is_file() and
                    not p.name.startswith(".") and p.name not in ("zarr.json", ".zarray"))
    assert len(chunks) == 3
    chunks[1].unlink()
    out = tmp_path / "o.tif"
    err = _refused(capsys, ["run", "--method", "sparse",
                            str(store), "-o", str(out), *FAST], [store], rc=1)
    assert "missing" in err
    assert not out.exists() and not _leftovers(tmp_path)


# 3. outputs: the existence check holds at commit, one file per -o, known formats

def test_second_writer_of_one_output_fails_at_commit(tif, tmp_path):
    dst = tmp_path / "o.tif"
    job = batch.Job(str(tif), str(dst), "tif")
    params = {"iterations": 3, "deconv_iterations": 1, "psf_fwhm_px": 2.0}

    def other_run_finishes_first(_p):  # another run commits while this one computes
        if not dst.exists():
            dst.write_bytes(b"the other run's result")

    r = batch._file_task(job, params, None, None, None, "numpy",
                         progress=other_run_finishes_first)
    assert r["status"] == "failed" and "exists" in r["error"]
    assert dst.read_bytes() == b"the other run's result"
    assert not _leftovers(tmp_path)
    # with overwrite, the same race replaces the earlier output (one this package wrote:
    # --overwrite leaves anything else alone, tests/io/test_overwrite_own_only.py)
    dst.unlink()
    write_tiff(dst, _img(), scale=(0.1, 0.1), metadata={"method": "sparse_deconvolve"})
    job = batch.Job(str(tif), str(dst), "tif", overwrite=True)
    r = batch._file_task(job, params, None, None, None, "numpy")
    assert r["status"] == "ok" and read_tiff(dst)[0].dtype == np.float32


def test_one_output_file_for_two_inputs_is_refused(tmp_path, capsys):
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    write_tiff(a, _img(), scale=(0.1, 0.1))
    write_tiff(b, _img(1), scale=(0.1, 0.1))
    _refused(capsys, ["run", "--method", "sparse",
                      str(a), str(b), "-o", str(tmp_path / "one.tif"), *FAST], [a, b],
             words=["2 inputs"])
    assert not (tmp_path / "one.tif").exists()


@pytest.mark.parametrize("name", ["x.png", "x.jpg", "x.TIF.bak"])
def test_unsupported_output_extension_is_refused(tif, tmp_path, capsys, name):
    _refused(capsys, ["run", "--method", "sparse",
                      str(tif), "-o", str(tmp_path / name), *FAST], [tif],
             words=[".tif"])
    assert not (tmp_path / name).exists()
    _refused(capsys, ["rl", str(tif), "-o", str(tmp_path / name), "--psf-fwhm-px", "2"],
             [tif], words=[".tif"])
    assert not (tmp_path / name).exists()


def test_output_name_without_extension_is_a_folder(tif, tmp_path):
    assert main(["run", "--method", "sparse", str(tif), "-o", str(tmp_path / "x"), *FAST]) == 0
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["in_sparse.tif"]


def test_format_contradicting_the_output_name_is_refused(tif, tmp_path, capsys):
    _refused(capsys, ["run", "--method", "sparse",
                      str(tif), "-o", str(tmp_path / "x.tif"), "--format", "zarr",
                      *FAST], [tif], words=["--format"])


def test_output_store_onto_an_existing_store(tif, tmp_path, capsys):
    dst = tmp_path / "out.zarr"
    assert main(["run", "--method", "sparse", str(tif), "-o", str(dst), *FAST]) == 0
    first = _digest(dst)
    assert main(["run", "--method", "sparse", str(tif), "-o", str(dst), *FAST]) == 0
    assert "skip" in capsys.readouterr().err and _digest(dst) == first
    assert main(["run", "--method", "sparse",
                 str(tif), "-o", str(dst), "--overwrite", "--fidelity", "100",
                 *FAST]) == 0
    data, info = read_ome_zarr(dst)  # still one OME-Zarr image, no TIFF inside it
    assert data.shape == (24, 28) and info["metadata"]["params"]["fidelity"] == 100
    assert not list(dst.rglob("*.tif")) and not _leftovers(tmp_path)


def test_rl_skips_an_existing_output_without_overwrite(tif, tmp_path, capsys):
    dst = tmp_path / "r.tif"
    dst.write_bytes(b"earlier")
    assert main(["rl", str(tif), "-o", str(dst), "--psf-fwhm-px", "2",
                 "--iterations", "1"]) == 0
    assert "skip" in capsys.readouterr().err and dst.read_bytes() == b"earlier"
    # --overwrite: a file this package did not write fails and is kept; its own is replaced
    assert main(["rl", str(tif), "-o", str(dst), "--psf-fwhm-px", "2", "--iterations", "1",
                 "--overwrite"]) == 1
    assert dst.read_bytes() == b"earlier"
    dst.unlink()
    assert main(["rl", str(tif), "-o", str(dst), "--psf-fwhm-px", "2", "--iterations", "1"]) == 0
    assert main(["rl", str(tif), "-o", str(dst), "--psf-fwhm-px", "2", "--iterations", "2",
                 "--overwrite"]) == 0
    assert read_tiff(dst)[0].shape == (24, 28)


# 4. leftovers: stale parts are found and removed; failed writers leave nothing

def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_parts_of_own_outputs_are_removed(tif, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    host = socket.gethostname()
    stale = out / f".in_sparse.tif.{host}-{_dead_pid()}.abc.part"
    stale.mkdir()
    (stale / "in_sparse.tif").write_bytes(b"x" * 100)
    live = out / f".in_sparse.tif.{host}-{os.getpid()}.def.part"  # a running process
    live.mkdir()
    other = out / f".someone_else.tif.{host}-{_dead_pid()}.ghi.part"
    other.mkdir()
    assert main(["run", "--method", "sparse", str(tif), "--out-dir", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    assert "stale" in err and stale.name in err
    assert not stale.exists() and live.exists() and other.exists()
    assert (out / "in_sparse.tif").exists()


@pytest.mark.parametrize("fmt", ["tif", "zarr"])
def test_bad_pixel_size_metadata_fails_before_any_temporary_file(tmp_path, capsys, fmt):
    src = tmp_path / "bad.tif"
    # ImageJ calibration with a negative Z spacing (pixel sizes come from the
    # ImageJ unit/spacing and resolution tags since the io.axes rewrite)
    tifffile.imwrite(src, _img(shape=(3, 24, 28)), imagej=True, resolution=(10.0, 10.0),
                     metadata={"axes": "ZYX", "unit": "um", "spacing": -1.0})
    out = tmp_path / "out"
    err = _refused(capsys, ["run", "--method", "sparse",
                            str(src), "--out-dir", str(out), "--format", fmt, *FAST],
                   [src], rc=1)
    assert "pixel size" in err
    assert not _leftovers(tmp_path)


# 5. exit codes

@pytest.mark.parametrize("value", ["inf", "abc", "-1", "0", "nan"])
def test_bad_memory_budget_is_usage_error(tif, tmp_path, capsys, value):
    err = _refused(capsys, ["run", "--method", "sparse", str(tif), "--out-dir", str(tmp_path / "o"),
                            "--memory-budget", value, *FAST], [tif], words=["memory"])
    assert "Traceback" not in err


def test_bad_parameter_file_fails_once_up_front(tmp_path, capsys):
    files = []
    for i in range(2):
        files.append(tmp_path / f"c{i}.tif")
        write_tiff(files[-1], _img(i), scale=(0.1, 0.1))
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps({"iterations": 3, "deconv_iterations": 1,
                                 "psf_fwhm_px": -2.0}))
    err = _refused(capsys, ["run", "--method", "sparse",
                            *map(str, files), "--params", str(pfile)], files,
                   words=["psf_fwhm_px"])
    assert "FAILED" not in err
    assert not list(tmp_path.glob("*_sparse*"))


def test_parse_size_refuses_nonsense():
    assert batch.parse_size("1.5KiB") == 1536
    for bad in ("inf", "abc", "-1", "0", "nan", "1e400", ""):
        with pytest.raises(ValueError, match="memory"):
            batch.parse_size(bad)


# 4. signals: clean up and exit 128+N without a traceback

@pytest.mark.slow
@pytest.mark.parametrize("sig, backend", [
    (signal.SIGINT, "auto"), (signal.SIGTERM, "auto"), (signal.SIGHUP, "auto"),
    # numba runs LLVM in-process, which installs its own signal handlers: Ctrl-C was
    # lost (the run went on to the end) before the backend gave Python its handlers back
    (signal.SIGINT, "numba"), (signal.SIGTERM, "numba"),
])
def test_signals_leave_nothing_and_exit_cleanly(tmp_path, sig, backend):
    if backend == "numba":
        pytest.importorskip("numba")
    src = tmp_path / "big.tif"
    write_tiff(src, np.random.default_rng(0).poisson(30, (12, 160, 160)).astype(np.uint16),
               scale=(1, .1, .1))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-m", "napari_sparsedecon.cli", "run",
                             "--method", "sparse", str(src),
                             "--out-dir", str(out), "--iterations", "500",
                             "--psf-fwhm-px", "2", "--backend", backend],
                            env=env, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not (out.exists() and _leftovers(out)) and time.time() - t0 < 60:
        time.sleep(0.05)
    assert _leftovers(out), "the run never started writing"
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and "interrupted" in err
    assert not _leftovers(tmp_path) and not (out / "big_sparse.tif").exists()


def test_literal_file_name_with_brackets_is_found(tmp_path):
    src = tmp_path / "cell[1].tif"
    write_tiff(src, _img(), scale=(0.1, 0.1))
    assert main(["run", "--method", "sparse", str(src), *FAST]) == 0
    assert (tmp_path / "cell[1]_sparse.tif").exists()


@pytest.mark.parametrize("bad", [
    {"multiscales": "yes"},
    {"multiscales": [{"datasets": []}]},
    {"multiscales": [{"datasets": [{"no_path": 1}]}]},
    {"multiscales": [{"datasets": [{"path": "nothing_here"}]}]},
    {"multiscales": [{"datasets": [{"path": "s0", "coordinateTransformations": [
        {"type": "scale", "scale": "abc"}]}]}]},
])
def test_corrupt_ome_zarr_metadata_is_a_clear_error(tmp_path, capsys, bad):
    import zarr

    store = tmp_path / "in.zarr"
    write_ome_zarr(store, _img().astype(np.float32) + 1, scale=(.1, .1))
    root = zarr.open_group(str(store), mode="r+")
    root.attrs.put(bad)
    with pytest.raises(ValueError, match="OME-Zarr"):
        read_ome_zarr(store)
    err = _refused(capsys, ["run", "--method", "sparse",
                            str(store), "-o", str(tmp_path / "o.tif"), *FAST], [store],
                   rc=1)
    assert "OME-Zarr" in err and "Traceback" not in err and "|" not in err


@pytest.mark.parametrize("extra", [["--workers", "0"], ["--out-dir", "o2"]])
def test_contradictory_or_non_positive_flags_are_usage_errors(tif, tmp_path, capsys, extra):
    _refused(capsys, ["run", "--method", "sparse",
                      str(tif), "-o", str(tmp_path / "o.tif"), *extra, *FAST], [tif],
             words=[extra[0]])
    assert not (tmp_path / "o.tif").exists()
