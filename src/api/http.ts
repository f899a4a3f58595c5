import type { IncomingMessage, ServerResponse } from 'node:http'
import { createInterface } from 'node:readline'
import { ApiError } from './errors.js'

export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) })
  res.end(data)
}

/** Streams `items` as NDJSON, respecting backpressure. */
export async function sendNdjson (res: ServerResponse, items: Iterable<unknown>): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' })
  for (const item of items) {
    if (!res.write(JSON.stringify(item) + '\n')) {
      await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve) })
      if (res.destroyed) return
    }
  }
  res.end()
}

/** Reads an NDJSON request body line by line, with limits on line length and line count. */
export async function * readNdjson (req: IncomingMessage, limits: { maxLineBytes: number, maxLines: number }): AsyncGenerator<unknown> {
  const lines = createInterface({ input: req, crlfDelay: Infinity })
  let n = 0
  for await (const line of lines) {
    if (line.trim() === '') continue
    if (++n > limits.maxLines) throw new ApiError(413, 'ERR_TOO_LARGE', `more than ${limits.maxLines} lines in one request`)
    if (line.length > limits.maxLineBytes) throw new ApiError(413, 'ERR_TOO_LARGE', `line ${n} is longer than ${limits.maxLineBytes} bytes`)
    try { yield JSON.parse(line) } catch { throw new ApiError(400, 'ERR_INVALID_JSON', `line ${n} is not valid JSON`) }
  }
}
