"""Every prompt file renders; settings read env and .env with the right precedence."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.errors import ConfigError
from bot.llm.prompts import list_prompts, load_prompt, parse_prompt
from bot.settings import (
    SETTINGS,
    default_home,
    isolated_settings,
    load_settings,
    render_env_example,
)
from tests.conftest import ROOT, cli_env, make_settings


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
    settings = load_settings(env_file)
    assert settings.retrieval.top_k == 7
    assert settings.llm.mode == "extractive"
    assert settings.llm.openai_model == "m-from-file"


def test_bad_setting_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERBOT_TOP_K", "zero")
    with pytest.raises(ConfigError, match="PAPERBOT_TOP_K"):
        load_settings(tmp_path / "missing.env")


def _clean_environment(monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
    """No paperbot variable in the environment, and a working directory without a .env."""
    for name in list(os.environ):
        if name.startswith(("PAPERBOT_", "OPENAI_", "CHROMA_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(cwd)


def test_env_example_is_generated_from_the_settings() -> None:
    """.env.example is the output of `paperbot config env-example`: names, defaults and
    descriptions all come from bot/settings.py (regenerate it after changing a setting)."""
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert example == render_env_example(), (
        ".env.example disagrees with bot/settings.py: run `paperbot config env-example -o "
        ".env.example`"
    )
    lines = [line for line in example.splitlines() if line and not line.startswith("#")]
    assigned = [line.split("=", 1)[0] for line in lines]
    assert assigned == [info.env[0] for info in SETTINGS]
    assert len({e for info in SETTINGS for e in info.env}) == sum(len(i.env) for i in SETTINGS)
    assert all(len(str(info.field.description or "")) > 10 for info in SETTINGS)


def test_env_example_values_are_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    from_file = load_settings(ROOT / ".env.example")
    assert from_file.model_dump() == isolated_settings().model_dump()
    # and a changed default would show: the file's value is what a user copying it gets
    changed = tmp_path / "changed.env"
    changed.write_text(
        (ROOT / ".env.example").read_text().replace("PAPERBOT_TOP_K=5", "PAPERBOT_TOP_K=6")
    )
    assert load_settings(changed).retrieval.top_k == 6


@pytest.mark.parametrize("name", ["CHROMA_PORT", "PAPERBOT_CHROMA_PORT"])
def test_errors_name_the_variable_that_was_set(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    monkeypatch.setenv(name, "abc")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"invalid settings: {name}: ")
    assert "valid integer" in message and ".env" not in message


def test_errors_name_the_env_file_the_value_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    env_file = tmp_path / "my.env"
    env_file.write_text("CHROMA_PORT=abc\nPAPERBOT_TOP_K=0\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file)
    message = str(caught.value)
    assert f"CHROMA_PORT (in {env_file}): " in message
    assert f"PAPERBOT_TOP_K (in {env_file}): " in message
    # PAPERBOT_ENV_FILE names the file when no env_file is given; the environment wins over it
    monkeypatch.setenv("PAPERBOT_ENV_FILE", str(env_file))
    monkeypatch.setenv("PAPERBOT_TOP_K", "zero")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert f"CHROMA_PORT (in {env_file}): " in message
    assert "PAPERBOT_TOP_K: " in message and "PAPERBOT_TOP_K (in" not in message
    # an explicit override is named by its variable too
    with pytest.raises(ConfigError, match=r"PAPERBOT_MAX_K: "):
        load_settings(tmp_path / "none.env", max_k=0)


def test_make_settings_ignores_the_environment_and_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    (tmp_path / ".env").write_text("PAPERBOT_MAX_K=7\nOPENAI_MODEL=from-dotenv\n")
    monkeypatch.setenv("PAPERBOT_TOP_K", "9")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("CHROMA_HOST", "chroma.example")
    loaded = load_settings()  # the variables and the .env are really there...
    assert (loaded.retrieval.top_k, loaded.retrieval.max_k) == (9, 7)
    assert loaded.llm.openai_api_key == "sk-from-env" and loaded.chroma.host == "chroma.example"
    settings = make_settings(tmp_path / "home")  # ...and the tests' settings do not see them
    assert settings.retrieval.top_k == 5 and settings.retrieval.max_k == 50
    assert settings.llm.openai_api_key is None and settings.llm.openai_model == "gpt-4o-mini"
    assert settings.chroma.host is None and settings.llm.mode == "extractive"
    assert settings.store.home == tmp_path / "home"
    assert settings.model_copy(update={"top_k": 3}).retrieval.max_k == 50


def test_flat_names_override_everywhere_settings_are_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("PAPERBOT_TOP_K", "9")
    assert load_settings(top_k=3, verify="llm", chroma_port=1234).retrieval.top_k == 3
    assert load_settings(top_k=None).retrieval.top_k == 9  # None = not given (CLI options)
    settings = make_settings(tmp_path, top_k=3, hybrid_dense_weight=0.7, verify="both")
    assert settings.retrieval.top_k == 3 and settings.retrieval.dense_weight == 0.7
    assert settings.verification.judge == "both"
    grouped = make_settings(tmp_path, retrieval={"top_k": 4}, max_k=20)
    assert (grouped.retrieval.top_k, grouped.retrieval.max_k) == (4, 20)
    copied = settings.model_copy(update={"top_k": 4, "llm": {"max_tokens": 99}})
    assert (copied.retrieval.top_k, copied.llm.max_tokens) == (4, 99)
    assert copied.retrieval.dense_weight == 0.7 and settings.retrieval.top_k == 3
    with pytest.raises(ValidationError):  # copies are validated like any other value
        settings.model_copy(update={"top_k": 0})
    with pytest.raises(ValidationError, match="no_such_setting"):  # a stale name fails loudly
        make_settings(tmp_path, no_such_setting=1)
    with pytest.raises(ValidationError):
        make_settings(tmp_path, retrieval={"no_such_setting": 1})


def test_blank_values_of_optional_settings_mean_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("PAPERBOT_HOME", "")
    monkeypatch.setenv("PAPERBOT_VERIFY_THRESHOLD", " ")
    monkeypatch.setenv("CHROMA_HOST", "")
    monkeypatch.setenv("PAPERBOT_API_KEY", "")
    settings = load_settings()
    assert settings.store.home == default_home()
    assert settings.verification.threshold is None and settings.chroma.host is None
    assert settings.server.api_key is None and not settings.server_mode


def test_paperbot_config_env_example_prints_the_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "config", "env-example"],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (ROOT / ".env.example").read_text(encoding="utf-8")


def test_no_flat_settings_access_is_left() -> None:
    """Code reads settings through their groups (``settings.retrieval.top_k``); a flat access
    (the old form: ``top_k`` read directly on a settings object, e.g. in a branch merged after
    the regrouping) fails here by name. Fix: re-run the rewrite script (see the commit that
    introduced the groups)."""
    flat = {info.flat for info in SETTINGS}
    found = []
    for folder in ("bot", "tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Attribute) or node.attr not in flat:
                    continue
                owner = node.value
                name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                if name.endswith(("settings", "settings_")):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
    assert not found, "flat settings accesses:\n" + "\n".join(found)
