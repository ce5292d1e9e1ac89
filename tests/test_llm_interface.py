"""The model interface: per-call options, the one retry loop (on a clock that does not
sleep), the provider registry and the scripted model.

The retry policy runs on :class:`ManualClock`: every wait is recorded, none is slept. The
errors stand in for what the openai client raises (an HTTP status, a ``Retry-After`` header,
a timeout); the same policy against a real HTTP server is in ``test_llm_faults.py``.
"""

from __future__ import annotations

import email.utils
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError, LLMError
from bot.generate.chat import rewrite_question
from bot.llm import registry
from bot.llm.base import ChatModel, Generation, Options
from bot.llm.providers import LangChainModel, make_llm
from bot.llm.retry import RetryPolicy
from bot.llm.scripted import ManualClock, ScriptedModel
from bot.storage.sessions import Turn
from tests.conftest import make_settings
from tests.faultserver import FaultServer


class _Response:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}


class HTTPStatusError(Exception):
    """Shaped like the openai client's APIStatusError: ``status_code`` and ``response``."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"Error code: {status}")
        self.status_code = status
        self.response = _Response(status, headers)


def _model(*replies: str | BaseException, clock: ManualClock, **policy: Any) -> ScriptedModel:
    retry = RetryPolicy(**{"max_retries": 2, "backoff": 0.5, **policy}, clock=clock)
    retry.jitter = lambda: 0.0  # the full computed wait (the jitter is tested on its own)
    return ScriptedModel(*replies, mode="openai", retry=retry)


def test_options_are_typed_and_frozen() -> None:
    options = Options(temperature=0.2, max_tokens=64, stop=["\n"])  # type: ignore[arg-type]
    assert options.stop == ("\n",)
    assert options.given() == {"temperature": 0.2, "max_tokens": 64, "stop": ["\n"]}
    assert Options().given() == {}
    with pytest.raises(AttributeError):
        options.max_tokens = 1  # type: ignore[misc]
    for bad in ({"max_tokens": 0}, {"temperature": -1.0}, {"timeout": 0.0}):
        with pytest.raises(ValueError):
            Options(**bad)  # type: ignore[arg-type]


def test_backoff_grows_then_succeeds_and_the_call_reports_its_attempts() -> None:
    clock = ManualClock()
    model = _model(
        TimeoutError("read timed out"), ConnectionError("refused"), "ok [1]", clock=clock
    )
    generation = model.invoke([("user", "hi")])
    assert generation.text == "ok [1]" and generation.attempts == 3
    assert clock.sleeps == [0.5, 1.0]  # backoff * 2**n
    assert not hasattr(model, "last_attempts")  # per call, returned; nothing kept on the model
    model.enqueue("again")
    assert model.invoke([("user", "hi")]).attempts == 1


def test_backoff_is_capped_by_max_wait_and_jittered_down_only() -> None:
    clock = ManualClock()
    model = _model(*[HTTPStatusError(503)] * 4, "ok", clock=clock, max_retries=4, max_wait=1.5)
    assert model.invoke([("user", "hi")]).attempts == 5
    assert clock.sleeps == [0.5, 1.0, 1.5, 1.5]
    jittered = ManualClock()
    policy = RetryPolicy(backoff=1.0, clock=jittered, jitter=lambda: 0.999)
    assert 0.75 < policy.next_wait(HTTPStatusError(500), 1, jittered.monotonic()) <= 1.0  # type: ignore[operator]


def test_retry_after_is_honoured_in_seconds_ms_and_as_a_date() -> None:
    clock = ManualClock(now=lambda: 1_000_000.0)
    later = email.utils.formatdate(1_000_000.0 + 7, usegmt=True)
    model = _model(
        HTTPStatusError(429, {"retry-after": "3"}),
        HTTPStatusError(429, {"retry-after-ms": "250"}),
        "ok",
        clock=clock,
        max_wait=10.0,
    )
    assert model.invoke([("user", "hi")]).attempts == 3
    assert clock.sleeps == [3.0, 0.25]
    dated = ManualClock(now=lambda: 1_000_000.0)
    model = _model(HTTPStatusError(429, {"retry-after": later}), "ok", clock=dated, max_wait=10.0)
    model.invoke([("user", "hi")])
    assert dated.sleeps == [7.0]


def test_retry_after_beyond_max_wait_and_client_errors_end_at_once() -> None:
    clock = ManualClock()
    model = _model(HTTPStatusError(429, {"retry-after": "600"}), clock=clock, max_wait=20.0)
    with pytest.raises(LLMError, match=r"after 1 attempt in .*429"):
        model.invoke([("user", "hi")])
    for status in (400, 401, 404):
        model = _model(HTTPStatusError(status), "never", clock=clock)
        with pytest.raises(LLMError, match=f"after 1 attempt .*{status}"):
            model.invoke([("user", "hi")])
    assert clock.sleeps == []


def test_empty_and_malformed_replies_are_retried() -> None:
    import json

    clock = ManualClock()
    malformed = json.JSONDecodeError("Expecting value", "<html>", 0)
    model = _model("   ", malformed, "fine", clock=clock)
    assert model.invoke([("user", "hi")]).attempts == 3
    model = _model("", "", "", clock=clock)
    with pytest.raises(LLMError, match=r"after 3 attempts .*empty completion"):
        model.invoke([("user", "hi")])


def test_no_attempt_starts_after_the_deadline() -> None:
    clock = ManualClock()
    model = _model(*[HTTPStatusError(500)] * 5, clock=clock, max_retries=10, deadline=1.2)
    with pytest.raises(LLMError, match="after 2 attempts"):
        model.invoke([("user", "hi")])
    assert clock.sleeps == [0.5]  # 0.5 + 1.0 would pass the 1.2 s deadline: no third attempt


def test_a_stream_is_retried_before_its_first_token_only() -> None:
    clock = ManualClock()
    model = _model(HTTPStatusError(502), "one two three", clock=clock)
    stream = model.stream([("user", "hi")])
    assert "".join(stream) == "one two three" and stream.attempts == 2
    assert clock.sleeps == [0.5]

    class Broken(ScriptedModel):
        def _tokens(self, request: Any, options: Options) -> Any:
            yield "first "
            raise ConnectionError("dropped mid-stream")

    broken = Broken(retry=RetryPolicy(max_retries=2, clock=clock))
    shown: list[str] = []
    with pytest.raises(LLMError, match=r"after 1 attempt .*dropped mid-stream"):
        shown.extend(broken.stream([("user", "hi")]))
    assert shown == ["first "] and clock.sleeps == [0.5]  # not retried: a token was shown


def test_scripted_model_records_calls_and_fails_clearly_when_empty() -> None:
    model = ScriptedModel("a", default=None)
    assert isinstance(model, ChatModel)
    model.invoke([("system", "be brief"), ("user", "q?")], Options(max_tokens=8))
    call = model.calls[0]
    assert call.messages == (("system", "be brief"), ("user", "q?"))
    assert call.options == Options(max_tokens=8) and not call.stream and call.prompt is None
    with pytest.raises(LLMError, match="no scripted reply queued"):
        model.invoke([("user", "again?")])


def test_per_call_options_reach_the_openai_request(tmp_path: Path) -> None:
    """Through langchain-openai to a real HTTP server: the call's options are in the request
    body, the configured ones otherwise; the model object is not changed by a call."""
    with FaultServer(reply="A reply.") as server:
        settings = make_settings(
            tmp_path, llm_mode="openai", openai_base_url=server.url, max_tokens=300
        )
        llm = make_llm(settings)
        assert isinstance(llm, LangChainModel)
        assert llm.invoke([("user", "hi")], Options(max_tokens=64, stop=("\n",))).text
        assert llm.invoke([("user", "hi")]).text
        tokens = "".join(llm.stream([("user", "hi")], Options(temperature=0.7)))
        bodies = list(server.requests)
    assert tokens == "A reply."
    limit = [b.get("max_completion_tokens", b.get("max_tokens")) for b in bodies]
    assert limit == [64, 300, 300]
    assert bodies[0]["stop"] == ["\n"] and "stop" not in bodies[1]
    assert bodies[2]["temperature"] == 0.7 and bodies[1]["temperature"] == settings.llm.temperature


def test_the_rewrite_uses_a_small_budget_and_keeps_the_retry_policy() -> None:
    """chat's rewrite asks for 64 tokens per call, on the same model (its retries hold)."""
    clock = ManualClock()
    model = _model(HTTPStatusError(503), "What baseline does the grokking paper use?", clock=clock)
    history = [
        Turn(
            1,
            "What is grokking?",
            "What is grokking?",
            "none",
            {"answer": "x [1]", "citations": []},
        )
    ]
    rewrite = rewrite_question(
        "What baseline does it use?", history, model, make_settings(Path("/x"))
    )
    assert rewrite.method == "llm" and rewrite.standalone.startswith("What baseline does the")
    assert [c.options.max_tokens for c in model.calls] == [64, 64]
    assert clock.sleeps == [0.5]


