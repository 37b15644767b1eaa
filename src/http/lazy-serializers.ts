import { SerializerSelector, type SerializerFactory, type Serializer } from '@fastify/fast-json-stringify-compiler';

/**
 * Fastify's serializer factory (fast-json-stringify), with each serializer compiled on its first answer instead of
 * at start. Fastify compiles one for every status of every route's response schema as the routes are registered:
 * ~5.7 MB of the API process's live heap, mostly for admin routes and error statuses a process may never answer,
 * while that process is held to 150 MB with 8 uploads in flight (bench c). The answers are the same; a schema
 * fast-json-stringify cannot compile fails its first answer instead of the start, so test/openapi.test.ts
 * compiles every response schema of every route.
 */
export function lazySerializers(): SerializerFactory {
  const eager = SerializerSelector();
  return (externalSchemas, options) => {
    const compile = eager(externalSchemas, options);
    return (route) => {
      let serialize: Serializer | undefined;
      return (doc) => (serialize ??= compile(route))(doc);
    };
  };
}
