from product_service.app import create_app


def test_config_reaches_the_app(base_config, tmp_path):
    app = create_app({**base_config, "product": {"database_url": f"sqlite:///{tmp_path}/p.db"}})
    assert app.extensions["oms"].service == "product"
    assert str(app.extensions["oms_db"].engine.url) == f"sqlite:///{tmp_path}/p.db"
    assert {"/oms/product/add", "/oms/product/list"} <= {r.rule for r in app.url_map.iter_rules()}
    app.extensions["oms_db"].engine.dispose()


def test_the_database_defaults_to_sqlite_in_the_data_dir(base_config):
    app = create_app(base_config)
    assert app.extensions["oms_db"].engine.url.database.endswith("product.db")
    app.extensions["oms_db"].engine.dispose()
