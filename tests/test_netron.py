"""cnnviz.netron_server: export once, serve on loopback, only the model's own folder,
a free port when the wanted one is busy, one reused server per model."""

from __future__ import annotations

import datetime as dt
import http.client
import socket
import sys
import urllib.request

import pytest

from cnnviz import netron_server as ns


@pytest.fixture
def netron_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_NETRON_DIR", str(tmp_path))
    monkeypatch.delenv("CNNVIZ_NETRON_HOST", raising=False)
    yield tmp_path
    ns.stop_all()


@pytest.fixture(scope="module")
def tiny_models():
    import keras

    a = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv")], name="tiny_a")
    b = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3, name="fc")],
                         name="tiny_b")
    return a, b


def _get(server: ns.NetronServer, path: str) -> tuple[int, bytes]:
    """A raw GET (http.client sends the path as is: no client-side '..' normalisation)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_export_goes_to_its_own_folder_once(netron_dir, tiny_models):
    a, _ = tiny_models
    path = ns.export_model(a, "tiny-a-8-top")
    assert path == netron_dir / "netron" / "tiny-a-8-top" / "tiny_a.keras"
    assert [p.name for p in path.parent.iterdir()] == ["tiny_a.keras"]  # nothing else is exposed
    stamp = path.stat().st_mtime_ns
    assert ns.export_model(a, "tiny-a-8-top") == path and path.stat().st_mtime_ns == stamp
    import keras

    assert keras.models.load_model(path).count_params() == a.count_params()


def test_serves_the_model_on_loopback(netron_dir, tiny_models):
    a, _ = tiny_models
    server = ns.serve_model(a, "tiny-a")
    assert server.host == "127.0.0.1" and server.alive()
    status, page = _get(server, "/")
    assert status == 200 and b'<meta name="file" content="/data/tiny_a.keras">' in page
    with urllib.request.urlopen(server.data_url, timeout=10) as response:
        assert response.read() == server.file.read_bytes()
    assert server.public_url() == server.url == f"http://127.0.0.1:{server.port}/"


def test_not_reachable_from_other_interfaces(netron_dir, tiny_models):
    a, _ = tiny_models
    server = ns.serve_model(a, "tiny-a")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except OSError:
        addresses = set()
    try:  # the address of the default route (a UDP "connect" sends nothing)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            addresses.add(probe.getsockname()[0])
    except OSError:
        pass
    addresses = {ip for ip in addresses if not ip.startswith("127.") and ip != "0.0.0.0"}
    if not addresses:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    for ip in addresses:
        with socket.socket() as s, pytest.raises(OSError):
            s.settimeout(2)
            s.connect((ip, server.port))


@pytest.mark.parametrize("path", [
    "/data/../tiny-b/tiny_b.keras",
    "/data/%2e%2e/tiny-b/tiny_b.keras",
    "/data/..%2ftiny-b%2ftiny_b.keras",
    "/data//etc/passwd",
    "/data/../../../../../../etc/passwd",
    "/../../../../etc/passwd",
    "/data/",
])
def test_serves_nothing_outside_the_model_folder(netron_dir, tiny_models, path):
    a, b = tiny_models
    ns.export_model(b, "tiny-b")  # a neighbour folder with a real file in it
    server = ns.serve_model(a, "tiny-a")
    status, body = _get(server, path)
    assert status == 404
    assert b"root:" not in body and body != (netron_dir / "netron" / "tiny-b" / "tiny_b.keras").read_bytes()


def test_busy_port_picks_another(netron_dir, tiny_models):
    a, _ = tiny_models
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        server = ns.serve_file(ns.export_model(a, "tiny-a"), key="tiny-a", port=taken)
        assert server.port != taken and server.alive()
        status, _ = _get(server, "/data/tiny_a.keras")
        assert status == 200


def test_reuse_and_restart(netron_dir, tiny_models):
    a, _ = tiny_models
    first = ns.serve_model(a, "tiny-a")
    assert ns.serve_model(a, "tiny-a") == first
    assert ns.get("tiny-a") == first and ns.servers() == [first]
    ns.stop(first)
    assert not first.alive() and ns.get("tiny-a") is None
    second = ns.serve_model(a, "tiny-a")
    assert second.alive() and _get(second, "/data/tiny_a.keras")[0] == 200


def test_two_models_two_servers_each_serving_its_own(netron_dir, tiny_models):
    """Netron keeps the served content on a shared class; each server must keep its own."""
    a, b = tiny_models
    sa = ns.serve_model(a, "tiny-a")
    sb = ns.serve_model(b, "tiny-b")
    assert sa.port != sb.port
    assert _get(sa, "/data/tiny_a.keras") == (200, sa.file.read_bytes())
    assert _get(sb, "/data/tiny_b.keras") == (200, sb.file.read_bytes())
    assert _get(sa, "/data/tiny_b.keras")[0] == 404
    assert b'content="/data/tiny_a.keras"' in _get(sa, "/")[1]


def test_host_from_environment_and_public_url(monkeypatch):
    monkeypatch.setenv("CNNVIZ_NETRON_HOST", "0.0.0.0")
    assert ns.bind_host() == "0.0.0.0"
    monkeypatch.delenv("CNNVIZ_NETRON_HOST")
    assert ns.bind_host() == "127.0.0.1"
    lan = ns.NetronServer(key="k", file=ns.Path("/x/m.keras"), host="0.0.0.0", port=8123)
    # A student's browser reached the app as 192.168.1.20:8501: Netron is there too.
    assert lan.public_url("192.168.1.20:8501") == "http://192.168.1.20:8123/"
    assert lan.public_url(None) == "http://127.0.0.1:8123/"
    assert lan.data_url == "http://0.0.0.0:8123/data/m.keras"


def test_start_failure_is_a_user_facing_error(netron_dir, tiny_models):
    a, _ = tiny_models
    path = ns.export_model(a, "tiny-a")
    # 203.0.113.0/24 is TEST-NET-3: never an address of this machine, so bind fails.
    with pytest.raises(ns.NetronError) as info:
        ns.serve_file(path, key="unbindable", host="203.0.113.7")
    assert info.value.key == "inspect.netron.error_start"
    assert "203.0.113.7" in info.value.message("es")


def test_missing_netron_is_a_user_facing_error(netron_dir, tiny_models, monkeypatch):
    a, _ = tiny_models
    path = ns.export_model(a, "tiny-a")
    monkeypatch.setitem(sys.modules, "netron", None)  # "import netron" raises ImportError
    with pytest.raises(ns.NetronError) as info:
        ns.serve_file(path, key="no-netron")
    assert "pip install netron" in str(info.value)
    assert not ns.viewer_status().installed


def test_viewer_age_from_the_bundled_page():
    status = ns.viewer_status()
    assert status.installed and status.version
    assert status.build_date is not None and status.build_date.tzinfo is not None
    assert status.expires == status.build_date + dt.timedelta(days=180)
    assert not status.expired(now=status.build_date + dt.timedelta(days=179))
    assert status.expired(now=status.build_date + dt.timedelta(days=181))
    assert status.age_days(now=status.build_date + dt.timedelta(days=10, hours=1)) == 10


def test_oldest_server_is_stopped_beyond_the_limit(netron_dir, tiny_models, monkeypatch):
    a, b = tiny_models
    monkeypatch.setattr(ns, "MAX_SERVERS", 2)
    monkeypatch.setattr(ns, "HOLD_SECONDS", 0.0)  # nobody holds a graph: the least recently used goes
    first = ns.serve_model(a, "tiny-a")
    second = ns.serve_model(b, "tiny-b")
    assert ns.serve_model(a, "tiny-a") == first  # reuse makes "tiny-a" the most recent
    third = ns.serve_model(a, "tiny-a-again")
    assert [s.key for s in ns.servers()] == ["tiny-a", "tiny-a-again"]
    assert not second.alive() and first.alive() and third.alive()


def test_a_graph_in_use_is_never_stopped_for_another(netron_dir, tiny_models, monkeypatch):
    a, b = tiny_models
    monkeypatch.setattr(ns, "MAX_SERVERS", 1)
    first = ns.serve_model(a, "tiny-a")  # a classmate has it open (just looked at it)
    with pytest.raises(ns.NetronError) as info:
        ns.serve_model(b, "tiny-b")
    assert info.value.key == "inspect.netron.error_busy"
    assert first.alive() and [s.key for s in ns.servers()] == ["tiny-a"]


def test_exports_are_bounded_and_cleaned_at_start(netron_dir, tiny_models, monkeypatch):
    a, _ = tiny_models
    root = ns.export_root()
    stale = root / "left-by-an-earlier-process"
    stale.mkdir()
    (stale / "x.keras").write_bytes(b"old")
    import os

    os.utime(stale, (0, 0))
    ns._CLEANED.discard(str(root))  # noqa: SLF001 (as a fresh process would)
    root = ns.export_root()
    assert not stale.exists()
    monkeypatch.setattr(ns, "MAX_EXPORTS", 2)
    for i in range(4):
        ns.export_model(a, f"tiny-{i}")
    assert sorted(p.name for p in root.iterdir()) == ["tiny-2", "tiny-3"]
