"""What the library promises a hostile caller (docs/security.md, "Hostile callers"):
routing never redirects, every refusal keeps its status in the envelope, a 429 says when
to come back, exactly one of concurrent removals succeeds, and gunicorn's own refusals
are envelopes too. The same promises through the real gateway:
tests/test_hostile_callers_e2e.py."""

from __future__ import annotations

import json
import socket
import threading
import uuid

import pytest
from flask import abort
from sqlalchemy import MetaData, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.exceptions import default_exceptions

from oms_shared import Base, NotFound, SettingsError, delete_or_404, load_settings
from oms_shared._database import make_engine
from oms_shared.testing import token_for

EVIL = "evil.example"


def _assert_no_redirect(response, status: int, code: int) -> None:
    assert response.status_code == status, (response.status_code, response.data)
    assert "Location" not in response.headers
    assert EVIL.encode() not in response.data
    body = response.get_json()
    assert body["code"] == code and body["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("path", [
    "/oms/note//list", "//oms/note/list", "/oms//note/list", "/oms/note/list/",
    "/oms/note/list//", "/oms/note/detail//1", "/oms/note/detail/1/",
])
def test_a_path_is_routed_as_sent_never_redirected(client, headers, path):
    """werkzeug answered "/oms/note//list" with a 308 to http://<caller's Host>/..."""
    response = client.post(path, json={}, headers={**headers, "Host": EVIL})
    _assert_no_redirect(response, 404, 40400)


def test_no_rule_redirects_whatever_it_declares(make_app, base_config, tmp_path):
    """Rules that would make werkzeug redirect (a final slash, an alias, ``redirect_to``,
    defaults) added after ``init_app`` still answer 404 instead."""
    app = make_app({**base_config, "product": {"database_url": f"sqlite:///{tmp_path}/r.db"}})
    app.add_url_rule("/oms/slash/", "slash", lambda: "x", methods=["POST"])
    app.add_url_rule("/oms/moved", "moved", redirect_to="/oms/slash/", methods=["POST"])
    def page(n: int) -> str:
        return str(n)

    app.add_url_rule("/oms/page/", "page", page, defaults={"n": 1}, methods=["POST"])
    app.add_url_rule("/oms/page/<int:n>", "page", page, methods=["POST"])
    client = app.test_client()
    headers = {"Token": token_for(app, app_id="lib-app", tenant="t1"), "Host": EVIL}
    for path in ("/oms/slash", "/oms/moved"):
        _assert_no_redirect(client.post(path, headers=headers), 404, 40400)
    served = client.post("/oms/page/1", headers=headers)  # a default's own URL: no redirect
    assert served.status_code == 200 and "Location" not in served.headers


_REFUSALS = sorted(code for code in default_exceptions if code >= 400)


@pytest.mark.parametrize("status", _REFUSALS)
def test_every_refusal_werkzeug_can_make_keeps_its_status(make_app, base_config, tmp_path,
                                                          status):
    """Any HTTP error raised in a service (werkzeug's 411, 414, 416, 431, 501 ...) is the
    envelope with that status and code status*100, not a 400 or a 500 in its place."""
    app = make_app({**base_config, "product": {"database_url": f"sqlite:///{tmp_path}/e.db"}})
    app.add_url_rule("/oms/refuse", "refuse", lambda: abort(status), methods=["POST"])
    client = app.test_client()
    response = client.post("/oms/refuse",
                           headers={"Token": token_for(app, app_id="a", tenant="t1")})
    body = response.get_json()
    assert response.status_code == status
    assert body["code"] == status * 100
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert ("Retry-After" in response.headers) == (status == 429)


def test_a_rate_limited_answer_says_when_to_come_back(make_app, base_config, tmp_path):
    from oms_shared import RateLimited

    app = make_app({**base_config, "product": {"database_url": f"sqlite:///{tmp_path}/l.db"}})

    def limited():
        raise RateLimited()

    app.add_url_rule("/oms/limited", "limited", limited, methods=["POST"])
    response = app.test_client().post(
        "/oms/limited", headers={"Token": token_for(app, app_id="a", tenant="t1")})
    assert response.status_code == 429 and response.get_json()["code"] == 42900
    assert int(response.headers["Retry-After"]) >= 1


# ---- removals: exactly one of concurrent removals succeeds -------------------------------


class _Base(Base):
    __abstract__ = True
    metadata = MetaData()


class Thing(_Base):
    __tablename__ = "race_things"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))


class Pair(_Base):
    """A row with a composite key (group members, bindings)."""

    __tablename__ = "race_pairs"
    left: Mapped[str] = mapped_column(String(36), primary_key=True)
    right: Mapped[str] = mapped_column(String(36), primary_key=True)


