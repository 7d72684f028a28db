"""Drives the fake Claude API and the chaos proxy with the official Python SDK (`anthropic`), with
strict response validation: every response must parse into the SDK's pydantic models.

Run by test/integration/python-sdk.test.ts, which starts the servers and passes their URLs:
  TARGETS  JSON {"fake": url, "proxy": url}
  FAULTS   JSON {model name: {"expect": exception class name, "stream": bool, "targets": [...]}}
Prints one JSON line per check ({"target", "check", "ok", "detail"}) and a closing
"python-sdk: N passed, N failed" line; exits 1 when any check failed.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, Callable

import anthropic
from anthropic import Anthropic

MODEL = "claude-sonnet-4-6"
USER = [{"role": "user", "content": "Weather in Paris?"}]
WEATHER = {
    "name": "get_weather",
    "description": "Weather of a place",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}

results: list[dict[str, Any]] = []


def client(base_url: str, timeout: float = 10.0) -> Anthropic:
    return Anthropic(
        api_key="sk-ant-test",
        base_url=base_url,
        max_retries=0,
        timeout=timeout,
        _strict_response_validation=True,
    )


def check(target: str, name: str, fn: Callable[[], None]) -> None:
    try:
        fn()
        results.append({"target": target, "check": name, "ok": True})
    except Exception as error:  # noqa: BLE001 - every failure is reported, validation errors included
        detail = f"{type(error).__module__}.{type(error).__name__}: {error}"
        results.append(
            {"target": target, "check": name, "ok": False, "detail": detail[:2000], "trace": traceback.format_exc()[-2000:]}
        )
    print(json.dumps(results[-1]), flush=True)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def normal_checks(target: str, url: str) -> None:
    c = client(url)

    def create() -> None:
        m = c.messages.create(model=MODEL, max_tokens=256, messages=USER)
        expect(m.type == "message" and m.role == "assistant", "message shape")
        expect(m.stop_reason == "end_turn" and m.stop_details is None, f"stop {m.stop_reason} {m.stop_details}")
        expect(m.content[0].type == "text" and len(m.content[0].text) > 0, "text block")
        u = m.usage
        expect(u.cache_creation is not None and u.cache_creation.ephemeral_5m_input_tokens == 0, "cache_creation")
        expect(u.service_tier == "standard" and u.inference_geo is not None, "service_tier, inference_geo")
        expect(m.id.startswith("msg_"), m.id)

    def stream() -> None:
        with c.messages.stream(model=MODEL, max_tokens=256, messages=USER) as s:
            text = "".join(s.text_stream)
            final = s.get_final_message()
        expect(final.content[0].type == "text" and final.content[0].text == text, "streamed text")
        expect(final.stop_reason == "end_turn", str(final.stop_reason))
        expect(final.usage.output_tokens > 1 and final.usage.input_tokens > 0, str(final.usage))

    def raw_events() -> None:
        kinds = [event.type for event in c.messages.create(model=MODEL, max_tokens=256, messages=USER, stream=True)]
        expect(kinds[0] == "message_start" and kinds[-1] == "message_stop", str(kinds))
        expect("message_delta" in kinds, str(kinds))

    def tools() -> None:
        m = c.messages.create(model=MODEL, max_tokens=256, messages=USER, tools=[WEATHER])
        expect(m.stop_reason == "tool_use", str(m.stop_reason))
        call = next(b for b in m.content if b.type == "tool_use")
        expect(call.name == "get_weather" and isinstance(call.input, dict), str(call))
        follow = [
            *USER,
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny"}]},
        ]
        done = c.messages.create(model=MODEL, max_tokens=256, messages=follow, tools=[WEATHER])
        expect(done.stop_reason == "end_turn", f"the loop ends: {done.stop_reason}")
        with c.messages.stream(model=MODEL, max_tokens=256, messages=USER, tools=[WEATHER, TIME]) as s:
            final = s.get_final_message()
        expect(final.content[-1].type == "tool_use", "streamed tool_use")
        named = c.messages.create(
            model=MODEL, max_tokens=256, messages=USER, tools=[WEATHER, TIME], tool_choice={"type": "tool", "name": "get_time"}
        )
        expect([b.type for b in named.content] == ["tool_use"] and named.content[0].name == "get_time", "named tool")
        none = c.messages.create(model=MODEL, max_tokens=256, messages=USER, tools=[WEATHER], tool_choice={"type": "none"})
        expect([b.type for b in none.content] == ["text"], "tool_choice none")

    def thinking() -> None:
        params: dict[str, Any] = dict(
            model=MODEL, max_tokens=2048, messages=USER, thinking={"type": "enabled", "budget_tokens": 1024}
        )
        m = c.messages.create(**params)
        expect([b.type for b in m.content] == ["thinking", "text"], str([b.type for b in m.content]))
        expect(len(m.content[0].signature) > 0, "signature")
        with c.messages.stream(**params) as s:
            final = s.get_final_message()
        expect([b.type for b in final.content] == ["thinking", "text"], "streamed thinking")
        expect(final.content[0].signature == m.content[0].signature or len(final.content[0].signature) > 0, "sig")

    def stop_sequences() -> None:
        m = c.messages.create(model=MODEL, max_tokens=256, messages=USER, stop_sequences=["café"])
        expect(m.stop_reason == "stop_sequence" and m.stop_sequence == "café", f"{m.stop_reason} {m.stop_sequence}")
        expect("café" not in m.content[0].text, m.content[0].text)
        with c.messages.stream(model=MODEL, max_tokens=256, messages=USER, stop_sequences=["café"]) as s:
            final = s.get_final_message()
        expect(final.stop_reason == "stop_sequence" and final.stop_sequence == "café", "streamed stop sequence")

    def max_tokens() -> None:
        m = c.messages.create(model=MODEL, max_tokens=3, messages=USER)
        expect(m.stop_reason == "max_tokens" and m.usage.output_tokens == 3, f"{m.stop_reason} {m.usage}")

    def count_tokens() -> None:
        counted = c.messages.count_tokens(model=MODEL, messages=USER)
        expect(counted.input_tokens > 0, str(counted))

    def models() -> None:
        everything = [m.id for m in c.models.list(limit=100)]
        paged = [m.id for m in c.models.list(limit=2)]
        expect(len(everything) > 2 and paged == everything, f"{paged} != {everything}")
        first = c.models.list(limit=2)
        expect(first.has_more is True and len(first.data) == 2, "first page")
        one = c.models.retrieve(everything[0])
        expect(one.lifecycle == "active" and one.capabilities is not None and one.max_tokens, str(one))
        retired = [m for m in c.models.list(lifecycle=["retired"])]
        expect(all(m.lifecycle == "retired" for m in retired) and len(retired) > 0, "retired")

    def validation() -> None:
        for kwargs, cls in [
            (dict(model=MODEL, max_tokens=256, messages=[]), anthropic.BadRequestError),
            (dict(model="claude-nope", max_tokens=256, messages=USER), anthropic.NotFoundError),
            (dict(model=MODEL, max_tokens=0, messages=USER), anthropic.BadRequestError),
            (
                dict(model=MODEL, max_tokens=2048, messages=USER, thinking={"type": "enabled", "budget_tokens": 100}),
                anthropic.BadRequestError,
            ),
        ]:
            try:
                c.messages.create(**kwargs)
            except cls as error:
                expect(error.request_id is not None and error.request_id.startswith("req_"), str(error.request_id))
                continue
            raise AssertionError(f"{kwargs} did not raise {cls.__name__}")

    for name, fn in [
        ("create", create),
        ("stream get_final_message", stream),
        ("raw stream events", raw_events),
        ("tools, tool_result, tool_choice", tools),
        ("thinking", thinking),
        ("stop sequences", stop_sequences),
        ("max_tokens", max_tokens),
        ("count_tokens", count_tokens),
        ("models with paging", models),
        ("validation errors", validation),
    ]:
        check(target, name, fn)


def fault_checks(target: str, url: str, faults: dict[str, dict[str, Any]]) -> None:
    for model, spec in faults.items():
        if target not in spec["targets"]:
            continue

        def run(model: str = model, spec: dict[str, Any] = spec) -> None:
            c = client(url, timeout=spec.get("timeout") or 10.0)
            want = spec["expect"]
            try:
                if spec["stream"]:
                    with c.messages.stream(model=model, max_tokens=256, messages=USER) as s:
                        final = s.get_final_message()
                else:
                    final = c.messages.create(model=model, max_tokens=256, messages=USER)
            except Exception as error:  # noqa: BLE001
                got = type(error).__name__
                expect(got == want, f"raised {type(error).__module__}.{got} ({error}), expected {want}")
                if isinstance(error, anthropic.APIStatusError):
                    expect(str(error.request_id or "").startswith("req_"), f"request id {error.request_id}")
                    if error.status_code == 429:
                        expect(error.response.headers.get("retry-after") is not None, "429 without retry-after")
                return
            expect(want.startswith("stop:"), f"no exception, expected {want}")
            expect(final.stop_reason == want[5:], f"stop_reason {final.stop_reason}, expected {want[5:]}")
            if final.stop_reason == "refusal":
                expect(final.stop_details is not None and final.stop_details.type == "refusal", "stop_details")

        check(target, f"fault {model} -> {spec['expect']}", run)


def main() -> int:
    targets: dict[str, str] = json.loads(os.environ["TARGETS"])
    faults: dict[str, dict[str, Any]] = json.loads(os.environ.get("FAULTS", "{}"))
    print(json.dumps({"anthropic": anthropic.__version__}), flush=True)
    for target, url in targets.items():
        normal_checks(target, url)
        fault_checks(target, url, faults)
    failed = sum(1 for r in results if not r["ok"])
    print(f"python-sdk: {len(results) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
