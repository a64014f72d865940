/**
 * Small DOM helpers for the inspector page: build elements without innerHTML (so nothing from the
 * log is ever parsed as markup), find the page's fixed elements by data-testid.
 */

type Child = Node | string | null | undefined | false;
type Attributes = Readonly<Record<string, string | number | boolean | null | undefined>>;

/** Creates an element; attributes with null/undefined/false are left out, true sets an empty attribute. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** The page's element with this data-testid; throws when page-html.ts lost it. */
export function byTestId<T extends HTMLElement = HTMLElement>(
  testId: string,
  root: ParentNode = document,
): T {
  const element = root.querySelector<T>(`[data-testid="${testId}"]`);
  if (element === null) throw new Error(`inspector page: no element with data-testid="${testId}"`);
  return element;
}

/** An element by its exact id inside root, whatever characters the id holds (dots, colons). */
export function byExactId(root: ParentNode, id: string): Element | null {
  return root.querySelector(`[id="${id.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"]`);
}

/** True when a key press is meant for a text field, not for the page's shortcuts. */
export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'SELECT', 'TEXTAREA'].includes(target.tagName);
}
