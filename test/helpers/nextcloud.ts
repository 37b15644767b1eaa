import { basic, request, type ExactResponse } from './exact-http.ts';

export { basic, request };
export type NcResponse = ExactResponse;

/** A client acting as one device through the Nextcloud door. */
export function ncClient(baseUrl: string, user: string, token: string) {
  return (method: string, urlPath: string, headers: Record<string, string> = {}, body?: Buffer | string) =>
    request(baseUrl, method, urlPath, { authorization: basic(user, token), ...headers }, body);
}

export const PROPFIND_NEXTCLOUDCMD =
  '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns"><d:prop>' +
  '<d:resourcetype/><d:getlastmodified/><d:getcontentlength/><d:getetag/><oc:size/><oc:id/><oc:fileid/><oc:downloadURL/><oc:dDC/>' +
  '<oc:permissions/><oc:checksums/><oc:data-fingerprint/><oc:share-types/><nc:creation_time/><nc:made-up-property/></d:prop></d:propfind>';

/** The <d:response> blocks of a multistatus, each as { href, body }. */
export function responses(xml: string): { href: string; body: string }[] {
  return [...xml.matchAll(/<D:response>([\s\S]*?)<\/D:response>/gi)].map((m) => ({
    href: decodeURIComponent(/<D:href>([^<]*)<\/D:href>/i.exec(m[1]!)![1]!),
    body: m[1]!,
  }));
}

/** The value of a property in a response body, by its prefixed name ("oc:id"), or undefined. */
export function prop(body: string, name: string): string | undefined {
  const local = name.split(':')[1]!;
  const m = new RegExp(`<[a-zA-Z]+:${local}>([\\s\\S]*?)</[a-zA-Z]+:${local}>`).exec(body);
  return m ? m[1] : undefined;
}
