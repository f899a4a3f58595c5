import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
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

/**
 * The gossip validator's verdict: a pinset message counts only if it is signed and its signer
 * (`from`) is trusted. The peer that relayed it is irrelevant; a trusted relay cannot launder an
 * untrusted peer's write. Rejected messages are not forwarded further.
 */
export function gossipVerdict (trust: TrustPolicy, msg: Message): TopicValidatorResult {
  if (msg.type !== 'signed') return TopicValidatorResult.Reject
  const from = msg.from.toString()
  if (trust.isTrusted(from)) return TopicValidatorResult.Accept
  trust.ignored(from, 'gossip')
  return TopicValidatorResult.Reject
}
