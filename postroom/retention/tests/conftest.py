import pytest


@pytest.fixture(autouse=True)
def own_data_dir(settings, tmp_path):
    """Each test its own data directory (pack files), and packs compacted at once."""
    settings.DATA_DIR = tmp_path / "data"
    settings.POSTROOM = {**settings.POSTROOM, "RETENTION_PACK_QUIET": 0, "RETENTION_BATCH": 2}
    return settings.DATA_DIR


@pytest.fixture(params=["files", "db"])
def raw_store(request, settings):
    settings.POSTROOM = {**settings.POSTROOM, "RAW_STORE": request.param}
    return request.param
