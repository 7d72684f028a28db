/**
 * The fake Claude API's wire shapes and request semantics, checked against what the API (and the
 * official SDKs' types) say: the model catalogue with paging, the full `usage`, `stop_details`,
 * `stop_sequences`, `max_tokens`, thinking blocks, `tool_choice`, the end of an agent loop,
 * scripted stop reasons, validation errors, `retry-after` on 429.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeClaude, type FakeClaudeOptions, startFakeClaude } from '../../../src/testing/index.js';

const open: FakeClaude[] = [];
async function fake(options?: FakeClaudeOptions): Promise<FakeClaude> {
  const instance = await startFakeClaude(options);
  open.push(instance);
  return instance;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((f) => f.close()));
});

const client = (f: FakeClaude): Anthropic => new Anthropic({ apiKey: 'k', baseURL: f.url, maxRetries: 0 });
const MODEL = 'claude-sonnet-4-6';
const PARAMS = { model: MODEL, max_tokens: 1024, messages: [{ role: 'user' as const, content: 'Hello' }] };
const WEATHER = {
  name: 'get_weather',
  input_schema: { type: 'object' as const, properties: { location: { type: 'string' } } },
};
const TIME = { name: 'get_time', input_schema: { type: 'object' as const, properties: {} } };

function post(f: FakeClaude, body: unknown, path = '/v1/messages'): Promise<Response> {
  return fetch(`${f.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

type Json = Record<string, unknown>;
function events(text: string): Array<{ event: string; data: Json }> {
  return text
    .split('\n\n')
    .filter((frame) => frame.length > 0)
    .map((frame) => ({
      event: /^event: (.*)$/m.exec(frame)?.[1] ?? '',
      data: JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? 'null') as Json,
    }));
}

describe('fake Claude: models', () => {
  const REQUIRED = [
    'type',
    'id',
    'display_name',
    'created_at',
    'lifecycle',
    'deprecated_at',
    'retires_at',
    'line',
    'max_input_tokens',
    'max_tokens',
    'capabilities',
  ];
  const CAPABILITIES = [
    'batch',
    'citations',
    'code_execution',
    'context_management',
    'effort',
    'image_input',
    'pdf_input',
    'server_tools',
    'structured_outputs',
    'thinking',
  ];

  it('lists every field the SDKs require, active and deprecated by default, retired on request', async () => {
    const f = await fake();
    const list = (await (await fetch(`${f.url}/v1/models?limit=100`)).json()) as { data: Json[] };
    expect(list.data.length).toBeGreaterThan(3);
    for (const model of list.data) {
      expect(Object.keys(model).sort()).toEqual([...REQUIRED].sort());
      expect(['active', 'deprecated']).toContain(model.lifecycle);
      expect(Object.keys(model.capabilities as Json).sort()).toEqual(CAPABILITIES);
      expect(typeof model.max_tokens).toBe('number');
      expect(new Date(String(model.created_at)).toISOString()).toMatch(/^20\d\d-/);
      if (model.lifecycle === 'active') expect([model.deprecated_at, model.retires_at]).toEqual([null, null]);
      else expect(model.deprecated_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
    expect(list.data.some((m) => m.lifecycle === 'deprecated')).toBe(true);
    const retired = (await (await fetch(`${f.url}/v1/models?lifecycle=retired`)).json()) as { data: Json[] };
    expect(retired.data.map((m) => m.lifecycle)).toEqual(['retired']);
    // A retired model is still described, but a request naming it fails as from the API.
    const name = String(retired.data[0]?.id);
    expect((await fetch(`${f.url}/v1/models/${name}`)).status).toBe(200);
    const gone = await post(f, { ...PARAMS, model: name });
    expect(gone.status).toBe(404);
  });

  it('pages with limit, after_id and before_id; the SDK auto-pager walks every page', async () => {
    const f = await fake();
    const all = ((await (await fetch(`${f.url}/v1/models`)).json()) as { data: Json[] }).data.map(
      (m) => m.id,
    );
    const first = (await (await fetch(`${f.url}/v1/models?limit=2`)).json()) as Json;
    expect(first).toMatchObject({ has_more: true, first_id: all[0], last_id: all[1] });
    expect((first.data as Json[]).map((m) => m.id)).toEqual(all.slice(0, 2));
    const second = (await (await fetch(`${f.url}/v1/models?limit=2&after_id=${all[1]}`)).json()) as Json;
    expect((second.data as Json[]).map((m) => m.id)).toEqual(all.slice(2, 4));
    const back = (await (await fetch(`${f.url}/v1/models?limit=1&before_id=${all[2]}`)).json()) as Json;
    expect((back.data as Json[]).map((m) => m.id)).toEqual([all[1]]);
    expect(back.has_more).toBe(true);
    const last = (await (await fetch(`${f.url}/v1/models?after_id=${all.at(-1)}`)).json()) as Json;
    expect(last).toEqual({ data: [], has_more: false, first_id: null, last_id: null });
    expect((await fetch(`${f.url}/v1/models?limit=0`)).status).toBe(400);

    const walked: string[] = [];
    for await (const model of client(f).models.list({ limit: 2 })) walked.push(model.id);
    expect(walked).toEqual(all);
    expect(f.requests.filter((r) => r.path === '/v1/models').at(-1)?.query).toMatch(/after_id=/);
    // The SDKs send arrays as `lifecycle[]=…`.
    const retired: string[] = [];
    for await (const model of client(f).models.list({ lifecycle: ['retired'] }))
      retired.push(model.lifecycle);
    expect(retired).toEqual(['retired']);
    const alias = await client(f).models.retrieve('claude-haiku-4-5');
    expect(alias.id).toBe('claude-haiku-4-5-20251001');
  });

  it('accepts the models added with the `models` option', async () => {
    const f = await fake({ models: ['my-model', { id: 'my-old-model', lifecycle: 'deprecated' }] });
    expect((await post(f, { ...PARAMS, model: 'my-model' })).status).toBe(200);
    expect((await client(f).models.retrieve('my-old-model')).lifecycle).toBe('deprecated');
  });
});

describe('fake Claude: usage and stop details', () => {
  it('sends the full usage (cache_creation by TTL, service_tier, inference_geo) and stop_details', async () => {
    const f = await fake();
    const body = (await (await post(f, PARAMS)).json()) as Json;
    expect(body.stop_details).toBeNull();
    expect(body.usage).toEqual({
      input_tokens: expect.any(Number),
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      output_tokens: expect.any(Number),
      service_tier: 'standard',
      inference_geo: 'not_available',
      // Keys the SDKs type as always present are sent, null when there is nothing to report.
      output_tokens_details: null,
      server_tool_use: null,
      speed: 'standard',
    });
    expect([body.container, body.diagnostics]).toEqual([null, null]);
    expect((body.content as Json[])[0]).toMatchObject({ type: 'text', citations: null });
    const cached = (ttl?: '1h') => ({
      ...PARAMS,
      system: [
        { type: 'text', text: 'x'.repeat(400), cache_control: { type: 'ephemeral', ...(ttl && { ttl }) } },
      ],
    });
    const five = (await (await post(f, cached())).json()) as { usage: Json };
    const created = five.usage.cache_creation_input_tokens as number;
    expect(created).toBeGreaterThan(0);
    expect(five.usage.cache_creation).toEqual({
      ephemeral_5m_input_tokens: created,
      ephemeral_1h_input_tokens: 0,
    });
    const hour = (await (await post(f, cached('1h'))).json()) as { usage: Json };
    expect(hour.usage.cache_creation).toEqual({
      ephemeral_5m_input_tokens: 0,
      ephemeral_1h_input_tokens: hour.usage.cache_creation_input_tokens,
    });
  });

  it('message_delta carries the input and cache counts with output_tokens, and stop_details', async () => {
    const f = await fake();
    const sse = events(await (await post(f, { ...PARAMS, stream: true })).text());
    const start = sse[0]?.data.message as Json;
    expect(start.stop_details).toBeNull();
    const startUsage = start.usage as Json;
    expect(startUsage).toMatchObject({ output_tokens: 1, service_tier: 'standard' });
    const delta = sse.find((e) => e.event === 'message_delta')?.data as Json;
    expect(delta.delta).toEqual({
      stop_reason: 'end_turn',
      stop_sequence: null,
      stop_details: null,
      container: null,
    });
    expect(delta.usage).toEqual({
      input_tokens: startUsage.input_tokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: expect.any(Number),
      output_tokens_details: null,
      server_tool_use: null,
    });
  });
});

describe('fake Claude: request semantics', () => {
  it('stops at the first stop sequence (stop_reason stop_sequence), stream and not', async () => {
    const f = await fake({ text: 'one two three four' });
    const params = { ...PARAMS, stop_sequences: ['four', ' three'] };
    const created = await client(f).messages.create(params);
    expect(created.content).toEqual([{ type: 'text', text: 'one two', citations: null }]);
    expect([created.stop_reason, created.stop_sequence]).toEqual(['stop_sequence', ' three']);
    const streamed = await client(f).messages.stream(params).finalMessage();
    expect(streamed.content).toEqual(created.content);
    expect([streamed.stop_reason, streamed.stop_sequence]).toEqual(['stop_sequence', ' three']);
    expect((await client(f).messages.create({ ...PARAMS, stop_sequences: ['absent'] })).stop_reason).toBe(
      'end_turn',
    );
  });

  it('cuts the answer at max_tokens (stop_reason max_tokens, output_tokens = max_tokens)', async () => {
    const f = await fake({ text: 'x'.repeat(400) });
    for (const stream of [false, true]) {
      const params = { ...PARAMS, max_tokens: 10, tools: [WEATHER] };
      const message = stream
        ? await client(f).messages.stream(params).finalMessage()
        : await client(f).messages.create(params);
      expect(message.stop_reason).toBe('max_tokens');
      expect(message.usage.output_tokens).toBe(10);
      expect(message.content).toEqual([{ type: 'text', text: 'x'.repeat(40), citations: null }]);
    }
  });

  it('answers with a signed thinking block first when thinking is on (thinking_delta, signature_delta)', async () => {
    const f = await fake();
    const params = {
      ...PARAMS,
      max_tokens: 2048,
      thinking: { type: 'enabled' as const, budget_tokens: 1024 },
    };
    const raw = events(await (await post(f, { ...params, stream: true })).text());
    const kinds = raw.flatMap((e) =>
      e.event === 'content_block_delta'
        ? [(e.data.delta as Json).type]
        : e.event === 'content_block_start'
          ? [`start:${(e.data.content_block as Json).type}`]
          : [],
    );
    expect(kinds[0]).toBe('start:thinking');
    expect(kinds.indexOf('signature_delta')).toBe(kinds.indexOf('start:text') - 1);
    expect(kinds.filter((k) => k === 'thinking_delta').length).toBeGreaterThan(1);

    const streamed = await client(f).messages.stream(params).finalMessage();
    const created = await client(f).messages.create(params);
    for (const message of [streamed, created]) {
      expect(message.content.map((b) => b.type)).toEqual(['thinking', 'text']);
      const block = message.content[0];
      if (block?.type !== 'thinking') throw new Error('no thinking block');
      expect(block.thinking.length).toBeGreaterThan(10);
      expect(block.signature).toMatch(/^[A-Za-z0-9]{88}==$/);
      expect(message.usage.output_tokens_details?.thinking_tokens).toBeGreaterThan(0);
    }
    const adaptive = await client(f).messages.create({ ...PARAMS, thinking: { type: 'adaptive' } });
    expect(adaptive.content[0]?.type).toBe('thinking');
    const off = await client(f).messages.create({ ...PARAMS, thinking: { type: 'disabled' } });
    expect(off.content.map((b) => b.type)).toEqual(['text']);
  });

  it('honours tool_choice: none answers in text, a named tool is called, any calls without text', async () => {
    const f = await fake();
    const sdk = client(f);
    const tools = [WEATHER, TIME];
    const none = await sdk.messages.create({ ...PARAMS, tools, tool_choice: { type: 'none' } });
    expect([none.stop_reason, none.content.map((b) => b.type)]).toEqual(['end_turn', ['text']]);
    const named = await sdk.messages.create({
      ...PARAMS,
      tools,
      tool_choice: { type: 'tool', name: 'get_time' },
    });
    expect(named.stop_reason).toBe('tool_use');
    expect(named.content).toEqual([expect.objectContaining({ type: 'tool_use', name: 'get_time' })]);
    const any = await sdk.messages.stream({ ...PARAMS, tools, tool_choice: { type: 'any' } }).finalMessage();
    expect(any.content).toEqual([expect.objectContaining({ type: 'tool_use', name: 'get_weather' })]);
    const auto = await sdk.messages.create({ ...PARAMS, tools });
    expect(auto.content.map((b) => b.type)).toEqual(['text', 'tool_use']);
  });

  it('ends an agent loop: a request ending in a tool_result gets a text answer (end_turn)', async () => {
    const f = await fake();
    const sdk = client(f);
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }];
    let turns = 0;
    for (;;) {
      const answer = await sdk.messages.create({ ...PARAMS, tools: [WEATHER], messages });
      turns++;
      if (answer.stop_reason !== 'tool_use') {
        expect(answer.stop_reason).toBe('end_turn');
        break;
      }
      const call = answer.content.find((b) => b.type === 'tool_use');
      if (call?.type !== 'tool_use') throw new Error('no tool_use');
      messages.push({ role: 'assistant', content: answer.content });
      messages.push({
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: call.id, content: 'Sunny' }],
      });
      if (turns > 3) throw new Error('the loop does not end');
    }
    expect(turns).toBe(2);
  });

  it('scripts pause_turn, refusal (with stop_details) and model_context_window_exceeded', async () => {
    const f = await fake({
      script: [
        { stopReason: 'pause_turn' },
        { stopReason: 'refusal' },
        { stopReason: 'model_context_window_exceeded' },
        { stopReason: 'refusal' },
      ],
    });
    const sdk = client(f);
    const params = { ...PARAMS, tools: [WEATHER] };
    const paused = await sdk.messages.create(params);
    expect([paused.stop_reason, paused.content.map((b) => b.type)]).toEqual(['pause_turn', ['text']]);
    const refused = await sdk.messages.create(params);
    expect(refused.stop_reason).toBe('refusal');
    expect(refused.stop_details).toEqual({ type: 'refusal', category: null, explanation: null });
    const full = await sdk.messages.stream(params).finalMessage();
    expect(full.stop_reason).toBe('model_context_window_exceeded');
    const sse = events(await (await post(f, { ...params, stream: true })).text());
    expect(sse.find((e) => e.event === 'message_delta')?.data.delta).toEqual({
      stop_reason: 'refusal',
      stop_sequence: null,
      stop_details: { type: 'refusal', category: null, explanation: null },
      container: null,
    });
  });
});

describe('fake Claude: validation as the API answers it', () => {
  const cases: Array<[string, Json, number, string, RegExp]> = [
    [
      'empty messages',
      { ...PARAMS, messages: [] },
      400,
      'invalid_request_error',
      /^messages: at least one message is required$/,
    ],
    [
      'max_tokens 0',
      { ...PARAMS, max_tokens: 0 },
      400,
      'invalid_request_error',
      /^max_tokens: Input should be greater than or equal to 1$/,
    ],
    [
      'max_tokens not an integer',
      { ...PARAMS, max_tokens: 1.5 },
      400,
      'invalid_request_error',
      /^max_tokens: Input should be a valid integer$/,
    ],
    [
      'max_tokens a string',
      { ...PARAMS, max_tokens: '64' },
      400,
      'invalid_request_error',
      /^max_tokens: Input should be a valid integer$/,
    ],
    [
      'max_tokens above the model limit',
      { ...PARAMS, max_tokens: 1_000_000 },
      400,
      'invalid_request_error',
      /^max_tokens: 1000000 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-6$/,
    ],
    ['unknown model', { ...PARAMS, model: 'claude-nope' }, 404, 'not_found_error', /^model: claude-nope$/],
    [
      'system role in messages',
      {
        ...PARAMS,
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hi' },
        ],
      },
      400,
      'invalid_request_error',
      /^messages: Unexpected role "system"\. The Messages API accepts a top-level `system` parameter/,
    ],
    [
      'thinking budget below 1024',
      { ...PARAMS, thinking: { type: 'enabled', budget_tokens: 512 } },
      400,
      'invalid_request_error',
      /^thinking\.enabled\.budget_tokens: Input should be greater than or equal to 1024$/,
    ],
    [
      'thinking budget not below max_tokens',
      { ...PARAMS, thinking: { type: 'enabled', budget_tokens: 1024 } },
      400,
      'invalid_request_error',
      /^`max_tokens` must be greater than `thinking\.budget_tokens`/,
    ],
    [
      'thinking with a forced tool',
      {
        ...PARAMS,
        max_tokens: 2048,
        tools: [WEATHER],
        tool_choice: { type: 'any' },
        thinking: { type: 'enabled', budget_tokens: 1024 },
      },
      400,
      'invalid_request_error',
      /^Thinking may not be enabled when tool_choice forces tool use\.$/,
    ],
  ];
  it.each(cases)('%s', async (_name, body, status, type, message) => {
    const f = await fake();
    const res = await post(f, body);
    expect(res.status).toBe(status);
    const error = (await res.json()) as {
      type: string;
      error: { type: string; message: string };
      request_id: string;
    };
    expect(error.type).toBe('error');
    expect(error.error.type).toBe(type);
    expect(error.error.message).toMatch(message);
    expect(error.request_id).toBe(res.headers.get('request-id'));
  });

  it('validates count_tokens too (empty messages, unknown model), and the SDK sees the right classes', async () => {
    const f = await fake();
    expect((await post(f, { model: MODEL, messages: [] }, '/v1/messages/count_tokens')).status).toBe(400);
    expect(
      (await post(f, { model: 'claude-nope', messages: PARAMS.messages }, '/v1/messages/count_tokens'))
        .status,
    ).toBe(404);
    await expect(client(f).messages.create({ ...PARAMS, model: 'claude-nope' })).rejects.toBeInstanceOf(
      Anthropic.NotFoundError,
    );
    await expect(client(f).messages.create({ ...PARAMS, messages: [] })).rejects.toBeInstanceOf(
      Anthropic.BadRequestError,
    );
  });
});

describe('fake Claude: 429 and ids', () => {
  it('a scripted 429 carries retry-after (1 s unless the fault sets its own)', async () => {
    const f = await fake({ script: [{ status: 429 }, { status: 429, headers: { 'Retry-After': '9' } }] });
    const first = await post(f, PARAMS);
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('1');
    const second = await post(f, PARAMS);
    expect(second.headers.get('retry-after')).toBe('9');
  });
});
