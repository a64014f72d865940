/**
 * An xstate v5 machine definition as Graphviz DOT text: the statechart drawing, pure and
 * deterministic (the same definition gives the same text, byte for byte).
 *
 * Input: the JSON form of a definition (`JSON.parse(JSON.stringify(machine.definition))`, where
 * targets are "#<state id>"), optionally with `always` lists added, because xstate leaves
 * eventless transitions out of `definition`. `statechartDefinition(machine)` builds exactly that
 * from a live machine.
 *
 * What is drawn
 * - Atomic states: rounded boxes. Final states: a double border. History states: a small circle
 *   ("H", "H*"). Compound and parallel states: clusters (regions of a parallel state dashed).
 * - A black dot and an arrow into each compound state's initial child (and the root's).
 * - Transitions, labelled with the event type: delayed ones "after 500ms" (or the delay's name),
 *   eventless ones "always", onDone "done", guarded ones with "[guard]" (an unguarded one after
 *   guarded ones for the same event: "[else]"). Transitions between the
 *   same two nodes share one arrow, one line per transition, in definition order. Transitions
 *   without a target (actions only, or an explicit "ignore") are dashed self-loops.
 * - A transition of a compound state (the root too) whose target lies inside it comes from a
 *   small "any state" marker inside it; one whose target lies outside leaves the cluster's edge.
 * - A wildcard "*" transition without a target (the login's "log the unexpected event") is not
 *   an arrow but a line under the chart (or under the compound state's name) naming its actions.
 *
 * The contract with the page (src/inspect/statechart-svg.ts keeps it through to the SVG):
 * every state's node, and every compound state's cluster, has the id "state-<path>" (path: the
 * state keys below the root joined by dots, "fullFeature", "parent.child") and the class
 * "state" (plus "final", "history", "compound" or "parallel"). Initial markers have the class
 * "initial", "any state" markers "any", transitions "transition" (plus "internal" for those
 * without a target).
 */
import type { AnyStateMachine } from 'xstate';

/** A guard as the definition JSON carries it: a name, or `{type, params}`. */
export type GuardJson = string | { readonly type: string; readonly params?: unknown };

export interface TransitionJson {
  /** "#<state id>" of each target; absent or empty for a transition without a target. */
  readonly target?: readonly string[];
  readonly guard?: GuardJson;
  readonly actions?: readonly unknown[];
  readonly eventType: string;
  /** Delayed transitions: the delay in ms, or its name. */
  readonly delay?: number | string;
}

export interface StateNodeJson {
  readonly id: string;
  readonly key: string;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  readonly initial?: { readonly target: readonly string[] };
  readonly history?: false | 'shallow' | 'deep';
  readonly states?: Readonly<Record<string, StateNodeJson>>;
  /** Every transition of `on` (including delayed and onDone ones), in definition order. */
  readonly transitions?: readonly TransitionJson[];
  /** Used when `transitions` is absent. */
  readonly on?: Readonly<Record<string, readonly TransitionJson[]>>;
  /** Eventless transitions (not in xstate's `definition`; `statechartDefinition` adds them). */
  readonly always?: readonly TransitionJson[];
}

export type StatechartDefinition = StateNodeJson;

export interface StatechartDotOptions {
  /** Graph layout direction; top to bottom by default. */
  readonly rankdir?: 'TB' | 'LR';
}

/** The prefix of every state's SVG id: "state-<path>". */
export const STATE_ID_PREFIX = 'state-';

export function stateElementId(path: string): string {
  return `${STATE_ID_PREFIX}${path}`;
}

/**
 * The JSON definition of a live machine, with the `always` transitions xstate's `definition`
 * leaves out and guards that are functions (inline, and(), or(), not(), stateIn()) named.
 */
export function statechartDefinition(machine: AnyStateMachine): StatechartDefinition {
  return withLiveDetails(
    machine.root as unknown as LiveStateNode,
    JSON.parse(JSON.stringify(machine.definition)),
  );
}