def test_providers_are_chosen_by_name_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {p.name for p in registry.providers()} >= {"openai", "local", "extractive"}
    assert make_llm(make_settings(tmp_path)) is None  # extractive: no model
    built: list[RetryPolicy] = []

    def scripted(settings: Any, retry: RetryPolicy) -> ScriptedModel:
        built.append(retry)
        return ScriptedModel("from the registry", mode="openai", retry=retry)

    monkeypatch.setitem(registry._PROVIDERS, "openai", registry.Provider("openai", scripted))
    clock = ManualClock()
    settings = make_settings(
        tmp_path, llm_mode="auto", openai_base_url="http://127.0.0.1:9", llm_max_retries=5
    )
    llm = make_llm(settings, clock=clock)  # auto -> openai (an endpoint is set)
    assert isinstance(llm, ScriptedModel) and llm.invoke([("user", "hi")]).text
    assert built[0].max_retries == 5 and built[0].clock is clock
    with pytest.raises(ConfigError, match="PAPERBOT_LLM_MODE=nope: no such provider"):
        registry.provider("nope")


def test_one_model_serves_concurrent_calls_with_their_own_results() -> None:
    gate = threading.Event()
    model = ScriptedModel()
    model.enqueue("slow reply", gate=gate)
    model.enqueue("fast reply")
    results: dict[str, Generation] = {}
    slow = threading.Thread(target=lambda: results.update(slow=model.invoke([("user", "1")])))
    slow.start()
    assert model.started.wait(30)
    results["fast"] = model.invoke([("user", "2")])  # not blocked by the slow call
    assert "slow" not in results
    gate.set()
    slow.join(30)
    assert results["slow"].text == "slow reply" and results["fast"].text == "fast reply"


