"""Prompt templates as files.

Each ``prompts/NAME.md`` starts with a front-matter block declaring its variables::

    ---
    name: qa
    description: ...
    variables: question, sources
    ---
    ## system
    ... {question} ...
    ## user
    ...

Sections (``## system``, ``## user``) become chat messages. Placeholders use ``{name}``
(``{{``/``}}`` for literal braces). Loading checks that the placeholders used are exactly the
declared variables; rendering checks that every declared variable is given. Every prompt has a
``sha256`` hash, recorded with each answer.
"""

from __future__ import annotations

import functools
import hashlib
import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

__all__ = ["Prompt", "list_prompts", "load_prompt", "prompts_dir"]

_SECTIONS = ("system", "user", "assistant")


def prompts_dir() -> Path:
    """``PAPERBOT_PROMPTS_DIR``, else the repo's ``prompts/``, else the copy inside the wheel."""
    override = os.environ.get("PAPERBOT_PROMPTS_DIR")
    if override:
        return Path(override)
    package = Path(__file__).resolve().parents[1]  # bot/
    for candidate in (package.parent / "prompts", package / "_prompts"):
        if candidate.is_dir():
            return candidate
    raise ConfigError("prompt templates not found: set PAPERBOT_PROMPTS_DIR")


@dataclass(frozen=True)
class Prompt:
    name: str
    description: str
    variables: tuple[str, ...]
    messages: tuple[tuple[str, str], ...]  # (role, template)
    sha256: str
    path: Path

    def render(self, **values: Any) -> list[tuple[str, str]]:
        """The chat messages with every declared variable filled in."""
        missing = [v for v in self.variables if v not in values]
        extra = [k for k in values if k not in self.variables]
        if missing or extra:
            raise ConfigError(
                f"prompt '{self.name}' ({self.path}): missing variables {missing}, "
                f"undeclared variables {extra}"
            )
        return [(role, template.format(**values)) for role, template in self.messages]

    def render_text(self, **values: Any) -> str:
        return "\n\n".join(text for _, text in self.render(**values))

    def to_langchain(self) -> Any:
        """The same prompt as a LangChain ``ChatPromptTemplate`` (a runnable)."""
        from langchain_core.prompts import ChatPromptTemplate

        role_map = {"system": "system", "user": "human", "assistant": "ai"}
        return ChatPromptTemplate.from_messages(
            [(role_map[role], template) for role, template in self.messages]
        )


def _placeholders(template: str, where: str) -> set[str]:
    names = set()
    try:
        for _, field, _, _ in string.Formatter().parse(template):
            if field is not None:
                if not field.isidentifier():
                    raise ConfigError(f"{where}: bad placeholder '{{{field}}}'")
                names.add(field)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return names


def parse_prompt(text: str, path: Path) -> Prompt:
    if not text.startswith("---"):
        raise ConfigError(f"{path}: a prompt file starts with a '---' front-matter block")
    try:
        _, front, body = text.split("---", 2)
    except ValueError as exc:
        raise ConfigError(f"{path}: unterminated front-matter block") from exc
    meta: dict[str, str] = {}
    for line in front.strip().splitlines():
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip()
    variables = tuple(v.strip() for v in meta.get("variables", "").split(",") if v.strip())
    messages: list[tuple[str, str]] = []
    role: str | None = None
    lines: list[str] = []
    for line in body.splitlines():
        header = line.strip().lower()
        if header.startswith("## ") and header[3:].strip() in _SECTIONS:
            if role is not None:
                messages.append((role, "\n".join(lines).strip()))
            role, lines = header[3:].strip(), []
        elif role is not None:
            lines.append(line)
    if role is not None:
        messages.append((role, "\n".join(lines).strip()))
    if not messages:
        raise ConfigError(f"{path}: no '## system' or '## user' section")
    used: set[str] = set()
    for role, template in messages:
        used |= _placeholders(template, f"{path} ({role})")
    if used != set(variables):
        raise ConfigError(
            f"{path}: declared variables {sorted(variables)} but the template uses {sorted(used)}"
        )
    return Prompt(
        name=meta.get("name") or path.stem,
        description=meta.get("description", ""),
        variables=variables,
        messages=tuple(messages),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        path=path,
    )


@functools.lru_cache(maxsize=64)
def _load(path: Path, mtime: float) -> Prompt:
    return parse_prompt(path.read_text(encoding="utf-8"), path)


def load_prompt(name: str, directory: Path | None = None) -> Prompt:
    path = (directory or prompts_dir()) / f"{name}.md"
    if not path.is_file():
        raise ConfigError(f"prompt file not found: {path}")
    return _load(path, path.stat().st_mtime)


def list_prompts(directory: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (directory or prompts_dir()).glob("*.md"))
