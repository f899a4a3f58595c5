import { humanBytes } from './format.js'

/**
 * One line of an upload progress bar, `width` columns at most:
 * `[=========>          ]  45% 1.2 MiB / 2.6 MiB  name`. Without a total (stdin) only the bytes.
 */
export function renderBar (done: number, total: number | undefined, label: string, width: number): string {
  const counts = total !== undefined && total > 0 ? `${humanBytes(done)} / ${humanBytes(total)}` : humanBytes(done)
  if (total === undefined || total <= 0) return clip(`${counts}  ${label}`, width)
  const ratio = Math.min(1, done / total)
  const pct = `${Math.floor(ratio * 100)}%`.padStart(4)
  const barWidth = Math.max(10, Math.min(40, width - counts.length - pct.length - 10))
  const filled = Math.floor(ratio * barWidth)
  const bar = ratio >= 1 ? '='.repeat(barWidth) : '='.repeat(filled) + '>' + ' '.repeat(barWidth - filled - 1)
  return clip(`[${bar}] ${pct} ${counts}  ${label}`, width)
}

function clip (s: string, width: number): string {
  return s.length <= width ? s : s.slice(0, Math.max(0, width - 1)) + '…'
}

/** Bytes sent per file from Kubo's `{"Name","Bytes"}` progress lines, summed over the upload. */
export class AddProgress {
  private readonly perFile = new Map<string, number>()
  private sum = 0

  /** Records a progress line (Bytes is the file's running total) and returns the upload's total so far. */
  update (name: string, bytes: number): number {
    this.sum += bytes - (this.perFile.get(name) ?? 0)
    this.perFile.set(name, bytes)
    return this.sum
  }

  get done (): number { return this.sum }
}

/** Draws a bar on a terminal stream, at most every `intervalMs`, and erases it when done. */
export class ProgressBar {
  private last = 0
  private drawn = false
  constructor (private readonly stream: { write: (s: string) => unknown, columns?: number }, private readonly total: number | undefined, private readonly intervalMs = 100) {}

  update (done: number, label: string, force = false): void {
    const t = Date.now()
    if (!force && t - this.last < this.intervalMs) return
    this.last = t
    const columns = this.stream.columns !== undefined && this.stream.columns >= 40 ? this.stream.columns : 80
    this.stream.write(`\r\x1b[2K${renderBar(done, this.total, label, columns - 1)}`)
    this.drawn = true
  }

  clear (): void {
    if (this.drawn) this.stream.write('\r\x1b[2K')
    this.drawn = false
  }
}