class _Llama:
    """Stands in for ``llama_cpp.Llama`` at its boundary: records each request and how many
    ran at once (llama.cpp is not safe to call from two threads)."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.running = 0
        self.most = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def create_chat_completion(self, **payload: Any) -> dict[str, Any]:
        with self._lock:
            self.payloads.append(payload)
            self.running += 1
            self.most = max(self.most, self.running)
        self.entered.set()
        self.release.wait(30)
        with self._lock:
            self.running -= 1
        message = {"content": "A local reply."}
        return {"choices": [{"message": message}], "usage": {"prompt_tokens": 3}}


def test_the_local_provider_takes_per_call_options_one_call_at_a_time() -> None:
    from bot.llm.providers import _make_llamacpp_chat_class

    llama = _Llama()
    chat = _make_llamacpp_chat_class()(llama=llama, model_name="tiny", max_tokens=256)
    model = LangChainModel("local", "tiny", chat, RetryPolicy(max_retries=0), serial=True)
    results: list[Generation] = []
    first = threading.Thread(
        target=lambda: results.append(model.invoke([("user", "a")], Options(max_tokens=64)))
    )
    first.start()
    assert llama.entered.wait(30)
    second = threading.Thread(target=lambda: results.append(model.invoke([("user", "b")])))
    second.start()
    second.join(0.5)  # waits for the first call (bounded: the assertion is on the order)
    assert len(llama.payloads) == 1
    llama.release.set()
    first.join(30)
    second.join(30)
    assert [r.text for r in results] == ["A local reply.", "A local reply."]
    assert llama.most == 1
    assert [p["max_tokens"] for p in llama.payloads] == [64, 256]
