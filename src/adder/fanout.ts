import type { AddDestination, DestinationHead } from './types.js'

/** Where the chosen destination's answer goes (the client). */
export interface FanoutOutput {
  /** Kubo's answer head, once, from the destination whose answer the client gets. */
  head (head: DestinationHead): void
  /** One line of that answer, newline included. Resolves when the client can take more. */
  line (line: Buffer): Promise<void>
}

export interface FanoutResult {
  /** The head the client got (undefined when no destination answered). */
  head?: DestinationHead
  /** Destinations that took the whole upload and answered like the one the client heard. */
  completed: string[]
  /** Destinations dropped, with why. */
  failed: Array<{ peer: string, error: string }>
  /** Result lines of the answer the client got: add's `Name`/`Hash`, dag/import's `Root`, block/put's `Key`, dag/put's `Cid`. */
  results: Array<Record<string, unknown>>
  /** The stream error of the answer the client got, if it ended with one. */
  streamError?: string
}

interface Reader {
  dest: AddDestination
  /** Lines not yet passed to the client, from index `base` on. */
  pending: Buffer[]
  base: number
  results: Array<Record<string, unknown>>
  done: boolean
  error?: string
  head?: DestinationHead
  /** When the write in flight started (0: none), for the stall watchdog. */
  writingSince: number
  /**
   * Settles when the destination is dropped: nothing waits on a dropped destination's calls, which
   * may never settle. Awaited once per reader; each write or end waits on its own `interrupt`
   * instead, since a reaction per chunk on this long-lived promise would pile up for the whole upload.
   */
  dropped: Promise<void>
  drop: () => void
  /** Ends the wait on the write or end in flight, if any. */
  interrupt?: () => void
}

/**
 * Streams one upload into every destination at once and relays one destination's answer to the
 * client. The upload advances only as fast as the slowest live destination can take it (no
 * whole-body buffers). A destination that fails is dropped; if it was the one the client hears,
 * another takes over from the same line (Kubo's answers to the same bytes are the same lines).
 * A destination whose results differ from the client's answer counts as failed.
 */
