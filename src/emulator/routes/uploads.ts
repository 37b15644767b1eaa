import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { photosGate, type GateSpec } from '../photos-gate.ts';
import type { RequestContexts } from '../request-context.ts';
import { SCOPE } from '../scopes.ts';
import type { EmulatorState } from '../state.ts';
import { H, header, sendUploadError } from '../upload-common.ts';
import { handleRawUpload } from '../upload-raw.ts';
import { handleResumableStart, handleSessionRequest } from '../upload-resumable.ts';

const sessionIdOf = (req: FastifyRequest): string | undefined => (req.query as Record<string, unknown>).upload_id as string | undefined;

/** POST /v1/uploads: raw uploads, resumable starts, and (with ?upload_id=) every request to a resumable session. */
export function uploadRoutes(state: EmulatorState, contexts: RequestContexts): FastifyPluginAsync {
  return async (app) => {
    // Upload bodies are streamed by the handlers, whatever their declared type: no parser may buffer them.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

    const specOf = (req: FastifyRequest): GateSpec => {
      const id = sessionIdOf(req);
      if (id === undefined) return { endpoint: 'upload', scope: SCOPE.append };
      const session = state.uploads.session(String(id));
      return { endpoint: 'uploadChunk', scope: null, ...(session ? { owner: { email: session.email, clientId: session.clientId } } : {}) };
    };

    app.post('/v1/uploads', { onRequest: photosGate(state, contexts, specOf) }, async (req, reply) => {
      const ctx = contexts.require(req);
      const sessionId = sessionIdOf(req);
      if (sessionId !== undefined) return handleSessionRequest(state, ctx, req, reply, String(sessionId));
      const protocol = header(req, H.protocol)?.trim().toLowerCase();
      if (protocol === 'raw') return handleRawUpload(state, ctx, req, reply);
      if (protocol === 'resumable') {
        if (header(req, H.command)?.trim().toLowerCase() !== 'start') {
          return sendUploadError(state, reply, 400, 'A resumable upload must start with X-Goog-Upload-Command: start.');
        }
        return handleResumableStart(state, ctx, req, reply);
      }
      return sendUploadError(state, reply, 400, 'X-Goog-Upload-Protocol must be raw or resumable.');
    });
  };
}