/** Every state path below the root ("a", "b", "b.x"...), depth first in definition order. */
export function statePaths(definition: StatechartDefinition): string[] {
  const paths: string[] = [];
  const visit = (node: StateNodeJson, path: string): void => {
    for (const [key, child] of Object.entries(node.states ?? {})) {
      const childPath = path === '' ? key : `${path}.${key}`;
      paths.push(childPath);
      visit(child, childPath);
    }
  };
  visit(definition, '');
  return paths;
}

/** The event label of one transition: "EVENT", "after 500ms", "always", "done", with "[guard]". */
export function transitionLabel(transition: TransitionJson): string {
  const guard = transition.guard === undefined ? '' : ` [${guardLabel(transition.guard)}]`;
  return `${eventLabel(transition)}${guard}`;
}

export function statechartDot(definition: StatechartDefinition, options: StatechartDotOptions = {}): string {
  return new DotWriter(definition, options).write();
}

// ---------------------------------------------------------------------------------------------

const FONT = 'Helvetica,Arial,sans-serif';
const ROOT_PATH = '';

interface Node {
  readonly json: StateNodeJson;
  readonly path: string;
  readonly parent: Node | undefined;
  readonly children: readonly Node[];
}

interface Edge {
  readonly tail: string;
  readonly head: string;
  readonly ltail?: string;
  readonly lhead?: string;
  readonly internal: boolean;
  readonly labels: string[];
}

class DotWriter {
  private readonly root: Node;
  private readonly byId = new Map<string, Node>();
  private readonly byPath = new Map<string, Node>();
  /** Compound/parallel paths (root included) that need an "any state" marker. */
  private readonly anyMarkers = new Set<string>();
  /** Targetless transitions of compound states (root included), listed as notes. */
  private readonly notes = new Map<string, string[]>();
  private readonly edges: Edge[] = [];
  private readonly edgeIndex = new Map<string, Edge>();

  constructor(
    definition: StatechartDefinition,
    private readonly options: StatechartDotOptions,
  ) {
    this.root = this.build(definition, ROOT_PATH, undefined);
    this.collectEdges(this.root);
  }

  write(): string {
    const lines: string[] = [];
    lines.push(`digraph ${quote(this.root.json.key)} {`);
    lines.push(
      `  graph [compound=true, rankdir=${this.options.rankdir ?? 'TB'}, fontname=${quote(FONT)}, fontsize=12, ` +
        'bgcolor="transparent", nodesep=0.4, ranksep=0.45, pad=0.25];',
    );
    lines.push(
      `  node [fontname=${quote(FONT)}, fontsize=12, shape=box, style="rounded,filled", ` +
        'fillcolor="white", color="#444444", penwidth=1.2, margin="0.2,0.06"];',
    );
    lines.push(
      `  edge [fontname=${quote(FONT)}, fontsize=10, color="#555555", fontcolor="#333333", arrowsize=0.7];`,
    );
    const rootNotes = this.notes.get(ROOT_PATH);
    if (rootNotes !== undefined) {
      lines.push(`  label=${quote(rootNotes.join('\n'))};`);
      lines.push('  labelloc=b; labeljust=l; fontcolor="#555555"; fontsize=10;');
    }
    this.writeContents(this.root, '  ', lines);
    for (const edge of this.edges) lines.push(`  ${this.edgeLine(edge)}`);
    lines.push('}');
    return `${lines.join('\n')}\n`;
  }

  private build(json: StateNodeJson, path: string, parent: Node | undefined): Node {
    const children: Node[] = [];
    const node: Node = { json, path, parent, children };
    this.byId.set(json.id, node);
    this.byPath.set(path, node);
    for (const [key, child] of Object.entries(json.states ?? {})) {
      children.push(this.build(child, path === ROOT_PATH ? key : `${path}.${key}`, node));
    }
    return node;
  }

  private isCluster(node: Node): boolean {
    return node.children.length > 0 && (node.json.type === 'compound' || node.json.type === 'parallel');
  }

  /** The DOT name of a node, a cluster's marker or handle. Paths never start with "(". */
  private nodeName(node: Node): string {
    return node.path;
  }

