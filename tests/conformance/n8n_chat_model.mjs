// The HTTP calls n8n's "OpenAI Chat Model" node makes to a custom base URL, made with the same
// `openai` npm client it uses, and read back the way the node reads them.
//
// Usage: node n8n_chat_model.mjs <credential|picker|agent|streaming-agent>
// Environment: N8N_BASE_URL (the credential's "Base URL", ending in /v1), N8N_API_KEY, N8N_MODEL.
// Prints one JSON object on stdout: what the node would have seen. Exits non-zero on any error.
//
// What each scenario stands for (node versions 1.2 and later, "Use Responses API" switched off):
//   credential       the credential's "Test" button: GET <base>/models with a Bearer key.
//   picker           the model list ("From list"): models.list(), every id kept for a custom host,
//                    sorted by id, each shown as { name: id, value: id }.
//   agent            one AI Agent tool loop, not streamed: chat.completions with tools (no `strict`
//                    enforcement, as the node sets), tool calls parsed from their JSON `arguments`,
//                    then the tool results sent back as `tool` messages for the final answer.
//   streaming-agent  the same first turn when the trigger streams: stream=true with
//                    stream_options.include_usage, tool-call fragments merged by their index.
import OpenAI from "openai";

const baseURL = process.env.N8N_BASE_URL;
const apiKey = process.env.N8N_API_KEY;
const model = process.env.N8N_MODEL;

const SYSTEM_MESSAGE = "You are a helpful assistant";
const SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#";

// n8n's tools reach the model as LangChain converts them: draft-07 JSON Schema from zod.
const TOOLS = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Get the current weather for a city",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string", description: "The city to look up" },
          unit: { type: "string", enum: ["celsius", "fahrenheit"] },
        },
        required: ["city", "unit"],
        additionalProperties: false,
        $schema: SCHEMA_DIALECT,
      },
      strict: false,
    },
  },
  {
    type: "function",
    function: {
      name: "calculator",
      description: "Useful for getting the result of a math expression",
      parameters: {
        type: "object",
        properties: { input: { type: "string" } },
        required: ["input"],
        additionalProperties: false,
        $schema: SCHEMA_DIALECT,
      },
      strict: false,
    },
  },
];

const TOOL_RESULTS = {
  get_weather: "18 degrees celsius and light rain in Paris",
  calculator: "84",
};

function client() {
  return new OpenAI({ baseURL, apiKey, maxRetries: 2, timeout: 60_000 });
}

// A tool call whose arguments are not JSON becomes an "invalid tool call" in LangChain: the agent
// cannot run it. Both lists are reported so the test can tell the two apart.
function parseToolCalls(calls) {
  const parsed = [];
  const invalid = [];
  for (const call of calls ?? []) {
    try {
      const args = JSON.parse(call.function.arguments);
      parsed.push({ id: call.id, type: call.type, name: call.function.name, args });
    } catch (error) {
      invalid.push({ id: call.id, name: call.function?.name, arguments: call.function?.arguments, error: String(error) });
    }
  }
  return { parsed, invalid };
}

async function credential() {
  const response = await fetch(`${baseURL}/models`, { headers: { Authorization: `Bearer ${apiKey}` } });
  return { status: response.status };
}

async function picker() {
  const { data: models = [] } = await client().models.list();
  const host = new URL(baseURL).hostname;
  const customHost = !["api.openai.com", "ai-assistant.n8n.io"].includes(host);
  if (!customHost) throw new Error("the picker scenario stands for a custom base URL");
  const sorted = [...models].sort((a, b) => a.id.localeCompare(b.id));
  return { results: sorted.map((item) => ({ name: item.id, value: item.id })) };
}

async function agent() {
  const openai = client();
  const messages = [
    { role: "system", content: SYSTEM_MESSAGE },
    { role: "user", content: "What is the weather in Paris? Call get_weather." },
  ];
  const first = await openai.chat.completions.create({ model, messages, tools: TOOLS, stream: false });
  const [choice] = first.choices;
  const { parsed, invalid } = parseToolCalls(choice.message.tool_calls);
  const firstTurn = {
    finish_reason: choice.finish_reason,
    content: choice.message.content,
    tool_calls: parsed,
    invalid_tool_calls: invalid,
    usage: first.usage,
  };
  if (parsed.length === 0) return { first: firstTurn };

  // LangChain sends the assistant turn back with "" for a null content, then one tool message each.
  const assistant = {
    role: "assistant",
    content: choice.message.content ?? "",
    tool_calls: parsed.map((call) => ({
      id: call.id,
      type: "function",
      function: { name: call.name, arguments: JSON.stringify(call.args) },
    })),
  };
  const results = parsed.map((call) => ({ role: "tool", content: TOOL_RESULTS[call.name], tool_call_id: call.id }));
  const second = await openai.chat.completions.create({
    model,
    messages: [...messages, assistant, ...results],
    tools: TOOLS,
    stream: false,
  });
  const [answer] = second.choices;
  return {
    first: firstTurn,
    second: { finish_reason: answer.finish_reason, content: answer.message.content, usage: second.usage },
  };
}

async function streamingAgent() {
  const stream = await client().chat.completions.create({
    model,
    messages: [
      { role: "system", content: SYSTEM_MESSAGE },
      { role: "user", content: "Call get_weather for Paris and calculator for 12*7." },
    ],
    tools: TOOLS,
    stream: true,
    stream_options: { include_usage: true },
  });
  const calls = new Map();
  let content = "";
  let finishReason = null;
  let usage = null;
  let firstRole = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.usage) usage = { ...chunk.usage, choices_in_usage_chunk: chunk.choices.length };
    const delta = chunk.choices[0]?.delta;
    if (!delta) continue;
    if (chunks === 1) firstRole = delta.role ?? null;
    content += delta.content ?? "";
    finishReason = chunk.choices[0].finish_reason ?? finishReason;
    for (const fragment of delta.tool_calls ?? []) {
      const seen = calls.get(fragment.index);
      if (seen === undefined) {
        calls.set(fragment.index, {
          index: fragment.index,
          id: fragment.id ?? null,
          type: fragment.type ?? null,
          name: fragment.function?.name ?? null,
          arguments: fragment.function?.arguments ?? "",
          later_fragments_with_id_or_name: 0,
        });
      } else {
        if (fragment.id || fragment.function?.name) seen.later_fragments_with_id_or_name += 1;
        seen.arguments += fragment.function?.arguments ?? "";
      }
    }
  }
  const merged = [...calls.values()].sort((a, b) => a.index - b.index);
  const { parsed, invalid } = parseToolCalls(
    merged.map((call) => ({ id: call.id, type: call.type, function: { name: call.name, arguments: call.arguments } })),
  );
  return {
    chunks,
    first_role: firstRole,
    content,
    finish_reason: finishReason,
    usage,
    fragments: merged,
    tool_calls: parsed,
    invalid_tool_calls: invalid,
  };
}

const scenarios = { credential, picker, agent, "streaming-agent": streamingAgent };
const scenario = scenarios[process.argv[2]];
if (scenario === undefined) {
  console.error(`unknown scenario ${process.argv[2]}; one of: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
try {
  process.stdout.write(JSON.stringify(await scenario()));
} catch (error) {
  console.error(error?.stack ?? String(error));
  process.exit(1);
}
