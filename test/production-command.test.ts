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

  test('does nothing when Node exposes no gc', () => {
    const pacer = new YoungGcPacer(1, undefined);
    assert.doesNotThrow(() => pacer.received(1_000_000));
  });
});
