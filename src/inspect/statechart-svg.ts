/**
 * STUB (being written): draws a catalog machine as an SVG statechart. Each state's group has the
 * id "state-<path>" (path with dots, "parent.child") and the class "state", so a page can light it.
 */
import type { MachineId } from './machine-catalog.js';

export async function renderStatechartSvg(id: MachineId): Promise<string> {
  return `<svg xmlns="http://www.w3.org/2000/svg"><text>${id}</text></svg>`;
}
