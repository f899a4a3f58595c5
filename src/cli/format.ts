import type { ClusterIdentity, ClusterPeer, GlobalPinInfo } from '../cluster/index.js'
import type { PinRecord } from '../types.js'

// Human output, shaped like ipfs-cluster-ctl's text formatters so its users feel at home.
// Every function here is pure: data in, lines out.

/** Peer id → peer name, from /id and /peers; unknown ids print as themselves. */
export type PeerNames = ReadonlyMap<string, string>

export function peerNames (self: ClusterIdentity | undefined, peers: readonly ClusterPeer[]): Map<string, string> {
  const names = new Map<string, string>()
  for (const p of peers) if (p.peername !== undefined && p.peername !== '') names.set(p.id, p.peername)
  if (self !== undefined && self.peername !== '') names.set(self.id, self.peername)
  return names
}

/** How many other peers this peer is connected to. */
export function seenCount (peers: readonly ClusterPeer[]): number {
  return peers.filter(p => p.connected).length
}

function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

function list (title: string, items: readonly string[]): string[] {
  return [`  > ${title}:`, ...[...items].sort().map(a => `    - ${a}`)]
}

/** `pinmesh id`. */
export function formatId (self: ClusterIdentity, peers: readonly ClusterPeer[]): string {
  return [
    `${self.id} | ${self.peername} | Sees ${plural(seenCount(peers), 'other peer')}`,
    `  > Cluster: ${self.clusterName} | Version: ${self.version} | Trusted: ${self.trusted ? 'yes' : 'no'}`,
    ...list('Addresses', self.addresses)
  ].join('\n') + '\n'
}

/**
 * `pinmesh peers ls`: this peer first (with how many peers it sees), then every other peer it
 * knows, with whether it is connected and whether its metrics are current (alive).
 */
export function formatPeers (self: ClusterIdentity, peers: readonly ClusterPeer[], now = Date.now()): string {
  const out: string[] = [
    `${self.id} | ${self.peername} | Sees ${plural(seenCount(peers), 'other peer')} (this peer)`,
    ...list('Addresses', self.addresses)
  ]
  for (const p of [...peers].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) {
    const state = p.connected
      ? `Connected | ${p.alive === true ? 'Alive' : 'No metrics yet'}`
      : `Disconnected${p.lastSeen !== undefined ? ` (last seen ${ago(now - p.lastSeen)} ago)` : ' (never connected)'}`
    out.push(`${p.id} | ${p.peername ?? '-'} | ${state}`)
    out.push(...list('Addresses', p.addresses))
    if (p.kubo !== undefined) out.push(`  > IPFS: ${p.kubo.id}`, ...[...p.kubo.addresses].sort().map(a => `    - ${a}`))
    if (p.freeSpace !== undefined || p.queued !== undefined) {
      out.push(`  > Free space: ${p.freeSpace !== undefined ? humanBytes(p.freeSpace) : 'unknown'} | Queued: ${p.queued ?? 0}`)
    }
  }
  return out.join('\n') + '\n'
}

/** `pinmesh status`: the CID and name, then each peer's status in upper case, errors after a colon. */
export function formatStatus (info: GlobalPinInfo, names: PeerNames): string {
  const out = [`${info.cid}${info.name !== '' ? ` | ${info.name}` : ''}:`]
  const rows = Object.entries(info.peerMap).map(([peer, i]) => ({ label: names.get(peer) ?? peer, peer, i }))
  rows.sort((a, b) => a.label < b.label ? -1 : a.label > b.label ? 1 : 0)
  for (const { label, i } of rows) {
    let line = `    > ${label.padEnd(20)} : ${i.status.toUpperCase()}`
    if (i.error !== undefined && i.error !== '') line += `: ${i.error}`
    if (i.progress !== undefined && i.status === 'pinning') line += ` (${i.progress.nodes} blocks, ${humanBytes(i.progress.bytes)})`
    line += ` | ${new Date(i.updatedAt).toISOString()} | Attempts: ${i.attempts} | Priority: ${i.priority}`
    out.push(line)
  }
  return out.join('\n') + '\n'
}

/** `pinmesh pin ls`: one line per pin. */
export function formatPin (pin: PinRecord, names: PeerNames, now = Date.now()): string {
  const repl = pin.replicationMin === -1 && pin.replicationMax === -1
    ? 'Repl. Factor: -1 | Allocations: [everywhere]'
    : `Repl. Factor: ${pin.replicationMin}--${pin.replicationMax} | Allocations: [${pin.allocations.map(p => names.get(p) ?? p).sort().join(' ')}]`
  const meta = Object.keys(pin.metadata).length === 0 ? 'no' : Object.entries(pin.metadata).map(([k, v]) => `${k}=${v}`).join(',')
  const exp = pin.expireAt === undefined ? '∞' : `${new Date(pin.expireAt).toISOString()} (in ${ago(pin.expireAt - now)})`
  return `${pin.cid} | ${pin.name} | PIN | ${repl} | ${pin.mode === 'direct' ? 'Direct' : 'Recursive'} | Metadata: ${meta} | Exp: ${exp} | Added: ${new Date(pin.createdAt).toISOString()}\n`
}

/** `pinmesh add`: one line per added file or directory, as ctl prints it. */
export function formatAdded (cid: string, name: string): string {
  return `added ${cid} ${name}\n`
}

/** `pinmesh recover` without a CID: operations queued per peer (or the peer's error). */
export function formatRecoverAll (result: Record<string, number | string>, names: PeerNames): string {
  return Object.entries(result)
    .map(([peer, v]) => `${(names.get(peer) ?? peer).padEnd(20)} : ${typeof v === 'number' ? `${plural(v, 'operation')} queued` : `ERROR: ${v}`}`)
    .sort()
    .join('\n') + '\n'
}

/** 1536 → "1.5 KiB". */
export function humanBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++ }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`
}

/** A duration in ms as "3s", "2m", "5h", "4d" (rounded down; negative counts as 0). */
export function ago (ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86400) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86400)}d`
}
