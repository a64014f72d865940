/**
 * The selected instance at the chosen event: its key, machine, node, VDI, state, since when and
 * why; buttons jump to the event that put it in this state and filter the event table to its actor.
 */
import type { InstanceState, MachineSummary } from '../inspector-api.js';
import { h } from './dom.js';

export interface DetailActions {
  jump(seq: number): void;
  filterActor(actor: string): void;
  clear(): void;
}

/** The log actor an instance key names: the key up to "#" (the sub-instance). */
export function actorOfKey(key: string): string {
  const hash = key.indexOf('#');
  return hash === -1 ? key : key.slice(0, hash);
}

export class DetailView {
  constructor(
    private readonly root: HTMLElement,
    private readonly actions: DetailActions,
  ) {}

  show(
    key: string | null,
    instance: InstanceState | undefined,
    machines: ReadonlyMap<string, MachineSummary>,
  ): void {
    const heading = h('h2', {}, 'Selected instance');
    if (key === null) {
      this.root.replaceChildren(
        heading,
        h('p', { class: 'muted' }, 'Select an instance on the left or a chart’s title.'),
      );
      return;
    }
    if (instance === undefined) {
      this.root.replaceChildren(
        heading,
        h('p', {}, h('code', {}, key)),
        h('p', { class: 'muted', 'data-testid': 'detail-absent' }, 'Not present at this event.'),
        this.buttons(key, null),
      );
      return;
    }
    const machine = machines.get(instance.machine);
    const field = (name: string, value: Node | string, testId?: string): Node[] => [
      h('dt', {}, name),
      h('dd', testId ? { 'data-testid': testId } : {}, value),
    ];
    this.root.replaceChildren(
      heading,
      h(
        'dl',
        { 'data-key': instance.key, 'data-state': instance.state ?? '' },
        ...field('label', instance.label),
        ...field('key', h('code', {}, instance.key)),
        ...field('machine', machine ? `${machine.title} (${machine.id})` : instance.machine),
        ...field('node', instance.node),
        ...field('VDI', instance.vdi ?? '—'),
        ...field(
          'state',
          h(
            'span',
            { class: instance.state === null ? 'state-badge none' : 'state-badge' },
            instance.state ?? 'not a participant',
          ),
          'detail-state',
        ),
        ...field(
          'since',
          `event ${instance.sinceSeq}${instance.lastEvent ? ` (${instance.lastEvent})` : ''}`,
        ),
        ...field('ended', instance.ended ? 'yes' : 'no'),
      ),
      this.buttons(instance.key, instance.sinceSeq),
    );
  }

  private buttons(key: string, sinceSeq: number | null): HTMLElement {
    const since =
      sinceSeq === null
        ? null
        : h('button', { type: 'button', 'data-testid': 'detail-jump-since' }, `go to event ${sinceSeq}`);
    since?.addEventListener('click', () => this.actions.jump(sinceSeq ?? 0));
    const events = h('button', { type: 'button', 'data-testid': 'detail-filter-actor' }, 'its events');
    events.addEventListener('click', () => this.actions.filterActor(actorOfKey(key)));
    const clear = h('button', { type: 'button', 'data-testid': 'detail-clear' }, 'clear selection');
    clear.addEventListener('click', () => this.actions.clear());
    return h('div', { class: 'actions' }, since, events, clear);
  }
}
