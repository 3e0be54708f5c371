"""Settings come from the environment once; a value the service cannot use is named in the error."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from bootstrap.settings import SETTINGS_HELP, Settings, SettingsError


def test_no_configuration_means_the_embedded_default():
    s = Settings.from_env({})
    assert (s.persistence_module, s.data_dir, s.port, s.demo_data, s.projections_in_process) == (
        "eventsourcing.sqlite", Path("./var"), 8000, True, True)


def test_postgres_turns_demo_data_off_by_default_and_needs_a_shared_secret():
    with pytest.raises(SettingsError, match="PEERLEDGER_SECRET_KEY must be set with PostgreSQL"):
        Settings.from_env({"PERSISTENCE_MODULE": "eventsourcing.postgres"})
    s = Settings.from_env({"PERSISTENCE_MODULE": "eventsourcing.postgres", "PEERLEDGER_SECRET_KEY": "k" * 32,
                           "POSTGRES_DBNAME": "x"})
    assert s.demo_data is False
    assert s.store_env["POSTGRES_DBNAME"] == "x"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PEERLEDGER_PORT", "eighty", "PEERLEDGER_PORT must be an integer"),
        ("PEERLEDGER_PORT", "70000", "PEERLEDGER_PORT must be between 1 and 65535"),
        ("PERSISTENCE_MODULE", "eventsourcing.mongo", "PERSISTENCE_MODULE must be"),
        ("PEERLEDGER_DEMO_DATA", "maybe", "PEERLEDGER_DEMO_DATA must be yes, no or auto"),
        ("PEERLEDGER_PROJECTIONS", "elsewhere", "PEERLEDGER_PROJECTIONS must be in-process or external"),
        ("PEERLEDGER_SMTP_TLS", "ssl3", "PEERLEDGER_SMTP_TLS must be none, starttls or tls"),
        ("PEERLEDGER_SECRET_KEY", "short", "at least 32 characters"),
        ("PEERLEDGER_CACHE_REFRESH_SECONDS", "0", "between 0 and 60"),
    ],
)
def test_bad_values_are_named(name, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({name: value})


def test_cors_origins_are_a_comma_separated_list():
    s = Settings.from_env({"PEERLEDGER_CORS_ORIGINS": "https://a.example, https://b.example,"})
    assert s.cors_origins == ("https://a.example", "https://b.example")


def test_postgres_db_functions_are_refused_because_tailing_readers_would_skip_events():
    with pytest.raises(SettingsError, match="POSTGRES_ENABLE_DB_FUNCTIONS must not be set"):
        Settings.from_env({"PERSISTENCE_MODULE": "eventsourcing.postgres", "PEERLEDGER_SECRET_KEY": "k" * 40,
                           "POSTGRES_ENABLE_DB_FUNCTIONS": "y"})


def test_postgres_without_a_password_starts_as_trust_authentication_allows():
    env = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "PEERLEDGER_SECRET_KEY": "x" * 40}
    assert Settings.from_env(env).store_env["POSTGRES_PASSWORD"] == ""
    assert Settings.from_env(env | {"POSTGRES_PASSWORD": "s3cret"}).store_env["POSTGRES_PASSWORD"] == "s3cret"
    assert "POSTGRES_PASSWORD" not in Settings.from_env({}).store_env


def readme_rows() -> dict[str, tuple[str, str]]:
    """README's configuration table: name -> (default, meaning)."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = text.split("| variable | default | meaning |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        name, default, meaning = (cell.strip() for cell in line.strip().strip("|").split(" | "))
        rows[name.replace("`", "").replace(", ", " / ")] = (default, meaning)
    return rows


def test_the_readme_table_is_the_settings_table_in_the_code():
    assert readme_rows() == SETTINGS_HELP


def test_the_defaults_written_for_people_are_the_ones_the_code_uses():
    """SETTINGS_HELP's defaults, read as the environment would give them, make Settings() itself
    (but for the store settings passed on to eventsourcing, which name the store chosen)."""
    assert msgspec.structs.replace(Settings.from_env({}), store_env={}) == Settings()
