// The relay's production command line lives in package.json's `start` script; the Dockerfile must start it the
// same way, and the test children and the benchmark read it from there (test/helpers/production-command.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { YoungGcPacer } from '../src/ingest/young-gc.ts';
import { parseStartScript, productionCommand, REPO, RELAY_ENTRY } from './helpers/production-command.ts';

/** The Dockerfile's final exec-form CMD and every ENV assignment of its last stage. */
function dockerfileCommand(): { cmd: string[]; env: Record<string, string> } {
  const text = readFileSync(path.join(REPO, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lastStage = text.slice(text.lastIndexOf('\nFROM '));
  const cmd = [...lastStage.matchAll(/^CMD (\[.*\])\s*$/gm)].at(-1)?.[1];
  assert.ok(cmd, 'the Dockerfile has an exec-form CMD');
  const env: Record<string, string> = {};
  for (const [, body] of lastStage.matchAll(/^ENV (.*)$/gm))
    for (const [, name, value] of body!.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)) env[name!] = value!;
  return { cmd: JSON.parse(cmd) as string[], env };
}

describe('production command', () => {
  test('parses environment, Node flags and the entry point', () => {
    assert.deepEqual(parseStartScript('A=1 B_2=x=y node --foo --bar=2 dist/main.js'), {
      env: { A: '1', B_2: 'x=y' },
      args: ['--foo', '--bar=2', 'dist/main.js'],
    });
    assert.deepEqual(parseStartScript('node dist/main.js'), { env: {}, args: ['dist/main.js'] });
  });

  test('refuses a script it cannot start the same way', () => {
    assert.throws(() => parseStartScript('tsx src/main.ts'), /does not run node/);
    assert.throws(() => parseStartScript('node --import tsx src/main.ts'), /does not end with dist\/main.js/);
    assert.throws(() => parseStartScript('node dist/main.js --role api'), /does not end with/);
    assert.throws(() => parseStartScript('node --import tsx dist/main.js'), /other than Node flags/);
  });

  test('npm start runs the bundle with flags that bound memory', () => {
    const { env, args } = productionCommand();
    assert.equal(args.at(-1), RELAY_ENTRY);
    assert.ok(args.some((a) => a.startsWith('--max-semi-space-size=')), 'young generation bounded');
    assert.equal(env.MALLOC_ARENA_MAX, '2');
  });

  test('Node accepts those flags, and they expose gc to the upload pacer', () => {
    const { env, args } = productionCommand();
    const probe = spawnSync(process.execPath, [...args.slice(0, -1), '-e', "process.stdout.write(typeof gc)"], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    assert.equal(probe.stderr, '', 'no complaint about a flag');
    assert.equal(probe.status, 0);
    assert.equal(probe.stdout, 'function');
  });

  test('the Dockerfile starts the relay exactly as npm start does', () => {
    const { env, args } = productionCommand();
    const docker = dockerfileCommand();
    assert.deepEqual(docker.cmd, ['node', ...args]);
    for (const [name, value] of Object.entries(env)) assert.equal(docker.env[name], value, `Dockerfile ENV ${name}`);
  });
});

describe('young GC pacer', () => {
  test('collects once per interval of bytes, counted across calls', () => {
    let collections = 0;
    const pacer = new YoungGcPacer(100, () => collections++);
    pacer.received(60);
    assert.equal(collections, 0);
    pacer.received(60); // 120: one interval passed
    assert.equal(collections, 1);
    pacer.received(99);
    assert.equal(collections, 1);
    pacer.received(1);
    assert.equal(collections, 2);
    for (let i = 0; i < 10; i++) pacer.received(50);
    assert.equal(collections, 7);
  });

  test('a young GC of V8\'s own starts the interval again: no forced one on top of it', () => {
    let collections = 0;
    const pacer = new YoungGcPacer(100, () => collections++);
    pacer.received(90);
    pacer.collected();
    pacer.received(90);
    assert.equal(collections, 0, 'the dead buffers of the first 90 bytes went with the collection');
    pacer.received(10);
    assert.equal(collections, 1);
  });

  test('under npm start\'s flags, streamed bytes bring young GCs; without --expose-gc the pacer stands aside', () => {
    const { env, args } = productionCommand();
    const flags = args.slice(0, -1);
    const withFlags = streamThroughPacer(flags, env);
    assert.deepEqual(withFlags.execArgv.filter((a) => flags.includes(a)), flags, 'the child runs with every production flag');
    assert.equal(withFlags.passed, STREAMED, 'every byte passed through');
    // 16 MiB at one young GC per 2 MiB: 8, give or take the interval boundary; a stream alone brings hardly any.
    assert.ok(withFlags.minorGcs >= 7, `${withFlags.minorGcs} young GCs while streaming 16 MiB with the flags`);

    const without = streamThroughPacer(flags.filter((f) => f !== '--expose-gc'), env);
    assert.equal(without.exposedGc, false);
    assert.equal(without.passed, STREAMED, 'the bytes pass through all the same');
    assert.ok(without.minorGcs <= withFlags.minorGcs - 5, `${without.minorGcs} young GCs without gc exposed (with: ${withFlags.minorGcs})`);
  });
});

const STREAMED = 16 * 1024 * 1024;

/** Streams 16 MiB through GcPacedStream in a child started with `flags`; reports what it saw. */
function streamThroughPacer(flags: string[], env: Record<string, string>): { execArgv: string[]; exposedGc: boolean; passed: number; minorGcs: number } {
  const script = `
    import { PerformanceObserver, constants } from 'node:perf_hooks';
    import { Readable, Writable } from 'node:stream';
    import { pipeline } from 'node:stream/promises';
    const { GcPacedStream } = await import(${JSON.stringify(new URL('../src/ingest/young-gc.ts', import.meta.url).href)});
    let minorGcs = 0;
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minorGcs++;
    });
    observer.observe({ entryTypes: ['gc'] });
    const chunk = Buffer.alloc(65536, 1);
    let passed = 0;
    await pipeline(
      Readable.from((function* () { for (let i = 0; i < ${STREAMED} / 65536; i++) yield chunk; })(), { objectMode: false }),
      new GcPacedStream(),
      new Writable({ write(c, _e, cb) { passed += c.length; cb(); } }),
    );
    await new Promise((r) => setTimeout(r, 100)); // GC entries arrive asynchronously
    process.stdout.write(JSON.stringify({ execArgv: process.execArgv, exposedGc: typeof gc === 'function', passed, minorGcs }));
  `;
  const child = spawnSync(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout);
}
