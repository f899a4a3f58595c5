import type { Logger } from '../../logger.js'

/**
 * Who may change the pinset. A peer with the cluster secret but not in `trustedPeers` may read
 * and follow; its writes are dropped everywhere, and that is logged once per peer.
 */
export class TrustPolicy {
  private readonly all: boolean
  private readonly trusted: ReadonlySet<string>
  private readonly selfId: string
  private readonly warned = new Set<string>()
  private readonly log: Logger

  constructor (selfId: string, trustedPeers: readonly string[], log: Logger) {
    this.selfId = selfId
    this.all = trustedPeers.includes('*')
    this.trusted = new Set(trustedPeers)
    this.log = log
  }

  isTrusted (peerId: string): boolean {
    return this.all || peerId === this.selfId || this.trusted.has(peerId)
  }

  /** Records that a write from an untrusted peer was ignored. */
  ignored (peerId: string, via: 'gossip' | 'sync'): void {
    if (this.warned.has(peerId)) return
    this.warned.add(peerId)
    this.log.warn({ peer: peerId, via }, 'ignoring pinset changes from an untrusted peer')
  }
}
