"""Hostile callers through the real gateway (docs/security.md, "Hostile callers"): every
answer, whoever makes it (nginx, gunicorn, the service), is an envelope whose code
agrees with its status; nothing redirects or repeats the caller's Host; every answer
carries nosniff and no-store; a 429 says when to come back; and X-Forwarded-For names
the client only when a trusted proxy sends it.

The platform here trusts one proxy, 127.0.0.2 (a loopback address of its own): a client
connecting from 127.0.0.2 plays the edge balancer, one from 127.0.0.1 anyone else."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from oms_gateway.render import routes
from oms_shared.testing import free_port, wait_until

pytestmark = pytest.mark.e2e

PROXY = "127.0.0.2"  # trusted (gateway.trusted_proxies)
EVIL = b"evil.example"
TOKEN_RATE, TOKEN_BURST = 2, 3


@pytest.fixture(scope="module")
def platform(start_platform):
    return start_platform(OMS_GATEWAY__TRUSTED_PROXIES=PROXY,
                          OMS_GATEWAY__TOKEN_RATE_PER_SECOND=str(TOKEN_RATE),
                          OMS_GATEWAY__TOKEN_BURST=str(TOKEN_BURST))


@pytest.fixture(scope="module")
def port(platform) -> int:
    return platform.stack.port


# ---- raw HTTP ----------------------------------------------------------------------------


@dataclass
class Answer:
    raw: bytes
    status: int | None  # None: an HTTP/0.9 answer (a body, no status line nor headers)
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def send(port: int, data: bytes, *, source: str | None = None, timeout: float = 10) -> Answer:
    """Send bytes as they are; read one answer (to its Content-Length, or to the close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as sock:
        sock.sendall(data)
        raw = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            raw += chunk
            head, sep, body = raw.partition(b"\r\n\r\n")
            if sep and raw.startswith(b"HTTP/"):
                length = re.search(rb"(?im)^content-length:\s*(\d+)\r?$", head)
                if length and len(body) >= int(length.group(1)):
                    break
    if not raw.startswith(b"HTTP/"):
        return Answer(raw, None, [], raw)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]
    return Answer(raw, int(lines[0].split()[1]), headers, body)  # type: ignore[arg-type]


def request(method: str, target: str, headers: dict[str, str] | None = None,
            body: bytes = b"", version: str = " HTTP/1.1") -> bytes:
    fields = {"Host": "oms.test", "Connection": "close", **(headers or {})}
    if body:
        fields.setdefault("Content-Length", str(len(body)))
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return f"{method} {target}{version}\r\n{head}\r\n".encode("latin-1") + body


def assert_envelope(answer: Answer, status: int | None = None, code: int | None = None
                    ) -> dict:
    """The promise for every answer: an envelope, status and code agreeing, the request
    id in the header and the body, nosniff and no-store, no redirect, no caller's Host."""
    assert answer.raw, "no answer at all"
    assert EVIL not in answer.raw.lower(), answer.raw[:300]
    envelope = json.loads(answer.body)
    assert set(envelope) == {"code", "message", "data", "request_id"}, envelope
    assert isinstance(envelope["code"], int) and envelope["request_id"]
    if answer.status is None:  # HTTP/0.9: the envelope alone
        assert envelope["code"] // 100 >= 400, envelope
    else:
        assert not 300 <= answer.status < 400 and not answer.header("Location"), answer.raw[:300]
        assert (answer.status, envelope["code"]) == (200, 0) or \
            envelope["code"] // 100 == answer.status, (answer.status, envelope)
        assert answer.header("Content-Type")[0].startswith("application/json")
        assert answer.header("X-Request-ID") == [envelope["request_id"]]
        assert answer.header("X-Content-Type-Options") == ["nosniff"]
        assert answer.header("Cache-Control") == ["no-store"]
    if status is not None:
        assert answer.status == status, (answer.status, envelope)
    if code is not None:
        assert envelope["code"] == code, envelope
    return envelope


# ---- 1. every answer is an envelope, whoever makes it ------------------------------------

