/**
 * A strict XML reader for XEP-0227 files: saxes with namespaces and
 * positions, no DTDs, no processing instructions beyond the XML declaration
 * (so no entity can be declared, let alone expanded), bounded nesting and
 * text. It hands over each `<user/>` as a small tree, so memory is bounded by
 * the largest user, not by the file.
 */
import { SaxesParser, type SaxesTagNS } from 'saxes';
import type { Location } from './model.js';

export interface XmlNode {
  readonly name: string;
  readonly ns: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlNode[];
  text: string;
  readonly at: Location;
}

export class PieSyntaxError extends Error {
  constructor(
    message: string,
    readonly at: Location,
  ) {
    super(`${at.file}:${at.line}:${at.column}: ${message}`);
    this.name = 'PieSyntaxError';
  }
}

/** Nesting below `<user/>` (a roster item's group is at depth 3). */
export const MAX_USER_DEPTH = 16;
/** Text of one element, in UTF-16 code units. */
export const MAX_TEXT = 64 * 1024;

export interface TreeHandlers {
  /** An element outside any captured subtree opened; return true to capture it whole. */
  open(node: XmlNode, depth: number): boolean;
  /** A captured subtree is complete. */
  captured(node: XmlNode, depth: number): void;
  /** An element that was not captured closed. */
  close(depth: number): void;
}

/** Parses `text` (the whole file); throws PieSyntaxError at the first well-formedness or policy violation. */
export function readTree(text: string, file: string, handlers: TreeHandlers): void {
  const sax = new SaxesParser({ xmlns: true, position: true });
  const here = (): Location => ({ file, line: sax.line, column: sax.column + 1 });
  let fatal: PieSyntaxError | undefined;
  const fail = (message: string): void => {
    fatal ??= new PieSyntaxError(message, here());
  };
  let depth = 0;
  /** Open elements of the subtree being captured, outermost first. */
  const stack: XmlNode[] = [];
  let captureDepth = -1;
  let tagAt: Location = here();

  sax.on('doctype', () => fail('a DTD is not allowed (no entities are declared or expanded)'));
  sax.on('processinginstruction', (pi) => fail(`processing instruction <?${pi.target}?> is not allowed`));
  sax.on('error', (e) => fail(e.message.replace(/^(?:[^:]*:)?\d+:\d+: /, '')));
  sax.on('opentagstart', (tag) => {
    // saxes has read '<', the name and one character after it: point at the '<'.
    tagAt = { file, line: sax.line, column: Math.max(1, sax.column - tag.name.length - 1) };
  });
  sax.on('opentag', (tag: SaxesTagNS) => {
    const attrs: Record<string, string> = {};
    for (const a of Object.values(tag.attributes)) {
      if (a.prefix === 'xmlns' || a.name === 'xmlns') continue;
      attrs[a.local] = a.value;
    }
    const node: XmlNode = { name: tag.local, ns: tag.uri, attrs, children: [], text: '', at: tagAt };
    depth++;
    if (captureDepth >= 0) {
      if (depth - captureDepth > MAX_USER_DEPTH) return fail(`elements nested deeper than ${MAX_USER_DEPTH} inside <user/>`);
      stack.at(-1)?.children.push(node);
      stack.push(node);
      return;
    }
    if (handlers.open(node, depth)) {
      captureDepth = depth;
      stack.push(node);
    }
  });
  const onText = (t: string): void => {
    const top = stack.at(-1);
    if (top === undefined) {
      if (t.trim() !== '') fail('text outside the elements XEP-0227 defines');
      return;
    }
    if (top.text.length + t.length > MAX_TEXT) return fail(`more than ${MAX_TEXT} characters of text in <${top.name}/>`);
    top.text += t;
  };
  sax.on('text', onText);
  sax.on('cdata', onText);
  sax.on('closetag', () => {
    if (captureDepth >= 0) {
      const node = stack.pop();
      if (depth === captureDepth && node !== undefined) {
        captureDepth = -1;
        handlers.captured(node, depth);
      }
    } else {
      handlers.close(depth);
    }
    depth--;
  });

  // Feed in slices so a policy violation stops the parse early.
  const SLICE = 64 * 1024;
  for (let i = 0; i < text.length && fatal === undefined; i += SLICE) sax.write(text.slice(i, i + SLICE));
  if (fatal === undefined) sax.close();
  if (fatal !== undefined) throw fatal;
}
