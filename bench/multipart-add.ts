import { Readable } from 'node:stream'
import { request, type Dispatcher } from 'undici'

const BOUNDARY = '----pinmesh-bench-add-7d1f0c'

export interface TimedAdd {
  /** From the request to the last byte of the answer. */
  ms: number
  /** The root: the last answer line's Hash. */
  cid: string
}

/**
 * One streamed single-file multipart `add` of `bytes` bytes (from `content`) to `base` (a Kubo or
 * pinmesh proxy URL), timed. Throws on an error status, a stream error or an answer without a Hash.
 */
export async function timedAdd (dispatcher: Dispatcher, base: string, query: string, content: AsyncIterable<Buffer>, bytes: number): Promise<TimedAdd> {
  const head = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="bench.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`)
  const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`)
  async function * body (): AsyncGenerator<Buffer> { yield head; yield * content; yield tail }
  const t0 = performance.now()
  const res = await request(`${base}/api/v0/add?${query}`, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': String(head.length + bytes + tail.length) },
    body: Readable.from(body(), { objectMode: false })
  })
  const text = await res.body.text()
  const ms = performance.now() - t0
  const streamError = res.trailers['x-stream-error']
  if (res.statusCode !== 200 || (typeof streamError === 'string' && streamError !== '')) throw new Error(`add via ${base}: ${res.statusCode} ${text} ${String(streamError ?? '')}`)
  const last = JSON.parse(text.trim().split('\n').pop() as string) as { Hash?: string }
  if (last.Hash === undefined) throw new Error(`add via ${base}: no Hash in ${text}`)
  return { ms, cid: last.Hash }
}
