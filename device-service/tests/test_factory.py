from device_service.app import create_app


def test_config_reaches_the_app(base_config, tmp_path):
    app = create_app({**base_config, "device": {"database_url": f"sqlite:///{tmp_path}/d.db"}})
    assert app.extensions["oms"].service == "device"
    assert str(app.extensions["oms_db"].engine.url) == f"sqlite:///{tmp_path}/d.db"
    assert "/oms/produce/submit" in {r.rule for r in app.url_map.iter_rules()}
    app.extensions["oms_db"].engine.dispose()
