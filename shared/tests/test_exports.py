import oms_shared
from oms_shared import _errors as errors


def test_public_names_exist():
    for name in oms_shared.__all__:
        assert hasattr(oms_shared, name), name
    for name in errors.__all__:
        assert hasattr(errors, name), name


def test_every_error_code_is_unique_and_agrees_with_its_status():
    exported = [getattr(errors, n) for n in errors.__all__]
    classes = [c for c in exported if isinstance(c, type) and issubclass(c, errors.OMSError)
               and c is not errors.OMSError]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    for cls in classes:
        assert cls.code // 100 == cls.status, cls


def test_from_code_rebuilds_the_peer_error():
    error = errors.from_code(40401, "product 5 not found")
    assert isinstance(error, errors.NotFound) and error.message == "product 5 not found"
    assert isinstance(errors.from_code(12345), errors.Unavailable)
