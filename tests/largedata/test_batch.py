"""Headless batch: folders, failures, skip/overwrite, dry run, formats, dask.distributed."""

import errno
from pathlib import Path

import numpy as np
import pytest
import tifffile

import napari_sparsedecon as nsd
from napari_sparsedecon.cli import main
from napari_sparsedecon.core.phantom import make_phantom
from napari_sparsedecon.io.ome_zarr import read_ome_zarr, write_ome_zarr
from napari_sparsedecon.io.tiff import read_tiff, write_tiff
from napari_sparsedecon.largedata import batch
from napari_sparsedecon.largedata import cluster as ld_cluster

FAST = ["--iterations", "20", "--deconv-iterations", "5"]
KW = {"iterations": 20, "deconv_iterations": 5}


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(2):
        img = make_phantom((160, 160), seed=i).noisy.astype(np.uint16)
        write_tiff(d / f"cell{i}.tif", img, scale=(0.032, 0.032))
    good = (d / "cell0.tif").read_bytes()
    (d / "broken.tif").write_bytes(good[: len(good) // 3])  # truncated
    write_ome_zarr(d / "stack.zarr", make_phantom((160, 160), seed=5).noisy[None].repeat(3, 0),
                   scale=(0.2, 0.032, 0.032))
    return d


def _leftovers(path: Path):
    return [p for p in path.rglob("*") if ".part" in p.name]


@pytest.mark.slow
def test_folder_batch_reports_failure_and_goes_on(folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", "--method", "sparse",
               str(folder), "--out-dir", str(out), "--psf-fwhm-px", "3.44", *FAST])
    err = capsys.readouterr().err
    assert rc == 1  # one file failed
    assert "FAILED" in err and "broken.tif" in err and "2 ok" not in err
    assert "3 ok, 1 failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["cell0_sparse.tif", "cell1_sparse.tif",
                                                     "stack_sparse.tif"]
    assert not _leftovers(out)
    data, info = read_tiff(out / "cell0_sparse.tif")
    src, _ = read_tiff(folder / "cell0.tif")
    np.testing.assert_allclose(data, nsd.sparse_deconvolve(src, psf_fwhm_px=3.44, **KW),
                               rtol=1e-5, atol=1e-5 * float(data.max()))
    np.testing.assert_allclose(info["scale"], (0.032, 0.032))
    assert info["metadata"]["params"]["iterations"] == 20
    stack, sinfo = read_tiff(out / "stack_sparse.tif")
    assert stack.shape == (3, 160, 160)
    np.testing.assert_allclose(sinfo["scale"], (0.2, 0.032, 0.032))
    # second run: everything that exists is skipped
    rc = main(["run", "--method", "sparse",
               str(folder / "cell*.tif"), "--out-dir", str(out), "--psf-fwhm-px",
               "3.44", *FAST])
    err = capsys.readouterr().err
    assert rc == 0 and err.count("skip:") == 2
    before = (out / "cell0_sparse.tif").stat().st_mtime_ns
    assert main(["run", "--method", "sparse",
                 str(folder / "cell0.tif"), "--out-dir", str(out), "--overwrite",
                 "--psf-fwhm-px", "3.44", *FAST]) == 0
    assert (out / "cell0_sparse.tif").stat().st_mtime_ns != before


def test_dry_run_writes_nothing(folder, tmp_path, capsys, monkeypatch):
    from napari_sparsedecon.base import resources

    # the budget covers the process: the test process's own size must not decide
    monkeypatch.setattr(resources, "process_rss", lambda: 100 * 2**20)
    out = tmp_path / "out"
    assert main(["run", "--method", "sparse",
                 str(folder), "--out-dir", str(out), "--psf-fwhm-px", "3",
                 "--dry-run", "--memory-budget", "256MiB"]) == 0
    text = capsys.readouterr().out
    assert "MiB" in text and " s" in text and "cannot be read" in text
    assert "dry run: 4 file(s)" in text
    assert not out.exists()


def test_ome_zarr_out_and_pixel_size_from_metadata(folder, tmp_path):
    out = tmp_path / "z"
    assert main(["run", "--method", "sparse",
                 str(folder / "cell1.tif"), "--out-dir", str(out), "--format", "zarr",
                 "--psf-fwhm-nm", "110", *FAST]) == 0
    data, info = read_ome_zarr(out / "cell1_sparse.zarr")
    np.testing.assert_allclose(info["scale"], (0.032, 0.032))
    assert info["metadata"]["params"]["psf_fwhm_px"] == pytest.approx(110 / 32)
    src, _ = read_tiff(folder / "cell1.tif")
    ref = nsd.sparse_deconvolve(src, psf_fwhm_px=110 / 32, **KW)
    np.testing.assert_allclose(np.asarray(data), ref, rtol=1e-5, atol=1e-5 * float(ref.max()))


