"""The service table is the one list of services: what cannot read it (the compose file)
agrees with it, and a row without its package fails with a clear message."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from oms_gateway.stack import Stack
from oms_shared import SERVICES, ServiceSpec, ServiceTableError, check_packages

ROOT = Path(__file__).resolve().parents[2]


def test_every_row_has_its_package_and_every_package_its_row():
    check_packages()
    folders = {path.name for path in ROOT.glob("*-service") if path.is_dir()}
    assert folders == {spec.folder for spec in SERVICES}
    for spec in SERVICES:
        assert (ROOT / spec.folder / "pyproject.toml").exists(), spec.folder


def test_a_row_without_a_package_fails_with_a_clear_message(tmp_path):
    billing = ServiceSpec("billing", routes=("/oms/billing/",), database=True)
    with pytest.raises(ServiceTableError) as caught:
        check_packages([*SERVICES, billing])
    message = str(caught.value)
    assert "billing" in message and "billing_service" in message and "billing-service/" in message
    with pytest.raises(ServiceTableError, match="billing_service"):
        Stack(data_dir=tmp_path, services=[*SERVICES, billing])


def test_a_worker_that_cannot_be_imported_is_named():
    broken = ServiceSpec("device", routes=("/oms/device/",), workers=("device_service.nope:run",))
    with pytest.raises(ServiceTableError, match=r"device_service\.nope"):
        broken.check_package()


def test_the_compose_file_runs_what_the_table_says():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    env = compose["x-service"]["environment"]
    databases = compose["configs"]["create-databases"]["content"]
    declared = {name for name in services if name.endswith("-service")}
    assert declared == {spec.folder for spec in SERVICES if spec.http}
    for spec in SERVICES:
        name = spec.name.upper()
        if spec.http:
            assert services[spec.folder]["build"]["args"]["SERVICE"] == spec.name
            assert env[f"OMS_{name}__URL"] == f"http://{spec.folder}:8000"
            assert spec.folder in services["gateway"]["depends_on"]
        if spec.database:
            assert f"OMS_{name}__DATABASE_URL" in env
            assert f"CREATE DATABASE oms_{spec.name};" in databases
        for target in spec.workers:
            runs = [s for s in services.values()
                    if f"oms_shared.worker {target}" in " ".join(s.get("command") or [])]
            assert runs, f"no compose service runs the worker {target}"
    assert {k for k in env if k.endswith("__DATABASE_URL")} == {
        f"OMS_{spec.name.upper()}__DATABASE_URL" for spec in SERVICES if spec.database}
    assert set(re.findall(r"CREATE DATABASE oms_(\w+);", databases)) == {
        spec.name for spec in SERVICES if spec.database}
    assert {k for k in env if re.fullmatch(r"OMS_[A-Z]+__URL", k)} - {
        "OMS_REDIS__URL", "OMS_BROKER__URL"} == {
        f"OMS_{spec.name.upper()}__URL" for spec in SERVICES if spec.http}


def _imports_within(package: Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        edges = graph.setdefault(path.stem, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == package.name:
                    edges.update(a.name for a in node.names)
                elif node.module.startswith(package.name + "."):
                    edges.add(node.module.split(".")[1])
    return graph


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_every_service_has_the_one_shape(spec):
    """app.py with create_app; no import cycle inside the package; queries in entity
    modules and workflows in flows.py, so no catch-all service.py or utils.py."""
    package = ROOT / spec.folder / spec.package
    modules = {path.stem for path in package.glob("*.py")}
    assert "app" in modules
    assert "def create_app(" in (package / "app.py").read_text()
    assert not modules & {"service", "utils", "helpers", "common"}
    graph = _imports_within(package)

    def visit(module: str, trail: tuple[str, ...]) -> None:
        assert module not in trail, f"import cycle: {' -> '.join((*trail, module))}"
        for target in graph.get(module, ()):
            visit(target, (*trail, module))

    for module in graph:
        visit(module, ())
