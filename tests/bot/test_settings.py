"""Settings: the environment over the config file, and start-up errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import SettingsError, load_settings

CONTRACT_VARIABLES = [
    "SWITCHBOARD_HOME",
    "SWITCHBOARD_CONFIG",
    "DATABASE_URL",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "LLM_PROVIDER",
    "LLM_BASE_URL",
    "LLM_API_KEY",
    "LLM_MODEL",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "EMBEDDINGS_PROVIDER",
    "EMBEDDINGS_BASE_URL",
    "EMBEDDINGS_MODEL",
    "TWILIO_AUTH_TOKEN",
    "PUBLIC_BASE_URL",
    "INTAKE_CHANNEL",
    "SWITCHBOARD_ADMINS",
    "PROMPT_EDITORS",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in CONTRACT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./switchboard.toml unless a test writes one


def test_defaults_need_no_credentials() -> None:
    settings = load_settings()
    assert settings.switchboard_home == Path(".switchboard")
    assert settings.database_url is None
    assert not settings.slack_enabled
    assert settings.chat_model.provider == "none"
    assert settings.embeddings.provider == "wordllama"
    assert settings.prompt_editors == [] and settings.switchboard_admins == []


def test_provider_is_inferred_from_what_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:8080/v1")
    assert load_settings().chat_model.provider == "openai"
    monkeypatch.delenv("LLM_BASE_URL")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-xyz")
    config = load_settings().chat_model
    assert config.provider == "anthropic"
    assert config.api_key is not None and config.api_key.get_secret_value() == "sk-ant-xyz"


def test_explicit_none_wins_over_url_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "none")
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-123456")
    assert load_settings().chat_model.provider == "none"


def test_bad_value_names_the_variable_and_what_is_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "gpt")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "LLM_PROVIDER" in message
    assert "'openai', 'anthropic' or 'none'" in message
    assert "'gpt'" in message


def test_only_one_slack_credential_refuses_naming_the_missing_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-token")
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET is missing"):
        load_settings()
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret")
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN is missing"):
        load_settings()


def test_with_the_embedded_database_off_database_url_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDED_POSTGRES", "false")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(SettingsError, match="DATABASE_URL is required: the embedded PostgreSQL is turned off"):
        load_settings()
    monkeypatch.setenv("DATABASE_URL", "postgresql://switchboard:secret@db:5432/switchboard")
    settings = load_settings()
    assert not settings.embedded_postgres
    assert settings.database_url is not None


def test_a_bad_secret_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")  # empty values count as unset
    monkeypatch.setenv("SLACK_API_URL", "slack.example.com/api")
    with pytest.raises(SettingsError, match="SLACK_API_URL.*http:// or https://"):
        load_settings()


def test_config_file_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "custom.toml"
    config.write_text('llm_model = "from-file"\nprompt_editors = ["U1", "U2"]\nintake_channel = "C-FILE"\n')
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    monkeypatch.setenv("INTAKE_CHANNEL", "C-ENV")
    monkeypatch.setenv("SWITCHBOARD_ADMINS", "UA, UB")
    settings = load_settings()
    assert settings.llm_model == "from-file"
    assert settings.prompt_editors == ["U1", "U2"]
    assert settings.intake_channel == "C-ENV"
    assert settings.switchboard_admins == ["UA", "UB"]


def test_default_config_file_in_the_working_folder(tmp_path: Path) -> None:
    (tmp_path / "switchboard.toml").write_text('llm_model = "local"\n')
    assert load_settings().llm_model == "local"


def test_config_file_mistakes_are_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text('llm_modle = "typo"\n')
    with pytest.raises(SettingsError, match="llm_modle.*unknown setting"):
        load_settings()
    config.write_text("llm_model = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings()
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="missing.toml does not exist"):
        load_settings()


def test_secrets_are_masked_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-very-secret-value")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2-password@db:5432/app")
    settings = load_settings()
    shown = repr(settings) + str(settings.model_dump()) + repr(settings.chat_model)
    assert "sk-very-secret-value" not in shown
    assert "hunter2-password" not in shown
    assert set(settings.secret_values()) == {"sk-very-secret-value", "postgresql://app:hunter2-password@db:5432/app"}


def test_sources_come_from_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "switchboard.toml").write_text(
        '[[sources]]\ntype = "folder"\nname = "docs"\npath = "docs"\n'
        '[[sources]]\ntype = "web"\nname = "wiki"\nstart_url = "https://wiki.example.com/"\n'
    )
    settings = load_settings()
    assert [(s.type, s.name) for s in settings.sources] == [("folder", "docs"), ("web", "wiki")]
    assert settings.source("wiki") is not None and settings.source("nope") is None


def test_source_mistakes_are_explained(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(
        '[[sources]]\ntype = "folder"\nname = "a"\npath = "x"\n[[sources]]\ntype = "folder"\nname = "a"\npath = "y"\n'
    )
    with pytest.raises(SettingsError, match="source names must be unique; repeated: a"):
        load_settings()
    config.write_text('[[sources]]\ntype = "ftp"\nname = "a"\n')
    with pytest.raises(SettingsError, match="ftp"):
        load_settings()


def test_the_bundled_config_loads() -> None:
    bundled = Path(__file__).resolve().parents[2] / "switchboard.toml"
    settings = load_settings(bundled)
    assert [source.name for source in settings.sources] == ["handbook"]


def test_verified_callers_come_from_the_config_file_in_e164(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text('phone_verified_callers = { " +15551234567 " = "U0123ABC" }\n', encoding="utf-8")
    assert load_settings(config).phone_verified_callers == {"+15551234567": "U0123ABC"}

    config.write_text('phone_verified_callers = { "555-1234" = "U0123ABC" }\n', encoding="utf-8")
    with pytest.raises(SettingsError) as raised:
        load_settings(config)
    assert "phone_verified_callers" in str(raised.value) and "E.164" in str(raised.value)


def test_slack_channel_sources_read_through_slack_api_url_and_the_bot_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(
        '[[sources]]\ntype = "slack"\nname = "chat"\nchannels = ["C0123ABCD", "#general"]\n\n'
        '[[sources]]\ntype = "slack"\nname = "other"\nchannels = ["C0999"]\napi_url = "http://127.0.0.1:9/api/"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:8999/api/")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret")

    settings = load_settings(config)

    chat, other = settings.sources
    assert getattr(chat, "api_url", None) == "http://127.0.0.1:8999/api/"
    assert getattr(other, "api_url", None) == "http://127.0.0.1:9/api/"  # an explicit api_url wins
    assert settings.source_secrets().require("chat", "SLACK_BOT_TOKEN") == "xoxb-secret-token"