@pytest.fixture
def engine(empty_database_url):
    engine = make_engine(empty_database_url)
    _Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _race(engine, model, key, callers: int = 20) -> list[str]:
    """``callers`` threads each read the row, meet, then remove it in their own
    transaction; what each got."""
    barrier = threading.Barrier(callers)
    outcomes: list[str] = []

    def remove() -> None:
        with Session(engine) as session:
            row = session.get(model, key)
            session.commit()  # as a flow's end_read: the read is over
            barrier.wait(timeout=30)
            try:
                with session.begin():
                    if row is None:
                        raise NotFound("thing")
                    delete_or_404(session, row, resource="thing")
                outcomes.append("removed")
            except NotFound:
                outcomes.append("40401")

    threads = [threading.Thread(target=remove) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_exactly_one_of_twenty_concurrent_removals_succeeds(engine):
    """Each caller had read the row before any removed it: ``session.delete`` then only
    warned about a row already gone, and several callers were told 200."""
    for _ in range(3):
        ident = str(uuid.uuid4())
        with Session(engine) as session, session.begin():
            session.add(Thing(id=ident, tenant="t"))
        outcomes = _race(engine, Thing, ident)
        assert sorted(outcomes) == ["40401"] * 19 + ["removed"], outcomes
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Thing)) == 0


def test_a_composite_key_row_is_removed_once(engine):
    with Session(engine) as session, session.begin():
        session.add(Pair(left="g", right="u"))
    outcomes = _race(engine, Pair, ("g", "u"), callers=10)
    assert sorted(outcomes) == ["40401"] * 9 + ["removed"], outcomes


def test_removing_a_missing_row_is_40401_and_changes_nothing(engine):
    with Session(engine) as session, session.begin():
        session.add(Thing(id="kept", tenant="t"))
    with Session(engine) as session, pytest.raises(NotFound), session.begin():
        delete_or_404(session, Thing(id="never", tenant="t"), resource="thing")
    with Session(engine) as session:
        assert session.get(Thing, "kept") is not None


# ---- the product guard under concurrent removals -----------------------------------------


def test_a_removal_ending_in_40401_leaves_the_others_guard_up(redis_client, redis_prefix):
    """Concurrent removals of one product each raise the guard; the losers' release must
    not lower it while the winner still deletes (a submit would slip in between)."""
    from oms_shared import InvalidState, Keys, ProductGuard

    guard = ProductGuard(redis_client, Keys(f"{redis_prefix}:guard-{uuid.uuid4().hex[:8]}"))
    guard.start_removing(10000)  # the winner
    guard.start_removing(10000)  # a loser ...
    guard.stop_removing(10000)  # ... ends (40401)
    with pytest.raises(InvalidState):
        guard.start_producing(10000)
    guard.stop_removing(10000)  # the winner ends
    guard.start_producing(10000)
    guard.stop_producing(10000)
    guard.stop_producing(10000)  # released once too often (an expired flag): no drift
    guard.start_producing(10000)
    with pytest.raises(InvalidState):
        guard.start_removing(10000)


# ---- gunicorn's own refusals -------------------------------------------------------------


@pytest.mark.parametrize(("status", "reason"), [(400, "Bad Request"), (414, "URI Too Long"),
                                                (431, "Request Header Fields Too Large"),
                                                (501, "Not Implemented"),
                                                (500, "Internal Server Error")])
def test_gunicorn_refuses_with_the_envelope(status, reason):
    from oms_shared.gunicorn_conf import write_error

    ours, theirs = socket.socketpair()
    with ours, theirs:
        write_error(ours, status, reason, "Invalid Method '<script>'")
        ours.shutdown(socket.SHUT_WR)
        raw = b""
        while chunk := theirs.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == f"HTTP/1.1 {status} {reason}"
    fields = dict(line.split(": ", 1) for line in lines[1:])
    envelope = json.loads(body)
    assert envelope["code"] == status * 100 and envelope["data"] is None
    assert envelope["request_id"] == fields["X-Request-ID"]
    assert fields["Content-Type"] == "application/json"
    assert int(fields["Content-Length"]) == len(body)
    assert b"script" not in raw  # the caller's input is never echoed


def test_gunicorn_limits_lie_above_the_gateways():
    """nginx refuses a line over 4 KiB and 16 KiB of headers (4 buffers of 4 KiB), so
    nothing it passes on meets gunicorn's limits."""
    from oms_shared import gunicorn_conf

    assert gunicorn_conf.limit_request_line > 4096
    assert gunicorn_conf.limit_request_field_size > 4096
    assert gunicorn_conf.limit_request_fields > 16 * 1024 // 4 + 1024  # "a:" lines, in 17 KiB


# ---- settings: whose X-Forwarded-For the gateway believes --------------------------------


def _settings(**environ: str):
    return load_settings({"jwt": {"secret": "s" * 40}}, environ=environ)


def test_trusted_proxies_default_to_none():
    assert _settings().gateway.trusted_proxies == []


def test_trusted_proxies_come_from_the_environment_or_the_file():
    env = _settings(OMS_GATEWAY__TRUSTED_PROXIES="192.168.33.5, 10.1.0.0/16,::1")
    assert env.gateway.trusted_proxies == ["192.168.33.5/32", "10.1.0.0/16", "::1/128"]
    listed = load_settings({"jwt": {"secret": "s" * 40},
                            "gateway": {"trusted_proxies": ["127.0.0.2"]}}, environ={})
    assert listed.gateway.trusted_proxies == ["127.0.0.2/32"]


@pytest.mark.parametrize("value", ["edge", "10.0.0.0/33", "1.2.3.4; evil", "*"])
def test_a_trusted_proxy_that_is_not_an_address_is_refused(value):
    with pytest.raises(SettingsError, match="trusted_proxies"):
        _settings(OMS_GATEWAY__TRUSTED_PROXIES=value)
