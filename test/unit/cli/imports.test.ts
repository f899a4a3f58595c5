import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { ROOT } from '../../fixtures/paths.js'

// Client subcommands must start fast and never load libp2p: the daemon is reached only through
// `await import('../node.js')`. This walks the static (value) imports from the CLI entry.

function staticImports (file: string): string[] {
  const src = readFileSync(file, 'utf8')
  const out: string[] = []
  for (const m of src.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]/gm)) {
    if (m[1] === undefined) out.push(m[2] as string)
  }
  return out
}

function reachable (entry: string): { files: string[], packages: string[] } {
  const files = new Set<string>()
  const packages = new Set<string>()
  const queue = [entry]
  while (queue.length > 0) {
    const file = queue.pop() as string
    if (files.has(file)) continue
    files.add(file)
    for (const spec of staticImports(file)) {
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
      else if (!spec.startsWith('node:')) packages.add(spec)
    }
  }
  return { files: [...files].map(f => relative(ROOT, f)).sort(), packages: [...packages].sort() }
}

test('the CLI entry and the client commands import no libp2p, no net/ and not node.ts statically', () => {
  for (const entry of ['src/bin/pinmesh.ts', 'src/cli/index.ts']) {
    const { files, packages } = reachable(join(ROOT, entry))
    assert.ok(files.includes('src/cli/args.ts') || entry !== 'src/bin/pinmesh.ts')
    assert.deepEqual(files.filter(f => f === 'src/node.ts' || f.startsWith('src/net/') || f.startsWith('src/pinset/')), [], entry)
    assert.deepEqual(packages.filter(p => /^(libp2p|@libp2p\/|@chainsafe\/|yjs)/.test(p)), [], entry)
  }
})
