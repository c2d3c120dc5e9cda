"""The ``--workers`` cluster and the network (issue 25 item 8): with
``dashboard_address=None`` dask's scheduler still listened on port 8787 on every
interface (0.0.0.0 and ::), serving its /info pages (workers, their addresses).
The CLI's cluster listens on the loopback interface only, on a port the system
picks, and serves no pages. Checked on the cluster options the CLI asks for,
started in-process (the listening sockets, then an HTTP request to them)."""

import urllib.error
import urllib.request

import numpy as np
import pytest

from napari_sparsedecon.cli import main
from napari_sparsedecon.io.tiff import write_tiff

distributed = pytest.importorskip("distributed")


def _asked_for(tmp_path, monkeypatch):
    """The LocalCluster keywords (and dask config) of `run --workers 1`."""
    import dask

    asked = []

    class Cluster:  # records what the CLI asks for, then stops the run there
        def __init__(self, **kw):
            asked.append((kw, {k: dask.config.get(k) for k in (
                "distributed.scheduler.http.routes",)}))
            raise RuntimeError("cluster start recorded")

    src = tmp_path / "in.tif"
    write_tiff(src, np.ones((8, 8), np.float32))
    monkeypatch.setattr(distributed, "LocalCluster", Cluster)
    main(["run", "--method", "sparse", str(src), "--workers", "1", "--psf-fwhm-px", "2",
          "--out-dir", str(tmp_path / "o")])
    assert len(asked) == 1
    return asked[0]


def test_the_cluster_listens_on_loopback_only_and_not_on_8787(tmp_path, monkeypatch):
    import dask

    kw, config = _asked_for(tmp_path, monkeypatch)
    monkeypatch.undo()
    kw = {**kw, "processes": False, "protocol": "tcp://"}  # (in-process: faster)
    with dask.config.set(config), distributed.LocalCluster(**kw) as cluster:
        socks = [s.getsockname() for s in cluster.scheduler.http_server._sockets.values()]
        assert socks
        for host, port, *_ in socks:
            assert port != 8787, socks
            assert host in ("127.0.0.1", "::1"), socks
        host, port = socks[0][:2]
        for page in ("/info/main/workers.html", "/status", "/health"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(f"http://{host}:{port}{page}", timeout=5)
            assert err.value.code == 404, page
        with distributed.Client(cluster) as client:  # and it still computes
            assert client.submit(sum, [1, 2]).result() == 3
