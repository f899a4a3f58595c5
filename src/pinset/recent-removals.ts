/**
 * The pin versions (CID, `createdAt` and `updatedAt`) seen removed in the last `windowMs` to
 * `2 × windowMs`, kept small enough for hundreds of thousands of removals: each is two small
 * integers (a 31-bit hash of the CID, 31 bits of the two times) in one of two maps that rotate
 * every `windowMs`. A false match needs both a hash collision and the same times modulo 2^31.
 */
export class RecentRemovals {
  // Values are arrays only where two removals share a hash (about 2 in 100,000).
  private current = new Map<number, number | number[]>()
  private previous = new Map<number, number | number[]>()
  private rotatedAt: number

  constructor (private readonly windowMs: number, private readonly now: () => number = Date.now) {
    this.rotatedAt = now()
  }

  /** Removals remembered (fewer than added where two share a hash). */
  get size (): number { this.rotate(); return this.current.size + this.previous.size }

  add (cid: string, createdAt: number, updatedAt: number): void {
    this.rotate()
    const h = hash31(cid)
    const c = version31(createdAt, updatedAt)
    const was = this.current.get(h)
    if (was === undefined || was === c) this.current.set(h, c)
    else if (typeof was === 'number') this.current.set(h, [was, c])
    else if (!was.includes(c)) was.push(c)
  }

  has (cid: string, createdAt: number, updatedAt: number): boolean {
    this.rotate()
    const h = hash31(cid)
    const c = version31(createdAt, updatedAt)
    return holds(this.current.get(h), c) || holds(this.previous.get(h), c)
  }

  private rotate (): void {
    const t = this.now()
    if (t - this.rotatedAt < this.windowMs) return
    this.previous = t - this.rotatedAt < 2 * this.windowMs ? this.current : new Map()
    this.current = new Map()
    this.rotatedAt = t
  }
}

/** FNV-1a over the UTF-16 code units, folded to a non-negative small integer. */
function hash31 (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 1
}

function version31 (createdAt: number, updatedAt: number): number { return (createdAt * 7 + updatedAt) % 0x80000000 }

function holds (v: number | number[] | undefined, c: number): boolean {
  return v === c || (Array.isArray(v) && v.includes(c))
}
