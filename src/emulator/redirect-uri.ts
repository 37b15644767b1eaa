import { isIP } from 'node:net';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Google's rules for a web client's redirect URI when none is registered here: http only on loopback, otherwise
 * https on a public domain name. Private IPs and bare LAN names are refused, which is why a self-hoster on a LAN
 * pastes the redirected URL back instead.
 */
export function redirectUriAllowed(raw: string, registered: string[] | null): boolean {
  if (registered) return registered.includes(raw);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.hash || url.username || url.password) return false;
  if (url.protocol === 'http:') return LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:') return false;
  if (LOOPBACK_HOSTS.has(url.hostname)) return true;
  const host = url.hostname;
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) return false;
  return host.includes('.') && !/\.(local|lan|home|internal|localdomain)$/i.test(host);
}
