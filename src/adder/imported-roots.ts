import type { AddDestination } from './types.js'

/** The CID of a `dag/import` answer's `Root` value (`{"Cid":{"/":…},"PinErrorMsg":""}`) if Kubo pinned it. */
export function pinnedRoot (root: unknown): string | undefined {
  const r = root as { Cid?: { '/'?: unknown }, PinErrorMsg?: unknown } | undefined
  const cid = r?.Cid?.['/']
  return typeof cid === 'string' && (r?.PinErrorMsg ?? '') === '' ? cid : undefined
}

/**
 * The same destination, reporting the roots Kubo says it pinned (`dag/import` answer lines
 * `{"Root":{"Cid":{"/":…},"PinErrorMsg":""}}`) once its answer has ended. Kubo pins those roots
 * itself during the import, behind this peer's tracker's back.
 */
export function reportImportedRoots (dest: AddDestination, onRoots: (cids: string[]) => void): AddDestination {
  return {
    peer: dest.peer,
    write: async (chunk) => { await dest.write(chunk) },
    end: async () => { await dest.end() },
    abort: (reason) => { dest.abort(reason) },
    head: dest.head,
    trailers: () => dest.trailers(),
    async * body () {
      const roots: string[] = []
      let rest = ''
      const scan = (line: string): void => {
        try {
          const cid = pinnedRoot((JSON.parse(line) as { Root?: unknown }).Root)
          if (cid !== undefined) roots.push(cid)
        } catch { /* not a JSON line */ }
      }
      try {
        for await (const chunk of dest.body()) {
          const lines = (rest + Buffer.from(chunk).toString()).split('\n')
          rest = lines.pop() ?? ''
          for (const l of lines) scan(l)
          yield chunk
        }
        scan(rest)
      } finally {
        if (roots.length > 0) onRoots(roots)
      }
    }
  }
}
