import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const oneOf = <T extends string>(...values: T[]) => Type.Union(values.map((v) => Type.Literal(v)));
const nonNegInt = Type.Integer({ minimum: 0 });
const posInt = Type.Integer({ minimum: 1 });

/**
 * Every knob of the emulator. The variant switches exist because the API document marks these behaviours
 * [observed]/[unconfirmed]: a client must survive each variant, so tests flip them.
 */
export const ConfigSchema = Type.Object(
  {
    clientId: Type.String({ minLength: 1 }),
    clientSecret: Type.String({ minLength: 1 }),
    /** Registered redirect URIs; null = any URI Google's own rules allow (loopback http, or https on a public host). */
    redirectUris: Type.Union([Type.Array(Type.String()), Type.Null()]),
    invalidUploadToken: oneOf('request', 'item'),
    duplicateItem: oneOf('existing', 'alreadyExists'),
    partialFailureStatus: Type.Union([Type.Literal(200), Type.Literal(207)]),
    unsupportedAt: oneOf('upload', 'batchCreate'),
    uploadErrorFormat: oneOf('envelope', 'bare'),
    uploadTokenReuse: Type.Boolean(),
    uploadTokenTtlMs: posInt,
    dailyLimit: nonNegInt,
    latencyMs: nonNegInt,
    chunkGranularity: posInt,
    resumableSessionTtlMs: posInt,
    partialChunk: oneOf('aligned', 'all'),
    batchCreateMinHoldMs: nonNegInt,
    concurrentBatchCreate: oneOf('allow', 'reject'),
    writeRequestsPerMinutePerUser: Type.Union([posInt, Type.Null()]),
    accessTokenTtlSec: posInt,
    refreshTokenTtlMs: Type.Union([posInt, Type.Null()]),
    refreshTokenIdleMs: Type.Union([posInt, Type.Null()]),
    authCodeTtlMs: posInt,
  },
  { additionalProperties: false },
);

export type EmulatorConfig = Static<typeof ConfigSchema>;
export const ConfigPatchSchema = Type.Partial(ConfigSchema, { additionalProperties: false });
export type ConfigPatch = Static<typeof ConfigPatchSchema>;

const DAY_MS = 24 * 60 * 60 * 1000;

export const DEFAULT_CONFIG: Readonly<EmulatorConfig> = Object.freeze({
  clientId: 'photo-relay-demo',
  clientSecret: 'demo-secret',
  redirectUris: null,
  invalidUploadToken: 'request',
  duplicateItem: 'existing',
  partialFailureStatus: 200,
  unsupportedAt: 'batchCreate',
  uploadErrorFormat: 'envelope',
  uploadTokenReuse: true,
  uploadTokenTtlMs: DAY_MS,
  dailyLimit: 10_000,
  latencyMs: 0,
  chunkGranularity: 262_144,
  resumableSessionTtlMs: 60 * 60 * 1000,
  partialChunk: 'aligned',
  batchCreateMinHoldMs: 50,
  concurrentBatchCreate: 'allow',
  writeRequestsPerMinutePerUser: null,
  accessTokenTtlSec: 3599,
  refreshTokenTtlMs: null,
  refreshTokenIdleMs: 183 * DAY_MS,
  authCodeTtlMs: 10 * 60 * 1000,
});

/** Fails fast on a typo'd or mistyped option instead of silently running with the default. */
export function resolveConfig(patch: unknown, base: Readonly<EmulatorConfig> = DEFAULT_CONFIG): EmulatorConfig {
  if (!Value.Check(ConfigPatchSchema, patch)) {
    const first = [...Value.Errors(ConfigPatchSchema, patch)][0];
    throw new TypeError(`invalid emulator option ${first?.path || '(root)'}: ${first?.message ?? 'invalid'}`);
  }
  return { ...base, ...(patch as ConfigPatch) };
}
