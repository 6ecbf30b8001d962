"""Render the gateway's nginx configuration from the service table (``oms_shared.SERVICES``).

``python -m oms_gateway.render --compose`` prints the configuration that
``docker-compose.yml`` mounts (kept in ``gateway/compose.nginx.conf``).
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from oms_shared import SERVICES, ServiceSpec

__all__ = ["render", "routes"]


def routes(services: Sequence[ServiceSpec] = SERVICES) -> tuple[tuple[str, str], ...]:
    """Path prefixes and the service that owns each, from the service table."""
    return tuple((prefix, spec.name) for spec in services if spec.http for prefix in spec.routes)

#: Every status nginx can answer with itself, as an envelope: (HTTP status, code, message,
#: statuses answered the same way). nginx's own 494 (headers too large) is answered as
#: 431, its 502 (no upstream answered) as 503, and a redirect it would make (a route
#: prefix without its final slash) as 404: no answer redirects.
ERRORS: tuple[tuple[int, int, str, tuple[int, ...]], ...] = (
    (400, 40000, "bad request", ()),
    (403, 40300, "not allowed", ()),
    (404, 40400, "no such endpoint", (301, 302, 303, 307, 308)),
    (405, 40500, "method not allowed; use POST", ()),
    (408, 40800, "request timed out", ()),
    (411, 41100, "length required", ()),
    (412, 41200, "precondition failed", ()),
    (413, 41300, "body too large (limit 1 MiB)", ()),
    (414, 41400, "request line too long (limit 4 KiB)", ()),
    (416, 41600, "range not satisfiable", ()),
    (429, 42900, "rate limited; slow down", ()),
    (431, 43100, "request headers too large (limit 4 KiB a line, 16 KiB in all)", (494,)),
    (500, 50000, "internal error", ()),
    (501, 50100, "not implemented", ()),
    (503, 50300, "the service behind this route is unavailable", (502,)),
    (504, 50400, "the service behind this route did not answer in time", ()),
    (505, 50500, "HTTP version not supported", ()),
)

#: Seconds a 429 asks the caller to wait (``Retry-After``): the token limit allows at
#: least one request a second, so one second always frees a slot.
RETRY_AFTER = 1


def render(*, listen: str, upstreams: Mapping[str, Sequence[str]], run_dir: str,
           openapi_path: str, error_log: str = "stderr", access_log: str = "off",
           token_rate: int = 20, token_burst: int = 40, worker_processes: str = "auto",
           user: str | None = None, trusted_proxies: Sequence[str] = (),
           services: Sequence[ServiceSpec] = SERVICES) -> str:
    """The gateway's nginx configuration. ``trusted_proxies`` (addresses or CIDR
    networks, ``gateway.trusted_proxies``) are the only peers whose ``X-Forwarded-For``
    names the client; with none, the client is always the connection's peer."""
    # An nginx configuration, not HTML: nothing to autoescape.
    env = Environment(loader=PackageLoader("oms_gateway"), undefined=StrictUndefined,  # noqa: S701
                      keep_trailing_newline=True)
    table = routes(services)
    missing = {name for _, name in table} - set(upstreams)
    if missing:
        raise ValueError(f"no upstream for {sorted(missing)}")
    if access_log != "off":
        access_log = f"{access_log} oms_json buffer=64k flush=1s"
    return env.get_template("nginx.conf.j2").render(
        listen=listen, upstreams=upstreams, run_dir=run_dir, openapi_path=openapi_path,
        error_log=error_log, access_log=access_log, token_rate=token_rate,
        token_burst=token_burst, worker_processes=worker_processes, user=user,
        routes=table, bare_prefixes=_bare_prefixes(table), errors=ERRORS,
        retry_after=RETRY_AFTER,
        trusted_proxies=[_proxy(p) for p in trusted_proxies])


def _bare_prefixes(table: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each route prefix ending in a slash, without it, and its service: nginx would
    answer such a path with a redirect (to the prefix, at the caller's Host)."""
    taken = {prefix for prefix, _ in table} | {"/oms/auth/token"}
    return [(prefix[:-1], name) for prefix, name in table
            if prefix.endswith("/") and prefix[:-1] not in taken]


def _proxy(address: str) -> str:
    """An address or network as nginx's ``set_real_ip_from`` takes it; refuses anything
    else (the value is written into the configuration)."""
    try:
        return str(ipaddress.ip_network(address.strip(), strict=False))
    except ValueError:
        raise ValueError(f"trusted proxy {address!r} is not an address or network") from None


def compose_config() -> str:
    """The configuration for docker-compose: services by their compose names."""
    return render(listen="0.0.0.0:36002",
                  upstreams={spec.name: [f"{spec.folder}:8000"] for spec in SERVICES if spec.http},
                  run_dir="/tmp", openapi_path="/srv/oms/openapi.json",
                  error_log="stderr", access_log="/dev/stdout")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compose", action="store_true", help="print the compose config")
    parser.add_argument("--write", type=Path, help="write to this file instead of stdout")
    args = parser.parse_args(argv)
    text = compose_config()
    if args.write:
        args.write.write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
