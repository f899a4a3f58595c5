import { createHash } from 'node:crypto'

/**
 * The one peer, out of `peers`, responsible for a key (rendezvous hashing): every peer that
 * sees the same set of live peers elects the same one, with no coordination, and losing or
 * adding a peer only moves the keys that peer was responsible for.
 */
export function electedPeer (key: string, peers: readonly string[]): string | undefined {
  let best: string | undefined
  let bestScore = ''
  for (const p of peers) {
    const score = createHash('sha256').update(key).update('\0').update(p).digest('hex')
    if (best === undefined || score < bestScore) { best = p; bestScore = score }
  }
  return best
}
