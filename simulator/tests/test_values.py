"""Credentials, the batch CSV, thing-model values and the CLI's argument checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest

from oms_simulator import Credentials, Model, aliyun_password, connect_params, load_model, read_csv
from oms_simulator.cli import main
from oms_simulator.values import value_for

DEVICE = Credentials("1", "a1B2c3", "lamp01", "0123456789abcdef0123456789abcdef", "B1")


def test_plain_credentials_follow_the_contract() -> None:
    params = connect_params(DEVICE)
    assert (params.client_id, params.username, params.password) == (
        "a1B2c3.lamp01", "lamp01&a1B2c3", DEVICE.device_secret)


def test_aliyun_signature_is_the_documented_hmac() -> None:
    params = connect_params(DEVICE, aliyun=True, timestamp_ms=1700000000000)
    assert params.client_id == (
        "a1B2c3.lamp01|securemode=2,signmethod=hmacsha256,timestamp=1700000000000|")
    assert params.username == "lamp01&a1B2c3"
    content = ("clientIda1B2c3.lamp01deviceNamelamp01productKeya1B2c3"
               "timestamp1700000000000")
    expected = hmac.new(DEVICE.device_secret.encode(), content.encode(),
                        hashlib.sha256).hexdigest()
    assert params.password == expected == (
        "2570ad112802fd931a07e9d466a35812a3075e86f6f6db8be0d49e0fe6b6057c")
    assert aliyun_password(DEVICE, 1700000000001) != expected


def test_aliyun_timestamp_defaults_to_now() -> None:
    before = int(time.time() * 1000)
    params = connect_params(DEVICE, aliyun=True)
    stamp = int(params.client_id.split("timestamp=")[1].rstrip("|"))
    assert before <= stamp <= int(time.time() * 1000)
    assert params.password == aliyun_password(DEVICE, stamp)


def test_read_csv_takes_the_first_count_rows(tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text("device_id,product_key,device_name,device_secret,batch_no\n"
                    "7,pk,d1,s1,B9\n8,pk,d2,s2,B9\n9,pk,d3,s3,B9\n", encoding="utf-8")
    assert read_csv(path, 2) == [Credentials("7", "pk", "d1", "s1", "B9"),
                                 Credentials("8", "pk", "d2", "s2", "B9")]
    assert len(read_csv(path)) == 3
    path.write_text("id,name\n1,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a batch CSV"):
        read_csv(path)


def test_generated_values_fit_the_model(full_model: dict[str, Any],
                                       check_report: Any) -> None:
    model = Model.from_json(full_model)
    seen_modes = set()
    for _ in range(300):
        params = model.property_params()
        check_report(full_model, params)
        seen_modes.add(params["mode"])
    assert seen_modes == {0, 2, 7}


def test_a_set_value_wins_and_unknown_ones_are_ignored(full_model: dict[str, Any]) -> None:
    model = Model.from_json(full_model)
    params = model.property_params({"count": 3, "nonsense": 1})
    assert params["count"] == 3 and "nonsense" not in params


def test_event_params_follow_output_data(full_model: dict[str, Any]) -> None:
    model = Model.from_json(full_model)
    assert [e["identifier"] for e in model.events] == ["alarm", "switchon"]
    assert 1 <= model.event_params(model.events[0])["level"] <= 3
    assert model.event_params(model.events[1]) == {}


@pytest.mark.parametrize("wrap", [
    lambda m: m,
    lambda m: {"id": 4, "name": "Lamp", "thing_model": m},
    lambda m: {"code": 0, "message": "ok", "data": {"id": 4, "thing_model": m}},
    lambda m: {"id": 4, "thing_model": json.dumps(m)},
], ids=["model", "product", "envelope", "model-as-string"])
def test_load_model_accepts_a_model_or_a_product_detail(tmp_path: Path, wrap: Any,
                                                        full_model: dict[str, Any]) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(wrap(full_model)), encoding="utf-8")
    model = load_model(path)
    assert len(model.properties) == 10
    assert model.properties[-1] == {"identifier": "anything"}
    assert model.service("reboot") is not None and model.service("nope") is None


def test_without_a_model_a_device_reports_a_temperature() -> None:
    params = load_model(None).property_params()
    assert list(params) == ["temperature"] and isinstance(params["temperature"], float)


def test_numbers_without_specs_and_one_sided_ranges() -> None:
    for _ in range(100):
        assert 0 <= value_for({"type": "int"}) <= 100
        assert value_for({"type": "int", "specs": {"min": 500}}) == 500
        assert value_for({"type": "float", "specs": {"max": -10}}) <= -10
        assert 7 <= value_for({"type": "double", "specs": {"min": 7, "max": 7.01}}) <= 7.01


def test_cli_refuses_a_file_that_is_not_a_batch(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n", encoding="utf-8")
    assert main(["--csv", str(path)]) == 2
    assert "not a batch CSV" in capsys.readouterr().err
    assert main(["--csv", str(tmp_path / "missing.csv")]) == 2
