import type { IncomingMessage, ServerResponse } from 'node:http'
import { ApiError } from './errors.js'

/**
 * Reads and drops what is left of a request body (at most `maxBytes`, for at most `timeoutMs`).
 * An error answered while the client still sends would be followed by a close with unread
 * data, which makes the kernel reset the connection and the client may lose the answer.
 */
export async function drainBody (req: IncomingMessage, limits: { maxBytes: number, timeoutMs: number }): Promise<void> {
  if (req.complete || req.readableEnded || req.destroyed) return
  await new Promise<void>((resolve) => {
    let seen = 0
    const done = (): void => { clearTimeout(timer); req.off('data', onData); req.off('end', done); req.off('close', done); resolve() }
    const onData = (d: Buffer): void => { seen += d.length; if (seen > limits.maxBytes) done() }
    const timer = setTimeout(done, limits.timeoutMs)
    req.on('data', onData)
    req.once('end', done)
    req.once('close', done)
    req.resume()
  })
}

export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) })
  res.end(data)
}

/** Streams `items` as NDJSON, respecting backpressure; `headers` go with the 200. Stops when the client leaves. */
export async function sendNdjson (res: ServerResponse, items: Iterable<unknown> | AsyncIterable<unknown>, headers: Record<string, string> = {}): Promise<void> {
  res.writeHead(200, { ...headers, 'Content-Type': 'application/x-ndjson' })
  for await (const item of items) {
    if (res.destroyed) return
    if (!res.write(JSON.stringify(item) + '\n')) {
      await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve) })
      if (res.destroyed) return
    }
  }
  res.end()
}

/**
 * Reads an NDJSON request body line by line (`\n`, `\r\n` or `\r` ends a line), with limits on
 * line length and line count. The line being read is refused as soon as it outgrows the limit:
 * readline would buffer a line without a newline whole, and a body of one huge line exhausted
 * the heap and killed the daemon.
 */
export async function * readNdjson (req: IncomingMessage, limits: { maxLineBytes: number, maxLines: number }): AsyncGenerator<unknown> {
  let n = 0
  let pending: Buffer[] = []
  let pendingBytes = 0
  const tooLong = (): ApiError => new ApiError(413, 'ERR_TOO_LARGE', `line ${n + 1} is longer than ${limits.maxLineBytes} bytes`)
  const parse = (bytes: Buffer): { value: unknown } | undefined => {
    const line = bytes.toString('utf8')
    if (line.trim() === '') return undefined
    if (++n > limits.maxLines) throw new ApiError(413, 'ERR_TOO_LARGE', `more than ${limits.maxLines} lines in one request`)
    try { return { value: JSON.parse(line) } } catch { throw new ApiError(400, 'ERR_INVALID_JSON', `line ${n} is not valid JSON`) }
  }
  // The request stays open when the loop stops early, so that the error answer still reaches the client.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    let start = 0
    let lf = chunk.indexOf(10)
    let cr = chunk.indexOf(13)
    while (lf !== -1 || cr !== -1) {
      const i = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr)
      const piece = chunk.subarray(start, i)
      if (pendingBytes + piece.length > limits.maxLineBytes) throw tooLong()
      const line = pending.length === 0 ? piece : Buffer.concat([...pending, piece])
      pending = []
      pendingBytes = 0
      start = i + 1
      if (lf !== -1 && lf < start) lf = chunk.indexOf(10, start)
      if (cr !== -1 && cr < start) cr = chunk.indexOf(13, start)
      const parsed = parse(line)
      if (parsed !== undefined) yield parsed.value
    }
    const rest = chunk.subarray(start)
    if (pendingBytes + rest.length > limits.maxLineBytes) throw tooLong()
    if (rest.length > 0) { pending.push(Buffer.from(rest)); pendingBytes += rest.length }
  }
  const parsed = parse(Buffer.concat(pending))
  if (parsed !== undefined) yield parsed.value
}