  private initialName(node: Node): string {
    return node.path === ROOT_PATH ? '(initial)' : `(initial) ${node.path}`;
  }

  private anyName(node: Node): string {
    return node.path === ROOT_PATH ? '(any)' : `(any) ${node.path}`;
  }

  /** The node inside a cluster that arrows into or out of the cluster attach to. */
  private handleName(node: Node): string {
    return this.initialChild(node) === undefined ? `(handle) ${node.path}` : this.initialName(node);
  }

  private clusterName(node: Node): string {
    return `cluster_${node.path}`;
  }

  private initialChild(node: Node): Node | undefined {
    if (node.json.type !== 'compound' || node.children.length === 0) return undefined;
    const target = node.json.initial?.target[0];
    const resolved = target === undefined ? undefined : this.resolve(target);
    return resolved ?? node.children[0];
  }

  private resolve(target: string): Node | undefined {
    const id = target.startsWith('#') ? target.slice(1) : target;
    return this.byId.get(id);
  }

  private writeContents(node: Node, indent: string, lines: string[]): void {
    const initial = this.initialChild(node);
    if (initial !== undefined) {
      const markerId = node.path === ROOT_PATH ? 'initial' : `initial-${node.path}`;
      lines.push(
        `${indent}${quote(this.initialName(node))} [id=${quote(markerId)}, class="initial", shape=point, ` +
          'width=0.12, style=filled, fillcolor="#222222", color="#222222", label=""];',
      );
    } else if (this.isCluster(node)) {
      lines.push(
        `${indent}${quote(this.handleName(node))} [shape=point, style=invis, width=0.01, height=0.01, label=""];`,
      );
    }
    if (this.anyMarkers.has(node.path)) {
      const anyId = node.path === ROOT_PATH ? 'any' : `any-${node.path}`;
      lines.push(
        `${indent}${quote(this.anyName(node))} [id=${quote(anyId)}, class="any", shape=plaintext, ` +
          'style="", label="any state", fontsize=10, fontcolor="#666666"];',
      );
    }
    for (const child of node.children) {
      if (this.isCluster(child)) this.writeCluster(child, indent, lines);
      else lines.push(`${indent}${this.stateLine(child)}`);
    }
    if (initial !== undefined) {
      const head = this.entryPoint(initial, node);
      lines.push(
        `${indent}${quote(this.initialName(node))} -> ${quote(head.name)} [class="initial"` +
          `${head.lhead === undefined ? '' : `, lhead=${quote(head.lhead)}`}];`,
      );
    }
  }

  private writeCluster(node: Node, indent: string, lines: string[]): void {
    const inParallel = node.parent?.json.type === 'parallel';
    const classes = ['state', node.json.type === 'parallel' ? 'parallel' : 'compound'];
    const notes = this.notes.get(node.path);
    const label = notes === undefined ? node.json.key : [node.json.key, ...notes].join('\n');
    lines.push(`${indent}subgraph ${quote(this.clusterName(node))} {`);
    const inner = `${indent}  `;
    lines.push(`${inner}id=${quote(stateElementId(node.path))}; class=${quote(classes.join(' '))};`);
    lines.push(
      `${inner}label=${quote(label)}; labelloc=t; labeljust=l; style=${quote(inParallel ? 'rounded,dashed' : 'rounded')}; ` +
        'color="#666666"; penwidth=1.2; margin=12;',
    );
    this.writeContents(node, inner, lines);
    lines.push(`${indent}}`);
  }

  private stateLine(node: Node): string {
    const id = stateElementId(node.path);
    const name = quote(this.nodeName(node));
    switch (node.json.type) {
      case 'final':
        return `${name} [id=${quote(id)}, class="state final", label=${quote(node.json.key)}, peripheries=2];`;
      case 'history': {
        const deep = node.json.history === 'deep';
        return (
          `${name} [id=${quote(id)}, class="state history", label=${quote(deep ? 'H*' : 'H')}, ` +
          `shape=circle, width=0.3, fixedsize=true, fontsize=10, tooltip=${quote(node.json.key)}];`
        );
      }
      default:
        return `${name} [id=${quote(id)}, class="state", label=${quote(node.json.key)}];`;
    }
  }

