import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../logger.js'
import { MAX_ADDRESSES_PER_PEER } from './limits.js'

/** One peer this node has been connected to. */
export interface PeerRecord {
  id: string
  /** Dialable addresses without `/p2p/<id>`, newest knowledge first. */
  addresses: string[]
  /** ms since the epoch when the peer was last seen connected, if ever. */
  lastSeen?: number
}

export const PEERS_FILE_NAME = 'peers.json'
const FORMAT_VERSION = 1
const SAVE_DELAY_MS = 100

/**
 * The peers this node knew, kept in `<dataDir>/peers.json` so a restarted node can find them again without
 * bootstrap peers. Writes are coalesced, serialised and atomic (temporary file + rename).
 */
export class PeerBook {
  private readonly file: string
  private readonly log: Logger
  private readonly peers = new Map<string, PeerRecord>()
  private timer: NodeJS.Timeout | undefined
  private writing: Promise<void> = Promise.resolve()
  private dirty = false

  constructor (dataDir: string, log: Logger) {
    this.file = join(dataDir, PEERS_FILE_NAME)
    this.log = log
  }

  /** Reads peers.json. A missing, unreadable or unknown-format file leaves the book empty (it is only a cache). */
  async load (): Promise<void> {
    this.peers.clear()
    let raw: string
    try {
      raw = await readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err, file: this.file }, 'cannot read the peer book, starting without it')
      return
    }
    try {
      const parsed = JSON.parse(raw) as { version?: unknown, peers?: unknown }
      if (parsed.version !== FORMAT_VERSION || !Array.isArray(parsed.peers)) throw new Error(`unknown format version ${String(parsed.version)}`)
      for (const p of parsed.peers as unknown[]) {
        const rec = toRecord(p)
        if (rec !== undefined) this.peers.set(rec.id, rec)
      }
    } catch (err) {
      // Not worth refusing to start over: the book is rebuilt from bootstrap peers and new connections.
      this.log.warn({ err, file: this.file }, 'ignoring an unreadable peer book')
    }
  }

  get (id: string): PeerRecord | undefined { return this.peers.get(id) }

  all (): PeerRecord[] { return [...this.peers.values()] }

  /** Records `addresses` (replacing the known ones when `replace`, else adding to the front) and/or `lastSeen`. */
  update (id: string, change: { addresses?: readonly string[], replace?: boolean, lastSeen?: number }): void {
    const rec = this.peers.get(id) ?? { id, addresses: [] }
    if (change.addresses !== undefined && change.addresses.length > 0) {
      const merged = change.replace === true ? [...change.addresses] : [...change.addresses, ...rec.addresses]
      rec.addresses = [...new Set(merged)].slice(0, MAX_ADDRESSES_PER_PEER)
    }
    if (change.lastSeen !== undefined) rec.lastSeen = change.lastSeen
    this.peers.set(id, rec)
    this.scheduleSave()
  }

  /** Writes pending changes now and waits for every write to finish. */
  async flush (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.dirty) this.queueWrite()
    await this.writing
  }

  private scheduleSave (): void {
    this.dirty = true
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => { this.timer = undefined; this.queueWrite() }, SAVE_DELAY_MS)
    this.timer.unref()
  }

  private queueWrite (): void {
    this.dirty = false
    const body = JSON.stringify({ version: FORMAT_VERSION, peers: this.all() }, null, 2) + '\n'
    this.writing = this.writing.then(async () => {
      const tmp = `${this.file}.${process.pid}.tmp`
      await writeFile(tmp, body)
      await rename(tmp, this.file)
    }).catch((err: unknown) => { this.log.warn({ err, file: this.file }, 'cannot write the peer book') })
  }
}

// Entries that would fail every dial (a hand-edited or damaged file) are dropped rather than redialled for ever.
function toRecord (p: unknown): PeerRecord | undefined {
  if (typeof p !== 'object' || p === null) return undefined
  const { id, addresses, lastSeen } = p as Record<string, unknown>
  if (typeof id !== 'string' || !Array.isArray(addresses) || !parses(() => peerIdFromString(id))) return undefined
  return {
    id,
    addresses: addresses.filter((a): a is string => typeof a === 'string' && parses(() => multiaddr(a))).slice(0, MAX_ADDRESSES_PER_PEER),
    ...(typeof lastSeen === 'number' ? { lastSeen } : {})
  }
}

function parses (fn: () => unknown): boolean {
  try {
    fn()
    return true
  } catch {
    return false
  }
}
