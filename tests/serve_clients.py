"""Real clients, written by others, against `geminal serve`: the official `openai` SDK
(whole, streamed, models, a refused key, a tool round trip whole and streamed), Google's
`google-genai` (a changed base URL: whole, streamed, countTokens, a function declaration with
automatic function calling off and its follow-up), and `prometheus_client`'s OpenMetrics parser
reading /metrics.
Run by tests/serve.rs: python serve_clients.py BASE_URL KEY. Prints one line per check."""

import json
import sys
import urllib.request

import openai
from google import genai
from prometheus_client.openmetrics.parser import text_string_to_metric_families

base, key = sys.argv[1], sys.argv[2]
model = "gemini-2.5-flash"


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


oa = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
whole = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello from openai"}])
check("openai whole", whole.choices[0].message.content and whole.usage.total_tokens > 0, whole)

stream = oa.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "stream from openai"}],
    stream=True,
    stream_options={"include_usage": True},
)
parts, usage = [], None
for chunk in stream:
    if chunk.choices:
        parts.append(chunk.choices[0].delta.content or "")
    if chunk.usage:
        usage = chunk.usage
check("openai stream", len(parts) > 2 and "".join(parts) and usage and usage.completion_tokens > 0, parts)

ids = [m.id for m in oa.models.list()]
check("openai models", model in ids, ids)

try:
    openai.OpenAI(base_url=f"{base}/v1", api_key="not-a-key", max_retries=0).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "x"}]
    )
    check("openai refused key", False, "no error")
except openai.AuthenticationError as e:
    check("openai refused key", e.status_code == 401 and "key" in str(e.message), e)

try:
    oa.chat.completions.create(model=model, n=2, messages=[{"role": "user", "content": "x"}])
    check("openai n=2", False, "no error")
except openai.BadRequestError as e:
    check("openai n=2", e.status_code == 400, e)

g = genai.Client(api_key=key, http_options={"base_url": base})
answer = g.models.generate_content(model=model, contents="hello from google-genai")
check("genai whole", answer.text and answer.usage_metadata.total_token_count > 0, answer)
streamed = [c.text or "" for c in g.models.generate_content_stream(model=model, contents="stream from google-genai")]
check("genai stream", len(streamed) > 2 and "".join(streamed), streamed)
counted = g.models.count_tokens(model=model, contents="count these tokens")
check("genai countTokens", counted.total_tokens > 0, counted)

request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {key}"})
text = urllib.request.urlopen(request).read().decode()
families = {f.name: f for f in text_string_to_metric_families(text)}
requests = families["geminal_serve_requests"]
answered = sum(s.value for s in requests.samples if s.name == "geminal_serve_requests_total")
check("metrics requests", answered == 4, answered)
rejected = families["geminal_serve_rejected"]
reasons = {s.labels["reason"]: s.value for s in rejected.samples if s.name == "geminal_serve_rejected_total"}
check("metrics rejected", reasons == {"unauthenticated": 1.0, "bad_request": 1.0}, reasons)
check("metrics histograms", "geminal_serve_ttft_seconds" in families and "geminal_serve_latency_seconds" in families)
# A tool round trip with the openai SDK: the model calls, the function runs here, its result
# goes back in a tool message, the model answers with it.
tools = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def get_weather(city):
    return json.dumps({"city": city, "celsius": 21})


messages = [{"role": "user", "content": "What does get_weather say for Paris?"}]
first = oa.chat.completions.create(model=model, messages=messages, tools=tools)
called = first.choices[0]
check(
    "openai tool call",
    called.finish_reason == "tool_calls" and called.message.tool_calls and called.message.tool_calls[0].id,
    first,
)
messages.append(called.message)
for call in called.message.tool_calls:
    messages.append({"role": "tool", "tool_call_id": call.id, "content": get_weather(**json.loads(call.function.arguments))})
final = oa.chat.completions.create(model=model, messages=messages, tools=tools)
check(
    "openai tool answer",
    final.choices[0].finish_reason == "stop" and "celsius" in (final.choices[0].message.content or ""),
    final,
)

# Streamed: the calls put together from their deltas, sent back without anything but what
# OpenAI's own clients keep (the server keeps the signature).
messages = [{"role": "user", "content": "Stream what get_weather says for Oslo."}]
calls, finish, text = {}, None, []
for chunk in oa.chat.completions.create(model=model, messages=messages, tools=tools, stream=True):
    if not chunk.choices:
        continue
    delta = chunk.choices[0].delta
    text.append(delta.content or "")
    for piece in delta.tool_calls or []:
        call = calls.setdefault(piece.index, {"id": None, "name": "", "arguments": ""})
        call["id"] = piece.id or call["id"]
        call["name"] += (piece.function and piece.function.name) or ""
        call["arguments"] += (piece.function and piece.function.arguments) or ""
    finish = chunk.choices[0].finish_reason or finish
check("openai tool call streamed", finish == "tool_calls" and calls and calls[0]["id"], (finish, calls))
messages.append(
    {
        "role": "assistant",
        "content": "".join(text) or None,
        "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls.values()
        ],
    }
)
for c in calls.values():
    messages.append({"role": "tool", "tool_call_id": c["id"], "content": get_weather(**json.loads(c["arguments"]))})
answer, finish = [], None
for chunk in oa.chat.completions.create(model=model, messages=messages, tools=tools, stream=True):
    if chunk.choices:
        answer.append(chunk.choices[0].delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
check("openai tool answer streamed", finish == "stop" and "celsius" in "".join(answer), (finish, answer))

# google-genai with a function declaration, automatic function calling off: the call comes
# back, the response goes with it in the follow-up.
from google.genai import types

declaration = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city.",
    parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")}, required=["city"]),
)
config = types.GenerateContentConfig(
    tools=[types.Tool(function_declarations=[declaration])],
    automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
)
question = types.Content(role="user", parts=[types.Part(text="What does get_weather say for Bern?")])
called = g.models.generate_content(model=model, contents=[question], config=config)
function_calls = called.function_calls or []
check("genai function call", len(function_calls) == 1 and function_calls[0].name == "get_weather", called)
fc = function_calls[0]
response = types.Content(
    role="user",
    parts=[
        types.Part(
            function_response=types.FunctionResponse(
                id=fc.id, name=fc.name, response=json.loads(get_weather(**(fc.args or {})))
            )
        )
    ],
)
final = g.models.generate_content(model=model, contents=[question, called.candidates[0].content, response], config=config)
check("genai function answer", "celsius" in (final.text or ""), final)
print("all ok")