  /** Where an arrow into `target` ends: the node itself, or a cluster's handle clipped at its edge. */
  private entryPoint(target: Node, tailInside: Node | undefined): { name: string; lhead?: string } {
    if (!this.isCluster(target)) return { name: this.nodeName(target) };
    const name = this.handleName(target);
    // Graphviz cannot clip at a cluster that holds the tail too.
    if (tailInside !== undefined && isDescendantOrSelf(tailInside, target)) return { name };
    return { name, lhead: this.clusterName(target) };
  }

  private collectEdges(node: Node): void {
    const transitions = node.json.transitions ?? Object.values(node.json.on ?? {}).flat();
    const always = (node.json.always ?? []).map((transition) => ({ ...transition, eventType: '' }));
    // An unguarded transition after guarded ones for the same event is their "else".
    const guarded = new Set<string>();
    for (const transition of [...transitions, ...always]) {
      const isElse = transition.guard === undefined && guarded.has(transition.eventType);
      if (transition.guard !== undefined) guarded.add(transition.eventType);
      this.addTransition(node, transition, isElse);
    }
    for (const child of node.children) this.collectEdges(child);
  }

  private addTransition(source: Node, transition: TransitionJson, isElse: boolean): void {
    const label = isElse ? `${transitionLabel(transition)} [else]` : transitionLabel(transition);
    const targets = (transition.target ?? [])
      .map((target) => this.resolve(target))
      .filter((target): target is Node => target !== undefined);
    const sourceIsCluster = this.isCluster(source) || source.path === ROOT_PATH;
    if (targets.length === 0) {
      if (sourceIsCluster) {
        const actions = (transition.actions ?? []).map(actionLabel).join(', ');
        const what = transition.eventType === '*' ? 'any other event (*)' : label;
        const line = `${what} in any state: ${actions === '' ? 'ignored' : actions}; the state stays`;
        this.notes.set(source.path, [...(this.notes.get(source.path) ?? []), line]);
        return;
      }
      this.pushEdge({ tail: this.nodeName(source), head: this.nodeName(source), internal: true }, label);
      return;
    }
    for (const target of targets) {
      if (!sourceIsCluster) {
        const head = this.entryPoint(target, source);
        this.pushEdge(
          { tail: this.nodeName(source), head: head.name, lhead: head.lhead, internal: false },
          label,
        );
      } else if (isDescendantOrSelf(target, source)) {
        this.anyMarkers.add(source.path);
        const head = this.entryPoint(target, target === source ? source : undefined);
        this.pushEdge(
          { tail: this.anyName(source), head: head.name, lhead: head.lhead, internal: false },
          label,
        );
      } else {
        const head = this.entryPoint(target, source);
        this.pushEdge(
          {
            tail: this.handleName(source),
            head: head.name,
            ltail: this.clusterName(source),
            lhead: head.lhead,
            internal: false,
          },
          label,
        );
      }
    }
  }

  private pushEdge(edge: Omit<Edge, 'labels'>, label: string): void {
    const key = JSON.stringify([edge.tail, edge.head, edge.ltail ?? '', edge.lhead ?? '', edge.internal]);
    const existing = this.edgeIndex.get(key);
    if (existing !== undefined) {
      if (!existing.labels.includes(label)) existing.labels.push(label);
      return;
    }
    const created: Edge = { ...edge, labels: [label] };
    this.edgeIndex.set(key, created);
    this.edges.push(created);
  }

  private edgeLine(edge: Edge): string {
    const attributes = [
      `class=${quote(edge.internal ? 'transition internal' : 'transition')}`,
      `label=${quote(edge.labels.join('\n'))}`,
    ];
    if (edge.internal) attributes.push('style=dashed');
    if (edge.ltail !== undefined) attributes.push(`ltail=${quote(edge.ltail)}`);
    if (edge.lhead !== undefined) attributes.push(`lhead=${quote(edge.lhead)}`);
    return `${quote(edge.tail)} -> ${quote(edge.head)} [${attributes.join(', ')}];`;
  }
}

