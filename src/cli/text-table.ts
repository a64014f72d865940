/**
 * Aligned text tables for the terminal (pure: cells in, lines out).
 *
 * Rules: columns are separated by two spaces; every cell is padded to its column's widest cell
 * (header included), on the right for text and on the left for a column marked `align: 'right'`
 * (numbers, sizes); the last column is never padded on the right, so no line ends in spaces.
 * Headers are printed as given (callers use upper case: NAME, SIZE). Cells are single-line:
 * a newline or tab inside one is shown as a space, so a row is always one line.
 */

export interface TableColumn<Row> {
  readonly header: string;
  readonly cell: (row: Row) => string;
  /** 'right' for numbers and sizes; default 'left'. */
  readonly align?: 'left' | 'right';
}

/** The lines of a table: a header line, then one line per row. */
export function formatTable<Row>(columns: readonly TableColumn<Row>[], rows: readonly Row[]): string[] {
  const cells = [
    columns.map((column) => column.header),
    ...rows.map((row) => columns.map((column) => singleLine(column.cell(row)))),
  ];
  return alignRows(
    cells,
    columns.map((column) => column.align ?? 'left'),
  );
}

/** "key  value" lines with the keys padded to the widest: a record shown as a two-column table. */
export function formatKeyValues(pairs: readonly (readonly [string, string])[]): string[] {
  return alignRows(
    pairs.map(([key, value]) => [key, singleLine(value)]),
    ['left', 'left'],
  );
}

function alignRows(cells: readonly (readonly string[])[], aligns: readonly ('left' | 'right')[]): string[] {
  const widths = aligns.map((_, column) => Math.max(0, ...cells.map((row) => (row[column] ?? '').length)));
  const last = aligns.length - 1;
  return cells.map((row) =>
    row
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        if (aligns[column] === 'right') return cell.padStart(width);
        return column === last ? cell : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd(),
  );
}

function singleLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ');
}
