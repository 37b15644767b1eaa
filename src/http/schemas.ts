import { Type, type TSchema } from '@sinclair/typebox';
import { ERROR_CODES } from './errors.ts';

export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.Union(Object.keys(ERROR_CODES).map((c) => Type.Literal(c))),
    error: Type.String(),
    message: Type.String(),
  },
  { description: 'Error with a stable machine-readable code' },
);

/** Per-status error response schemas for a route's `response` map. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorResponse]));
}

export const Id = Type.String({ description: 'Opaque id', maxLength: 100 });
export const IdParams = Type.Object({ id: Id });
export const Timestamp = Type.String({ format: 'date-time' });
/**
 * A date a client sends: read by src/validation/dates.ts in the handler, not by the schema's `date-time` format, so
 * every door accepts and refuses the same dates (the format lets through year 0 and leap seconds JavaScript cannot hold).
 */
export const ClientDate = Type.String({
  maxLength: 64,
  description: 'RFC 3339 timestamp (offset optional, UTC if absent), HTTP date, or Unix seconds; years 1 to 9999',
  examples: ['2024-05-01T10:00:00+02:00'],
});
export const Sha256 = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'SHA-256 of the content, hex' });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const PageQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
});

export function Page<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), nextCursor: Nullable(Type.String()) });
}

export const Counts = Type.Object({
  pending: Type.Integer(),
  uploading: Type.Integer(),
  backedUp: Type.Integer(),
  failed: Type.Integer(),
  needsReauth: Type.Integer(),
  paused: Type.Integer(),
});
