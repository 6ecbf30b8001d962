"""Write the platform's OpenAPI document: ``python -m oms_gateway.openapi_export FILE``.

It loads every service's app factory (a documentation tool may; services never
import each other) and documents the endpoints they declare.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from flask import Flask

from oms_shared import SERVICES, build_openapi, check_packages, load_settings


def service_apps() -> list[Flask]:
    """Every service's app, as its factory makes it."""
    check_packages()
    return [importlib.import_module(spec.app_module).create_app() for spec in SERVICES
            if spec.http]


def export(apps: list[Flask] | None = None) -> dict:
    return build_openapi(apps if apps is not None else service_apps(),
                         version=load_settings().version)


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m oms_gateway.openapi_export FILE")
    Path(sys.argv[1]).write_text(json.dumps(export(), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
