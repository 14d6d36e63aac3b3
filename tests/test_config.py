"""Configuration: the shipped file is valid, and every kind of mistake stops start-up clearly."""

import subprocess
import sys

import pytest

from postdesk import config

MINIMAL = '[[mailboxes]]\naddress = "help@example.org"\n'


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_is_valid_and_matches_the_defaults():
    settings = config.load(config.DEFAULT_CONFIG, environ={})
    assert settings.smtp.port == 2525 and settings.web.port == 8080
    assert settings.database.url.startswith("sqlite:///")
    assert settings.redis.url == ""  # embedded Redis
    assert settings.outgoing.relay_host == ""  # mail goes to var/sent
    assert [m.address for m in settings.mailboxes] == ["support@example.com"]


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    settings = config.load(write(tmp_path, MINIMAL), environ={})
    assert settings.var == (tmp_path / "var").resolve()


def test_unknown_key_names_file_key_and_reason(tmp_path):
    path = write(tmp_path, MINIMAL + "[smtp]\nprot = 25\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(path, environ={})
    assert str(path) in str(err.value) and "smtp.prot" in str(err.value) and "unknown key" in str(err.value)


def test_unknown_section_is_refused(tmp_path):
    with pytest.raises(config.ConfigError, match=r"\[smpt\]: unknown section"):
        config.load(write(tmp_path, MINIMAL + "[smpt]\nport = 25\n"), environ={})


def test_wrong_type_names_the_expected_type(tmp_path):
    with pytest.raises(config.ConfigError, match=r"smtp\.port: expected int, got str '25'"):
        config.load(write(tmp_path, MINIMAL + '[smtp]\nport = "25"\n'), environ={})


def test_boolean_is_not_accepted_as_a_number(tmp_path):
    with pytest.raises(config.ConfigError, match=r"web\.port: expected int, got bool"):
        config.load(write(tmp_path, MINIMAL + "[web]\nport = true\n"), environ={})


def test_missing_required_value(tmp_path):
    with pytest.raises(config.ConfigError, match=r"mailboxes\[0\]\.address: required value is missing"):
        config.load(write(tmp_path, '[[mailboxes]]\nname = "No address"\n'), environ={})


def test_invalid_toml_is_reported(tmp_path):
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "[smtp\nport = 1\n"), environ={})


def test_missing_file(tmp_path):
    with pytest.raises(config.ConfigError, match="file not found"):
        config.load(tmp_path / "nope.toml", environ={})


def test_postdesk_config_variable_selects_the_file(tmp_path):
    path = write(tmp_path, MINIMAL)
    settings = config.load(environ={"POSTDESK_CONFIG": str(path)})
    assert settings.mailboxes[0].address == "help@example.org"


def test_secrets_come_from_the_environment(tmp_path):
    path = write(tmp_path, MINIMAL)
    settings = config.load(path, environ={"POSTDESK_SECRET_KEY": "s3cret",
                                          "POSTDESK_RELAY_PASSWORD": "relay-pw"})
    assert settings.web.secret_key == "s3cret"
    assert settings.outgoing.relay_password == "relay-pw"


def test_settings_are_frozen(tmp_path):
    settings = config.load(write(tmp_path, MINIMAL), environ={})
    with pytest.raises(AttributeError):
        settings.smtp.port = 1


def test_generated_secret_key_is_kept(tmp_path):
    settings = config.load(write(tmp_path, MINIMAL), environ={})
    first = config.secret_key(settings)
    assert len(first) > 40 and config.secret_key(settings) == first


def test_cli_stops_with_ex_config_and_the_reason(tmp_path):
    path = write(tmp_path, MINIMAL + "[tickets]\nnumber_start = 0\n")
    result = subprocess.run([sys.executable, "-m", "postdesk", "--config", str(path), "check-config"],
                            capture_output=True, text=True)
    assert result.returncode == 78
    assert "tickets.number_start: must be 1 or more" in result.stderr


def test_a_process_nobody_initialised_refuses_the_default_config(monkeypatch):
    from postdesk import runtime

    monkeypatch.setattr(runtime, "_state", {})
    monkeypatch.delenv("POSTDESK_CONFIG", raising=False)
    with pytest.raises(config.ConfigError, match="POSTDESK_CONFIG"):
        runtime.settings()


@pytest.mark.parametrize(("extra", "reason"), [
    ('[customers]\ntiers = ["VIP", "standard"]\n', "customers.tiers: a list of distinct lower-case names"),
    ('[customers]\ntiers = ["gold", "silver"]\n', "customers.default_tier: 'standard' is not one of customers.tiers"),
    ('[tickets]\ncategories = []\n', "tickets.categories: a list of distinct lower-case names"),
])
def test_tiers_and_categories_must_be_usable_names(tmp_path, extra, reason):
    with pytest.raises(config.ConfigError, match=reason):
        config.load(write(tmp_path, MINIMAL + extra), environ={})


def test_chinese_tier_names_are_fine(tmp_path):
    extra = '[customers]\ntiers = ["重要", "普通"]\ndefault_tier = "普通"\n'
    assert config.load(write(tmp_path, MINIMAL + extra), environ={}).customers.tiers == ("重要", "普通")


def test_a_bad_calendar_names_its_key(tmp_path):
    extra = ('[[calendars]]\nname = "office"\nmonday = ["9-17"]\n'
             '[[calendars]]\nname = "business"\n[[calendars]]\nname = "24x7"\nalways_open = true\n')
    with pytest.raises(config.ConfigError, match=r"calendars\[0\]\.monday: \"9-17\" is not HH:MM-HH:MM"):
        config.load(write(tmp_path, MINIMAL + extra), environ={})


@pytest.mark.parametrize(("extra", "reason"), [
    ('[[policies]]\nname = "a"\n[[policies]]\nname = "a"\n', r"policies\[0\]\.name: 'a' is empty or used twice"),
    ('[[policies]]\nname = "a"\nfirst_response_minutes = 60\nwarning_minutes = 60\n',
     r"warning_minutes: 60 is not shorter than its smallest target"),
    ('[customers]\nrules = [{tier = "vip", domains = ["@big.com"]}]\n', r"domains: '@big.com' is not a domain"),
])
def test_policies_and_rules_must_make_sense(tmp_path, extra, reason):
    with pytest.raises(config.ConfigError, match=reason):
        config.load(write(tmp_path, MINIMAL + extra), environ={})


@pytest.mark.parametrize("web, warned", [
    ("", "public_url is not set"), ('[web]\npublic_url = "http://127.0.0.1:8080"\n', "cannot open"),
    ('[web]\npublic_url = "http://help.example.com"\n', "not https"),
    ('[web]\npublic_url = "https://help.example.com"\n', None),
])
def test_check_config_warns_when_clients_links_would_not_reach_the_web_pages(tmp_path, web, warned):
    path = write(tmp_path, MINIMAL + web)
    result = subprocess.run([sys.executable, "-m", "postdesk", "--config", str(path), "check-config"],
                            capture_output=True, text=True)
    assert result.returncode == 0
    assert (warned in result.stdout) if warned else "warning" not in result.stdout
