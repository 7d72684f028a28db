// CommonJS: require() the package (Node.js >= 22.12 loads its ES module; one instance with import).
// Runs as is, with no API key and no network, against the fake Claude API it starts.
const Anthropic = require('@anthropic-ai/sdk');
const { createClaudeFetch } = require('claude-otel-middleware');
const { startFakeClaude } = require('claude-otel-middleware/testing');

async function main() {
  const fake = await startFakeClaude(); // in your app: drop it, and the client's apiKey and baseURL
  const fetch = createClaudeFetch({ retry: true });
  const client = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, fetch });
  const message = await client.messages.create({
    model: 'claude-haiku-4-5',
    max_tokens: 64,
    messages: [{ role: 'user', content: 'Hello' }],
  });
  console.log('answer:', message.content[0]?.type === 'text' ? message.content[0].text : message.content);
  await fake.close();
}

main();
