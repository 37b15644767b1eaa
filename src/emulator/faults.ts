import { Type, type Static } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

export const FaultSchema = Type.Union([
  Type.Object({ kind: Type.Literal('429'), retryAfter: Type.Optional(Type.Integer({ minimum: 0 })) }, strict),
  Type.Object(
    { kind: Type.Literal('5xx'), status: Type.Optional(Type.Union([Type.Literal(500), Type.Literal(502), Type.Literal(503)])) },
    strict,
  ),
  Type.Object({ kind: Type.Literal('latency'), ms: Type.Integer({ minimum: 0 }) }, strict),
  Type.Object({ kind: Type.Literal('drop'), afterBytes: Type.Optional(Type.Integer({ minimum: 0 })) }, strict),
  Type.Object({ kind: Type.Literal('stall'), afterBytes: Type.Optional(Type.Integer({ minimum: 0 })) }, strict),
  Type.Object(
    {
      kind: Type.Literal('itemStatus'),
      code: Type.Union([Type.Literal(3), Type.Literal(6), Type.Literal(13)]),
      message: Type.Optional(Type.String()),
      index: Type.Optional(Type.Integer({ minimum: 0 })),
    },
    strict,
  ),
  Type.Object({ kind: Type.Literal('expireUploadTokens') }, strict),
  Type.Object({ kind: Type.Literal('revokeRefreshTokens'), email: Type.Optional(Type.String()) }, strict),
  Type.Object({ kind: Type.Literal('invalidateAccessTokens') }, strict),
  Type.Object({ kind: Type.Literal('401') }, strict),
]);

export const FAULT_ENDPOINTS = ['upload', 'uploadChunk', 'batchCreate', 'token', 'albums', 'mediaItems', 'revoke'] as const;
export type FaultEndpoint = (typeof FAULT_ENDPOINTS)[number];

export const FaultRuleSchema = Type.Object(
  {
    endpoint: Type.Union([...FAULT_ENDPOINTS, 'any' as const].map((e) => Type.Literal(e))),
    times: Type.Optional(Type.Integer({ minimum: 1 })),
    fault: FaultSchema,
    match: Type.Optional(Type.Object({ email: Type.Optional(Type.String()) }, strict)),
  },
  strict,
);

export type Fault = Static<typeof FaultSchema>;
export type FaultRule = Static<typeof FaultRuleSchema>;

/** A fault kind only makes sense on some endpoints; a rule waits for one where it does rather than being wasted. */
function applies(fault: Fault, endpoint: FaultEndpoint): boolean {
  return fault.kind !== 'itemStatus' || endpoint === 'batchCreate';
}

/** Queued fault rules, consumed first-come by the requests they match (one rule per request). */
export class FaultBook {
  #rules: { rule: FaultRule; remaining: number }[] = [];

  add(rules: FaultRule[]): void {
    for (const rule of rules) this.#rules.push({ rule, remaining: rule.times ?? 1 });
  }

  clear(): void {
    this.#rules = [];
  }

  list(): (FaultRule & { remaining: number })[] {
    return this.#rules.map(({ rule, remaining }) => ({ ...rule, remaining }));
  }

  take(endpoint: FaultEndpoint, email: string | undefined): FaultRule | undefined {
    const entry = this.#rules.find(
      ({ rule }) =>
        (rule.endpoint === 'any' || rule.endpoint === endpoint) &&
        applies(rule.fault, endpoint) &&
        (rule.match?.email === undefined || rule.match.email === email),
    );
    if (!entry) return undefined;
    if (--entry.remaining <= 0) this.#rules.splice(this.#rules.indexOf(entry), 1);
    return entry.rule;
  }
}
