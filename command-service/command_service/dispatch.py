"""The dispatch worker (``command_service.dispatch:run``): sends group jobs' commands.

Every ``TICK`` seconds it takes each running job's next queued commands, as many as the
job's ``rate`` (devices per second) allows since the last tick, asks the device service
for those devices' current status (one call per job and tick), publishes a command to
each device that is online, enabled and of an enabled product, and records the others
``undeliverable`` (an offline device is not retried forever). A job whose commands are
all settled (answered, failed, timed out, undeliverable or cancelled) is ``done``.
Answers are recorded by the replies worker; overdue ones are timed out there.

Commands are claimed with ``SKIP LOCKED`` on PostgreSQL, so two dispatchers never send
one command twice; each applies a job's rate on its own, so run one dispatcher per
platform for the rate to hold (compose and ``oms-stack`` do).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from command_service import commands, jobs
from command_service.db import db
from command_service.flows import OFFLINE, channel, command_message
from oms_shared import NotFound, OMSError, OMSState, fetch_product, service_token, utcnow

__all__ = ["run", "tick"]

log = logging.getLogger("oms.command.dispatch")

TICK = 0.2  # seconds


def _sendable(oms: OMSState, tenant: str, devices: dict[str, dict[str, Any]],
              device_id: str) -> bool:
    device = devices.get(device_id)
    if device is None or device["status"] in (*OFFLINE, "disabled", "produced"):
        return False
    try:
        product = fetch_product(catalog=oms.catalog, client=oms.client,
                                product_id=device["product_id"], tenant=tenant,
                                token=service_token(oms, tenant))
    except NotFound:
        return False
    return product.enabled


def tick(oms: OMSState, budgets: dict[str, float], elapsed: float) -> int:
    """One round over the running jobs; the number of commands settled or sent."""
    publisher, _waiter = channel(oms)
    done = 0
    with db.scoped() as session:
        running = [(job.id, job.tenant, job.rate) for job in jobs.running(session=session)]
    for job_id, tenant, rate in running:
        budget = min(budgets.get(job_id, 0.0) + rate * elapsed, float(max(rate, 1)))
        with db.scoped() as session:
            job = session.get(jobs.Job, job_id)
            if job is None or job.status != "running":
                continue
            batch = jobs.next_queued(session=session, job_id=job_id, limit=int(budget))
            budget -= len(batch)
            budgets[job_id] = budget
            if not batch:
                jobs.finish_if_done(session=session, job=job, now=utcnow())
                continue
            found = oms.client.post("device", "/internal/device/brief",
                                    {"device_ids": [c.device_id for c in batch]},
                                    token=service_token(oms, tenant), idempotent=True)
            devices = {d["id"]: d for d in found["devices"]}
            gone, messages = [], []
            for command in batch:
                if _sendable(oms, tenant, devices, command.device_id):
                    commands.mark_sent(session=session, command=command)
                    messages.append((command.message_id, command_message(command)))
                else:
                    gone.append(command.message_id)
            commands.undeliverable(session=session, message_ids=gone)
            done += len(batch)
        failed = []  # recorded as sent (committed) before any is published
        for message_id, message in messages:
            try:
                publisher.publish(message)
            except OMSError:
                failed.append(message_id)
        if failed:
            with db.scoped() as session:
                commands.undeliverable(session=session, message_ids=failed)
    for job_id in list(budgets):
        if job_id not in {j for j, _, _ in running}:
            budgets.pop(job_id)
    return done


def run(app: Flask, stop: threading.Event) -> None:
    """Dispatch group jobs until ``stop``."""
    oms: OMSState = app.extensions["oms"]
    if not oms.settings.broker.amqp_url.get_secret_value():
        log.warning("no broker configured (broker.amqp_url): group commands are off")
        stop.wait()
        return
    budgets: dict[str, float] = {}
    last = time.monotonic()
    while not stop.wait(TICK):
        now = time.monotonic()
        try:
            tick(oms, budgets, now - last)
        except (SQLAlchemyError, OMSError, OSError) as exc:
            log.warning("dispatch: %s; trying again", type(exc).__name__)
        last = now
