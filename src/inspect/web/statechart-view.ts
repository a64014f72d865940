/**
 * One machine's statechart card: the server's SVG (/api/machines/<id>.svg) inlined, and the
 * states of the machine's instances at the chosen event lit in it. The focused instance's state
 * group (`#state-<path>`) gets the class `lit` (its parents `lit-parent`); states other instances
 * are in get `occupied`. The card says which instance is focused (data-instance, data-state).
 *
 * The SVG comes from our own server, but it is still made inert before it enters the page:
 * scripts, <style>, event handler attributes and links off the page are dropped, and style
 * attributes move to CSSOM (the page's CSP allows no inline style markup).
 */
import type { InstanceState, MachineSummary } from '../inspector-api.js';
import { byExactId, h } from './dom.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Parses SVG text into an inert element ready to be adopted by the page. */
export function sanitizeSvg(text: string): SVGSVGElement {
  const parsed = new DOMParser().parseFromString(text, 'image/svg+xml');
  const root = parsed.documentElement;
  if (root.namespaceURI !== SVG_NS || root.localName !== 'svg' || parsed.querySelector('parsererror')) {
    throw new Error('the statechart is not well-formed SVG');
  }
  for (const element of Array.from(root.querySelectorAll('script, style, foreignObject'))) element.remove();
  for (const element of [root, ...Array.from(root.querySelectorAll('*'))]) {
    for (const attribute of Array.from(element.attributes)) {
      const name = attribute.name.toLowerCase();
      if (name.startsWith('on')) element.removeAttribute(attribute.name);
      else if (name === 'style') {
        element.setAttribute('data-inline-style', attribute.value);
        element.removeAttribute(attribute.name);
      } else if ((name === 'href' || name === 'xlink:href') && !attribute.value.startsWith('#')) {
        element.removeAttribute(attribute.name);
      }
    }
  }
  const svg = document.importNode(root, true) as unknown as SVGSVGElement;
  for (const element of Array.from(svg.querySelectorAll<SVGElement>('[data-inline-style]'))) {
    element.style.cssText = element.getAttribute('data-inline-style') ?? '';
    element.removeAttribute('data-inline-style');
  }
  // Scale with the card: keep the viewBox (make one from width/height if missing), drop the fixed size.
  if (!svg.hasAttribute('viewBox')) {
    const width = Number.parseFloat(svg.getAttribute('width') ?? '');
    const height = Number.parseFloat(svg.getAttribute('height') ?? '');
    if (width > 0 && height > 0) svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  }
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  svg.setAttribute('preserveAspectRatio', 'xMidYMin meet');
  return svg;
}

/** The instance a machine's chart shows: the selected one, else the latest to move that is still running. */
export function focusedInstance(
  instances: readonly InstanceState[],
  selectedKey: string | null,
): InstanceState | undefined {
  const selected = instances.find((instance) => instance.key === selectedKey);
  if (selected) return selected;
  let best: InstanceState | undefined;
  for (const instance of instances) {
    if (best === undefined) best = instance;
    else if (best.ended !== instance.ended) best = instance.ended ? best : instance;
    else if (instance.sinceSeq > best.sinceSeq) best = instance;
  }
  return best;
}

/** Every prefix of a state path: "a.b.c" -> ["a", "a.b"]. */
function parentPaths(path: string): string[] {
  const parts = path.split('.');
  return parts.slice(1).map((_, index) => parts.slice(0, index + 1).join('.'));
}

export class StatechartCard {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly caption: HTMLElement;
  private svg: SVGSVGElement | null = null;
  private litElements: Element[] = [];

  constructor(
    readonly machine: MachineSummary,
    onSelect: (machine: MachineSummary) => void,
  ) {
    this.caption = h(
      'p',
      { class: 'chart-caption', 'data-testid': `chart-caption-${machine.id}` },
      'loading…',
    );
    this.body = h('div', { class: 'chart-body' });
    const title = h(
      'button',
      { type: 'button', class: 'chart-title', title: 'Show this machine’s instances' },
      h('span', { class: 'chart-name' }, machine.title),
      h('span', { class: 'chart-side' }, `${machine.id} · ${machine.side}`),
    );
    title.addEventListener('click', () => onSelect(machine));
    this.element = h(
      'article',
      {
        class: 'chart',
        'data-testid': `chart-${machine.id}`,
        'data-machine': machine.id,
        'data-instance': '',
      },
      title,
      this.caption,
      this.body,
    );
  }

  /** Puts the fetched SVG in, or says why there is none. */
  setSvg(text: string): void {
    try {
      this.svg = sanitizeSvg(text);
      this.body.replaceChildren(this.svg);
      this.element.dataset.drawn = 'true';
    } catch (error) {
      this.showError(`cannot draw: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  showError(message: string): void {
    this.body.replaceChildren(h('p', { class: 'chart-error', role: 'alert' }, message));
  }

  /** Lights the states of this machine's instances at the chosen event. */
  show(instances: readonly InstanceState[], selectedKey: string | null): void {
    const focus = focusedInstance(instances, selectedKey);
    this.element.classList.toggle('selected', focus !== undefined && focus.key === selectedKey);
    this.element.classList.toggle('idle', instances.length === 0);
    this.element.dataset.instance = focus?.key ?? '';
    this.element.dataset.state = focus?.state ?? '';
    this.element.dataset.instances = String(instances.length);
    this.caption.replaceChildren(...this.describe(focus, instances.length));
    for (const element of this.litElements) element.classList.remove('lit', 'lit-parent', 'occupied');
    this.litElements = [];
    if (this.svg === null) return;
    const svg = this.svg;
    const mark = (path: string, className: string): void => {
      const group = byExactId(svg, `state-${path}`);
      if (group === null) return;
      group.classList.add(className);
      this.litElements.push(group);
    };
    for (const instance of instances) {
      if (instance.state !== null && instance !== focus && !instance.ended) mark(instance.state, 'occupied');
    }
    if (focus?.state) {
      for (const parent of parentPaths(focus.state)) mark(parent, 'lit-parent');
      mark(focus.state, 'lit');
    }
  }

  private describe(focus: InstanceState | undefined, count: number): (Node | string)[] {
    if (focus === undefined) return ['no instance at this event'];
    const others = count > 1 ? ` (+${count - 1} more)` : '';
    return [
      h('strong', {}, focus.label),
      `${others}: `,
      h(
        'span',
        { class: focus.state === null ? 'state-badge none' : 'state-badge' },
        focus.state ?? 'not a participant',
      ),
      focus.ended ? ' (ended)' : '',
    ];
  }
}
