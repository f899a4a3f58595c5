import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CliResult } from '../fixtures/kubo.js'
import { FIXTURES } from '../fixtures/paths.js'
import { kuboBehindPinmeshPerFile } from '../fixtures/proxy-pair.js'

const pair = kuboBehindPinmeshPerFile()

// The real `ipfs` CLI, run once against Kubo and once against pinmesh, must not see a difference.



interface Case {
  args: string[]
  input?: string | Buffer
  /** Undoes what the command changed, run directly against Kubo after each run. */
  cleanup?: string[][]
  /** Compares files the command wrote into its working directory (ipfs get). */
  compareCwd?: boolean
  normalizeStderr?: (s: string) => string
  normalizeStdout?: (s: string) => string
}

const tree = join(FIXTURES, 'tree')
const file = join(FIXTURES, 'tree', 'a.txt')
const big = join(FIXTURES, 'tree', 'sub', 'random.bin')
const HELLO_DAG = '{"hello":"pinmesh","n":[1,2,3]}'

// The progress bar redraws on a timer and shows speeds; keep only what it reports as done.
function finalProgress (stderr: string): string {
  const all = [...stderr.matchAll(/([\d.]+ [KMGT]?i?B) \/ ([\d.]+ [KMGT]?i?B)[^%]*?([\d.]+%)/g)]
  const last = all.at(-1)
  return last === undefined ? stderr : `${last[1]} / ${last[2]} ${last[3]}`
}

async function runBoth (c: Case): Promise<Array<CliResult & { files?: Record<string, string> }>> {
  const results = []
  for (const api of [pair.kubo.apiMultiaddr, pair.pinmesh.proxyMultiaddr]) {
    const cwd = await mkdtemp(join(tmpdir(), 'pinmesh-cli-'))
    try {
      const r = await pair.kubo.cli(c.args, { api, input: c.input, cwd })
      const files = c.compareCwd === true ? await snapshot(cwd) : undefined
      results.push({ ...r, files })
    } finally {
      await rm(cwd, { recursive: true, force: true })
      for (const undo of c.cleanup ?? []) await pair.kubo.cli(undo)
    }
  }
  return results
}

async function snapshot (dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const name of (await readdir(dir)).sort()) {
    const p = join(dir, name)
    if ((await stat(p)).isDirectory()) Object.assign(out, { [`${prefix}${name}/`]: '' }, await snapshot(p, `${prefix}${name}/`))
    else out[prefix + name] = (await readFile(p)).toString('base64')
  }
  return out
}

async function cid (args: string[], input?: string): Promise<string> {
  const r = await pair.kubo.cli(args, { input })
  assert.equal(r.code, 0, r.stderr)
  return r.stdout.trim().split('\n').at(-1) as string
}

test('the ipfs CLI prints the same through pinmesh as against Kubo', async (t) => {
  const fileCid = await cid(['add', '-Q', file])
  const treeCid = await cid(['add', '-Q', '-r', tree])
  const blockCid = await cid(['block', 'put'], 'raw block bytes\n')
  const dagCid = await cid(['dag', 'put'], HELLO_DAG)
  const carDir = await mkdtemp(join(tmpdir(), 'pinmesh-car-'))
  t.after(async () => { await rm(carDir, { recursive: true, force: true }) })
  const car = join(carDir, 'tree.car')
  const exported = await pair.kubo.cli(['dag', 'export', treeCid])
  assert.equal(exported.code, 0)
  await writeFile(car, exported.stdoutBytes)

  const cases: Case[] = [
    { args: ['id'] },
    { args: ['version'] },
    { args: ['add', file] },
    { args: ['add', '-r', tree] },
    { args: ['add', '-w', file] },
    { args: ['add', '--cid-version=1', file] },
    { args: ['add', '--raw-leaves', big] },
    { args: ['add', '--progress', big], normalizeStderr: finalProgress },
    { args: ['add'], input: 'from stdin\n' },
    { args: ['add', '-q', '--pin=false', '-r', tree] },
    { args: ['cat', fileCid] },
    { args: ['cat', `/ipfs/${treeCid}/sub/random.bin`] },
    { args: ['get', treeCid, '-o', 'out'], compareCwd: true },
    { args: ['ls', treeCid] },
    { args: ['ls', '-s', `${treeCid}/sub`] },
    { args: ['block', 'put', '--cid-codec=raw'], input: 'another raw block\n' },
    { args: ['block', 'get', blockCid] },
    { args: ['block', 'stat', blockCid] },
    { args: ['dag', 'put'], input: HELLO_DAG },
    { args: ['dag', 'get', dagCid] },
    { args: ['dag', 'get', `${dagCid}/n/1`] },
    { args: ['dag', 'export', treeCid] },
    { args: ['dag', 'import', car] },
    { args: ['files', 'mkdir', '-p', '/pm/dir'], cleanup: [['files', 'rm', '-r', '/pm']] },
    { args: ['files', 'write', '--create', '--parents', '/pm/w.txt'], input: 'written through mfs\n', cleanup: [['files', 'rm', '-r', '/pm']] },
    { args: ['files', 'ls', '-l', '/'] },
    { args: ['files', 'read', `/ipfs/${fileCid}`] },
    // Kubo's datastore can grow between two calls on its own (pebble background work): compare all but that number.
    { args: ['repo', 'stat'], normalizeStdout: s => s.replace(/^RepoSize:\s+\d+$/m, 'RepoSize: <n>') },
    { args: ['config', 'show'] },
    { args: ['cat', 'QmThisIsNotACid'] },
    { args: ['block', 'stat', '--offline', 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'] }
  ]
  for (const c of cases) {
    await t.test(`ipfs ${c.args.join(' ')}`, async () => {
      const [direct, proxied] = await runBoth(c)
      assert.ok(direct !== undefined && proxied !== undefined)
      const norm = c.normalizeStderr ?? ((s: string) => s)
      assert.equal(proxied.code, direct.code, `exit status; stderr via pinmesh: ${proxied.stderr}`)
      if (c.normalizeStdout !== undefined) assert.equal(c.normalizeStdout(proxied.stdout), c.normalizeStdout(direct.stdout))
      else assert.equal(proxied.stdoutBytes.toString('base64'), direct.stdoutBytes.toString('base64'), `stdout via pinmesh: ${proxied.stdout.slice(0, 300)}`)
      assert.equal(norm(proxied.stderr), norm(direct.stderr))
      assert.deepEqual(proxied.files, direct.files)
    })
  }
})

