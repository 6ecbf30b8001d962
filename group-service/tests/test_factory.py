from group_service.app import create_app

ROUTES = {
    "/oms/group/list", "/oms/group/add", "/oms/group/update/<group_id>",
    "/oms/group/detail/<group_id>", "/oms/group/remove/<group_id>",
    "/oms/group/member/<group_id>", "/oms/group/member/add/<group_id>",
    "/oms/group/member/remove/<group_id>", "/oms/group/device/<group_id>",
    "/oms/group/device/add/<group_id>", "/oms/group/device/remove/<group_id>",
    "/oms/user/group/<user_id>", "/oms/device/group/<device_id>",
}


def test_config_reaches_the_app(base_config, tmp_path):
    app = create_app({**base_config, "group": {"database_url": f"sqlite:///{tmp_path}/g.db"}})
    assert app.extensions["oms"].service == "group"
    assert str(app.extensions["oms_db"].engine.url) == f"sqlite:///{tmp_path}/g.db"
    assert {r.rule for r in app.url_map.iter_rules()} >= ROUTES
    app.extensions["oms_db"].engine.dispose()


def test_the_database_defaults_to_sqlite_in_the_data_dir(base_config):
    app = create_app(base_config)
    assert app.extensions["oms_db"].engine.url.database.endswith("group.db")
    app.extensions["oms_db"].engine.dispose()
