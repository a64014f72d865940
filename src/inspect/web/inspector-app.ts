/**
 * The inspector page: loads the log's meta and the machine catalog, draws every machine's
 * statechart, and shows every machine instance's state at the event the timeline chose (the
 * projection's /api/snapshot), with the coherence matrix and the event table beside it. A live
 * source (meta.live) is followed through /api/stream: the timeline stays on the newest event
 * unless the user paused or moved it. Everything comes from the page's own origin.
 *
 * The app root (data-testid "app") says data-state="loading" | "ready" | "error" and, once a
 * snapshot is on screen, data-rendered-seq: the event it shows.
 */
import type { LogEvent } from '../../core/event.js';
import type { InspectorMeta, MachineSummary, ProjectionSnapshot, ViolationMark } from '../inspector-api.js';
import { CoherenceView } from './coherence-view.js';
import { DetailView } from './detail-view.js';
import { byTestId, h, isTyping } from './dom.js';
import { EventsView } from './events-view.js';
import { formatTime } from './format.js';
import {
  abortableSleep,
  type FollowStatus,
  InspectorClient,
  InspectorRequestError,
} from './inspector-data.js';
import { InstancesView } from './instances-view.js';
import { SnapshotLoader } from './snapshot-loader.js';
import { StatechartCard } from './statechart-view.js';
import { nextViolation, previousViolation, Timeline } from './timeline.js';

const META_REFRESH_MS = 1500;
const LIVE_BATCH_MS = 50;

