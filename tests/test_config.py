"""Configuration: defaults as schema, profiles, CQMS_* overrides, one-line errors."""

import pytest

from config import ConfigError, available_profiles, load_config


def test_defaults_load_and_profiles_exist():
    config = load_config(environ={})
    assert config["PLUGINS"] == ["documents", "training", "capa", "audits"]
    assert config["CONFIG_PROFILE"] == "default"
    assert {"minimal", "full", "production"} <= set(available_profiles())


def test_minimal_and_full_profiles_select_plugins():
    assert load_config(environ={"CQMS_CONFIG": "minimal"})["PLUGINS"] == ["documents", "training"]
    assert load_config(environ={"CQMS_CONFIG": "full"})["PLUGINS"] == [
        "documents", "training", "capa", "audits"]


def test_environment_overrides_are_typed():
    config = load_config(environ={
        "CQMS_LOCKOUT_THRESHOLD": "7",
        "CQMS_FORCE_HTTPS": "true",
        "CQMS_PLUGINS": "documents, capa",
        "CQMS_DATABASE_URL": "sqlite:///x.db",
        "CQMS_DEMO_PASSWORD": "not-a-config-key-but-allowed",
        "CQMS_TEST_POSTGRES_URL": "ignored",
    })
    assert config["LOCKOUT_THRESHOLD"] == 7
    assert config["FORCE_HTTPS"] is True
    assert config["PLUGINS"] == ["documents", "capa"]
    assert config["DATABASE_URL"] == "sqlite:///x.db"


@pytest.mark.req("SEC-13")
@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CQMS_LOCKOUT_THRESHOLD": "five"}, "CQMS_LOCKOUT_THRESHOLD: expected an integer"),
        ({"CQMS_FORCE_HTTPS": "maybe"}, "CQMS_FORCE_HTTPS: expected true or false"),
        ({"CQMS_NO_SUCH_KEY": "1"}, "CQMS_NO_SUCH_KEY: unknown configuration key"),
        ({"CQMS_CONFIG": "nonexistent"}, "CQMS_CONFIG: profile 'nonexistent' not found"),
        ({"CQMS_ENV": "staging"}, "ENV: must be one of"),
        ({"CQMS_PASSWORD_MAX_LENGTH": "20"}, "PASSWORD_MAX_LENGTH: must accept at least 64"),
        ({"CQMS_AUDIT_CHAINS": "0"}, "AUDIT_CHAINS: must be 1 to 1024, got 0"),
    ],
)
def test_bad_values_stop_with_one_line_naming_the_key(environ, message):
    with pytest.raises(ConfigError) as info:
        load_config(environ=environ)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_profile_file_with_wrong_type_names_key(tmp_path):
    profile = tmp_path / "site.toml"
    profile.write_text('LOCKOUT_THRESHOLD = "5"\n')
    with pytest.raises(ConfigError, match=r"^LOCKOUT_THRESHOLD: expected integer"):
        load_config(environ={"CQMS_CONFIG": str(profile)})
    profile.write_text("UNKNOWN_THING = 1\n")
    with pytest.raises(ConfigError, match=r"^UNKNOWN_THING: unknown configuration key"):
        load_config(environ={"CQMS_CONFIG": str(profile)})


@pytest.mark.req("SEC-13")
def test_production_refuses_to_start_without_a_real_secret(tmp_path):
    with pytest.raises(ConfigError, match="^SECRET_KEY: production needs a real secret key"):
        load_config(environ={"CQMS_CONFIG": "production"})
    with pytest.raises(ConfigError, match="^SECRET_KEY"):
        load_config(environ={"CQMS_CONFIG": "production", "CQMS_SECRET_KEY": "short"})
    with pytest.raises(ConfigError, match="^INTEGRITY_KEY_FILE: production needs an existing"):
        load_config(environ={"CQMS_CONFIG": "production", "CQMS_SECRET_KEY": "k" * 40})
    key = tmp_path / "integrity.key"
    key.write_bytes(b"x" * 32)
    config = load_config(environ={"CQMS_CONFIG": "production", "CQMS_SECRET_KEY": "k" * 40,
                                  "CQMS_FORCE_HTTPS": "false", "CQMS_INTEGRITY_KEY_FILE": str(key)})
    assert config["FORCE_HTTPS"] is True


def test_create_app_refuses_bad_config(app_factory):
    with pytest.raises(ConfigError, match="^LOCKOUT_THRESHOLD"):
        app_factory(LOCKOUT_THRESHOLD="3")
