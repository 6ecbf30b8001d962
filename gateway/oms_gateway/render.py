"""Render the gateway's nginx configuration from the service table (``oms_shared.SERVICES``).

``python -m oms_gateway.render --compose`` prints the configuration that
``docker-compose.yml`` mounts (kept in ``gateway/compose.nginx.conf``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from oms_shared import SERVICES, ServiceSpec

__all__ = ["render", "routes"]


def routes(services: Sequence[ServiceSpec] = SERVICES) -> tuple[tuple[str, str], ...]:
    """Path prefixes and the service that owns each, from the service table."""
    return tuple((prefix, spec.name) for spec in services if spec.http for prefix in spec.routes)

#: Errors nginx answers itself, as envelopes: (HTTP status, code, message).
ERRORS: tuple[tuple[int, int, str], ...] = (
    (400, 40000, "bad request"),
    (403, 40300, "not allowed"),
    (404, 40400, "no such endpoint"),
    (405, 40500, "method not allowed; use POST"),
    (413, 41300, "body too large (limit 1 MiB)"),
    (429, 42900, "rate limited; slow down"),
    (500, 50000, "internal error"),
    (503, 50300, "the service behind this route is unavailable"),
    (504, 50400, "the service behind this route did not answer in time"),
)


def render(*, listen: str, upstreams: Mapping[str, Sequence[str]], run_dir: str,
           openapi_path: str, error_log: str = "stderr", access_log: str = "off",
           token_rate: int = 20, token_burst: int = 40, worker_processes: str = "auto",
           user: str | None = None, services: Sequence[ServiceSpec] = SERVICES) -> str:
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
        routes=table, errors=ERRORS)


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
