/**
 * The list of every machine instance at the chosen event, grouped by node, then by VDI. Each row
 * (data-testid "instance-row") carries its key, machine, node, VDI and state as data attributes;
 * a state of null (the instance holds none: not a participant) is data-state="" and reads
 * "not a participant". Clicking a row selects the instance.
 */
import type { InstanceState, MachineSummary } from '../inspector-api.js';
import { byTestId, h } from './dom.js';

const NO_VDI = '(no VDI)';

export class InstancesView {
  private readonly list: HTMLElement;
  private readonly count: HTMLElement;
  private readonly hideEnded: HTMLInputElement;
  private titles = new Map<string, string>();
  private last: { instances: readonly InstanceState[]; selectedKey: string | null } = {
    instances: [],
    selectedKey: null,
  };

  constructor(
    root: HTMLElement,
    private readonly onSelect: (key: string) => void,
  ) {
    this.list = byTestId('instances-list', root);
    this.count = byTestId('instances-count', root);
    this.hideEnded = byTestId<HTMLInputElement>('instances-hide-ended', root);
    this.hideEnded.addEventListener('change', () => this.show(this.last.instances, this.last.selectedKey));
  }

  setMachines(machines: readonly MachineSummary[]): void {
    this.titles = new Map(machines.map((machine) => [machine.id, machine.title]));
  }

  show(instances: readonly InstanceState[], selectedKey: string | null): void {
    this.last = { instances, selectedKey };
    const visible = this.hideEnded.checked ? instances.filter((instance) => !instance.ended) : instances;
    const ended = instances.filter((instance) => instance.ended).length;
    this.count.textContent = `${instances.length} instances (${instances.length - ended} running)`;
    const byNode = new Map<string, Map<string, InstanceState[]>>();
    for (const instance of visible) {
      const vdis = byNode.get(instance.node) ?? new Map<string, InstanceState[]>();
      byNode.set(instance.node, vdis);
      const vdi = instance.vdi ?? NO_VDI;
      vdis.set(vdi, [...(vdis.get(vdi) ?? []), instance]);
    }
    const scrollTop = this.list.scrollTop;
    const groups = [...byNode.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([node, vdis]) =>
        h(
          'li',
          { class: 'node-group', 'data-testid': 'node-group', 'data-node': node },
          h('h3', { class: 'group-title' }, node),
          h(
            'ul',
            { class: 'vdi-groups' },
            ...[...vdis.entries()]
              .sort(([a], [b]) => (a === NO_VDI ? 1 : b === NO_VDI ? -1 : a.localeCompare(b)))
              .map(([vdi, members]) =>
                h(
                  'li',
                  { class: 'vdi-group', 'data-testid': 'vdi-group', 'data-vdi': vdi === NO_VDI ? '' : vdi },
                  h('h4', { class: 'group-subtitle' }, vdi === NO_VDI ? NO_VDI : `VDI ${vdi}`),
                  h(
                    'ul',
                    { class: 'instance-rows' },
                    ...members.map((instance) => this.row(instance, selectedKey)),
                  ),
                ),
              ),
          ),
        ),
      );
    this.list.replaceChildren(
      ...(groups.length > 0 ? groups : [h('li', { class: 'empty' }, 'No machine instance at this event.')]),
    );
    this.list.scrollTop = scrollTop;
  }

  /** Scrolls the selected row into view (after a selection from elsewhere: a chart, the keyboard). */
  reveal(key: string): void {
    for (const row of Array.from(this.list.querySelectorAll<HTMLElement>('[data-testid="instance-row"]'))) {
      if (row.dataset.key === key) row.scrollIntoView({ block: 'nearest' });
    }
  }

  private row(instance: InstanceState, selectedKey: string | null): HTMLElement {
    const button = h(
      'button',
      {
        type: 'button',
        class: ['instance-row', instance.ended ? 'ended' : '', instance.key === selectedKey ? 'selected' : '']
          .filter(Boolean)
          .join(' '),
        'data-testid': 'instance-row',
        'data-key': instance.key,
        'data-machine': instance.machine,
        'data-node': instance.node,
        'data-vdi': instance.vdi ?? '',
        'data-state': instance.state ?? '',
        'data-since': instance.sinceSeq,
        'data-ended': String(instance.ended),
        'aria-pressed': instance.key === selectedKey,
        title: `${instance.key}\n${this.titles.get(instance.machine) ?? instance.machine}, since event #${instance.sinceSeq}${
          instance.lastEvent ? ` (${instance.lastEvent})` : ''
        }`,
      },
      h('span', { class: 'instance-label' }, instance.label),
      h('span', { class: 'instance-machine' }, instance.machine),
      h(
        'span',
        { class: instance.state === null ? 'state-badge none' : 'state-badge' },
        instance.state ?? 'not a participant',
      ),
    );
    button.addEventListener('click', () => this.onSelect(instance.key));
    return h('li', {}, button);
  }
}
