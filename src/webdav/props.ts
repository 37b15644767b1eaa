import { parseClientDate } from '../validation/dates.ts';
import { badRequest } from './errors.ts';
import { collectionEtagOf, ocProps } from './oc-props.ts';
import { baseName, DAV_MOUNT, hrefOf, type DavMount } from './paths.ts';
import type { Entry } from './view-store.ts';
import { child, DAV_NS, emptyElement, escapeXml, isDav, parseXml } from './xml.ts';

export interface PropName {
  ns: string;
  name: string;
}

export type PropfindRequest = { mode: 'allprop' } | { mode: 'propname' } | { mode: 'prop'; props: PropName[] };

/** An empty body means allprop (RFC 4918 §9.1), which is what rclone's default vendor sends. */
export function parsePropfind(body: string): PropfindRequest {
  if (body.trim() === '') return { mode: 'allprop' };
  const root = parseXml(body);
  if (!isDav(root, 'propfind')) throw badRequest('A PROPFIND body must be a DAV:propfind element');
  if (child(root, 'propname')) return { mode: 'propname' };
  const prop = child(root, 'prop');
  if (prop) return { mode: 'prop', props: prop.children.map(({ ns, name }) => ({ ns, name })) };
  return { mode: 'allprop' };
}

export const SUPPORTED_LOCK =
  '<D:supportedlock><D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>' +
  '<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry></D:supportedlock>';

export function etagOf(entry: Entry): string | null {
  return entry.kind === 'file' && entry.blobSha256 ? `"${entry.blobSha256}"` : null;
}

/** What clients compare to skip files already sent: the size, the modification time and the ETag (the SHA-256). */
export function lastModifiedOf(entry: Entry): Date {
  return entry.mtime ?? entry.updatedAt;
}

/** The live properties of an entry, by DAV: name, rendered. */
function liveProps(entry: Entry, mount: DavMount): Map<string, string> {
  const props = new Map<string, string>();
  const collection = entry.kind === 'collection';
  props.set('displayname', `<D:displayname>${escapeXml(entry.path === '/' ? '' : baseName(entry.path))}</D:displayname>`);
  props.set('resourcetype', collection ? '<D:resourcetype><D:collection/></D:resourcetype>' : '<D:resourcetype/>');
  props.set('getlastmodified', `<D:getlastmodified>${lastModifiedOf(entry).toUTCString()}</D:getlastmodified>`);
  props.set('creationdate', `<D:creationdate>${entry.createdAt.toISOString()}</D:creationdate>`);
  if (!collection) {
    props.set('getcontentlength', `<D:getcontentlength>${entry.size}</D:getcontentlength>`);
    props.set('getetag', `<D:getetag>${escapeXml(etagOf(entry) ?? '')}</D:getetag>`);
    props.set('getcontenttype', `<D:getcontenttype>${escapeXml(entry.mimeType ?? 'application/octet-stream')}</D:getcontenttype>`);
  } else if (mount.nextcloud) {
    props.set('getetag', `<D:getetag>${escapeXml(collectionEtagOf(entry))}</D:getetag>`);
    props.set('getcontentlength', '<D:getcontentlength>0</D:getcontentlength>');
  }
  return props;
}

// Answered when asked for by name, left out of allprop: they say the same for every entry and would double the size
// of a large listing.
const LOCK_PROPS = new Map([
  ['supportedlock', SUPPORTED_LOCK],
  ['lockdiscovery', '<D:lockdiscovery/>'],
]);

function propstat(inner: string, status: string): string {
  return `<D:propstat><D:prop>${inner}</D:prop><D:status>HTTP/1.1 ${status}</D:status></D:propstat>`;
}

/**
 * One <D:response> of a multistatus. Found properties come first, in a 200 propstat: some clients (rclone among
 * them) judge the whole response by the first status they meet. Unknown ones follow in a 404 propstat.
 */
