"""``--overwrite`` replaces only a file or store that this package wrote (issue 25 item
2): its metadata key proves it, a name does not. A folder named like an output, a plain
folder named ``*.zarr`` and a raw file named ``*_sparse.tif`` are left as they are; that
file fails (exit 1) and the rest of the batch is done."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_sparsedecon.cli import main
from napari_sparsedecon.io.outputs import written_by_this_package
from napari_sparsedecon.io.tiff import read_tiff, write_tiff

FAST = ["--psf-fwhm-px", "2", "--iterations", "2", "--deconv-iterations", "1"]


def _img(seed=0):
    return np.random.default_rng(seed).poisson(30, (24, 28)).astype(np.float32)


def _input(path, seed=0):
    write_tiff(path, _img(seed), scale=(0.1, 0.1))
    return path


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    paths = [root] if root.is_file() else sorted(root.rglob("*"))
    for p in paths:
        h.update(str(p.relative_to(root.parent)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def _user_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("the user's own notes")
    (path / "sub").mkdir()
    (path / "sub" / "data.bin").write_bytes(os.urandom(64))
    return path


def _no_parts(root: Path):
    return [p for p in root.rglob("*") if p.name.endswith(".part")] == []


@pytest.mark.parametrize("name", ["results.tif", "proj.zarr", "results.ome.tif"])
def test_overwrite_never_replaces_a_folder_that_is_not_our_store(tmp_path, capsys, name):
    src = _input(tmp_path / "in.tif")
    folder = _user_folder(tmp_path / name)
    before = _tree_digest(folder)
    rc = main(["run", "--method", "sparse", str(src), "-o", str(folder), "--overwrite", *FAST])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert _tree_digest(folder) == before  # every file of the user's folder is still there
    assert str(folder) in err and "only replaces earlier outputs" in err, err
    assert _no_parts(tmp_path)


def test_overwrite_never_replaces_a_raw_file_named_like_an_output(tmp_path, capsys):
    """The batch run says it skips ``cells_sparse.tif`` as an input ("named like an
    output"), but replaced it as the output of ``cells.tif``."""
    raw = tmp_path / "cells_sparse.tif"
    tifffile.imwrite(raw, (np.arange(24 * 28).reshape(24, 28) % 200).astype(np.uint16))
    before = raw.read_bytes()
    _input(tmp_path / "cells.tif")
    _input(tmp_path / "other.tif", seed=1)
    rc = main(["run", "--method", "sparse", str(tmp_path), "--overwrite", *FAST])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert raw.read_bytes() == before
    assert "without napari-sparsedecon's metadata" in err, err
    assert written_by_this_package(tmp_path / "other_sparse.tif")  # the rest was done
    assert _no_parts(tmp_path)


def test_overwrite_replaces_an_earlier_output(tmp_path, capsys):
    src = _input(tmp_path / "in.tif")
    for name in ("o.tif", "o.ome.tif", "o.zarr"):
        out = tmp_path / name
        assert main(["run", "--method", "sparse", str(src), "-o", str(out), *FAST]) == 0
        assert written_by_this_package(out), name
        assert main(["run", "--method", "sparse", str(src), "-o", str(out), "--overwrite", *FAST,
                     "--fidelity", "77"]) == 0, capsys.readouterr().err
    assert read_tiff(tmp_path / "o.tif")[1]["metadata"]["params"]["fidelity"] == 77.0
    assert _no_parts(tmp_path)


def test_the_method_subcommands_keep_a_foreign_file_too(tmp_path, capsys):
    src = _input(tmp_path / "in.tif")
    raw = tmp_path / "in_rl.tif"
    raw.write_bytes(b"not ours at all")
    rc = main(["rl", str(src), "-o", str(raw), "--overwrite", "--psf-fwhm-px", "2",
               "--iterations", "2"])
    err = capsys.readouterr().err
    assert rc == 1 and raw.read_bytes() == b"not ours at all", err
    assert "FAILED" in err and str(raw) in err
    assert main(["rl", str(src), "-o", str(tmp_path / "mine.tif"), "--psf-fwhm-px", "2",
                 "--iterations", "2"]) == 0
    assert main(["rl", str(src), "-o", str(tmp_path / "mine.tif"), "--overwrite",
                 "--psf-fwhm-px", "2", "--iterations", "2"]) == 0


def test_a_symlink_at_the_output_is_not_replaced(tmp_path, capsys):
    src = _input(tmp_path / "in.tif")
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    link = tmp_path / "o.tif"
    link.symlink_to(target)
    assert main(["run", "--method", "sparse", str(src), "-o", str(link), "--overwrite", *FAST]) == 1
    assert link.is_symlink() and target.read_text() == "keep"
    assert "symbolic link" in capsys.readouterr().err