export async function fanout (body: AsyncIterable<Uint8Array>, dests: readonly AddDestination[], out: FanoutOutput, signal: AbortSignal, options: { stallMs?: number } = {}): Promise<FanoutResult> {
  // A destination that takes no bytes for this long is dropped, so one stuck Kubo cannot hold the upload for ever.
  const stallMs = options.stallMs ?? 30_000
  const readers: Reader[] = dests.map(dest => {
    const dropped = Promise.withResolvers<void>()
    return { dest, pending: [], base: 0, results: [], done: false, writingSince: 0, dropped: dropped.promise, drop: dropped.resolve }
  })
  const failed: FanoutResult['failed'] = []
  let primary: Reader | undefined = readers[0]
  let sent = 0
  let headSent: DestinationHead | undefined
  const live = (): Reader[] => readers.filter(r => r.error === undefined)
  const fail = (r: Reader, err: unknown): void => {
    if (r.error !== undefined) return
    r.error = (err as Error)?.message ?? String(err)
    failed.push({ peer: r.dest.peer, error: r.error })
    r.drop()
    r.interrupt?.()
    r.dest.abort(err instanceof Error ? err : new Error(String(err)))
    if (r === primary) { primary = live()[0]; void flush() }
  }
  // Passes the current primary's pending lines to the client, in order, once.
  let flushing = Promise.resolve()
  const flush = async (): Promise<void> => {
    flushing = flushing.then(async () => {
      const p = primary
      if (p === undefined) return
      if (headSent === undefined && p.head !== undefined) { headSent = p.head; out.head(p.head) }
      if (headSent === undefined) return
      while (primary === p) {
        const i = sent - p.base
        const line = p.pending[i]
        if (line === undefined) break
        await out.line(line)
        sent++
      }
      // Only lines a reader already has are dropped: one behind the client keeps its line numbering.
      for (const r of readers) { const drop = Math.min(r.pending.length, Math.max(0, sent - r.base)); r.pending.splice(0, drop); r.base += drop }
    })
    await flushing
  }

  const read = async (r: Reader): Promise<void> => {
    try {
      r.head = await r.dest.head
      if (r === primary) await flush()
      let rest = Buffer.alloc(0)
      for await (const chunk of r.dest.body()) {
        rest = rest.length === 0 ? Buffer.from(chunk) : Buffer.concat([rest, chunk])
        let nl
        while ((nl = rest.indexOf(10)) >= 0) {
          const line = rest.subarray(0, nl + 1)
          rest = rest.subarray(nl + 1)
          r.pending.push(Buffer.from(line))
          collect(r, line)
        }
        if (r === primary) await flush()
      }
      if (rest.length > 0) { r.pending.push(rest); collect(r, rest) }
      const streamError = r.dest.trailers()['x-stream-error']
      if (streamError !== undefined && streamError !== '') {
        // An error the client must see if this is the answer it gets; a failed destination otherwise.
        if (r === primary && live().length === 1) { r.done = true; await flush(); return }
        fail(r, new Error(streamError))
        return
      }
      r.done = true
      if (r === primary) await flush()
    } catch (err) {
      fail(r, err)
    }
  }
  const readersDone = Promise.all(readers.map(async r => { await Promise.race([read(r), r.dropped]) }))
  // One watchdog for the whole upload (no per-chunk timers or promise reactions, which would keep chunks alive):
  // aborting a stuck destination makes its pending write fail.
  const watchdog = setInterval(() => {
    const now = Date.now()
    for (const r of live()) if (r.writingSince !== 0 && now - r.writingSince > stallMs) fail(r, new Error(`destination took no data for ${stallMs} ms`))
  }, Math.min(5000, stallMs))
  watchdog.unref()



  try {
    for await (const chunk of body) {
      signal.throwIfAborted()
      const targets = live()
      if (targets.length === 0) break
      await Promise.all(targets.map(async r => {
        r.writingSince = Date.now()
        try { await interruptible(r, r.dest.write(chunk)) } catch (err) { fail(r, err) } finally { r.writingSince = 0 }
      }))
    }
    await Promise.all(live().map(async r => {
      r.writingSince = Date.now()
      try { await interruptible(r, r.dest.end()) } catch (err) { fail(r, err) } finally { r.writingSince = 0 }
    }))
  } catch (err) {
    for (const r of live()) fail(r, err)
    throw err
  } finally {
    clearInterval(watchdog)
    // Every destination has the whole upload: one that still gives no answer after stallMs is dropped.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([readersDone, new Promise<void>((resolve) => { timer = setTimeout(resolve, stallMs) })])
    clearTimeout(timer)
    for (const r of live()) if (!r.done) fail(r, new Error(`destination gave no complete answer within ${stallMs} ms of the upload's end`))
    await readersDone
  }
  await flush()

  const heard = primary
  const results = heard?.results ?? []
  // Compared as sets: Kubo prints dag/import roots in Go map order, which differs between Kubos.
  const key = (rs: Array<Record<string, unknown>>): string => JSON.stringify(rs.map(x => JSON.stringify(x)).sort())
  const completed: string[] = []
  for (const r of live()) {
    if (!r.done) continue
    if (key(r.results) !== key(results)) { failed.push({ peer: r.dest.peer, error: `answered different CIDs: ${describe(r.results)} instead of ${describe(results)}` }); continue }
    completed.push(r.dest.peer)
  }
  const streamError = heard?.dest.trailers()['x-stream-error']
  return { head: headSent, completed, failed, results, ...(streamError !== undefined && streamError !== '' ? { streamError } : {}) }
}

/** `op`, or less if the reader is dropped meanwhile. */
async function interruptible (r: Reader, op: Promise<void>): Promise<void> {
  const stop = Promise.withResolvers<void>()
  r.interrupt = stop.resolve
  try { await Promise.race([op, stop.promise]) } finally { r.interrupt = undefined }
}

function collect (r: Reader, line: Buffer): void {
  try {
    const v = JSON.parse(line.toString()) as Record<string, unknown>
    if (typeof v.Hash === 'string') r.results.push({ Name: v.Name, Hash: v.Hash })
    else if (v.Root !== undefined) r.results.push({ Root: v.Root })
    else if (typeof v.Key === 'string') r.results.push({ Key: v.Key })
    else if (v.Cid !== undefined) r.results.push({ Cid: v.Cid })
  } catch { /* not a JSON line: not a result */ }
}

function describe (rs: Array<Record<string, unknown>>): string {
  const last = rs.at(-1)
  return last === undefined ? 'nothing' : JSON.stringify(last)
}
