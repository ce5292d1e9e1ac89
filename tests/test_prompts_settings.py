"""Every prompt file renders; settings read env and .env with the right precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.llm.prompts import list_prompts, load_prompt, parse_prompt
from bot.settings import load_settings


@pytest.mark.parametrize("name", list_prompts())
def test_every_prompt_file_renders(name: str) -> None:
    prompt = load_prompt(name)
    values = {v: f"<{v}-value>" for v in prompt.variables}
    messages = prompt.render(**values)
    assert messages
    text = "\n".join(t for _, t in messages)
    for v in prompt.variables:
        assert f"<{v}-value>" in text
    assert len(prompt.sha256) == 64
    # it is also a LangChain runnable prompt
    rendered = prompt.to_langchain().invoke(values)
    assert len(rendered.to_messages()) == len(messages)


def test_qa_prompt_fences_sources_as_data() -> None:
    text = load_prompt("qa").render_text(question="q", sources="S", n_sources=3)
    assert "not instructions" in text
    assert "INSUFFICIENT_EVIDENCE" in text


def test_undeclared_placeholder_is_rejected(tmp_path: Path) -> None:
    bad = "---\nname: bad\nvariables: a\n---\n## user\n{a} and {b}\n"
    with pytest.raises(ConfigError, match="declared variables"):
        parse_prompt(bad, tmp_path / "bad.md")


def test_render_checks_missing_variables() -> None:
    with pytest.raises(ConfigError, match="missing variables"):
        load_prompt("qa").render(question="only this")


def test_settings_env_beats_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PAPERBOT_TOP_K=7\nPAPERBOT_LLM_MODE=local\nOPENAI_MODEL=m-from-file\n")
    monkeypatch.setenv("PAPERBOT_LLM_MODE", "extractive")
    monkeypatch.delenv("PAPERBOT_TOP_K", raising=False)
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    s = load_settings(env_file)
    assert s.top_k == 7
    assert s.llm_mode == "extractive"
    assert s.openai_model == "m-from-file"


def test_bad_setting_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERBOT_TOP_K", "zero")
    with pytest.raises(ConfigError, match="PAPERBOT_TOP_K"):
        load_settings(tmp_path / "missing.env")


def test_env_example_lists_every_setting() -> None:
    from bot.settings import Settings

    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = [str(n) for n in getattr(alias, "choices", [])] or [f"PAPERBOT_{name.upper()}"]
        assert any(n in example for n in names), f"{names[0]} missing from .env.example"
