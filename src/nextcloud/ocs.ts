import type { FastifyReply, FastifyRequest } from 'fastify';
import { escapeXml, XML_HEAD } from '../webdav/xml.ts';

export type OcsVersion = 1 | 2;

/**
 * An OCS answer in either version's convention: v1 says success with statuscode 100, v2 with 200 (the Android and
 * iOS apps check one, nextcloudcmd the other). JSON when asked for by `format=json` or by Accept, XML otherwise.
 */
export function sendOcs(request: FastifyRequest, reply: FastifyReply, version: OcsVersion, data: unknown): FastifyReply {
  const meta = { status: 'ok', statuscode: version === 1 ? 100 : 200, message: 'OK', totalitems: '', itemsperpage: '' };
  const ocs = { meta, data };
  if (wantsJson(request)) return reply.code(200).type('application/json; charset=utf-8').send({ ocs });
  return reply
    .code(200)
    .type('application/xml; charset=utf-8')
    .send(`${XML_HEAD}<ocs>${toXml(meta)}${toXml({ data }).trim()}</ocs>\n`);
}

function wantsJson(request: FastifyRequest): boolean {
  const format = (request.query as Record<string, unknown> | undefined)?.format;
  if (format === 'json') return true;
  if (format === 'xml') return false;
  return /json/i.test(String(request.headers.accept ?? ''));
}

function toXml(value: unknown, tag = 'meta'): string {
  const inner = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    if (Array.isArray(v)) return v.map((item) => `<element>${inner(item)}</element>`).join('');
    if (typeof v === 'object')
      return Object.entries(v)
        .map(([k, x]) => `<${k}>${inner(x)}</${k}>`)
        .join('');
    return escapeXml(String(v));
  };
  return `<${tag}>${inner(value)}</${tag}>`;
}
