"""Services (and the gateway, tests and benches) use the library's public surface only:
``oms_shared`` itself and the modules tools load by path (``oms_shared.testing``,
``oms_shared.gunicorn_conf``, ``oms_shared.worker``)."""

from __future__ import annotations

import ast
from pathlib import Path

import oms_shared

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_MODULES = {"oms_shared", "oms_shared.testing", "oms_shared.gunicorn_conf",
                  "oms_shared.worker"}


def _outside_the_library() -> list[Path]:
    skip = {".venv", "data", ".git"}
    return [path for path in ROOT.rglob("*.py")
            if not skip & set(path.relative_to(ROOT).parts)
            and path.relative_to(ROOT).parts[0] != "shared"]


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, []) for a in node.names)
    return found


def test_nothing_outside_the_library_imports_a_private_module():
    offences = []
    for path in _outside_the_library():
        for line, module, names in _imports(path):
            if not module.startswith("oms_shared"):
                continue
            private = module not in PUBLIC_MODULES or any(n.startswith("_") for n in names
                                                          if n != "__version__")
            if private:
                offences.append(f"{path.relative_to(ROOT)}:{line} {module} {names}")
    assert offences == []


def test_the_library_modules_behind_the_surface_are_visibly_internal():
    package = Path(oms_shared.__file__).parent
    public = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    assert public == {"testing", "gunicorn_conf", "worker"}
