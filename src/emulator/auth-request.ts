import type { EmulatorConfig } from './config.ts';
import { redirectUriAllowed } from './redirect-uri.ts';
import { parseScopes } from './scopes.ts';

export interface AuthRequest {
  clientId: string;
  redirectUri: string;
  scopes: string[];
  state?: string;
  offline: boolean;
  prompt: string[];
  loginHint?: string;
  pkce?: { challenge: string; method: 'S256' | 'plain' };
}

export type AuthRequestParse = { ok: true; request: AuthRequest } | { ok: false; error: string; description: string };

const single = (q: Record<string, unknown>, name: string): string | undefined => {
  const v = q[name];
  return typeof v === 'string' ? v : undefined;
};

const fail = (error: string, description: string): AuthRequestParse => ({ ok: false, error, description });

/** Validates the consent URL's query the way Google does before it would show any consent screen. */
export function parseAuthRequest(q: Record<string, unknown>, config: EmulatorConfig): AuthRequestParse {
  const clientId = single(q, 'client_id');
  const redirectUri = single(q, 'redirect_uri');
  const responseType = single(q, 'response_type');
  const scope = single(q, 'scope');
  const accessType = single(q, 'access_type');
  const prompt = (single(q, 'prompt') ?? '').split(' ').filter(Boolean);
  const challenge = single(q, 'code_challenge');
  const method = single(q, 'code_challenge_method') ?? 'plain';
  const isMethod = (m: string): m is 'S256' | 'plain' => m === 'S256' || m === 'plain';

  if (!clientId) return fail('invalid_request', 'Missing required parameter: client_id');
  if (clientId !== config.clientId) return fail('invalid_client', 'The OAuth client was not found.');
  if (!redirectUri) return fail('invalid_request', 'Missing required parameter: redirect_uri');
  if (!redirectUriAllowed(redirectUri, config.redirectUris)) {
    return fail('redirect_uri_mismatch', `The redirect URI in the request, ${redirectUri}, is not allowed for this OAuth client.`);
  }
  if (!responseType) return fail('invalid_request', 'Required parameter is missing: response_type');
  if (responseType !== 'code') return fail('unsupported_response_type', `Invalid response_type: ${responseType}`);
  if (!scope) return fail('invalid_request', 'Missing required parameter: scope');
  const scopes = parseScopes(scope);
  if (!scopes.ok) return fail('invalid_scope', `Some requested scopes were invalid: ${scopes.invalid.join(' ')}`);
  if (accessType !== undefined && accessType !== 'online' && accessType !== 'offline') {
    return fail('invalid_request', `Invalid access_type: ${accessType}`);
  }
  if (prompt.some((p) => !['none', 'consent', 'select_account'].includes(p)) || (prompt.includes('none') && prompt.length > 1)) {
    return fail('invalid_request', `Invalid prompt: ${prompt.join(' ')}`);
  }
  if (challenge !== undefined && (!/^[A-Za-z0-9._~-]{43,128}$/.test(challenge) || !isMethod(method))) {
    return fail('invalid_request', 'Invalid code_challenge or code_challenge_method.');
  }
  const state = single(q, 'state');
  const loginHint = single(q, 'login_hint');
  return {
    ok: true,
    request: {
      clientId,
      redirectUri,
      scopes: scopes.scopes,
      offline: accessType === 'offline',
      prompt,
      ...(state !== undefined ? { state } : {}),
      ...(loginHint !== undefined ? { loginHint } : {}),
      ...(challenge !== undefined && isMethod(method) ? { pkce: { challenge, method } } : {}),
    },
  };
}