PREFIXES = sorted({prefix for prefix, _ in routes()} | {"/oms/auth/token"})


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("tail", ["list%00", "%00", "detail/%00", "a%00b", "%00/list",
                                  "%2500%00", "x%0d%0aSet-Cookie:%20a=b%00"])
def test_a_nul_anywhere_in_any_route_is_a_400_envelope(port, prefix, tail):
    """nginx answered "/oms/product/list%00" with an HTML 500."""
    target = prefix.rstrip("/") + "/" + tail if prefix.endswith("/") else prefix + tail
    assert_envelope(send(port, request("POST", target)), 400, 40000)


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("length", [4100, 5000, 20000])
def test_a_long_path_in_any_route_is_refused_by_the_gateway(port, prefix, length):
    """A 5,000-character path got gunicorn's HTML 414."""
    target = (prefix + "a" * length)[:length]
    envelope = assert_envelope(send(port, request("POST", target)), 414, 41400)
    assert "4 KiB" in envelope["message"]  # the gateway's: refused before any service


@pytest.mark.parametrize(("name", "size"), [("X-Big", 4100), ("X-Big", 8200),
                                            ("X-Big", 20 * 1024), ("Token", 20 * 1024),
                                            ("X-Forwarded-For", 8100)])
def test_a_large_header_is_refused_by_the_gateway(port, name, size):
    """A 20 KB header got nginx's HTML 400."""
    answer = send(port, request("POST", "/oms/product/list", {name: "a" * size}))
    assert_envelope(answer, 431, 43100)


@pytest.mark.parametrize(("count", "statuses"), [(120, {401}), (400, {401}),
                                                 (1000, {401, 431}), (5000, {431})])
def test_many_headers_are_an_envelope(port, count, statuses):
    """120 headers passed nginx and got gunicorn's HTML 431: now the service answers
    (no token) as long as the gateway lets them through, and the gateway refuses more."""
    headers = {f"X-H{i}": "1" for i in range(count)}
    answer = send(port, request("POST", "/oms/product/list", headers))
    assert_envelope(answer)
    assert answer.status in statuses


def test_no_length_near_the_limits_slips_between_gateway_and_service(port):
    """Request lines and header lines around the gateway's 4 KiB: each is the service's
    answer or the gateway's, always an envelope (gunicorn's limits are far above)."""
    for length in range(3950, 4200, 10):
        assert_envelope(send(port, request("POST", "/oms/product/" + "a" * length)))
        assert_envelope(send(port, request("POST", "/oms/product/list",
                                           {"X-Pad": "a" * length})))


