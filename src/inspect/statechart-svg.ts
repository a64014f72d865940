/**
 * Draws a catalog machine as an SVG statechart, offline: statechart-dot.ts writes the DOT text and
 * Graphviz (compiled to WebAssembly, @viz-js/viz) lays it out in this process. One Graphviz
 * instance is created on first use and reused; each machine's SVG is cached (definitions are
 * fixed at module load).
 *
 * Each state's group has the id "state-<path>" (path with dots, "parent.child") and the class
 * "state", so a page can light it: `#state-fullFeature polygon, #state-fullFeature path`. The
 * returned text has no XML prologue, doctype or comments, so it can be inlined into HTML, and
 * Graphviz's "&#45;" escapes are written as plain "-" (ids read "state-x" in the text too).
 * Rendering is deterministic: the same definition gives the same SVG, byte for byte.
 */
import { instance, type Viz } from '@viz-js/viz';
import { catalogEntry, MACHINE_CATALOG, type MachineId } from './machine-catalog.js';
import { statechartDefinition, statechartDot } from './statechart-dot.js';

let vizPromise: Promise<Viz> | undefined;
const svgCache = new Map<MachineId, string>();

function viz(): Promise<Viz> {
  vizPromise ??= instance();
  return vizPromise;
}

/** The DOT text of a catalog machine. */
export function statechartDotFor(id: MachineId): string {
  const entry = catalogEntry(id);
  if (entry === undefined) throw new Error(`no machine "${id}" in the catalog`);
  return statechartDot(statechartDefinition(entry.machine));
}

/**
 * Lays out DOT text as inline-ready SVG; throws with Graphviz's messages if it fails. `label` is
 * the SVG's accessible name (role="img"); the graph's name by default.
 */
export async function renderDotSvg(dot: string, label?: string): Promise<string> {
  const result = (await viz()).render(dot, { format: 'svg', engine: 'dot' });
  if (result.status !== 'success') {
    const messages = result.errors.map((error) => `${error.level ?? 'error'}: ${error.message}`).join('; ');
    throw new Error(`graphviz could not draw the statechart: ${messages}`);
  }
  return inlineSvg(result.output, label);
}

/**
 * Strips the prologue, doctype and comments; un-escapes "&#45;" (safe once comments are gone);
 * names the drawing for assistive technology (role="img", aria-label).
 */
export function inlineSvg(svg: string, label?: string): string {
  const start = svg.indexOf('<svg');
  if (start < 0) throw new Error('graphviz output has no <svg> element');
  const body = svg
    .slice(start)
    .replace(/<!--[\s\S]*?-->\n?/g, '')
    .replace(/&#45;/g, '-')
    .trimEnd();
  const name = label === undefined ? /<title>([^<]*)<\/title>/.exec(body)?.[1] : escapeXml(label);
  return `${body.replace(/^<svg\b/, `<svg role="img" aria-label="${name ?? 'statechart'}"`)}\n`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export async function renderStatechartSvg(id: MachineId): Promise<string> {
  const cached = svgCache.get(id);
  if (cached !== undefined) return cached;
  const svg = await renderDotSvg(statechartDotFor(id), `${catalogEntry(id)?.title ?? id} statechart`);
  svgCache.set(id, svg);
  return svg;
}

/** Every catalog machine's SVG, in catalog order. */
export async function renderAllStatecharts(): Promise<Map<MachineId, string>> {
  const all = new Map<MachineId, string>();
  for (const entry of MACHINE_CATALOG) all.set(entry.id, await renderStatechartSvg(entry.id));
  return all;
}
