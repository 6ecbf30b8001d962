"""The committed configurations are what the code renders, and nginx accepts them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from oms_gateway import openapi_export
from oms_gateway.render import compose_config, render, routes

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _nginx_accepts(conf: Path, prefix: Path) -> subprocess.CompletedProcess:
    return subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf), "-e", "stderr"],
                          capture_output=True, text=True, check=False)


def test_compose_gateway_config_is_current():
    committed = (ROOT / "gateway" / "compose.nginx.conf").read_text()
    assert committed == compose_config(), "run: python -m oms_gateway.render --write " \
        "gateway/compose.nginx.conf"


def test_openapi_document_is_current(monkeypatch, tmp_path):
    monkeypatch.setenv("OMS_JWT__SECRET", "d" * 40)
    monkeypatch.setenv("OMS_DATA_DIR", str(tmp_path))
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == openapi_export.export(), "run: make openapi"


def test_rendered_gateway_config_is_valid_nginx(tmp_path):
    services = sorted({name for _, name in routes()})
    conf = tmp_path / "nginx.conf"
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / sub).mkdir()
    conf.write_text(render(listen="127.0.0.1:1", run_dir=str(tmp_path),
                           openapi_path=str(tmp_path / "openapi.json"),
                           upstreams={name: ["127.0.0.1:2", "127.0.0.1:3"] for name in services}))
    result = _nginx_accepts(conf, tmp_path)
    assert result.returncode == 0, result.stderr


def test_a_missing_upstream_is_refused():
    with pytest.raises(ValueError, match="product"):
        render(listen="127.0.0.1:1", run_dir="/tmp", openapi_path="/tmp/x",
               upstreams={"auth": ["127.0.0.1:2"]})


@pytest.mark.parametrize("name", ["oms.conf", "compose.edge.conf"])
def test_edge_configs_are_valid_nginx(tmp_path, name):
    text = (ROOT / "nginx" / name).read_text()
    text = text.replace("192.168.33.10", "127.0.0.1").replace("192.168.33.11", "127.0.0.2")
    text = text.replace("gateway:36002", "127.0.0.1:36002")
    text = text.replace("listen 80;", "listen 127.0.0.1:1;")
    (tmp_path / "edge.conf").write_text(text)
    main = tmp_path / "nginx.conf"
    main.write_text(f"pid {tmp_path}/nginx.pid; events {{}} "
                    f"http {{ client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path}; "
                    f"include {tmp_path}/edge.conf; }}")
    result = _nginx_accepts(main, tmp_path)
    assert result.returncode == 0, result.stderr


def _render_valid(tmp_path, **kwargs) -> str:
    services = sorted({name for _, name in routes()})
    conf = tmp_path / "nginx.conf"
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / sub).mkdir(exist_ok=True)
    text = render(listen="127.0.0.1:1", run_dir=str(tmp_path),
                  openapi_path=str(tmp_path / "openapi.json"),
                  upstreams={name: ["127.0.0.1:2"] for name in services}, **kwargs)
    conf.write_text(text)
    result = _nginx_accepts(conf, tmp_path)
    assert result.returncode == 0, result.stderr
    return text


def test_x_forwarded_for_is_believed_only_from_the_trusted_proxies(tmp_path):
    """None by default: the header is ignored. Listed: only from those (docs/security.md)."""
    plain = _render_valid(tmp_path)
    assert "set_real_ip_from" not in plain and "real_ip_header" not in plain
    trusting = _render_valid(tmp_path, trusted_proxies=["192.168.33.5", "10.1.0.0/16", "::1"])
    assert [line.strip() for line in trusting.splitlines() if "real_ip" in line] == [
        "set_real_ip_from 192.168.33.5/32;", "set_real_ip_from 10.1.0.0/16;",
        "set_real_ip_from ::1/128;", "real_ip_header X-Forwarded-For;", "real_ip_recursive on;"]


@pytest.mark.parametrize("proxy", ["edge; return 200", "10.0.0.0/33", "unix:", ""])
def test_a_trusted_proxy_that_is_not_an_address_is_refused(proxy):
    with pytest.raises(ValueError, match="trusted proxy"):
        render(listen="127.0.0.1:1", run_dir="/tmp", openapi_path="/tmp/x",
               upstreams={name: ["127.0.0.1:2"] for _, name in routes()},
               trusted_proxies=[proxy])


def test_every_error_nginx_makes_is_an_envelope_of_the_error_table():
    """Each status nginx answers itself has its code (status*100) in docs/api.md, and the
    statuses it answers alike (494, 502, redirects) are caught by an error_page too."""
    from oms_gateway.render import ERRORS

    table = (ROOT / "docs" / "api.md").read_text()
    text = compose_config()
    for status, code, _message, also in ERRORS:
        assert code == status * 100
        assert f"| {status} | {code} |" in table, f"docs/api.md lacks {code}"
        assert f"error_page {' '.join(map(str, (status, *also)))} = /__oms_error/{status};" \
            in text
    answered = {s for status, _, _, also in ERRORS for s in (status, *also)}
    # What nginx itself can answer with in this configuration (ngx_http_special_response).
    assert {400, 403, 404, 405, 408, 411, 412, 413, 414, 416, 429, 494, 500, 501, 502, 503,
            504, 505, 301, 302, 303, 307, 308} <= answered
