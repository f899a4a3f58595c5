import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import type { Logger } from '../logger.js'
import { HEADER_BYTES, cutLogTail, headerProblem, isEpochMeta, moveAside, parseStateFile, readOptional, scanFrames } from './files.js'

/**
 * Format versions of the single-document pinset of earlier releases. Version 2 added a checksum
 * of the whole state file and made a log frame's checksum cover its epoch number too. A file of
 * another version refuses the start (it is not damage).
 */
const READABLE_VERSIONS = [1, 2]

const STATE_MAGIC = Buffer.from('PMSTATE\0')
const LOG_MAGIC = Buffer.from('PMLOG\0\0\0')

/** What the state file says about the document it holds. */
export interface StateMeta {
  /** The epoch of the document (see epoch.ts). */
  epoch: { n: number, leader: string }
  /** The encoded EpochPackage that made this epoch. */
  package?: Uint8Array
}

export interface LoadedPinset {
  /** The compacted state (a Yjs update), if one was written. */
  state?: Uint8Array
  meta?: StateMeta
  /** Updates appended since for the state's epoch, in order. A torn tail left by a crash is dropped. */
  updates: Uint8Array[]
  /** What was found damaged and set aside, one sentence each (also logged). */
  dropped: string[]
}

/**
 * Reads the single-document pinset of releases before the sharded layout (formats 1 and 2), which
 * ShardedPinSet migrates into shards on first start; nothing writes this format any more.
 *
 * Files: `pinset.state` = magic, u32 format version, u32 crc32 of the rest (version 2), u32 meta
 * length, meta JSON, u32 package length, package, Yjs update; `pinset.log` = magic, u32 version,
 * then frames of u32 length, u32 crc32 (of epoch number and update; of the update alone in
 * version 1), u32 epoch number, update. Frames of another epoch than the state's are skipped.
 *
 * A damaged file is kept (moved or copied) as `<name>.corrupt-<time>`; what could not be read is
 * logged and left to catch-up from peers: an unreadable state sets both files aside (the log's
 * updates build on it), a damaged log frame drops it and the frames after it.
 */
export async function readLegacyPinset (dir: string, log: Logger): Promise<LoadedPinset> {
  const loaded: LoadedPinset = { updates: [], dropped: [] }
  let epoch = 0
  const state = await readOptional(join(dir, 'pinset.state'))
  if (state !== undefined) {
    const parsed = parseState(state)
    if (typeof parsed === 'string') {
      const moved = [await moveAside(dir, 'pinset.state'), await moveAside(dir, 'pinset.log')].filter(f => f !== undefined).join(' and ')
      loaded.dropped.push(`pinset state file unreadable (${parsed}): moved to ${moved}; starting empty and re-syncing from peers`)
      log.error(loaded.dropped.at(-1))
      return loaded
    }
    loaded.meta = parsed.meta
    loaded.state = parsed.state
    epoch = parsed.meta.epoch.n
  }
  const logPath = join(dir, 'pinset.log')
  const buf = await readOptional(logPath)
  if (buf === undefined) return loaded
  const problem = headerProblem(buf, LOG_MAGIC, 'pinset.log', READABLE_VERSIONS)
  if (problem !== undefined) {
    const aside = await moveAside(dir, 'pinset.log')
    loaded.dropped.push(`pinset log unreadable (${problem}): moved to ${aside}; ${buf.length} bytes of updates dropped, to be re-synced from peers`)
    log.error(loaded.dropped.at(-1))
    return loaded
  }
  const version = buf.readUInt32BE(8)
  const scan = scanFrames(buf, HEADER_BYTES, 12,
    (fields, update) => version === 1 ? crc32(update) : crc32(update, crc32(fields)),
    (fields, update) => { if (fields.readUInt32BE(0) === epoch) loaded.updates.push(update) })
  if (scan.problem !== undefined) {
    const handle = await open(logPath, 'r+')
    try {
      const said = await cutLogTail(dir, 'pinset.log', 'pinset log', handle, buf.length, scan, log)
      if (said !== undefined) loaded.dropped.push(said)
    } finally {
      await handle.close()
    }
  }
  return loaded
}

/** The state file's meta and Yjs update, or why it cannot be read. */
function parseState (buf: Buffer): { meta: StateMeta, state: Uint8Array } | string {
  const parsed = parseStateFile(buf, STATE_MAGIC, 'pinset.state', READABLE_VERSIONS)
  if (typeof parsed === 'string') return parsed
  if (!isEpochMeta(parsed.meta)) return 'metadata has no epoch'
  const meta: StateMeta = { epoch: parsed.meta.epoch }
  if (parsed.package !== undefined) meta.package = parsed.package
  return { meta, state: parsed.doc }
}
