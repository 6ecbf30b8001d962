"""The request owns the transaction: committed on success, rolled back on error."""

from __future__ import annotations


def _add(client, headers, text, fail=False):
    return client.post("/oms/note/add", json={"text": text, "fail": fail}, headers=headers)


def _texts(client, headers):
    body = client.post("/oms/note/list", json={"page_size": 500}, headers=headers).get_json()
    return [row["text"] for row in body["data"]["list"]]


def test_a_successful_request_commits(client, headers):
    assert _add(client, headers, "kept").status_code == 200
    assert _texts(client, headers) == ["kept"]


def test_an_error_after_a_write_rolls_it_back(client, headers):
    response = _add(client, headers, "lost", fail=True)
    assert response.get_json()["code"] == 40901
    assert _texts(client, headers) == []


def test_another_tenants_row_is_missing(client, app, headers):
    from oms_shared.testing import token_for

    note_id = _add(client, headers, "mine").get_json()["data"]["id"]
    other = {"Token": token_for(app, app_id="other-app", tenant="t2")}
    mine = client.post(f"/oms/note/detail/{note_id}", headers=headers)
    theirs = client.post(f"/oms/note/detail/{note_id}", headers=other)
    missing = client.post("/oms/note/detail/99999999", headers=headers)
    assert mine.status_code == 200
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json()["code"] == missing.get_json()["code"] == 40401
    assert theirs.get_json()["message"].replace(str(note_id), "N") == \
        missing.get_json()["message"].replace("99999999", "N")


def test_paging(client, headers):
    for i in range(5):
        _add(client, headers, f"n{i}")
    page = client.post("/oms/note/list", json={"page": 2, "page_size": 2},
                       headers=headers).get_json()["data"]
    assert page["total"] == 5 and page["page"] == 2 and page["page_size"] == 2
    assert [r["text"] for r in page["list"]] == ["n2", "n3"]


def test_bad_paging_is_40001_not_clamped(client, headers):
    for body, field in [({"page": 0}, "page"), ({"page_size": 0}, "page_size"),
                        ({"page_size": 501}, "page_size"), ({"page": "2"}, "page"),
                        ({"page_size": 1.5}, "page_size")]:
        response = client.post("/oms/note/list", json=body, headers=headers)
        assert response.status_code == 400, body
        assert response.get_json()["data"]["errors"][0]["field"] == field


def test_a_sqlite_database_is_private_to_its_user(tmp_path):
    from sqlalchemy import text

    from oms_shared._database import make_engine

    path = tmp_path / "new" / "secrets.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    assert path.parent.stat().st_mode & 0o077 == 0
    for file in path.parent.iterdir():
        assert file.stat().st_mode & 0o077 == 0, file.name
    engine.dispose()
    path.chmod(0o644)  # as an older version left it
    make_engine(f"sqlite:///{path}").dispose()
    assert path.stat().st_mode & 0o077 == 0
