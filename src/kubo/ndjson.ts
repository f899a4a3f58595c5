/**
 * Parses newline-delimited JSON as the bytes arrive: one value per line, blank lines skipped,
 * a last line without `\n` still counted. Holds at most one partial line in memory.
 */
export async function * ndjson (body: AsyncIterable<Uint8Array>): AsyncGenerator<unknown, void, undefined> {
  const decoder = new TextDecoder()
  let pending = ''
  for await (const chunk of body) {
    pending += decoder.decode(chunk, { stream: true })
    let start = 0
    for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n', start)) {
      const line = pending.slice(start, nl).trim()
      start = nl + 1
      if (line !== '') yield JSON.parse(line)
    }
    pending = pending.slice(start)
  }
  pending = (pending + decoder.decode()).trim()
  if (pending !== '') yield JSON.parse(pending)
}
