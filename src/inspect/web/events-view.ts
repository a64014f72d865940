/**
 * The event table: the log's events matching the filters (actor, type, VDI, free text: the
 * server's /api/events filters), oldest first, loaded page by page; live events are appended as
 * they arrive. The chosen event's row is marked `current`, later rows `future`; a violation's row
 * `violation`. Clicking a row moves the timeline there. Rows: data-testid "event-row", data-seq.
 */
import type { LogEvent } from '../../core/event.js';
import type { EventQuery } from '../inspector-api.js';
import { byTestId, h } from './dom.js';
import { formatTime } from './format.js';
import type { InspectorClient } from './inspector-data.js';

const PAGE_SIZE = 500;
/** Rows loaded before "load more" is offered, and kept at most while live events come in. */
const INITIAL_ROWS = 2000;
const MAX_ROWS = 5000;
const DATA_PREVIEW = 200;
const FILTER_DELAY_MS = 250;

export interface EventFilters {
  actor: string;
  type: string;
  vdi: string;
  text: string;
}

const FILTER_NAMES = ['actor', 'type', 'vdi', 'text'] as const;

function preview(data: unknown): string {
  if (data === undefined || data === null) return '';
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  return text.length > DATA_PREVIEW ? `${text.slice(0, DATA_PREVIEW - 1)}…` : text;
}

