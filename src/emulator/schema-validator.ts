import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { FastifySchemaCompiler } from 'fastify';

// Compiled checkers are pure functions of their (module-constant) schemas, so one cache serves every emulator
// instance: compiling per instance cost ~50 ms, paid by every test that starts an emulator.
const compiled = new WeakMap<object, TypeCheck<TSchema>>();

/** Fastify validator compiler backed by TypeBox's compiler: strict (no coercion, no stripping of unknown fields). */
export const typeboxValidator: FastifySchemaCompiler<TSchema> = ({ schema }) => {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  const checker = check;
  return (data: unknown) => {
    if (checker.Check(data)) return { value: data };
    const first = checker.Errors(data).First();
    return { error: new Error(`${first?.path || '(root)'}: ${first?.message ?? 'invalid'}`) };
  };
};
