import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, mkdir, copyFile, rm, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const SCRIPT = new URL('../../../scripts/install-kubo.sh', import.meta.url).pathname

/** Runs a copy of the script in an empty project, with PATH limited to `path` and no KUBO_BINARY. */
async function runIn (path: string, env: Record<string, string> = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  const root = await mkdtemp(join(tmpdir(), 'install-kubo-'))
  try {
    await mkdir(join(root, 'scripts'))
    await copyFile(SCRIPT, join(root, 'scripts', 'install-kubo.sh'))
    return await new Promise((resolve) => {
      execFile('/bin/bash', [join(root, 'scripts', 'install-kubo.sh')], { env: { PATH: path, HOME: root, ...env } }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, stdout, stderr })
      })
    })
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

test('without Kubo, the npm package or Go, install-kubo fails and says what to do', async () => {
  const bin = await mkdtemp(join(tmpdir(), 'install-kubo-bin-'))
  try {
    // Only the tools the script itself needs: no go, no npm, no ipfs.
    for (const tool of ['dirname', 'mkdir', 'cat', 'sed']) {
      await writeFile(join(bin, tool), `#!/bin/sh\nexec /usr/bin/${tool} "$@"\n`)
      await chmod(join(bin, tool), 0o755)
    }
    const r = await runIn(bin)
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /no Kubo v0\.42\.0 found and Go is not installed/)
    assert.match(r.stderr, /go install github\.com\/ipfs\/kubo\/cmd\/ipfs@v0\.42\.0/)
    assert.match(r.stderr, /KUBO_BINARY/)
  } finally {
    await rm(bin, { recursive: true, force: true })
  }
})

test('KUBO_BINARY that is not an executable is refused by name', async () => {
  const r = await runIn('/usr/bin:/bin', { KUBO_BINARY: '/nonexistent/ipfs' })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /KUBO_BINARY=\/nonexistent\/ipfs is not an executable file/)
})

test('KUBO_BINARY that is executable is used as is', async () => {
  const r = await runIn('/usr/bin:/bin', { KUBO_BINARY: '/bin/true' })
  assert.equal(r.code, 0)
  assert.equal(r.stdout, '/bin/true\n')
})
