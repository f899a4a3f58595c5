/** A positive integer from the environment (a benchmark's size knob), or `def` when unset. */
export function envInt (name: string, def: number): number {
  const v = process.env[name]
  if (v === undefined || v === '') return def
  const n = Number.parseInt(v, 10)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive integer`)
  return n
}
