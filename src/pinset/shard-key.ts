import { hash } from 'node:crypto'
import { InvalidParametersError } from '../errors.js'

/** Fewest and most shards a pinset may have; a power of two in between. */
export const MIN_SHARDS = 1
export const MAX_SHARDS = 4096

/**
 * The shard of a pin: the first 4 bytes of the SHA-256 of its canonical CID string, modulo the
 * shard count. Every peer must compute the same value for the same CID and shard count, so this
 * must never change without a new sync protocol version.
 */
export function shardOf (cid: string, shards: number): number {
  if (shards === 1) return 0
  return hash('sha256', cid, 'buffer').readUInt32BE(0) % shards
}

/**
 * The cursor of PinSetReader.page: the shard and the last CID of the previous page, as
 * `<shard in hex>.<cid>`. Opaque to clients.
 */
export function encodeCursor (shard: number, afterCid: string): string {
  return `${shard.toString(16)}.${afterCid}`
}

export function decodeCursor (cursor: string, shards: number): { shard: number, afterCid: string } {
  const dot = cursor.indexOf('.')
  const shard = dot > 0 ? Number.parseInt(cursor.slice(0, dot), 16) : Number.NaN
  if (!/^[0-9a-f]+$/.test(cursor.slice(0, Math.max(dot, 0))) || !Number.isInteger(shard) || shard >= shards) {
    throw new InvalidParametersError(`invalid pin listing cursor "${cursor}"`)
  }
  return { shard, afterCid: cursor.slice(dot + 1) }
}