@pytest.mark.parametrize("data", [
    b"POST /oms/product/list\r\n\r\n",  # no version: HTTP/0.9
    b"GET /oms/product/list\r\n\r\n",
    b"POST /oms/product/list HTTP/2.0\r\nHost: x\r\n\r\n",
    b"POST /oms/product/list HTTP/9.9\r\nHost: x\r\n\r\n",
    b"POST /oms/product/list HTTP/1.1x\r\nHost: x\r\n\r\n",
    b"XY /oms/product/list HTTP/1.1\r\nHost: x\r\n\r\n",  # methods gunicorn refuses
    b"A" * 30 + b" /oms/product/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"get /oms/product/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"FOO_BAR /oms/product/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"TRACE /oms/product/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"CONNECT evil.example:443 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"POST /oms/product/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",  # bytes gunicorn refuses
    b"POST /oms/product/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST oms/product/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST http://evil.example/oms/product/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /oms/product/list HTTP/1.1\r\n\r\n",  # no Host
    b"POST /oms/product/list HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"POST /oms/product/list HTTP/1.1\r\nHost: a/b\r\n\r\n",
    b"POST /oms/product/list HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    b"POST /oms/product/list HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n",
    b"POST /oms/product/list HTTP/1.1\r\nHost: x\r\nX A: 1\r\n\r\n",
    b"POST /oms/product/list HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"POST /oms/product/list HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 3\r\n\r\n0\r\n\r\n",
    b"POST /oms/product/list HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /oms/product/list HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /oms/product/list HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
    b"POST /oms/product/list HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n",
    b'GET /openapi.json HTTP/1.1\r\nHost: x\r\nIf-Match: "nope"\r\n\r\n',
    b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n"
    b"If-Unmodified-Since: Mon, 01 Jan 1990 00:00:00 GMT\r\n\r\n",
    b"POST /__oms_error/500 HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=lambda data: data.split(b"\r\n")[0][:40].decode("latin-1"))
def test_a_malformed_request_is_answered_with_an_envelope(port, data):
    """Whoever refuses it (nginx for most, gunicorn for a method or bytes it cannot
    parse), the answer is the envelope; an HTTP/0.9 request gets the envelope alone."""
    if b"Connection" not in data:
        data = data.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n", 1)
    envelope = assert_envelope(send(port, data))
    assert envelope["code"] >= 40000


def test_the_openapi_document_is_whole_whatever_range_is_asked(port):
    """A Range nginx could not serve was an HTML 416; the document ignores ranges."""
    for wanted in ("bytes=99999999-", "bytes=0-10", "bytes=0-1,5-6"):
        answer = send(port, request("GET", "/openapi.json", {"Range": wanted}))
        assert answer.status == 200 and json.loads(answer.body)["openapi"].startswith("3.")
        assert len(answer.header("X-Request-ID")) == 1
        assert answer.header("X-Content-Type-Options") == ["nosniff"]


# ---- 2. nothing redirects, nothing repeats the caller's Host -----------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_no_spelling_of_a_route_redirects_or_repeats_the_host(port, prefix):
    """"/oms/product//list" with Host: evil.example got a 308 to
    http://evil.example/oms/product/list; "/oms/product" a 301 to the prefix."""
    base = prefix.rstrip("/")
    spellings = {base, base + "/", base + "//", base + "//list", base + "/list/",
                 base.replace("/", "//", 1), base.replace("/", "//") + "/list",
                 base + "/./list", base + "/list/.", base + "/%2Flist"}
    for target in sorted(spellings):
        for host in ("evil.example", "evil.example:8443"):
            assert_envelope(send(port, request("POST", target, {"Host": host})))


# ---- 4. nosniff and no-store on every answer, successes too ------------------------------


def _headers_of_every_kind(platform, caller) -> dict[str, requests.Response]:
    http = requests.Session()
    answers = {"token": http.post(f"{platform.url}/oms/auth/token",
                                  json=caller.token_request(), timeout=10)}
    product = caller.post("/oms/product/add", {"name": "h", "code": f"h-{uuid.uuid4().hex}"})
    answers["product add"] = product
    product_id = product.json()["data"]["id"]
    answers["product detail"] = caller.post(f"/oms/product/detail/{product_id}")
    batch = caller.data("/oms/produce/submit", {"name": "h", "amount": 2,
                                                "product_id": product_id,
                                                "batch_no": f"H-{uuid.uuid4().hex[:8]}"})
    answers["credentials CSV"] = caller.post(f"/oms/produce/download/{batch['id']}")
    caller.data(f"/oms/produce/confirm/{batch['id']}")
    device = caller.data(f"/oms/produce/device/{batch['id']}")["list"][0]
    answers["device detail"] = caller.post(f"/oms/device/detail/{device['id']}")
    answers["service error"] = caller.post("/oms/device/detail/nope")
    answers["no token"] = http.post(f"{platform.url}/pms/system/setting/info", timeout=10)
    answers["gateway 404"] = http.post(f"{platform.url}/nowhere", timeout=10)
    answers["gateway health"] = http.get(f"{platform.url}/healthz", timeout=10)
    answers["openapi"] = http.get(f"{platform.url}/openapi.json", timeout=10)
    return answers


def test_every_answer_carries_nosniff_and_no_store(platform):
    """Tokens, product and device details (secrets) and the credentials CSV among them."""
    answers = _headers_of_every_kind(platform, platform.default_caller())
    for kind, response in answers.items():
        assert response.headers.get("X-Content-Type-Options") == "nosniff", kind
        assert response.headers.get("Cache-Control") == "no-store", kind
        assert response.status_code < 300 or kind in ("service error", "no token",
                                                      "gateway 404"), kind
    assert "device_secret" in answers["credentials CSV"].text.splitlines()[0]
    assert answers["product detail"].json()["data"]["product_secret"]


# ---- 5 and 6. the rate limit: Retry-After, and whose address counts -----------------------


def _token_attempts(port: int, count: int, *, source: str | None = None,
                    forwarded: str | list[str] | None = None) -> list[Answer]:
    """``count`` token requests at once (a bad body: only the limit matters here)."""
    answers = []
    for i in range(count):
        headers = {"Content-Type": "application/json"}
        if forwarded is not None:
            headers["X-Forwarded-For"] = forwarded[i] if isinstance(forwarded, list) else forwarded
        answers.append(send(port, request("POST", "/oms/auth/token", headers, b"{}"),
                            source=source))
    return answers


def _access_log(platform) -> list[dict]:
    """The gateway's access log (a path's raw bytes are written as they came)."""
    text = (platform.stack.log_dir / "gateway-access.log").read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines()]


def _limited(answers: list[Answer]) -> int:
    return sum(1 for a in answers if a.status == 429)


def test_a_rate_limited_answer_says_when_to_come_back(port):
    answers = _token_attempts(port, TOKEN_BURST + 6, source=PROXY,
                              forwarded=f"198.51.100.{uuid.uuid4().int % 250 + 1}")
    limited = [a for a in answers if a.status == 429]
    assert limited
    for answer in limited:
        assert_envelope(answer, 429, 42900)
        assert int(answer.header("Retry-After")[0]) >= 1


def test_clients_behind_a_trusted_proxy_get_buckets_of_their_own(port, platform):
    """Behind the edge every client shared the edge's address, hence one bucket."""
    first, second = (f"203.0.113.{n}" for n in (uuid.uuid4().int % 120 + 1,
                                                 uuid.uuid4().int % 120 + 130))
    assert _limited(_token_attempts(port, TOKEN_BURST + 6, source=PROXY, forwarded=first))
    fresh = _token_attempts(port, TOKEN_BURST + 1, source=PROXY, forwarded=second)
    assert _limited(fresh) == 0  # not the first client's bucket
    # A chain: the client, then proxies; read from the right past every trusted hop.
    third = f"198.18.0.{uuid.uuid4().int % 250 + 1}"
    _token_attempts(port, 1, source=PROXY, forwarded=f"10.9.9.9, {third}, {PROXY}")
    deadline = time.monotonic() + 5  # the access log is flushed every second
    while time.monotonic() < deadline and not any(
            line["client"] == third for line in _access_log(platform)):
        time.sleep(0.2)
    seen = {(line["client"], line["peer"]) for line in _access_log(platform)}
    assert {(first, PROXY), (second, PROXY), (third, PROXY)} <= seen  # the real client


def test_x_forwarded_for_from_anyone_else_is_ignored(port, platform):
    """A caller not in gateway.trusted_proxies cannot choose its bucket (or its logged
    address) by writing X-Forwarded-For: every attempt lands in its own address's."""
    time.sleep((TOKEN_BURST + 1) / TOKEN_RATE)  # 127.0.0.1's bucket refilled
    spoofed = [f"192.0.2.{i + 1}" for i in range(TOKEN_BURST + 6)]
    answers = _token_attempts(port, len(spoofed), forwarded=spoofed)
    assert _limited(answers)  # one bucket, whatever the header said
    time.sleep(1.5)  # the access log is flushed every second
    assert not any(line["client"].startswith("192.0.2.") for line in _access_log(platform))
    time.sleep((TOKEN_BURST + 1) / TOKEN_RATE)  # leave 127.0.0.1's bucket full for others


# ---- behind the edge balancer (nginx/oms.conf) --------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def edge(platform, tmp_path_factory) -> Iterator[int]:
    """nginx/oms.conf as written, its gateways replaced by this platform's and reaching
    it from the trusted proxy's address (127.0.0.2); yields the edge's port."""
    folder = tmp_path_factory.mktemp("edge")
    edge_port = free_port()
    text = (ROOT / "nginx" / "oms.conf").read_text()
    text = re.sub(r"server 192\.168\.33\.\d+:36002[^;]*;", "", text, count=2)
    text = text.replace("keepalive 32;", f"server {platform.stack.listen};\n    keepalive 32;")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{edge_port};")
    text = text.replace("proxy_pass http://oms;", f"proxy_pass http://oms;\n        "
                                                  f"proxy_bind {PROXY};")
    (folder / "edge.conf").write_text(text)
    (folder / "nginx.conf").write_text(
        f"pid {folder}/nginx.pid; error_log stderr warn; events {{}}\n"
        f"http {{ client_body_temp_path {folder}; proxy_temp_path {folder}; "
        f"fastcgi_temp_path {folder}; uwsgi_temp_path {folder}; scgi_temp_path {folder}; "
        f"access_log off; include {folder}/edge.conf; }}\n")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen([nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"),
                                "-e", "stderr", "-g", "daemon off;"])
    def listening() -> bool:
        assert process.poll() is None, "the edge exited"
        try:
            socket.create_connection(("127.0.0.1", edge_port), 0.2).close()
        except OSError:
            return False
        return True

    try:
        wait_until(listening, timeout=10, what="the edge listening")
        yield edge_port
    finally:
        process.send_signal(signal.SIGQUIT)
        process.wait(10)


def test_behind_the_edge_each_client_has_its_own_bucket(edge, platform):
    """The edge's clients all reached the gateway from the edge's address: one bucket.
    Clients at 127.0.0.3 and 127.0.0.4 now count apart, and one that writes its own
    X-Forwarded-For (127.0.0.5) still counts as itself."""
    time.sleep((TOKEN_BURST + 1) / TOKEN_RATE)
    assert _limited(_token_attempts(edge, TOKEN_BURST + 6, source="127.0.0.3"))
    assert _limited(_token_attempts(edge, TOKEN_BURST + 1, source="127.0.0.4")) == 0
    spoofing = [f"192.0.2.{i + 100}" for i in range(TOKEN_BURST + 6)]
    assert _limited(_token_attempts(edge, len(spoofing), source="127.0.0.5",
                                    forwarded=spoofing))
    time.sleep(1.5)  # the access log is flushed every second
    seen = {(line["client"], line["peer"]) for line in _access_log(platform)}
    assert {("127.0.0.3", PROXY), ("127.0.0.4", PROXY), ("127.0.0.5", PROXY)} <= seen
    assert not any(client.startswith("192.0.2.") for client, _ in seen)


@pytest.mark.parametrize("data", [
    request("POST", "/oms/product/list%00"),
    request("POST", "/oms/product/" + "a" * 5000),  # the gateway refuses it
    request("POST", "/oms/product/" + "a" * 9000),  # the edge refuses it
    request("POST", "/oms/product/list", {"X-Big": "a" * 6000}),
    request("POST", "/oms/product/list", {"X-Big": "a" * 20000}),
    request("POST", "/oms/product/list", body=b"{" + b" " * (1024 * 1024 + 10) + b"}"),
    request("POST", "/oms/product/list", body=b"{" + b" " * (2 * 1024 * 1024 + 10) + b"}"),
    request("POST", "/oms/product/list", {"Transfer-Encoding": "gzip"}),
    request("POST", "/oms/product/list", version=" HTTP/2.0"),
    b"POST /oms/product/list\r\n\r\n",
    request("POST", "/oms", {"Host": "evil.example"}),
    request("POST", "/oms/product", {"Host": "evil.example"}),
    request("POST", "/oms/product//list", {"Host": "evil.example"}),
    request("POST", "/"),
    request("POST", "/__oms_edge/500"),
    request("GET", "/oms/product/list"),
], ids=lambda data: data.split(b"\r\n")[0][:40].decode("latin-1"))
def test_the_edge_answers_with_envelopes_too(edge, data):
    envelope = assert_envelope(send(edge, data))
    assert envelope["code"] >= 40000