def test_psf_file_with_other_pixel_size_fails_clearly(folder, tmp_path, capsys):
    psf = tmp_path / "psf.tif"
    write_tiff(psf, nsd.gaussian_psf((11, 11), 2.0), scale=(0.05, 0.05))
    rc = main(["run", "--method", "sparse",
               str(folder / "cell0.tif"), "--out-dir", str(tmp_path / "o"),
               "--psf", str(psf), *FAST])
    assert rc == 1 and "pixel size mismatch" in capsys.readouterr().err


def test_unwritable_output_and_full_disk(folder, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    rc = main(["run", "--method", "sparse",
               str(folder / "cell0.tif"), "--out-dir", str(blocker / "sub"),
               "--psf-fwhm-px", "3", *FAST])
    assert rc == 1 and "FAILED" in capsys.readouterr().err

    def full(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(batch._Writer, "commit", full)
    out = tmp_path / "o2"
    rc = main(["run", "--method", "sparse",
               str(folder / "cell0.tif"), str(folder / "cell1.tif"), "--out-dir",
               str(out), "--psf-fwhm-px", "3", *FAST])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("No space left on device") == 2
    assert not list(out.iterdir())  # no partial output, no temporary files


def test_wrong_axes_is_reported(tmp_path, capsys):
    bad = tmp_path / "rgb.tif"
    tifffile.imwrite(bad, np.ones((2, 3, 32, 32), np.uint16), photometric="minisblack")
    assert main(["run", "--method", "sparse",
                 str(bad), "--out-dir", str(tmp_path / "o"), "--psf-fwhm-px", "2",
                 *FAST]) == 1
    assert "split channels" in capsys.readouterr().err


def test_parse_size():
    assert batch.parse_size("4GiB") == 4 * 2**30
    assert batch.parse_size("500MB") == 500_000_000
    assert batch.parse_size("1024") == 1024


@pytest.mark.slow
def test_local_cluster_matches_serial(folder, tmp_path):
    pytest.importorskip("distributed")
    serial, dist = tmp_path / "serial", tmp_path / "dist"
    args = ["--psf-fwhm-px", "3.44", *FAST]
    files = [str(folder / "cell0.tif"), str(folder / "cell1.tif")]
    assert main(["run", "--method", "sparse", *files, "--out-dir", str(serial), *args]) == 0
    assert main(["run", "--method", "sparse",
                 *files, "--out-dir", str(dist), "--workers", "2", *args]) == 0
    for name in ("cell0_sparse.tif", "cell1_sparse.tif"):
        a, _ = read_tiff(serial / name)
        b, _ = read_tiff(dist / name)
        np.testing.assert_array_equal(a, b)
    # one stack split into blocks (tiles of 64 px) across the two workers
    stack = folder / "stack.zarr"
    assert main(["run", "--method", "sparse",
                 str(stack), "--out-dir", str(serial), "--continuity", "1",
                 "--deconv-method", "rl", *args]) == 0
    assert main(["run", "--method", "sparse",
                 str(stack), "--out-dir", str(dist), "--continuity", "1", "--workers",
                 "2", "--tile", "64", "--deconv-method", "rl", *args]) == 0
    a, _ = read_tiff(serial / "stack_sparse.tif")
    b, _ = read_tiff(dist / "stack_sparse.tif")
    m = 16  # tiles equal the untiled result away from the image border
    assert np.abs(a - b)[:, m:-m, m:-m].max() <= 1e-3 * (float(a.max()) - float(a.min()))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["tif", "zarr"])
def test_distributed_blocks_match_untiled(tmp_path, fmt):
    """Tiles and t-chunks with overlap on a 2-worker cluster equal the untiled result."""
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(3)
    frames = [make_phantom((160, 176), seed=s).blurred for s in range(7)]
    stack = np.stack(frames).astype(np.float32)
    stack = rng.poisson(stack + 20).astype(np.uint16)
    src = tmp_path / "t.tif"
    write_tiff(src, stack)
    kw = {"psf_fwhm_px": 3.0, "continuity": 1.0, "iterations": 20, "deconv_iterations": 5,
          "deconv_method": "rl"}
    p = nsd.SparseParams(**kw).to_dict()  # the runner takes the validated dict
    ref = nsd.sparse_deconvolve(stack.astype(np.float32), **kw)
    job = batch.Job(str(src), str(tmp_path / f"t_sparse.{fmt}"), fmt)
    seen = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        data, info = batch.read_image(str(src))
        writer = batch._Writer(job, stack.shape, None, {})
        try:
            ld_cluster._run_distributed(client, job, data, p, None, writer, 2**30, 48, "numpy",
                                   seen.append, chunk_t=3)
            writer.commit()
        finally:
            info["close"]()
    out = read_tiff(job.dst)[0] if fmt == "tif" else np.asarray(read_ome_zarr(job.dst)[0])
    rng_ = float(ref.max() - ref.min())
    assert np.abs(out - ref)[:, 16:-16, 16:-16].max() <= 1e-3 * rng_
    stages = [pr.stage for pr in seen]
    assert stages[0] == "prepare" and stages[-1] == "tiles"
    assert seen[-1].iteration == seen[-1].total
    assert not _leftovers(tmp_path)  # the scratch store went with the temporary folder


def test_plan_blocks_prefers_long_chunks_and_fits_budget():
    from napari_sparsedecon.core.tiled import BYTES_PER_PIXEL, plan_blocks

    p = nsd.SparseParams(psf_fwhm_px=3.0)
    budget = 1536 * 2**20
    plan = plan_blocks((50, 2048, 2048), p, (21, 21), task_budget=budget, min_tasks=4)
    assert plan.chunk_t == 50 and plan.t_overlap == 0  # no frame solved twice
    assert BYTES_PER_PIXEL * 50 * (plan.tile + 2 * plan.overlap) ** 2 <= budget
    # a small budget shortens the t-chunks (with overlap) instead of shrinking tiles away
    small = plan_blocks((50, 2048, 2048), p, (21, 21), task_budget=64 * 2**20)
    assert small.chunk_t < 50 and small.t_overlap > 0
    assert small.tile >= 3 * small.overlap
    frames = small.chunk_t + 2 * small.t_overlap
    assert BYTES_PER_PIXEL * frames * (small.tile + 2 * small.overlap) ** 2 <= 64 * 2**20
    with pytest.raises(MemoryError, match="raise --memory-budget"):
        plan_blocks((50, 2048, 2048), p, (21, 21), task_budget=2**20)


def _volumes(path, axes="TZYX", n_t=3, n_c=2, nan_at=None):
    """A small time-lapse of volumes (T, Z, Y, X), or with channels (T, Z, C, Y, X, the
    ImageJ order), 0.1 um pixels."""
    from napari_sparsedecon.io.axes import ImageAxes

    rng = np.random.default_rng(11)
    base = make_phantom((160, 160), seed=2).blurred[40:88, 60:108].astype(np.float32)
    vols = []
    for t in range(n_t):
        vol = np.stack([np.roll(base, 2 * t + z, axis=1) * (1 + 0.2 * z) for z in range(4)])
        vols.append(vol)
    data = np.stack(vols)  # T, Z, Y, X
    scale, units = (2.0, 0.3, 0.1, 0.1), ("s", "um", "um", "um")
    if "C" in axes:
        data = np.stack([data, 3 * data[:, :, :, ::-1]], axis=2)  # T, Z, C, Y, X
        scale, units = (2.0, 0.3, 1.0, 0.1, 0.1), ("s", "um", None, "um", "um")
    data = rng.poisson(data + 20).astype(np.float32)
    if nan_at is not None:
        data[nan_at] = np.nan
    write_tiff(path, data, image_axes=ImageAxes(axes, scale, units))
    return path


def _cluster_run(job, params, progress=None, **kw):
    """process_file on a 2-worker in-process LocalCluster: (summary, tasks that ran,
    progress records)."""
    distributed = pytest.importorskip("distributed")
    seen = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, \
            distributed.get_task_stream(client) as ts:
        res = batch.process_file(job, params, client=client,
                                 progress=progress or seen.append, **kw)
    return res, ts.data, seen


@pytest.mark.slow
@pytest.mark.parametrize("quantitative,fmt", [(True, "tif"), (False, "zarr")])
def test_time_points_run_on_the_cluster_and_match_serial(tmp_path, quantitative, fmt):
    """(T, Z, Y, X) with a client: one task per time point on the workers, the same output
    as the serial run (with max-1 scaling: one scale for all time points)."""
    src = _volumes(tmp_path / "tz.tif")
    params = {"psf_fwhm_px": 3.0, "quantitative": quantitative, **KW}
    serial = batch.Job(str(src), str(tmp_path / f"serial.{fmt}"), fmt)
    assert batch.process_file(serial, params, memory_budget=2**31)["status"] == "ok"
    dist = batch.Job(str(src), str(tmp_path / f"dist.{fmt}"), fmt)
    res, tasks, seen = _cluster_run(dist, params, memory_budget=2**31)
    assert res["status"] == "ok"
    assert len(tasks) == 3  # the three volumes ran on the workers
    read = (lambda p: read_tiff(p)[0]) if fmt == "tif" else \
        (lambda p: np.asarray(read_ome_zarr(p)[0]))
    a, b = read(serial.dst), read(dist.dst)
    assert a.shape == b.shape == (3, 4, 48, 48)
    np.testing.assert_array_equal(a, b)
    if not quantitative:
        assert float(b.max()) == 1.0 and float(b[0].max()) < 1.0  # one scale for all
    assert [(pr.iteration, pr.total) for pr in seen] == [(1, 3), (2, 3), (3, 3)]
    assert not _leftovers(tmp_path)


@pytest.mark.slow
def test_time_points_with_channels_on_the_cluster_match_serial(tmp_path):
    """(T, C, Z, Y, X): every (channel, time point) volume is a task, each channel with
    its own PSF; the output equals the serial run's."""
    src = _volumes(tmp_path / "tzc.tif", axes="TZCYX", n_t=2)
    params = {"quantitative": False, **KW}
    kw = {"psf_fwhm_nm": [300.0, 250.0], "memory_budget": 2**31}
    serial = batch.Job(str(src), str(tmp_path / "serial.tif"), "tif")
    assert batch.process_file(serial, params, **kw)["status"] == "ok"
    dist = batch.Job(str(src), str(tmp_path / "dist.tif"), "tif")
    res, tasks, _ = _cluster_run(dist, params, **kw)
    assert res["status"] == "ok" and len(tasks) == 4
    a, ainfo = read_tiff(serial.dst)
    b, binfo = read_tiff(dist.dst)
    assert binfo["image_axes"].axes == "TZCYX" and b.shape == (2, 4, 2, 48, 48)
    np.testing.assert_array_equal(a, b)
    assert binfo["metadata"]["params"]["psf_fwhm_px"] == pytest.approx([3.0, 2.5])


@pytest.mark.slow
def test_failing_time_point_on_the_cluster_leaves_no_output(tmp_path):
    src = _volumes(tmp_path / "bad.tif", nan_at=(1, 2, 10, 10))
    job = batch.Job(str(src), str(tmp_path / "out" / "bad_sparse.tif"), "tif")
    with pytest.raises(ValueError, match="NaN") as err:
        _cluster_run(job, {"psf_fwhm_px": 3.0, **KW}, memory_budget=2**31)
    assert any(e.name == "_volume_task" for e in err.traceback)  # failed on a worker
    assert not Path(job.dst).exists()
    assert not _leftovers(tmp_path)


@pytest.mark.slow
def test_interrupted_time_points_on_the_cluster_leave_no_output(tmp_path):
    src = _volumes(tmp_path / "tz.tif")
    job = batch.Job(str(src), str(tmp_path / "out" / "tz_sparse.zarr"), "zarr")

    def interrupt(pr):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _cluster_run(job, {"psf_fwhm_px": 3.0, **KW}, progress=interrupt,
                     memory_budget=2**31)
    assert not Path(job.dst).exists()
    assert not _leftovers(tmp_path)


def test_scratch_volume_does_not_recreate_an_aborted_store(tmp_path):
    """A task still running when the run is aborted must not make the removed temporary
    folder again."""
    import shutil

    import zarr

    store = tmp_path / "x.part" / "volume.zarr"
    zarr.open_array(str(store), mode="w", shape=(2, 8, 8), dtype="float32", chunks=(1, 8, 8))
    out = ld_cluster._ScratchVolume(str(store))
    out[0:1] = np.full((1, 8, 8), 3.0)
    assert out.max == 3.0 and float(out[0:1].max()) == 3.0
    shutil.rmtree(tmp_path / "x.part")
    with pytest.raises(RuntimeError, match="aborted"):
        out[1:2] = np.ones((1, 8, 8))
    assert not (tmp_path / "x.part").exists()
    with pytest.raises(FileNotFoundError):
        ld_cluster._ScratchVolume(str(store))


@pytest.mark.slow
def test_cli_workers_run_time_points_like_serial(tmp_path, monkeypatch):
    """``run --workers 2`` (worker processes) on a (T, Z, Y, X) file: the serial output."""
    from napari_sparsedecon.base import resources

    pytest.importorskip("distributed")
    monkeypatch.setattr(resources, "process_rss", lambda: 100 * 2**20)  # not pytest's size
    src = _volumes(tmp_path / "tz.tif")
    args = [str(src), "--psf-fwhm-px", "3", "--no-quantitative", "--memory-budget", "2GiB",
            *FAST]
    assert main(["run", "--method", "sparse", *args, "--out-dir", str(tmp_path / "serial")]) == 0
    assert main(["run", "--method", "sparse",
                 *args, "--out-dir", str(tmp_path / "dist"), "--workers", "2"]) == 0
    a, _ = read_tiff(tmp_path / "serial" / "tz_sparse.tif")
    b, info = read_tiff(tmp_path / "dist" / "tz_sparse.tif")
    assert info["image_axes"].axes == "TZYX"
    np.testing.assert_array_equal(a, b)
    assert not _leftovers(tmp_path)