export function renderResponse(entry: Entry, request: PropfindRequest, mount: DavMount = DAV_MOUNT, deviceId = ''): string {
  const live = liveProps(entry, mount);
  const extra = mount.nextcloud ? ocProps(deviceId, entry) : new Map<string, string>();
  const href = `<D:href>${escapeXml(hrefOf(entry.path, entry.kind === 'collection', mount.root))}</D:href>`;
  let body: string;
  if (request.mode === 'allprop') {
    body = propstat([...live.values(), ...extra.values()].join(''), '200 OK');
  } else if (request.mode === 'propname') {
    body = propstat([...live.keys(), ...LOCK_PROPS.keys()].map((name) => `<D:${name}/>`).join(''), '200 OK');
  } else {
    const found: string[] = [];
    const missing: string[] = [];
    for (const { ns, name } of request.props) {
      const value = ns === DAV_NS ? (live.get(name) ?? LOCK_PROPS.get(name)) : extra.get(`${ns}\u0000${name}`);
      if (value) found.push(value);
      else missing.push(emptyElement(ns, name));
    }
    body = (found.length ? propstat(found.join(''), '200 OK') : '') + (missing.length ? propstat(missing.join(''), '404 Not Found') : '');
  }
  return `<D:response>${href}${body}</D:response>\n`;
}

export const MULTISTATUS_OPEN = '<D:multistatus xmlns:D="DAV:">\n';
const MULTISTATUS_OPEN_NC = '<D:multistatus xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">\n';

export function multistatusOpen(mount: DavMount): string {
  return mount.nextcloud ? MULTISTATUS_OPEN_NC : MULTISTATUS_OPEN;
}
export const MULTISTATUS_CLOSE = '</D:multistatus>\n';

// The properties through which clients set a file's modification time: DAV:getlastmodified (an HTTP date; protected
// by RFC 4918 but sent anyway), DAV:lastmodified (ownCloud/rclone: Unix seconds) and Windows' Win32LastModifiedTime.
const MTIME_PROPS = new Set([
  'DAV:\u0000getlastmodified',
  'DAV:\u0000lastmodified',
  'urn:schemas-microsoft-com:\u0000Win32LastModifiedTime',
]);

export interface PropPatch {
  /** Every property named, to answer for. */
  props: PropName[];
  /** The modification time set, if one of the mtime properties was. */
  mtime: Date | null;
}

/** A PROPPATCH body: only the modification time matters to us; other properties are accepted and not kept. */
export function parsePropPatch(body: string): PropPatch {
  const root = parseXml(body);
  if (!isDav(root, 'propertyupdate')) throw badRequest('A PROPPATCH body must be a DAV:propertyupdate element');
  const props: PropName[] = [];
  let mtime: Date | null = null;
  for (const action of root.children) {
    if (!isDav(action, 'set') && !isDav(action, 'remove')) continue;
    for (const prop of action.children.filter((c) => isDav(c, 'prop'))) {
      for (const p of prop.children) {
        props.push({ ns: p.ns, name: p.name });
        if (isDav(action, 'set') && MTIME_PROPS.has(`${p.ns}\u0000${p.name}`)) {
          mtime = parseMtime(p.text.trim());
          if (!mtime) throw badRequest(`${p.name} must be a date or Unix seconds, not "${p.text.trim().slice(0, 40)}"`);
        }
      }
    }
  }
  return { props, mtime };
}

export function renderPropPatch(href: string, props: PropName[]): string {
  const inner = props.map(({ ns, name }) => emptyElement(ns, name)).join('');
  return `${MULTISTATUS_OPEN}<D:response><D:href>${escapeXml(href)}</D:href>${propstat(inner, '200 OK')}</D:response>\n${MULTISTATUS_CLOSE}`;
}

const MIN_MTIME = Date.UTC(1900, 0, 1);

/** A modification time as clients send it: Unix seconds (X-OC-Mtime, DAV:lastmodified) or an HTTP/ISO date. */
export function parseMtime(value: string | undefined): Date | null {
  const ms = parseClientDate(value)?.getTime();
  if (ms === undefined || ms < MIN_MTIME) return null;
  // Second precision, as HTTP dates carry: what we answer must equal what the client set.
  return new Date(Math.floor(ms / 1000) * 1000);
}
