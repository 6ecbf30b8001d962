"""Values that fit a product's thing model (the shape ``/oms/product/detail`` returns)."""

from __future__ import annotations

import json
import random
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PROPERTIES: list[dict[str, Any]] = [
    {"identifier": "temperature",
     "dataType": {"type": "float", "specs": {"min": -20, "max": 50}}}]


@dataclass(frozen=True)
class Model:
    """The parts of a thing model the simulator uses, each entry in its full form."""

    properties: list[dict[str, Any]] = field(default_factory=lambda: list(DEFAULT_PROPERTIES))
    events: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, raw: Any) -> Model:
        """A thing model object, a product (``thing_model`` inside) or a whole envelope."""
        if isinstance(raw, dict) and isinstance(raw.get("data"), dict) and "code" in raw:
            raw = raw["data"]
        if isinstance(raw, dict) and "thing_model" in raw:
            raw = raw["thing_model"]
        if isinstance(raw, str):
            raw = json.loads(raw) if raw.strip() else {}
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ValueError("a thing model must be an object")
        return cls(properties=_entries(raw.get("properties")),
                   events=_entries(raw.get("events")),
                   services=_entries(raw.get("services")))

    def property_params(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """One value per property; a value set by the platform wins over a generated one."""
        params = {p["identifier"]: value_for(p.get("dataType")) for p in self.properties}
        if overrides:
            params.update({k: v for k, v in overrides.items() if k in params})
        return params

    def event_params(self, event: dict[str, Any]) -> dict[str, Any]:
        return params_for(event.get("outputData"))

    def service(self, identifier: str) -> dict[str, Any] | None:
        return next((s for s in self.services if s["identifier"] == identifier), None)


def load_model(path: str | Path | None) -> Model:
    """The model in a JSON file; the default model (a temperature) without one."""
    if path is None:
        return Model()
    return Model.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def _entries(raw: Any) -> list[dict[str, Any]]:
    if not raw:
        return []
    return [{"identifier": e} if isinstance(e, str) else dict(e) for e in raw]


def params_for(parameters: list[Any] | None) -> dict[str, Any]:
    return {p["identifier"]: value_for(p.get("dataType")) for p in _entries(parameters)}


def value_for(data_type: dict[str, Any] | None, rng: random.Random | None = None) -> Any:
    """A random value of ``data_type`` within its specs (a float when it has none)."""
    r = rng or random
    if not data_type:
        return round(r.uniform(0, 100), 2)
    kind, specs = data_type.get("type"), data_type.get("specs")
    if kind == "int":
        low, high = _bounds(specs, 0, 100)
        return r.randint(int(-(-low // 1)), int(high // 1))
    if kind in ("float", "double"):
        low, high = _bounds(specs, 0, 100)
        return min(max(round(r.uniform(low, high), 2), low), high)
    if kind == "bool":
        return r.random() < 0.5
    if kind == "text":
        length = int((specs or {}).get("length") or 16)
        return "".join(r.choices(string.ascii_letters, k=r.randint(1, min(length, 16))))
    if kind == "enum":
        key = r.choice(list(specs or {}) or ["0"])
        return int(key) if key.lstrip("-").isdigit() else key
    if kind == "date":
        return int(time.time() * 1000)
    if kind == "struct":
        return params_for(specs if isinstance(specs, list) else [])
    if kind == "array":
        item = (specs or {}).get("item")
        size = int((specs or {}).get("size") or 3)
        return [value_for(item, rng) for _ in range(r.randint(1, min(size, 3)))]
    return round(r.uniform(0, 100), 2)


def _bounds(specs: dict[str, Any] | None, low: float, high: float) -> tuple[float, float]:
    specs = specs or {}
    lo = specs.get("min")
    hi = specs.get("max")
    lo = low if lo is None else lo
    hi = max(lo, high) if hi is None else hi
    if specs.get("min") is None and hi < lo:
        lo = min(hi, low)
    return float(lo), float(hi)
