"""The replies worker's storing step on a real database and Redis: a device's answer
lands on its command (late ones too), the waiting process is told, and anything else
changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from command_service import commands, replies
from command_service.models import Command
from oms_shared import BrokerMessage, topic_key, utcnow
from oms_shared.testing import wait_until

PK, DN = "pk1", "dn1"


def _command(session, message_id: str, *, status: str = "sent", reply_to: str | None = None,
             kind: str = "property_set") -> Command:
    now = utcnow()
    return commands.create(session=session, message_id=message_id, tenant="t1", device_id="d1",
                           product_key=PK, device_name=DN, kind=kind, identifier=None,
                           call_type="sync", params={"level": 1}, user_id="u1", app_id="a1",
                           status=status, timeout_ms=5000, created_at=now, sent_at=now,
                           deadline=now + timedelta(seconds=5), reply_to=reply_to)


def _reply(message_id: str, code=200, *, topic: str = "property/set_reply",
           device: str = DN, data=None) -> BrokerMessage:
    body = json.dumps({"id": message_id, "code": code, "data": data or {"ok": True}})
    return BrokerMessage(topic_key(f"/sys/{PK}/{device}/thing/service/{topic}"), body.encode())


def test_a_reply_lands_on_its_command_and_wakes_the_waiting_process(app, session, redis_client):
    oms = app.extensions["oms"]
    channel = oms.keys.command_replies("test-process")
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(channel)
    listener.get_message(timeout=1)
    _command(session, "m1", reply_to=channel)
    session.commit()
    with app.app_context():
        assert replies.handle(oms, [_reply("m1", data={"level": 1})]) == 1
    message = wait_until(lambda: listener.get_message(timeout=0.2), what="the signal")
    assert json.loads(message["data"]) == {"message_id": "m1", "code": 200,
                                           "data": {"level": 1}}
    session.expire_all()
    stored = commands.get(session=session, message_id="m1")
    assert stored.status == "succeeded" and stored.code == 200 and stored.replied_at
    listener.close()


def test_a_late_reply_still_lands_and_a_device_code_is_a_failure(app, session):
    _command(session, "late", status="timed_out")
    _command(session, "no", kind="service")
    session.commit()
    with app.app_context():
        replies.handle(app.extensions["oms"], [_reply("late"),
                                               _reply("no", 503, topic="reboot_reply")])
    session.expire_all()
    assert commands.get(session=session, message_id="late").status == "succeeded"
    refused = commands.get(session=session, message_id="no")
    assert (refused.status, refused.code) == ("failed", 503)


@pytest.mark.parametrize("message", [
    _reply("m2", device="someone-else"),  # another device's answer to our id
    BrokerMessage(topic_key(f"/sys/{PK}/{DN}/thing/service/property/set"), b'{"id": "m2"}'),
    BrokerMessage(topic_key(f"/sys/{PK}/{DN}/thing/service/property/set_reply"), b"not json"),
    BrokerMessage(topic_key(f"/sys/{PK}/{DN}/thing/service/property/set_reply"),
                  b'{"id": "m2", "code": "200"}'),
    BrokerMessage(topic_key(f"/sys/{PK}/{DN}/thing/service/property/set_reply"), b"[1]"),
], ids=["stranger", "the-command-itself", "not-json", "code-not-a-number", "not-an-object"])
def test_anything_but_the_devices_own_reply_changes_nothing(app, session, message):
    _command(session, "m2")
    session.commit()
    with app.app_context():
        assert replies.handle(app.extensions["oms"], [message]) == 0
    session.expire_all()
    assert commands.get(session=session, message_id="m2").status == "sent"


def test_a_repeated_reply_changes_nothing_more(app, session):
    _command(session, "m3")
    session.commit()
    with app.app_context():
        replies.handle(app.extensions["oms"], [_reply("m3", 200)])
        replies.handle(app.extensions["oms"], [_reply("m3", 500)])
    session.expire_all()
    assert commands.get(session=session, message_id="m3").code == 200


def test_a_timeout_never_overwrites_a_reply(app, session):
    _command(session, "m4", status="succeeded")
    _command(session, "m5")
    session.flush()
    assert commands.time_out(session=session, message_ids=["m4", "m5"]) == 1
    session.expire_all()
    assert [commands.get(session=session, message_id=m).status for m in ("m4", "m5")] == [
        "succeeded", "timed_out"]
    overdue = commands.overdue(session=session, now=utcnow() + timedelta(seconds=10),
                               grace=timedelta(seconds=2))
    assert overdue == []  # nothing is still sent
