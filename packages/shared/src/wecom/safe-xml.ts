import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { WecomXmlError } from './xml-error.js';

/** WeCom's documents are `<xml>` plus one level of fields; anything far deeper is hostile. */
const MAX_XML_DEPTH = 8;

/** Callback bodies are a few KB; the cap bounds the parser's work on whatever a peer sends. */
export const MAX_XML_LENGTH = 1024 * 1024;

const parser = new XMLParser({
  ignoreAttributes: true,
  // No entity processing at all: DOCTYPEs are refused up front, and WeCom puts text in CDATA anyway.
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: MAX_XML_DEPTH,
});

/**
 * Parses a WeCom `<xml>...</xml>` document into its root's children (values are strings, or objects/arrays for
 * unexpected shapes). Throws WecomXmlError: xml_forbidden for DOCTYPE/ENTITY, oversize or deep nesting; xml_malformed
 * for anything that is not one well-formed `<xml>` element.
 */
export function parseWecomXml(xml: string): Record<string, unknown> {
  if (typeof xml !== 'string') throw new WecomXmlError('xml_malformed', 'XML input must be a string');
  if (xml.length > MAX_XML_LENGTH) {
    throw new WecomXmlError('xml_forbidden', `XML document is longer than ${MAX_XML_LENGTH} characters`);
  }
  // Refused before parsing so no parser setting can ever expand an entity (billion laughs, external entities).
  // This also refuses the text inside CDATA; kf callbacks carry no user-written text, so nothing real is lost.
  if (/<!(?:DOCTYPE|ENTITY)/i.test(xml)) {
    throw new WecomXmlError('xml_forbidden', 'XML with DOCTYPE or ENTITY declarations is not accepted');
  }
  if (xmlNestsDeeperThan(xml, MAX_XML_DEPTH)) {
    throw new WecomXmlError('xml_forbidden', `XML nests deeper than ${MAX_XML_DEPTH} levels`);
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new WecomXmlError('xml_malformed', `not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  }
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch (err) {
    throw new WecomXmlError('xml_malformed', `XML could not be parsed: ${(err as Error).message}`);
  }
  const root = isRecord(doc) ? doc.xml : undefined;
  if (!isRecord(root)) throw new WecomXmlError('xml_malformed', 'document root must be a single <xml> element with children');
  return root;
}

/**
 * Reads a text field of a parsed root: undefined when absent or empty; throws when the element is repeated or has
 * child elements, since taking "one of them" would let a peer choose what gets signed versus what gets used.
 */
export function textField(root: Record<string, unknown>, name: string): string | undefined {
  if (!Object.hasOwn(root, name)) return undefined;
  const value = root[name];
  if (Array.isArray(value)) throw new WecomXmlError('xml_malformed', `<${name}> appears more than once`);
  if (typeof value !== 'string') throw new WecomXmlError('xml_malformed', `<${name}> must hold text, not elements`);
  return value === '' ? undefined : value;
}

/** Like textField, but absence is an xml_missing_field error. */
export function requiredTextField(root: Record<string, unknown>, name: string): string {
  const value = textField(root, name);
  if (value === undefined) throw new WecomXmlError('xml_missing_field', `<${name}> is missing or empty`);
  return value;
}

/** Wraps text in CDATA, splitting any `]]>` so the value survives intact. */
export function cdata(value: string): string {
  return `<![CDATA[${value.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Cheap linear depth count over start/end tags, skipping comments, CDATA and processing instructions, so a deeply
 * nested document is refused before the validator walks it. The parser's own limit backs this up for odd inputs.
 */
function xmlNestsDeeperThan(xml: string, maxDepth: number): boolean {
  let depth = 0;
  let i = xml.indexOf('<');
  while (i !== -1) {
    let end: number;
    if (xml.startsWith('<![CDATA[', i)) {
      end = xml.indexOf(']]>', i);
    } else if (xml.startsWith('<!--', i)) {
      end = xml.indexOf('-->', i);
    } else {
      end = xml.indexOf('>', i);
      const next = xml[i + 1];
      if (end !== -1 && next !== '?' && next !== '!') {
        if (next === '/') depth--;
        else if (xml[end - 1] !== '/' && ++depth > maxDepth) return true;
      }
    }
    if (end === -1) return false;
    i = xml.indexOf('<', end + 1);
  }
  return false;
}
