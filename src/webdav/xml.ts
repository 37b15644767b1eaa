import { badRequest } from './errors.ts';

export const DAV_NS = 'DAV:';

/** An element of a request body: its namespace URI and local name, children and text. */
export interface XmlElement {
  ns: string;
  name: string;
  children: XmlElement[];
  text: string;
}

const MAX_DEPTH = 32;
const MAX_ELEMENTS = 5000;
const NAME = /^[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?$/;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function malformed(detail: string): Error {
  return badRequest(`Malformed XML body: ${detail}`);
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);?/g, (match, ref: string) => {
    if (!match.endsWith(';')) throw malformed('unterminated entity reference');
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!(code > 0 && code <= 0x10ffff)) throw malformed('bad character reference');
      return String.fromCodePoint(code);
    }
    const value = ENTITIES[ref];
    if (value === undefined) throw malformed(`unknown entity &${ref};`);
    return value;
  });
}

interface Open {
  element: XmlElement;
  qname: string;
  /** The prefixes this element declares (null: none). Lookups walk the stack, never copy it: see parseXml. */
  declared: Map<string, string> | null;
}

const WHITESPACE = new Set([' ', '\t', '\r', '\n']);
// Where a name ends inside a tag.
const NAME_END = /[\s=/>"'<]/g;

/**
 * A small, strict, non-validating XML parser for the bodies WebDAV clients send (propfind, propertyupdate,
 * lockinfo): elements with resolved namespaces and their text. No DTDs (so no entity expansion), bounded depth and
 * size; anything it does not understand is a 400, never a crash.
 *
 * It runs in time linear in the body, whatever the body: one forward scan in which every step advances, no regex
 * that can backtrack over a tag, and namespace scopes that are looked up through the open elements (at most
 * MAX_DEPTH) instead of copied into each element. (A regex over attributes and a scope copied per element made a
 * 64 KiB body cost seconds of event loop.)
 */
export function parseXml(source: string): XmlElement {
  let pos = 0;
  let root: XmlElement | null = null;
  let count = 0;
  const stack: Open[] = [];
  const top = () => stack[stack.length - 1];
  const skipPast = (marker: string, what: string) => {
    const end = source.indexOf(marker, pos);
    if (end < 0) throw malformed(`unterminated ${what}`);
    const inner = source.slice(pos, end);
    pos = end + marker.length;
    return inner;
  };
  const skipWhitespace = () => {
    while (pos < source.length && WHITESPACE.has(source[pos]!)) pos++;
  };
  // A name at `pos`: up to the first character that cannot be part of one.
  const readName = () => {
    NAME_END.lastIndex = pos;
    const end = NAME_END.exec(source)?.index ?? source.length;
    const name = source.slice(pos, end);
    pos = end;
    return name;
  };
  const lookup = (prefix: string): string | undefined => {
    for (let i = stack.length - 1; i >= 0; i--) {
      const ns = stack[i]!.declared?.get(prefix);
      if (ns !== undefined) return ns;
    }
    return undefined;
  };

  while (pos < source.length) {
    const lt = source.indexOf('<', pos);
    const text = source.slice(pos, lt < 0 ? source.length : lt);
    if (text.length > 0) {
      const open = top();
      if (open) open.element.text += decodeEntities(text);
      else if (text.trim()) throw malformed('text outside the root element');
    }
    if (lt < 0) break;
    pos = lt;
    if (source.startsWith('<?', pos)) {
      pos += 2;
      skipPast('?>', 'processing instruction');
    } else if (source.startsWith('<!--', pos)) {
      pos += 4;
      skipPast('-->', 'comment');
    } else if (source.startsWith('<![CDATA[', pos)) {
      pos += 9;
      const cdata = skipPast(']]>', 'CDATA section');
      const open = top();
      if (!open) throw malformed('CDATA outside the root element');
      open.element.text += cdata;
    } else if (source.startsWith('<!', pos)) {
      throw malformed('document type declarations are not accepted');
    } else if (source.startsWith('</', pos)) {
      pos += 2;
      const qname = skipPast('>', 'end tag').trim();
      const open = stack.pop();
      if (!open || open.qname !== qname) throw malformed(`unexpected </${qname.slice(0, 40)}>`);
    } else {
      pos += 1;
      const qname = readName();
      if (!NAME.test(qname)) throw malformed(`bad element name "${qname.slice(0, 40)}"`);
      if (root && stack.length === 0) throw malformed('more than one root element');
      if (stack.length >= MAX_DEPTH) throw malformed('nested too deeply');
      if (++count > MAX_ELEMENTS) throw malformed('too many elements');
      let declared: Map<string, string> | null = null;
      let selfClosing = false;
      for (;;) {
        const before = pos;
        skipWhitespace();
        if (pos >= source.length) throw malformed('unterminated start tag');
        if (source[pos] === '>') {
          pos += 1;
          break;
        }
        if (source.startsWith('/>', pos)) {
          pos += 2;
          selfClosing = true;
          break;
        }
        if (pos === before) throw malformed(`attributes of <${qname.slice(0, 40)}> must be separated by white space`);
        const attr = readName();
        if (!NAME.test(attr)) throw malformed(`bad attribute name "${attr.slice(0, 40)}"`);
        skipWhitespace();
        if (source[pos] !== '=') throw malformed(`attribute ${attr.slice(0, 40)} has no value`);
        pos += 1;
        skipWhitespace();
        const quote = source[pos];
        if (quote !== '"' && quote !== "'") throw malformed(`the value of attribute ${attr.slice(0, 40)} is not quoted`);
        pos += 1;
        const raw = skipPast(quote, 'attribute value');
        if (raw.includes('<')) throw malformed(`"<" in the value of attribute ${attr.slice(0, 40)}`);
        const value = decodeEntities(raw);
        if (attr === 'xmlns') (declared ??= new Map()).set('', value);
        else if (attr.startsWith('xmlns:')) (declared ??= new Map()).set(attr.slice(6), value);
      }
      const colon = qname.indexOf(':');
      const prefix = colon < 0 ? '' : qname.slice(0, colon);
      const ns = declared?.get(prefix) ?? lookup(prefix);
      if (ns === undefined && prefix !== '') throw malformed(`undeclared namespace prefix "${prefix.slice(0, 40)}"`);
      const element: XmlElement = { ns: ns ?? '', name: qname.slice(colon + 1), children: [], text: '' };
      const parent = top();
      if (parent) parent.element.children.push(element);
      else root = element;
      if (!selfClosing) stack.push({ element, qname, declared });
    }
  }
  if (stack.length > 0) throw malformed(`<${top()!.qname}> is not closed`);
  if (!root) throw malformed('no root element');
  return root;
}

export function isDav(element: XmlElement, name: string): boolean {
  return element.ns === DAV_NS && element.name === name;
}

export function child(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => isDav(c, name));
}

/** Escape for text content and attribute values alike (quotes only where they matter). */
export function escapeXml(value: string, attribute = false): string {
  return value.replace(attribute ? /[<>&"']/g : /[<>&]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An empty element naming a property of any namespace, for a propstat: `<x:name xmlns:x="…"/>`. */
export function emptyElement(ns: string, name: string): string {
  if (ns === DAV_NS) return `<D:${name}/>`;
  if (ns === '') return `<${name} xmlns=""/>`;
  return `<x:${name} xmlns:x="${escapeXml(ns, true)}"/>`;
}

export const XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n';