function isDescendantOrSelf(node: Node, ancestor: Node): boolean {
  for (let current: Node | undefined = node; current !== undefined; current = current.parent) {
    if (current === ancestor) return true;
  }
  return false;
}

function eventLabel(transition: TransitionJson): string {
  const type = transition.eventType;
  if (type === '') return 'always';
  if (type.startsWith('xstate.after.')) {
    const delay = transition.delay ?? type.slice('xstate.after.'.length).split('.')[0];
    return typeof delay === 'number' || /^\d+$/.test(String(delay)) ? `after ${delay}ms` : `after ${delay}`;
  }
  if (type.startsWith('xstate.done.state.')) return 'done';
  for (const [prefix, word] of [
    ['xstate.done.actor.', 'done'],
    ['xstate.error.actor.', 'error'],
    ['xstate.snapshot.', 'snapshot'],
  ] as const) {
    if (type.startsWith(prefix)) return `${word}: ${type.slice(prefix.length)}`;
  }
  return type;
}

function guardLabel(guard: GuardJson): string {
  if (typeof guard === 'string') return guard;
  const params = guard.params;
  if (params === undefined || params === null || typeof params !== 'object') return guard.type;
  const values = Object.values(params).map((value) =>
    typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
      ? String(value)
      : JSON.stringify(value),
  );
  return `${guard.type}(${values.join(', ')})`;
}

function actionLabel(action: unknown): string {
  if (typeof action === 'string') return action;
  if (action !== null && typeof action === 'object' && 'type' in action) return String(action.type);
  return 'action';
}

/** A DOT double-quoted string; newlines become centered line breaks. */
function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

// --- reading the live machine -------------------------------------------------------------------

interface LiveTransition {
  readonly guard?: unknown;
}

interface LiveStateNode {
  readonly states: Readonly<Record<string, LiveStateNode>>;
  readonly always?: readonly LiveTransition[];
  readonly transitions: ReadonlyMap<string, readonly LiveTransition[]>;
}

type MutableJson = { -readonly [K in keyof StateNodeJson]: StateNodeJson[K] } & {
  states?: Record<string, MutableJson>;
  transitions?: TransitionJson[];
  always?: TransitionJson[];
};

function withLiveDetails(live: LiveStateNode, json: MutableJson): MutableJson {
  const liveTransitions = [...live.transitions.values()].flat();
  if (json.transitions !== undefined && json.transitions.length === liveTransitions.length) {
    json.transitions = json.transitions.map((transition, index) =>
      withGuard(transition, liveTransitions[index]?.guard),
    );
  }
  if (live.always !== undefined && live.always.length > 0) {
    const always = JSON.parse(JSON.stringify(live.always)) as TransitionJson[];
    json.always = always.map((transition, index) => withGuard(transition, live.always?.[index]?.guard));
  }
  for (const [key, child] of Object.entries(live.states)) {
    const childJson = json.states?.[key];
    if (childJson !== undefined) withLiveDetails(child, childJson);
  }
  return json;
}

function withGuard(transition: TransitionJson, liveGuard: unknown): TransitionJson {
  if (liveGuard === undefined) return transition;
  return { ...transition, guard: describeLiveGuard(liveGuard) };
}

function describeLiveGuard(guard: unknown): GuardJson {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const fn = guard as { name?: string; guards?: unknown[]; stateValue?: unknown };
    if (Array.isArray(fn.guards)) {
      const inner = fn.guards.map((g) => {
        const described = describeLiveGuard(g);
        return typeof described === 'string' ? described : guardLabel(described);
      });
      return `${fn.name || 'guard'}(${inner.join(', ')})`;
    }
    if (fn.stateValue !== undefined) return `in ${JSON.stringify(fn.stateValue)}`;
    return fn.name && fn.name !== 'guard' ? fn.name : 'guard';
  }
  if (guard !== null && typeof guard === 'object' && 'type' in guard) {
    const { type, params } = guard as { type: unknown; params?: unknown };
    return typeof params === 'function' ? String(type) : { type: String(type), params };
  }
  return 'guard';
}