function describeError(error: unknown): string {
  if (error instanceof InspectorRequestError) return error.message;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

class InspectorApp {
  private readonly app = byTestId('app');
  private readonly client = new InspectorClient(new URL('.', location.href));
  private meta!: InspectorMeta;
  private machines = new Map<string, MachineSummary>();
  private readonly charts = new Map<string, StatechartCard>();
  private timeline!: Timeline;
  private snapshot: ProjectionSnapshot | null = null;
  private selectedKey: string | null = null;
  private playAbort: AbortController | null = null;
  private metaTimer: ReturnType<typeof setTimeout> | undefined;
  private liveQueue: LogEvent[] = [];
  private liveFlush: ReturnType<typeof setTimeout> | undefined;
  private readonly follow = new AbortController();

  private readonly instances = new InstancesView(byTestId('instances'), (key) => this.select(key));
  private readonly coherence = new CoherenceView(byTestId('coherence'));
  private readonly detail = new DetailView(byTestId('instance-detail'), {
    jump: (seq) => this.jump(seq),
    filterActor: (actor) => this.events.setFilters({ actor }),
    clear: () => this.select(null),
  });
  private readonly events = new EventsView(
    byTestId('events'),
    this.client,
    (seq) => this.jump(seq),
    (error) => this.showError(error),
  );
  private readonly loader = new SnapshotLoader(
    this.client,
    (snapshot) => this.render(snapshot),
    (error, seq) => this.showError(new Error(`the state at event ${seq}: ${describeError(error)}`)),
  );

  async start(): Promise<void> {
    this.wireControls();
    try {
      const [meta, machines] = await Promise.all([this.client.meta(), this.client.machines()]);
      this.meta = meta;
      this.machines = new Map(machines.map((machine) => [machine.id, machine]));
      this.timeline = new Timeline(meta.firstSeq, meta.lastSeq, meta.live);
      this.showMeta();
      this.instances.setMachines(machines);
      this.coherence.setStates(this.machines.get('participant')?.states ?? []);
      this.drawCharts(machines);
      this.events.setViolations(meta.violations.map((mark) => mark.seq));
      const eventsLoaded = this.events.reload();
      if (meta.live) this.followStream();
      else this.setLiveStatus('recorded', 'recorded log');
      this.renderTimeline();
      await this.loader.request(this.timeline.seq);
      await eventsLoaded;
      this.app.dataset.state = 'ready';
    } catch (error) {
      this.app.dataset.state = 'error';
      this.showError(error);
    }
  }

  // ---- loading and drawing

  private showMeta(): void {
    document.title = `Collie inspector · ${this.meta.title}`;
    byTestId('source-title').textContent =
      `${this.meta.title} (${this.meta.live ? 'live' : this.meta.source})`;
    const facts = byTestId('source-header');
    const header = this.meta.header;
    const chips: HTMLElement[] = [];
    if (header !== null && typeof header === 'object') {
      for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
        if (['string', 'number', 'boolean'].includes(typeof value) && !['format', 'version'].includes(name)) {
          chips.push(h('span', { 'data-name': name }, `${name} ${String(value)}`));
        }
      }
    }
    facts.replaceChildren(...chips);
  }

  private drawCharts(machines: readonly MachineSummary[]): void {
    const grid = byTestId('chart-grid');
    for (const machine of machines) {
      const card = new StatechartCard(machine, () => {
        const key = card.element.dataset.instance;
        if (key) this.select(key);
      });
      this.charts.set(machine.id, card);
      grid.appendChild(card.element);
      this.client.machineSvg(machine.id).then(
        (svg) => {
          card.setSvg(svg);
          if (this.snapshot) this.renderCharts(this.snapshot);
        },
        (error: unknown) => {
          card.showError(describeError(error));
          this.showError(error);
        },
      );
    }
  }

  private render(snapshot: ProjectionSnapshot): void {
    this.snapshot = snapshot;
    this.instances.show(snapshot.instances, this.selectedKey);
    this.renderCharts(snapshot);
    this.coherence.show(snapshot.coherence);
    this.renderDetail();
    this.events.setCurrent(snapshot.seq);
    byTestId('timeline-time').textContent = `t = ${formatTime(snapshot.t)}`;
    this.app.dataset.renderedSeq = String(snapshot.seq);
  }

  private renderCharts(snapshot: ProjectionSnapshot): void {
    for (const [id, card] of this.charts) {
      card.show(
        snapshot.instances.filter((instance) => instance.machine === id),
        this.selectedKey,
      );
    }
  }

  private renderDetail(): void {
    const instance = this.snapshot?.instances.find((candidate) => candidate.key === this.selectedKey);
    this.detail.show(this.selectedKey, instance, this.machines);
  }

  private select(key: string | null): void {
    this.selectedKey = key;
    if (this.snapshot) {
      this.instances.show(this.snapshot.instances, key);
      this.renderCharts(this.snapshot);
    }
    this.renderDetail();
    if (key === null) return;
    this.instances.reveal(key);
    const machine = this.snapshot?.instances.find((instance) => instance.key === key)?.machine;
    const card = machine ? this.charts.get(machine) : undefined;
    card?.element.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  // ---- the timeline

  private show(seq: number): Promise<void> {
    this.renderTimeline();
    return this.loader.request(seq);
  }

  private jump(seq: number): void {
    this.stopPlaying();
    void this.show(this.timeline.jump(seq));
  }

  private step(delta: number): void {
    this.stopPlaying();
    void this.show(this.timeline.step(delta));
  }

  private toHead(): void {
    this.stopPlaying();
    void this.show(this.timeline.head());
  }

  private jumpToViolation(direction: 1 | -1): void {
    const violations = this.meta.violations;
    const mark =
      direction === 1
        ? nextViolation(violations, this.timeline.seq)
        : previousViolation(violations, this.timeline.seq);
    if (mark) this.jump(mark.seq);
  }

  private async play(): Promise<void> {
    if (this.timeline.playing) return;
    if (this.timeline.atHead && !this.meta.live) this.timeline.jump(this.timeline.first);
    this.timeline.playing = true;
    this.timeline.following = false;
    const controller = new AbortController();
    this.playAbort = controller;
    this.renderTimeline();
    while (this.timeline.playing && !controller.signal.aborted) {
      if (!this.timeline.advance()) {
        // The end of a recording; live, playing catches up with the head and follows it.
        if (this.meta.live) this.timeline.head();
        this.timeline.playing = false;
        break;
      }
      await this.show(this.timeline.seq);
      await abortableSleep(this.playDelayMs(), controller.signal);
    }
    if (this.playAbort === controller) this.playAbort = null;
    this.renderTimeline();
  }

  private stopPlaying(): void {
    this.timeline.playing = false;
    this.playAbort?.abort();
    this.playAbort = null;
  }

  private pause(): void {
    this.stopPlaying();
    this.timeline.following = false;
    this.renderTimeline();
  }

  private playDelayMs(): number {
    return Number(byTestId<HTMLSelectElement>('timeline-speed').value) || 200;
  }

  private renderTimeline(): void {
    const { first, last, seq, playing, following } = this.timeline;
    const slider = byTestId<HTMLInputElement>('timeline-slider');
    slider.min = String(first);
    slider.max = String(last);
    slider.value = String(seq);
    const seqOutput = byTestId('timeline-seq');
    seqOutput.textContent = String(seq);
    seqOutput.dataset.seq = String(seq);
    byTestId('timeline-head-seq').textContent = String(last);
    byTestId<HTMLInputElement>('timeline-jump-input').placeholder = String(seq);
    byTestId<HTMLButtonElement>('timeline-play').disabled = playing || (this.meta.live && following);
    byTestId<HTMLButtonElement>('timeline-pause').disabled = !playing && !following;
    byTestId<HTMLButtonElement>('timeline-back').disabled = seq <= first;
    byTestId<HTMLButtonElement>('timeline-first').disabled = seq <= first;
    byTestId<HTMLButtonElement>('timeline-forward').disabled = seq >= last;
    byTestId<HTMLButtonElement>('timeline-head').disabled = seq >= last && (following || !this.meta.live);
    const follow = byTestId('timeline-follow');
    follow.textContent = this.meta.live
      ? following
        ? 'following the newest event'
        : 'paused (End: follow)'
      : '';
    follow.classList.toggle('on', following);
    follow.dataset.following = String(following);
    this.renderViolations();
  }

  private renderViolations(): void {
    const violations = this.meta.violations;
    const { first, last, seq } = this.timeline;
    const jump = byTestId<HTMLButtonElement>('violation-jump');
    jump.disabled = violations.length === 0;
    byTestId<HTMLButtonElement>('violation-prev').disabled = violations.length === 0;
    jump.textContent =
      violations.length === 0 ? 'no violation' : `⚠ Next violation (${violations.length} in all)`;
    const marks = byTestId('violation-marks');
    if (marks.dataset.count !== String(violations.length) || marks.dataset.range !== `${first}-${last}`) {
      marks.dataset.count = String(violations.length);
      marks.dataset.range = `${first}-${last}`;
      marks.replaceChildren(
        ...violations.map((mark) => {
          const button = h('button', {
            type: 'button',
            class: 'violation-mark',
            'data-testid': 'violation-mark',
            'data-seq': mark.seq,
            title: `event ${mark.seq}: ${mark.checker}: ${mark.message}`,
            'aria-label': `violation at event ${mark.seq}`,
          });
          // CSSOM, not a style attribute: the page's CSP allows no inline style markup.
          button.style.left = `${last > first ? ((mark.seq - first) / (last - first)) * 100 : 0}%`;
          button.addEventListener('click', () => this.jump(mark.seq));
          return button;
        }),
      );
    }
    const here = violations.filter((mark: ViolationMark) => mark.seq === seq);
    const current = byTestId('violation-current');
    current.hidden = here.length === 0;
    current.replaceChildren(
      ...here.map((mark) => {
        const line = h('span', { 'data-checker': mark.checker }, `⚠ ${mark.checker}: ${mark.message}`);
        // The events that show it (the checker's window): jump to where it happened.
        const [from, to] = mark.evidenceSeqs ?? [];
        if (from === undefined || to === undefined) return line;
        const evidence = (label: string, target: number) => {
          const button = h('button', { type: 'button', 'data-testid': 'violation-evidence' }, label);
          button.dataset.seq = String(target);
          button.addEventListener('click', () => this.jump(target));
          return button;
        };
        return h(
          'span',
          {},
          line,
          ' ',
          evidence(`evidence from event ${from}`, from),
          ' ',
          evidence(`to event ${to}`, to),
        );
      }),
    );
  }

  // ---- live

  private followStream(): void {
    this.setLiveStatus('connecting', 'live: connecting');
    this.client
      .follow((event) => this.onLiveEvent(event), this.follow.signal, {
        after: this.meta.lastSeq,
        onStatus: (status) => this.onFollowStatus(status),
      })
      .catch((error: unknown) => {
        this.setLiveStatus('error', 'live: stream failed');
        this.showError(error);
      });
  }

  private onFollowStatus(status: FollowStatus): void {
    if (status.state === 'open') this.setLiveStatus('live', 'live');
    else if (status.state === 'connecting' && status.attempt === 1)
      this.setLiveStatus('connecting', 'live: connecting');
    else if (status.state === 'retrying') {
      this.setLiveStatus('retrying', `live: reconnecting in ${Math.round(status.delayMs / 100) / 10} s`);
    } else if (status.state === 'skipped')
      console.warn(`inspector: skipped a stream message: ${status.reason}`);
  }

  /** Live events come in bursts: they are handled together, at most every LIVE_BATCH_MS. */
  private onLiveEvent(event: LogEvent): void {
    this.liveQueue.push(event);
    if (this.liveFlush === undefined) {
      this.liveFlush = setTimeout(() => this.flushLive(), LIVE_BATCH_MS); // determinism-ok: browser page
    }
  }

  private flushLive(): void {
    this.liveFlush = undefined;
    const batch = this.liveQueue;
    this.liveQueue = [];
    const newest = batch.at(-1);
    if (newest === undefined) return;
    this.timeline.setBounds(this.timeline.first, Math.max(this.timeline.last, newest.seq));
    this.events.onLiveEvents(batch);
    if (this.timeline.following) void this.show(this.timeline.seq);
    else this.renderTimeline();
    this.scheduleMetaRefresh();
  }

  /** Violations and the ring's first event change while live: re-read meta now and then. */
  private scheduleMetaRefresh(): void {
    if (this.metaTimer !== undefined) return;
    this.metaTimer = setTimeout(() => this.refreshMeta(), META_REFRESH_MS); // determinism-ok: browser page
  }

  private refreshMeta(): void {
    this.client.meta().then(
      (meta) => {
        this.metaTimer = undefined;
        const violationsChanged = meta.violations.length !== this.meta.violations.length;
        this.meta = meta;
        this.timeline.setBounds(meta.firstSeq, Math.max(this.timeline.last, meta.lastSeq));
        if (violationsChanged) this.events.setViolations(meta.violations.map((mark) => mark.seq));
        if (this.timeline.following) void this.show(this.timeline.seq);
        else this.renderTimeline();
      },
      (error: unknown) => {
        this.metaTimer = undefined;
        this.showError(error);
      },
    );
  }

  private setLiveStatus(status: string, text: string): void {
    const element = byTestId('live-status');
    element.dataset.status = status;
    element.textContent = text;
  }

  // ---- controls

  private wireControls(): void {
    const click = (testId: string, action: () => void): void => {
      byTestId(testId).addEventListener('click', action);
    };
    click('timeline-first', () => this.jump(this.timeline.first));
    click('timeline-back', () => this.step(-1));
    click('timeline-play', () => void this.play());
    click('timeline-pause', () => this.pause());
    click('timeline-forward', () => this.step(1));
    click('timeline-head', () => this.toHead());
    click('violation-jump', () => this.jumpToViolation(1));
    click('violation-prev', () => this.jumpToViolation(-1));
    click('error-close', () => {
      byTestId('error-banner').hidden = true;
    });
    click('help-toggle', () => this.toggleHelp());
    byTestId<HTMLInputElement>('timeline-slider').addEventListener('input', (event) => {
      this.jump(Number((event.target as HTMLInputElement).value));
    });
    byTestId('timeline-jump-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = byTestId<HTMLInputElement>('timeline-jump-input');
      if (input.value.trim() !== '') this.jump(Number(input.value));
      input.value = '';
    });
    document.addEventListener('keydown', (event) => this.onKey(event));
  }

  private toggleHelp(): void {
    const help = byTestId('help');
    help.hidden = !help.hidden;
    byTestId('help-toggle').setAttribute('aria-expanded', String(!help.hidden));
  }

  /** The page's keyboard shortcuts (docs/inspector.md), by KeyboardEvent.key. */
  private shortcut(event: KeyboardEvent): (() => void) | undefined {
    const actions: Record<string, () => void> = {
      ArrowLeft: () => this.step(event.shiftKey ? -10 : -1),
      ArrowRight: () => this.step(event.shiftKey ? 10 : 1),
      Home: () => this.jump(this.timeline.first),
      End: () => this.toHead(),
      ' ': () => {
        if (this.timeline.playing || (this.meta.live && this.timeline.following)) this.pause();
        else void this.play();
      },
      v: () => this.jumpToViolation(1),
      V: () => this.jumpToViolation(-1),
      g: () => byTestId<HTMLInputElement>('timeline-jump-input').focus(),
      '/': () => byTestId<HTMLInputElement>('filter-text').focus(),
      '?': () => this.toggleHelp(),
      Escape: () => this.select(null),
    };
    return Object.hasOwn(actions, event.key) ? actions[event.key] : undefined;
  }

  private onKey(event: KeyboardEvent): void {
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target) || !this.timeline) return;
    const action = this.shortcut(event);
    if (action === undefined) return;
    event.preventDefault();
    action();
  }

  private showError(error: unknown): void {
    const text = describeError(error);
    console.error(`inspector: ${text}`);
    byTestId('error-text').textContent = text;
    byTestId('error-banner').hidden = false;
  }
}

void new InspectorApp().start();
