// Calls `jina3 serve` with the official OpenAI Node client (which asks for base64 and decodes it):
//   node embed.mjs BASE_URL API_KEY TEXT...
// Prints {"embeddings": [[...], ...], "model": ..., "usage": ...} as one JSON line.
import OpenAI from "openai";

const [baseURL, apiKey, ...texts] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });
const response = await client.embeddings.create({ model: "jina-embeddings-v3", input: texts });
console.log(JSON.stringify({
  embeddings: response.data.map((row) => Array.from(row.embedding)),
  indices: response.data.map((row) => row.index),
  model: response.model,
  usage: response.usage,
}));
