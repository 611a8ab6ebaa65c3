// The TypeScript SDK's MCP client (@modelcontextprotocol/sdk), driven by a test.
//
// node mcp_ts_client.mjs SDK_DIR URL CALLS_JSON — MCP_KEY in the environment is sent as a
// bearer token. Lists the tools (which caches their output schemas, as the SDK does), then
// makes each call of CALLS_JSON ([{name, arguments}]) with Client.callTool, which validates
// structuredContent against the tool's outputSchema and throws when it does not conform.
// Prints {tools, calls: [{result} | {error}]} as JSON.
import { pathToFileURL } from "node:url";

const [sdkDir, url, callsJson] = process.argv.slice(2);
const load = (path) => import(pathToFileURL(`${sdkDir}/dist/esm/${path}`).href);
const { Client } = await load("client/index.js");
const { StreamableHTTPClientTransport } = await load("client/streamableHttp.js");

const headers = process.env.MCP_KEY ? { Authorization: `Bearer ${process.env.MCP_KEY}` } : {};
const client = new Client({ name: "specgate-ts-test", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
const { tools } = await client.listTools();
const calls = [];
for (const call of JSON.parse(callsJson)) {
  try {
    calls.push({ result: await client.callTool(call) });
  } catch (error) {
    calls.push({ error: String(error?.message ?? error) });
  }
}
console.log(JSON.stringify({ tools, calls }));
await client.close();
