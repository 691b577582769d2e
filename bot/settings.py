"""The one settings object: environment variables (secrets, endpoints) over the TOML config file.

Built once at the entry point and passed down; nothing else in Switchboard reads the environment.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from agents import AgentConfig, ChatModelConfig
from agents.evaluation import EvaluationConfig
from agents.schedules import ScheduleDeclaration, validate_timezone
from bot.errors import SettingsError
from knowledge import EmbeddingsConfig, Reader, RetrievalConfig, SourceConfig, SourceConfigBase
from knowledge.sources import SaaSSourceConfig, SlackChannelsSourceConfig, SourceSecrets
from tools import McpServerConfig, Role, ToolsConfig

DEFAULT_CONFIG_FILE = Path("switchboard.toml")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class McpServerSettings(McpServerConfig):
    """One ``[[mcp_servers]]`` entry: secret header and child-environment values are named, never written down.

    ``secret_headers = {Authorization = "TICKETS_MCP_AUTH"}`` sends the value of that environment variable as the
    header; ``secret_env = {API_TOKEN = "TICKETS_API_TOKEN"}`` hands it to a stdio server's process.
    """

    secret_headers: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _resolve_secrets(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        resolved = dict(values)
        for named, target in (("secret_headers", "headers"), ("secret_env", "env")):
            names: dict[str, str] = dict(values.get(named) or {})
            missing = sorted(variable for variable in names.values() if not os.environ.get(variable))
            if missing:
                raise ValueError(
                    f"MCP server {values.get('name')!r}: environment variable {', '.join(missing)} "
                    f"({named}) is not set; set it or remove the entry"
                )
            resolved[target] = {**dict(values.get(target) or {}), **{k: os.environ[v] for k, v in names.items()}}
        return resolved


class SlackChannelSettings(BaseModel):
    """One ``[channels.<CHANNEL_ID>]`` table of the config file: how the bot behaves in that Slack channel."""

    model_config = ConfigDict(extra="forbid")

    # Knowledge sources this channel's answers draw on; None (the key left out) means every source.
    sources: list[str] | None = None
    # "mentions": answer only when mentioned (and in threads it already answered); "all": every top-level question.
    respond_to: Literal["mentions", "all"] = "mentions"


def _require_unique(kind: str, names: list[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{kind} names must be unique; repeated: {', '.join(repeated)}")


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Everything the service is configured with. Field ``x_y`` is env var ``X_Y`` or config-file key ``x_y``."""

    model_config = SettingsConfigDict(extra="forbid", case_sensitive=False, env_ignore_empty=True)

    switchboard_home: Path = Path(".switchboard")
    switchboard_config: Path | None = None
    database_url: SecretStr | None = None

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    llm_provider: Literal["openai", "anthropic", "none"] | None = None
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=3, ge=0, le=10)
    openai_api_key: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None

    embeddings_provider: Literal["wordllama", "openai"] = "wordllama"
    embeddings_base_url: str | None = None
    embeddings_model: str | None = None
    embeddings_api_key: SecretStr | None = None

    twilio_auth_token: SecretStr | None = None
    public_base_url: str | None = None
    intake_channel: str | None = None

    # Phone line: what callers hear and how long the line waits for the agent.
    phone_greeting: str = "Hello, you have reached Switchboard. What can I help you with?"
    phone_language: str = "en-US"
    # Twilio gives a webhook 15 s: past this, the caller hears a holding phrase while the agent keeps working.
    phone_hold_after_seconds: float = Field(default=8.0, gt=0, le=12)
    # Holds of hold_after_seconds each: about a minute in all by default, as long as a caller would wait.
    phone_max_holds: int = Field(default=6, ge=0, le=10)
    phone_min_confidence: float = Field(default=0.2, ge=0, le=1)
    phone_max_spoken_chars: int = Field(default=600, ge=80, le=4000)
    # "relay": Twilio ConversationRelay (streamed speech, barge-in; enable it on the Twilio account first);
    # "gather": the <Gather> webhook flow.
    phone_voice_mode: Literal["relay", "gather"] = "gather"
    # Where "let me talk to a person" (or the handoff key) transfers the call; unset: a call back is promised.
    phone_handoff_number: str | None = None
    phone_handoff_digit: str = Field(default="0", pattern=r"^[0-9*#]$")
    phone_relay_max_message_bytes: int = Field(default=16_384, ge=1_024, le=1_048_576)

    switchboard_admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    prompt_editors: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Knowledge sources (`[[sources]]` in the config file); relative folder paths are taken from the working folder.
    sources: list[SourceConfig] = Field(default_factory=list)
    # `serve` syncs, in the background, each source never synced or not within its interval (the periodic jobs
    # would otherwise wait for their next boundary).
    sync_overdue_on_start: bool = True
    # `[retrieval]`: hybrid search tuning (fusion, weights, candidate depths); the defaults were measured (bench/).
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)

    # --- schedules ---
    # ``[[schedules]]`` in the config file: when, channel, instruction, owner, timezone (optional), name (optional).
    schedules: list[ScheduleDeclaration] = Field(default_factory=list)
    schedule_default_timezone: str = "UTC"
    scheduler_leader_poll_seconds: float = Field(default=1.0, gt=0)
    scheduler_refresh_seconds: float = Field(default=5.0, gt=0)
    scheduler_misfire_grace_seconds: float = Field(default=3600.0, gt=0)

    # --- agent runtime: config-file tables [agent] (budgets, memory) and [tools] (allow-lists, endpoints)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    # --- end agent runtime
    # `[evaluation]`: regression threshold, concurrency, graders, and which prompts an evaluation set gates.
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    # --- MCP both ways: ``[[mcp_servers]]`` whose tools join the registry, and ``/mcp`` for MCP clients ---
    mcp_servers: list[McpServerSettings] = Field(default_factory=list)
    # ``switchboard tokens create`` without ``--expires-days``: how long a new MCP bearer token is valid.
    mcp_token_days: int = Field(default=90, ge=1, le=3650)
    # --- end MCP
    # --- Slack channel settings and reader groups (config file only) ---
    # ``[channels.C0123]`` tables, keyed by Slack channel ID.
    channels: dict[str, SlackChannelSettings] = Field(default_factory=dict)
    # ``[groups]``: group name -> Slack user IDs; a reader's groups decide which restricted documents they may read.
    groups: dict[str, list[str]] = Field(default_factory=dict)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    # --- durable work: the job queue ---
    # Worker processes `serve` starts and restarts (0: none; run `switchboard worker` beside it).
    job_workers: int = Field(default=1, ge=0)
    # Work jobs on `serve`'s own event loop instead: one process and the least memory, but answers then compete with
    # acknowledgements for the same CPU.
    jobs_in_process: bool = False
    # Jobs one worker process runs at once; a job is retried after a crash this many times in all.
    job_concurrency: int = Field(default=16, gt=0)
    job_max_attempts: int = Field(default=3, gt=0)

    # --- service edges and operations ---
    # Every POST route refuses a larger body with 413 before parsing, verifying or storing it.
    max_request_bytes: int = Field(default=1024 * 1024, gt=0)
    # How often /healthz's background check calls Slack (auth.test) and the model endpoint, and how long each waits.
    health_check_interval_seconds: float = Field(default=30.0, gt=0)
    health_check_timeout_seconds: float = Field(default=5.0, gt=0)
    # Caller ID is spoofable: a phone caller is anonymous (public knowledge, no long-term memory) unless their
    # number is mapped here to a Slack user ID, e.g. ``phone_verified_callers = { "+15551234567" = "U0123ABC" }``
    # (``"T0123ABC:U0123ABC"`` shares that person's memories from that Slack workspace).
    phone_verified_callers: dict[str, str] = Field(default_factory=dict)
    # Where the embedded PostgreSQL keeps its data when run as root and SWITCHBOARD_HOME is out of reach of its
    # OS user ``pgserver``: one folder per home, named by a hash of the home's path.
    embedded_postgres_fallback_root: Path = Path("/var/lib/switchboard")
    # False (``EMBEDDED_POSTGRES=false``, as in the container image): never start the embedded PostgreSQL, so
    # DATABASE_URL is required; a replica must not quietly keep its data in a container's throwaway folder.
    embedded_postgres: bool = True
    # --- end service edges and operations

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The config file arrives as init values; the environment wins over it.
        return env_settings, init_settings

    @field_validator("switchboard_admins", "prompt_editors", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        return _comma_separated(value)

    @field_validator("schedule_default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return validate_timezone(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("slack_api_url", "public_base_url", "llm_base_url", "embeddings_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk joins method names onto the base URL and needs the trailing slash.
        return value if value.endswith("/") else value + "/"

    @field_validator("phone_verified_callers")
    @classmethod
    def _e164_numbers(cls, callers: dict[str, str]) -> dict[str, str]:
        # Twilio sends ``From`` in E.164; a number written any other way would silently never match.
        normalised = {number.strip(): user.strip() for number, user in callers.items()}
        malformed = sorted(number for number in normalised if not _E164.fullmatch(number))
        if malformed:
            raise ValueError(f"caller numbers must be in E.164 form like +15551234567; got {', '.join(malformed)}")
        empty = sorted(number for number, user in normalised.items() if not user)
        if empty:
            raise ValueError(f"caller numbers mapped to no Slack user ID: {', '.join(empty)}")
        return normalised

    @field_validator("mcp_servers")
    @classmethod
    def _unique_mcp_server_names(cls, servers: list[McpServerSettings]) -> list[McpServerSettings]:
        _require_unique("MCP server", [server.name for server in servers])
        return servers

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, sources: list[SourceConfigBase]) -> list[SourceConfigBase]:
        _require_unique("source", [source.name for source in sources])
        return sources

    def roles_of(self, user_id: str) -> frozenset[Role]:
        """``admin`` for SWITCHBOARD_ADMINS (admins may do all editors may), ``editor`` for PROMPT_EDITORS."""
        roles: set[Role] = set()
        if user_id in self.switchboard_admins:
            roles.update(("admin", "editor"))
        if user_id in self.prompt_editors:
            roles.add("editor")
        return frozenset(roles)

    def reader(self, user_id: str) -> Reader:
        """A user with the groups the ``[groups]`` table puts them in, for permission-aware retrieval."""
        return Reader(
            user_id=user_id, groups=frozenset(group for group, members in self.groups.items() if user_id in members)
        )

    def source(self, name: str) -> SourceConfigBase | None:
        return next((source for source in self.sources if source.name == name), None)

    def source_secrets(self) -> SourceSecrets:
        """The environment variables SaaS sources name (``token_env``, ``email_env``), read here and passed down."""
        return SourceSecrets(values=_named_variables(self.sources))

    @model_validator(mode="after")
    def _slack_sources_use_slack_api_url(self) -> Settings:
        """Slack channel sources read through ``SLACK_API_URL`` unless their entry names an ``api_url``."""
        self.sources = [
            source.model_copy(update={"api_url": self.slack_api_url})
            if isinstance(source, SlackChannelsSourceConfig) and source.api_url is None
            else source
            for source in self.sources
        ]
        return self

    @model_validator(mode="after")
    def _slack_pair(self) -> Settings:
        token, secret = self.slack_bot_token, self.slack_signing_secret
        if (token is None) != (secret is None):
            missing = "SLACK_SIGNING_SECRET" if secret is None else "SLACK_BOT_TOKEN"
            raise ValueError(
                f"{missing} is missing: Slack needs both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET "
                "(set both to enable Slack, or neither to run without it)"
            )
        return self

    @model_validator(mode="after")
    def _database_when_embedded_is_off(self) -> Settings:
        if not self.embedded_postgres and self.database_url is None:
            raise ValueError(
                "DATABASE_URL is required: the embedded PostgreSQL is turned off (EMBEDDED_POSTGRES=false, as in "
                "the container image); set DATABASE_URL to a PostgreSQL with pgvector, e.g. "
                "postgresql://switchboard:PASSWORD@db:5432/switchboard"
            )
        return self

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None and self.slack_signing_secret is not None

    @property
    def chat_model(self) -> ChatModelConfig:
        """The chat model, with the provider inferred from whichever endpoint or key is set."""
        provider = self.llm_provider
        if provider is None:
            if self.llm_base_url or self.llm_api_key or self.openai_api_key:
                provider = "openai"
            elif self.anthropic_api_key:
                provider = "anthropic"
            else:
                provider = "none"
        vendor_key = self.anthropic_api_key if provider == "anthropic" else self.openai_api_key
        return ChatModelConfig(
            provider=provider,
            base_url=self.llm_base_url,
            api_key=self.llm_api_key or vendor_key,
            model=self.llm_model,
            timeout_seconds=self.llm_timeout_seconds,
            max_retries=self.llm_max_retries,
        )

    @property
    def embeddings(self) -> EmbeddingsConfig:
        return EmbeddingsConfig(
            provider=self.embeddings_provider,
            base_url=self.embeddings_base_url,
            model=self.embeddings_model,
            api_key=self.embeddings_api_key or self.openai_api_key,
        )

    def secret_values(self) -> list[str]:
        """Every secret's plain value, so logging can redact it wherever it might appear."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        values += self.tools.secret_values()  # agent runtime: endpoint header values
        values += [secret.get_secret_value() for secret in self.source_secrets().values.values()]
        values += [value for server in self.mcp_servers for value in server.secret_values()]
        return values


def load_settings(config_file: Path | None = None) -> Settings:
    """Read the config file (``SWITCHBOARD_CONFIG``, else ``./switchboard.toml`` if present) and the environment.

    Raises:
        SettingsError: naming each bad value and what is expected.
    """
    path = config_file or _config_path_from_environment()
    file_values: dict[str, Any] = {}
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"config file {path} does not exist (SWITCHBOARD_CONFIG)") from None
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"config file {path} is not valid TOML: {error}") from None
        file_values["switchboard_config"] = path
    try:
        return Settings(**file_values)
    except ValidationError as error:
        raise SettingsError(_describe(error, path)) from None


def _config_path_from_environment() -> Path | None:
    explicit = os.environ.get("SWITCHBOARD_CONFIG")
    if explicit:
        return Path(explicit)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _named_variables(sources: list[SourceConfigBase]) -> dict[str, SecretStr]:
    names = {name for source in sources if isinstance(source, SaaSSourceConfig) for name in source.secret_variables()}
    return {name: SecretStr(os.environ[name]) for name in sorted(names) if os.environ.get(name)}


def _describe(error: ValidationError, config_file: Path | None) -> str:
    lines = ["Switchboard's configuration has problems:"]
    for problem in error.errors():
        location = [str(part) for part in problem["loc"]]
        if not location:
            lines.append(f"  - {problem['msg'].removeprefix('Value error, ')}")
            continue
        if len(location) == 1 and location[0] in Settings.model_fields:
            where = f"{location[0].upper()} (environment) / {location[0]} (config file)"
        else:
            where = f"{'.'.join(location)} in {config_file or 'the config file'}"
        if problem["type"] == "extra_forbidden":
            lines.append(f"  - {where}: unknown setting; check its spelling against the README")
            continue
        message = problem["msg"].removeprefix("Value error, ")
        given = problem.get("input")
        secret = location[0] in _secret_fields()
        shown = "" if secret or isinstance(given, dict | list) else f" (got {given!r})"
        lines.append(f"  - {where}: {message}{shown}")
    return "\n".join(lines)


def _secret_fields() -> set[str]:
    return {name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)}
