/** Where a command writes: human lines and tables, or one JSON document with --json. */
export class Output {
  constructor(readonly json: boolean) {}

  line(text: string) {
    process.stdout.write(text + '\n')
  }

  /** A remark beside the result: on stderr with --json, so that stdout stays one JSON document. */
  note(text: string) {
    if (this.json) process.stderr.write(text + '\n')
    else this.line(text)
  }

  data(value: unknown) {
    process.stdout.write(JSON.stringify(value, null, this.json ? 2 : 0) + '\n')
  }

  table(headers: string[], rows: string[][]) {
    const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
    const format = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
    this.line(format(headers))
    this.line(format(widths.map((w) => '-'.repeat(w))))
    for (const row of rows) this.line(format(row))
  }
}