export class EventsView {
  private readonly table: HTMLElement;
  private readonly scroller: HTMLElement;
  private readonly count: HTMLElement;
  private readonly more: HTMLButtonElement;
  private readonly inputs: Record<(typeof FILTER_NAMES)[number], HTMLInputElement>;
  private readonly rows = new Map<number, HTMLTableRowElement>();
  private filters: EventFilters = { actor: '', type: '', vdi: '', text: '' };
  /** Every matching event with seq <= loadedThrough is in the table (up to the row cap). */
  private loadedThrough = 0;
  /** False while older pages remain beyond loadedThrough: live events wait for "load more". */
  private complete = false;
  private generation = 0;
  /** The generation whose pages are being loaded, or -1. */
  private loading = -1;
  /** A live event came while pages were loading: fetch again once they are in. */
  private missed = false;
  private current = 0;
  private violations = new Set<number>();
  private filterTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    root: HTMLElement,
    private readonly client: InspectorClient,
    private readonly onJump: (seq: number) => void,
    private readonly onError: (error: unknown) => void,
  ) {
    this.table = byTestId('events-body', root);
    this.scroller = byTestId('events-scroll', root);
    this.count = byTestId('events-count', root);
    this.more = byTestId<HTMLButtonElement>('events-more', root);
    this.inputs = {
      actor: byTestId<HTMLInputElement>('filter-actor', root),
      type: byTestId<HTMLInputElement>('filter-type', root),
      vdi: byTestId<HTMLInputElement>('filter-vdi', root),
      text: byTestId<HTMLInputElement>('filter-text', root),
    };
    for (const name of FILTER_NAMES) {
      this.inputs[name].addEventListener('input', () => this.filtersEdited());
    }
    byTestId('events-filters', root).addEventListener('submit', (event) => {
      event.preventDefault();
      this.applyFilters();
    });
    byTestId('filter-clear', root).addEventListener('click', () => this.setFilters({}));
    this.more.addEventListener('click', () => {
      void this.loadPages(this.generation, INITIAL_ROWS);
    });
    this.table.addEventListener('click', (event) => {
      const row = (event.target as Element | null)?.closest<HTMLElement>('tr[data-seq]');
      if (row) this.onJump(Number(row.dataset.seq));
    });
  }

  /** Sets some filters (the others cleared) and reloads, e.g. "events of this actor". */
  setFilters(filters: Partial<EventFilters>): void {
    for (const name of FILTER_NAMES) this.inputs[name].value = filters[name] ?? '';
    this.applyFilters();
  }

  setViolations(seqs: readonly number[]): void {
    this.violations = new Set(seqs);
    for (const [seq, row] of this.rows) row.classList.toggle('violation', this.violations.has(seq));
  }

  /** Empties the table and loads the first pages of matching events. */
  async reload(): Promise<void> {
    this.generation++;
    this.rows.clear();
    this.table.replaceChildren();
    this.loadedThrough = 0;
    this.complete = false;
    this.updateCount();
    await this.loadPages(this.generation, INITIAL_ROWS);
  }

  /** Live events, in seq order: appended at once when unfiltered, otherwise fetched through the server's filters. */
  onLiveEvents(events: readonly LogEvent[]): void {
    const fresh = events.filter((event) => event.seq > this.loadedThrough);
    const first = fresh[0];
    const last = fresh.at(-1);
    if (first === undefined || last === undefined) return;
    if (this.loading === this.generation) {
      this.missed = true;
      return;
    }
    // Older pages still wait for "load more": the live events come after them.
    if (!this.complete) return;
    if (!this.hasFilters() && first.seq === this.loadedThrough + 1) {
      this.appendRows(fresh);
      this.loadedThrough = last.seq;
      this.updateCount();
      return;
    }
    this.catchUp();
  }

  /** Marks the chosen event's row and the rows after it, and scrolls the chosen row into view. */
  setCurrent(seq: number): void {
    this.current = seq;
    for (const [rowSeq, row] of this.rows) {
      row.classList.toggle('current', rowSeq === seq);
      row.classList.toggle('future', rowSeq > seq);
    }
    const row = this.rows.get(seq);
    if (row) this.scrollToRow(row);
  }

  private hasFilters(): boolean {
    return FILTER_NAMES.some((name) => this.filters[name] !== '');
  }

  private filtersEdited(): void {
    clearTimeout(this.filterTimer);
    this.filterTimer = setTimeout(() => this.applyFilters(), FILTER_DELAY_MS); // determinism-ok: browser page
  }

  private applyFilters(): void {
    clearTimeout(this.filterTimer);
    const next: EventFilters = {
      actor: this.inputs.actor.value.trim(),
      type: this.inputs.type.value.trim(),
      vdi: this.inputs.vdi.value.trim(),
      text: this.inputs.text.value.trim(),
    };
    if (FILTER_NAMES.every((name) => next[name] === this.filters[name]) && this.rows.size > 0) return;
    this.filters = next;
    byTestId('events').classList.toggle('filtered', this.hasFilters());
    void this.reload();
  }

  private query(after: number, limit: number): EventQuery {
    return { after, limit, ...this.filters };
  }

  /** Loads pages after loadedThrough until budget rows came or the log's end was reached. */
  private async loadPages(generation: number, budget: number): Promise<void> {
    this.loading = generation;
    this.more.disabled = true;
    let loaded = 0;
    try {
      while (loaded < budget) {
        const page = await this.client.events(this.query(this.loadedThrough, PAGE_SIZE));
        if (generation !== this.generation) return;
        this.appendRows(page.events);
        loaded += page.events.length;
        const last = page.events.at(-1)?.seq ?? 0;
        if (page.events.length < PAGE_SIZE) {
          this.loadedThrough = Math.max(this.loadedThrough, last, page.lastSeq);
          this.complete = true;
          break;
        }
        this.loadedThrough = last;
      }
    } catch (error) {
      if (generation === this.generation) this.onError(error);
    } finally {
      if (generation === this.generation) {
        this.loading = -1;
        this.more.hidden = this.complete;
        this.more.disabled = false;
        this.updateCount();
        this.setCurrent(this.current);
        if (this.missed && this.complete) this.catchUp();
      }
    }
  }

  /** Fetches what matched since loadedThrough; while a load runs, once more after it. */
  private catchUp(): void {
    this.missed = false;
    if (this.loading === this.generation) {
      this.missed = true;
      return;
    }
    void this.loadPages(this.generation, MAX_ROWS);
  }

  private appendRows(events: readonly LogEvent[]): void {
    const fragment = document.createDocumentFragment();
    for (const event of events) {
      if (this.rows.has(event.seq)) continue;
      const row = h(
        'tr',
        {
          'data-testid': 'event-row',
          'data-seq': event.seq,
          class: [
            event.seq === this.current ? 'current' : '',
            event.seq > this.current ? 'future' : '',
            this.violations.has(event.seq) ? 'violation' : '',
          ]
            .filter(Boolean)
            .join(' '),
        },
        h('td', { class: 'num' }, String(event.seq)),
        h('td', { class: 'num' }, formatTime(event.t)),
        h('td', { class: 'actor' }, event.actor),
        h('td', { class: 'type' }, event.type),
        h('td', { class: 'data', title: JSON.stringify(event.data) ?? '' }, preview(event.data)),
      );
      this.rows.set(event.seq, row);
      fragment.appendChild(row);
    }
    this.table.appendChild(fragment);
    // Live: keep the newest MAX_ROWS.
    while (this.rows.size > MAX_ROWS) {
      const oldest = this.rows.keys().next().value;
      if (oldest === undefined) break;
      this.rows.get(oldest)?.remove();
      this.rows.delete(oldest);
    }
  }

  private updateCount(): void {
    const filtered = this.hasFilters() ? ' matching' : '';
    this.count.textContent = `${this.rows.size}${filtered} events${this.complete ? '' : ' (more to load)'}`;
    this.count.dataset.count = String(this.rows.size);
  }

  /** Brings the row into view (centred) when it is out of it; a visible row stays where it is. */
  private scrollToRow(row: HTMLElement): void {
    const header = this.scroller.querySelector('thead')?.getBoundingClientRect().height ?? 0;
    const top = row.offsetTop;
    const bottom = top + row.offsetHeight;
    const visible =
      top - header >= this.scroller.scrollTop &&
      bottom <= this.scroller.scrollTop + this.scroller.clientHeight;
    if (!visible) this.scroller.scrollTop = Math.max(0, top - (this.scroller.clientHeight + header) / 2);
  }
}
