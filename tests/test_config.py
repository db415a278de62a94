"""Settings: every one documented in the README; a bad value stops the start, naming the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from locator import create_app
from locator.config import SETTINGS, ConfigError, load_settings

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_table_variables() -> set[str]:
    """The variables named in the first cell of the README's configuration table rows."""
    text = README.read_text(encoding="utf-8")
    return set(re.findall(r"^\|\s*`(LOCATOR_[A-Z0-9_]+)`\s*\|", text, flags=re.M))


@pytest.mark.parametrize("setting", SETTINGS, ids=[s.env for s in SETTINGS])
def test_every_setting_is_documented_in_the_readme(setting):
    assert setting.env in _readme_table_variables(), f"add a row for {setting.env} to README.md's configuration table"


def test_readme_documents_no_unknown_setting():
    assert _readme_table_variables() <= {s.env for s in SETTINGS}


def test_defaults_parse():
    values = load_settings({})
    assert values["SEED_SAMPLE"] is True
    assert values["SERVICE_AREA_BBOX"] is None
    assert values["VERSION_CHECK_INTERVAL_MS"] is None  # auto: the store's own default


@pytest.mark.parametrize(("value", "seconds"), [("auto", 0.1), ("AUTO", 0.1), ("0", 0.0), ("250", 0.25)])
def test_the_version_check_interval_reaches_the_sqlite_store(app_factory, value, seconds):
    app = app_factory(VERSION_CHECK_INTERVAL_MS=value)
    assert app.extensions["roster"].store.version_check_interval == seconds


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOCATOR_DATABASE_URL", "mysql://x"),
        ("LOCATOR_SEED_SAMPLE", "maybe"),
        ("LOCATOR_SERVICE_AREA_BBOX", "1,2,3"),
        ("LOCATOR_SERVICE_AREA_BBOX", "121,27,120,28"),
        ("LOCATOR_SERVICE_AREA_BBOX", "a,b,c,d"),
        ("LOCATOR_LOG_LEVEL", "loud"),
        ("LOCATOR_MAX_QUERY_DISTANCE_KM", "-5"),
        ("LOCATOR_MAX_QUERY_DISTANCE_KM", "nan"),
        ("LOCATOR_MAX_QUERY_DISTANCE_KM", "100km"),
        ("LOCATOR_VERSION_CHECK_INTERVAL_MS", "soon"),
        ("LOCATOR_VERSION_CHECK_INTERVAL_MS", "-1"),
    ],
)
def test_bad_environment_value_stops_the_start(monkeypatch, tmp_path, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    assert variable in str(info.value)
    assert not (tmp_path / "x.sqlite3").exists()  # failed before touching any database


def test_environment_value_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCATOR_SERVICE_AREA_BBOX", "119,27,121,31")
    monkeypatch.setenv("LOCATOR_SEED_SAMPLE", "no")
    monkeypatch.setenv("LOCATOR_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    app = create_app({"TESTING": True})
    try:
        assert app.config["SERVICE_AREA_BBOX"] == (119.0, 27.0, 121.0, 31.0)
        assert app.extensions["roster"].store.count() == 0
        assert (tmp_path / "env.sqlite3").exists()
    finally:
        app.extensions["roster"].store.close()


def test_bad_override_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match="SERVICE_AREA_BBOX"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "SERVICE_AREA_BBOX": "1,2"})
