"""``oms-sim``: run a batch's devices against a broker. Only argument parsing lives here."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from oms_simulator.credentials import read_csv
from oms_simulator.fleet import MQTT_LOG, Fleet, FleetConfig, raise_open_file_limit
from oms_simulator.values import load_model


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="oms-sim", description="Simulate a production batch's devices over MQTT: "
        "connect, report properties and events per the thing model, answer property sets "
        "and service calls.")
    p.add_argument("--csv", required=True, type=Path,
                   help="the batch CSV from /oms/produce/download/{id}")
    p.add_argument("--count", type=int, help="run the first N devices (default: all)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--model", type=Path, help="thing model JSON (or a product detail JSON); "
                   "without it a device reports a temperature")
    p.add_argument("--interval", type=float, default=1.0,
                   help="seconds between property reports of one device (default 1.0)")
    p.add_argument("--events-every", type=int, default=10,
                   help="fire every event of the model every N reports (0: never)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--messages", type=int, help="property reports per device, then stop")
    p.add_argument("--qos", type=int, choices=(0, 1), default=1)
    p.add_argument("--aliyun", action="store_true",
                   help="Aliyun-style signed password (hmacsha256) instead of the secret")
    p.add_argument("--concurrency", type=int, default=100, help="connects in flight at once")
    p.add_argument("--report", type=Path, help="write the statistics as JSON here")
    p.add_argument("--acked", type=Path, help="write 'device_name,message_id' of every "
                   "acknowledged post here (CSV)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.count is not None and args.count < 1:
        parser().error("--count must be at least 1")
    try:
        devices = read_csv(args.csv, args.count)
        model = load_model(args.model)
    except (OSError, ValueError) as exc:
        print(f"oms-sim: {exc}", file=sys.stderr)
        return 2
    if not devices:
        print(f"oms-sim: {args.csv} holds no devices", file=sys.stderr)
        return 2
    raise_open_file_limit()
    MQTT_LOG.setLevel(logging.CRITICAL)  # thousands of "connection reset" lines help nobody
    config = FleetConfig(host=args.host, port=args.port, interval=args.interval,
                         events_every=args.events_every, duration=args.duration,
                         messages=args.messages, qos=args.qos, aliyun=args.aliyun,
                         connect_concurrency=args.concurrency,
                         record_acked=args.acked is not None)
    fleet = Fleet(devices, model, config)
    stats = asyncio.run(fleet.run(handle_signals=True))
    print(stats.summary(), flush=True)
    if args.report:
        args.report.write_text(json.dumps(stats.report(), indent=2) + "\n", encoding="utf-8")
    if args.acked:
        with args.acked.open("w", encoding="utf-8") as out:
            out.write("device_name,message_id\n")
            for device in fleet.devices:
                name = device.credentials.device_name
                out.writelines(f"{name},{mid}\n" for mid in device.acked_ids)
    return 0 if stats.connected else 1


if __name__ == "__main__":
    raise SystemExit(main())
