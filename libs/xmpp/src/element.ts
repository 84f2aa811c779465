/**
 * A minimal XML element tree for stanzas. Deliberately small: XMPP needs
 * names, attributes, text and child lookup, not a DOM.
 */

export type XmlNode = Element | string;

/** The part of a qualified name after the prefix: 'stream:error' → 'error'. */
function localName(qname: string): string {
  const colon = qname.indexOf(':');
  return colon < 0 ? qname : qname.slice(colon + 1);
}

export class Element {
  readonly name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  /**
   * Resolved namespace URI. The parser sets it from the XML namespace
   * context; an element built in code gets its own `xmlns` attribute, or
   * inherits its parent's namespace when it is appended without one (so
   * `getChild(name, xmlns)` behaves the same on built and parsed trees).
   */
  ns: string;

  constructor(name: string, attrs: Record<string, string> = {}, children: XmlNode[] = []) {
    this.name = name;
    this.attrs = attrs;
    this.ns = this.attr('xmlns') ?? '';
    this.children = [];
    this.append(...children);
  }

  attr(name: string): string | undefined {
    // Own properties only: attr('constructor') must not find Object.prototype's.
    return Object.hasOwn(this.attrs, name) ? this.attrs[name] : undefined;
  }

  /**
   * First direct child whose name (as written, or its local part when the
   * child is prefixed) is `name`, and, if given, whose resolved namespace is
   * `xmlns`.
   */
  getChild(name: string, xmlns?: string): Element | undefined {
    for (const child of this.children) {
      if (typeof child !== 'string' && matches(child, name, xmlns)) return child;
    }
    return undefined;
  }

  getChildren(name: string, xmlns?: string): Element[] {
    return this.getChildElements().filter((child) => matches(child, name, xmlns));
  }

  getChildElements(): Element[] {
    return this.children.filter((child): child is Element => typeof child !== 'string');
  }

  getText(): string {
    let text = '';
    for (const child of this.children) {
      if (typeof child === 'string') text += child;
    }
    return text;
  }

  getChildText(name: string, xmlns?: string): string | undefined {
    return this.getChild(name, xmlns)?.getText();
  }

  append(...nodes: XmlNode[]): this {
    for (const node of nodes) {
      if (typeof node !== 'string') inheritNamespace(node, this.ns);
      this.children.push(node);
    }
    return this;
  }

  toString(): string {
    let out = `<${this.name}`;
    for (const [key, value] of Object.entries(this.attrs)) {
      out += ` ${key}='${escapeAttr(value)}'`;
    }
    if (this.children.length === 0) return `${out}/>`;
    out += '>';
    for (const child of this.children) {
      out += typeof child === 'string' ? escapeText(child) : child.toString();
    }
    return `${out}</${this.name}>`;
  }
}

function matches(child: Element, name: string, xmlns: string | undefined): boolean {
  if (child.name !== name && localName(child.name) !== name) return false;
  return xmlns === undefined || child.ns === xmlns;
}

/** Fill in `ns` for built subtrees that did not declare one (parsed elements always have it). */
function inheritNamespace(node: Element, parentNs: string): void {
  if (node.ns !== '' || node.attr('xmlns') !== undefined || parentNs === '') return;
  node.ns = parentNs;
  for (const child of node.children) {
    if (typeof child !== 'string') inheritNamespace(child, parentNs);
  }
}

/** Build an element, dropping undefined attributes and falsy children so optional parts read inline. */
export function el(
  name: string,
  attrs: Record<string, string | undefined> = {},
  ...children: (XmlNode | undefined | null | false)[]
): Element {
  const clean: Record<string, string> = {};
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined) clean[key] = value;
  }
  const kept: XmlNode[] = [];
  for (const child of children) {
    if (child !== undefined && child !== null && child !== false && child !== '') kept.push(child);
  }
  return new Element(name, clean, kept);
}

const TEXT_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  // A literal CR would be normalised to LF by the receiving parser (XML 1.0 §2.11).
  '\r': '&#xD;',
};

const ATTR_ESCAPES: Record<string, string> = {
  ...TEXT_ESCAPES,
  '"': '&quot;',
  "'": '&apos;',
  // Literal TAB/LF/CR in an attribute value become spaces on parsing (XML 1.0 §3.3.3).
  '\t': '&#x9;',
  '\n': '&#xA;',
};

// The common case (JIDs, ids, plain text) has nothing to escape: a test without a match allocates nothing and costs
// a third of a replace that finds nothing (several per stanza a node writes).
const TEXT_SPECIAL = /[&<>\r]/;
const ATTR_SPECIAL = /[&<>"'\t\n\r]/;

/** Escape character data; '>' too, so ']]>' can never appear in output. */
export function escapeText(s: string): string {
  return TEXT_SPECIAL.test(s) ? s.replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c] ?? c) : s;
}

/** Escape an attribute value for either quote style. */
export function escapeAttr(s: string): string {
  return ATTR_SPECIAL.test(s) ? s.replace(/[&<>"'\t\n\r]/g, (c) => ATTR_ESCAPES[c] ?? c) : s;
}
