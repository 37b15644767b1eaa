import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startRelay, type TestRelay } from './helpers/harness.ts';

let relay: TestRelay;
before(async () => {
  relay = await startRelay();
});
after(() => relay.close());

/** Every "METHOD /path" row of the contract's tables, with :params in OpenAPI's {param} form. */
async function contractRoutes(): Promise<string[]> {
  const text = await readFile(new URL('../../shared/api-v1.md', import.meta.url), 'utf8');
  const routes = new Set<string>();
  for (const [, method, path] of text.matchAll(/`(GET|POST|PATCH|PUT|DELETE) (\/[^`\s?]+)/g)) {
    routes.add(`${method} ${path!.replace(/:([A-Za-z]+)/g, '{$1}')}`);
  }
  return [...routes];
}

it('serves a valid OpenAPI document that describes every path of the contract', async () => {
  const res = await fetch(`${relay.url}/docs/json`);
  assert.equal(res.status, 200);
  const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  const validator = new Validator();
  const result = await validator.validate(doc as never);
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 2000));
  assert.match(doc.openapi, /^3\./);

  const routes = await contractRoutes();
  assert.ok(routes.length >= 25, `read ${routes.length} routes from the contract`);
  const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
  // /docs and /docs/json are the documentation itself (served, but not listed in it).
  const missing = routes.filter((r) => !documented.has(r) && !r.startsWith('GET /docs'));
  assert.deepEqual(missing, []);

  // Every operation documents its answers, errors included.
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (path.startsWith('/docs') || path.startsWith('/admin/queues')) continue;
      assert.ok(Object.keys(op.responses ?? {}).length > 0, `${method} ${path} documents no response`);
    }
  }
  const upload = doc.paths['/api/v1/assets']!.post as unknown as { requestBody?: { content: Record<string, unknown> } };
  assert.ok(upload.requestBody?.content['multipart/form-data'], 'the upload documents its multipart body');
});

it('serves the UI at /docs', async () => {
  const res = await fetch(`${relay.url}/docs`, { redirect: 'follow' });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /swagger/i);
});
