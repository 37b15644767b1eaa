import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import { startRelay, type TestRelay } from './helpers/harness.ts';

let relay: TestRelay;
before(async () => {
  relay = await startRelay();
});
after(() => relay.close());

/**
 * Every "METHOD /path" the contract (docs/api.md, in this repository) names, with :params in OpenAPI's {param} form:
 * `built` must be served and documented; `planned` (named only in sections or rows marked "(planned)") must not be yet.
 */
async function contractRoutes(): Promise<{ built: string[]; planned: string[] }> {
  const text = await readFile(new URL('../docs/api.md', import.meta.url), 'utf8');
  const built = new Set<string>();
  const planned = new Set<string>();
  let plannedSection = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) plannedSection = line.includes('(planned)');
    const isPlanned = plannedSection || line.includes('(planned)');
    for (const [, method, path] of line.matchAll(/`(GET|POST|PATCH|PUT|DELETE) (\/[^`\s?]+)/g)) {
      (isPlanned ? planned : built).add(`${method} ${path!.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    }
  }
  // A built route mentioned in a planned section (the resumable door's "same intake as POST /api/v1/assets") stays built.
  return { built: [...built], planned: [...planned].filter((r) => !built.has(r)) };
}

it('serves a valid OpenAPI document that describes every path of the contract', async () => {
  const res = await fetch(`${relay.url}/docs/json`);
  assert.equal(res.status, 200);
  const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  const validator = new Validator();
  const result = await validator.validate(doc as never);
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 2000));
  assert.match(doc.openapi, /^3\./);

  const { built, planned } = await contractRoutes();
  assert.ok(built.length >= 25, `read ${built.length} routes from the contract`);
  // Planned routes shrink to none as the doors are built; what is planned must not be served yet (below).
  const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
  // /docs and /docs/json are the documentation itself (served, but not listed in it).
  const missing = built.filter((r) => !documented.has(r) && !r.startsWith('GET /docs'));
  assert.deepEqual(missing, []);
  const builtButMarkedPlanned = planned.filter((r) => documented.has(r));
  assert.deepEqual(builtButMarkedPlanned, [], 'these routes are served now: take their "(planned)" mark off in docs/api.md');

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

// The relay compiles each response serializer on its first answer (src/http/lazy-serializers.ts): a schema that
// fast-json-stringify cannot compile would fail that answer, not the start. Every one is compiled here instead.
it('has a response schema fast-json-stringify compiles, for every status of every route', async () => {
  const doc = (await (await fetch(`${relay.url}/docs/json`)).json()) as {
    paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
  };
  const compile = SerializerSelector()({}, {});
  let compiled = 0;
  for (const [url, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      for (const [httpStatus, answer] of Object.entries(op.responses ?? {})) {
        for (const { schema } of Object.values(answer.content ?? {})) {
          if (!schema) continue;
          assert.doesNotThrow(() => compile({ schema, method, url, httpStatus }), `${method} ${url} ${httpStatus}`);
          compiled++;
        }
      }
    }
  }
  assert.ok(compiled > 100, `compiled ${compiled} response schemas`);
});

it('serves the UI at /docs', async () => {
  const res = await fetch(`${relay.url}/docs`, { redirect: 'follow' });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /swagger/i);
});
