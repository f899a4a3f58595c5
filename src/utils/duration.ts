const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * Parses a Go-style duration (`"300ms"`, `"30s"`, `"1h30m"`, `"0"`), the syntax of Kubo's and
 * IPFS Cluster's config files, into milliseconds. Throws on anything else.
 */
export function parseDuration (value: string): number {
  const s = value.trim()
  if (s === '0') return 0
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y
  let total = 0
  let pos = 0
  while (pos < s.length) {
    re.lastIndex = pos
    const m = re.exec(s)
    if (m === null) throw new Error(`invalid duration "${value}" (use e.g. 500ms, 30s, 2m, 1h30m)`)
    total += Number(m[1]) * (UNITS[m[2] as string] as number)
    pos = re.lastIndex
  }
  if (s.length === 0) throw new Error('invalid duration "" (use e.g. 500ms, 30s, 2m, 1h30m)')
  return total
}

/** Formats milliseconds as a Go-style duration, the inverse of parseDuration for whole units. */
export function formatDuration (ms: number): string {
  if (ms === 0) return '0s'
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}
