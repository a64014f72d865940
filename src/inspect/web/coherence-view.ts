/**
 * The per-VDI coherence matrix at the chosen event: one table per VDI, a row per node that took
 * part, a column per participant state (and one for "not a participant"); the node's column holds
 * a dot. The row's summary cell (data-testid "coherence-cell", data-vdi, data-node, data-state;
 * data-state="" when the node is not a participant) names the state in words.
 */
import type { CoherenceRow } from '../inspector-api.js';
import { byTestId, h } from './dom.js';

export const NOT_A_PARTICIPANT = 'not a participant';

export class CoherenceView {
  private readonly body: HTMLElement;
  private states: readonly string[] = [];

  constructor(root: HTMLElement) {
    this.body = byTestId('coherence-body', root);
  }

  /** The participant machine's states, in definition order: the matrix's columns. */
  setStates(states: readonly string[]): void {
    this.states = states;
  }

  show(rows: readonly CoherenceRow[]): void {
    if (rows.length === 0) {
      this.body.replaceChildren(
        h('p', { class: 'empty' }, 'No VDI has coherence participants at this event.'),
      );
      return;
    }
    this.body.replaceChildren(...rows.map((row) => this.table(row)));
  }

  private table(row: CoherenceRow): HTMLElement {
    // A state the catalog does not list (a newer log) still gets its column.
    const columns = [...this.states];
    for (const cell of row.cells) {
      if (cell.participant !== null && !columns.includes(cell.participant)) columns.push(cell.participant);
    }
    const header = h(
      'tr',
      {},
      h('th', { scope: 'col' }, 'node'),
      h('th', { scope: 'col' }, 'state'),
      ...columns.map((state) => h('th', { scope: 'col', class: 'matrix-col' }, state)),
      h('th', { scope: 'col', class: 'matrix-col' }, NOT_A_PARTICIPANT),
    );
    const body = row.cells.map((cell) =>
      h(
        'tr',
        { 'data-testid': 'coherence-row', 'data-node': cell.node },
        h('th', { scope: 'row' }, cell.node),
        h(
          'td',
          {
            class: cell.participant === null ? 'coherence-cell none' : 'coherence-cell',
            'data-testid': 'coherence-cell',
            'data-vdi': row.vdi,
            'data-node': cell.node,
            'data-state': cell.participant ?? '',
          },
          cell.participant ?? NOT_A_PARTICIPANT,
        ),
        ...[...columns, null].map((state) =>
          h(
            'td',
            { class: state === cell.participant ? 'matrix-dot on' : 'matrix-dot' },
            state === cell.participant ? '●' : '',
          ),
        ),
      ),
    );
    return h(
      'table',
      { class: 'coherence-table', 'data-testid': 'coherence-table', 'data-vdi': row.vdi },
      h('caption', {}, `VDI ${row.vdi}`),
      h('thead', {}, header),
      h('tbody', {}, ...body),
    );
  }
}
