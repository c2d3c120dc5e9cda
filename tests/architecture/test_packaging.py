"""What PyPI and the napari hub show, and what the sdist carries."""

import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REPO = "https://github.com/napari-sparsedecon/napari-sparsedecon"


def test_version_flag(capsys):
    import napari_sparsedecon
    from napari_sparsedecon.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.split() == ["napari-sparsedecon",
                                               napari_sparsedecon.__version__]


def test_project_urls_and_classifiers():
    urls = PROJECT["urls"]
    for key in ("Homepage", "Source", "Bug Tracker", "Documentation"):
        assert urls[key].startswith(REPO)  # the napari hub shows these links
    cls = set(PROJECT["classifiers"])
    assert {"Framework :: napari", "Operating System :: OS Independent",
            "Intended Audience :: Science/Research"} <= cls
    assert any(c.startswith("Development Status ::") for c in cls)
    floor = PROJECT["requires-python"].split(">=")[1].strip()
    assert f"Programming Language :: Python :: {floor}" in cls


def test_readme_links_and_images_are_absolute():
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text)
    assert targets
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#",
                                                        "mailto:"))]
    assert relative == []  # relative ones break on PyPI and the napari hub
    for t in targets:  # and each points at a file of this repository that exists
        for prefix in (f"{REPO}/blob/main/",
                       "https://raw.githubusercontent.com/napari-sparsedecon/"
                       "napari-sparsedecon/main/"):
            if t.startswith(prefix):
                assert (ROOT / t[len(prefix):].split("#")[0]).exists(), t
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)
    assert images and all(i.startswith("https://raw.githubusercontent.com/") for i in images)


def test_no_cloud_storage_clients_in_the_base_install():
    names = {re.match(r"[A-Za-z0-9_.\-]+", d).group(0).lower() for d in
             PROJECT["dependencies"]}
    assert not names & {"ome-zarr", "s3fs", "aiohttp", "botocore", "fsspec"}


@pytest.mark.slow
def test_sdist_carries_the_tests(tmp_path):
    pytest.importorskip("build")
    out = subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir",
                          str(tmp_path), str(ROOT)], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    sdist, = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    tests = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    assert tests <= names, sorted(tests - names)[:5]
    assert {"LICENSE", "README.md", "src/napari_sparsedecon/napari.yaml",
            "src/napari_sparsedecon/data/celegans.tif"} <= names
