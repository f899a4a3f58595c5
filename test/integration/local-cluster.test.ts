import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { kuboBinary, runCli, type CliResult } from '../fixtures/kubo.js'
import { PINMESH_BIN } from '../fixtures/pinmesh.js'
import { ROOT } from '../fixtures/paths.js'
import { waitFor } from '../fixtures/wait-for.js'

// The README's one-command cluster, started exactly as `npm run cluster` starts it (the command of
// package.json's "cluster" script), on its own ports and directory, then driven with the pinmesh CLI.

const BASE = Number(process.env.PINMESH_LOCAL_TEST_BASE_PORT ?? 20094 + 1000 * Math.floor(Math.random() * 10))
const admin = (i: number): string => `/ip4/127.0.0.1/tcp/${BASE + 100 * i}`

let dir: string
let script: ChildProcess | undefined
let output = ''

interface Summary { kuboApis: string[], peerIds: string[] }

async function startScript (): Promise<Summary> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  const [cmd, ...args] = (pkg.scripts.cluster ?? '').split(' ')
  assert.equal(cmd, 'node', 'the cluster script is a node command')
  output = ''
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, PINMESH_LOCAL_DIR: dir, PINMESH_LOCAL_BASE_PORT: String(BASE), KUBO_BINARY: await kuboBinary() },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  script = child
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`the cluster script exited with ${child.exitCode}:\n${output}`)
    return output.includes('Local cluster is ready.')
  }, { timeoutMs: 240_000, intervalMs: 200, message: `the local cluster to be ready:\n${output}` })
  return {
    kuboApis: [...output.matchAll(/Kubo API (\S+)/g)].map(m => m[1] as string),
    peerIds: [...output.matchAll(/peer id (\S+)/g)].map(m => m[1] as string)
  }
}

/** SIGINT to the script, as Ctrl-C does; resolves with its exit code once it is gone. */
async function stopScript (): Promise<number | null> {
  const child = script
  if (child === undefined || child.exitCode !== null) return child?.exitCode ?? null
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
  child.kill('SIGINT')
  const t = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const code = await exited
  clearTimeout(t)
  return code
}

async function pinmesh (args: string[], timeoutMs = 120_000): Promise<CliResult> {
  return await runCli(process.execPath, [PINMESH_BIN, ...args], { timeoutMs })
}

/** Processes whose command line mentions the cluster directory (every daemon it started does). */
async function processesUsing (path: string): Promise<number[]> {
  const out: number[] = []
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try { if ((await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes(path)) out.push(Number(pid)) } catch { /* gone */ }
  }
  return out
}

let first: Summary
let file: string
let cid: string | undefined

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pinmesh-local-'))
  file = join(dir, 'hello.txt')
  await writeFile(file, `hello from the local cluster ${Date.now()}\n`)
  first = await startScript()
})

after(async () => {
  await stopScript()
  for (const pid of await processesUsing(dir)) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
  await rm(dir, { recursive: true, force: true })
})

test('the script prints 3 peers with their proxy, admin and Kubo addresses, and commands to try', () => {
  assert.equal(first.peerIds.length, 3, output)
  assert.equal(first.kuboApis.length, 3, output)
  for (let i = 0; i < 3; i++) assert.match(output, new RegExp(`peer${i + 1}  proxy /ip4/127.0.0.1/tcp/${BASE + 1 + 100 * i}  admin ${admin(i)}`))
  assert.match(output, /--api \/ip4\/127\.0\.0\.1\/tcp\/\d+ add README\.md/)
  assert.match(output, /npx pinmesh .*peers ls/)
})

test('pinmesh peers ls on each peer lists 3 peers; each peer sees the 2 others', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await pinmesh(['--host', admin(i), 'peers', 'ls'])
    assert.equal(r.code, 0, r.stderr)
    const heads = r.stdout.split('\n').filter(l => /^12D3\S+ \| /.test(l))
    assert.equal(heads.length, 3, r.stdout)
    assert.deepEqual(heads.map(l => l.split(' | ')[0]).sort(), [...first.peerIds].sort())
    assert.equal(heads.filter(l => l.endsWith(' | Sees 2 other peers (this peer)')).length, 1, r.stdout)
    assert.match(heads.find(l => l.includes('(this peer)')) as string, new RegExp(`^${first.peerIds[i] as string} \\| peer${i + 1} \\|`))
    assert.equal(heads.filter(l => l.endsWith(' | Connected | Alive')).length, 2, r.stdout)
    const json = JSON.parse((await pinmesh(['--host', admin(i), 'peers', 'ls', '--json'])).stdout) as { self: { id: string }, peers: Array<{ connected: boolean }> }
    assert.equal(json.self.id, first.peerIds[i])
    assert.equal(json.peers.filter(p => p.connected).length, 2)
  }
})

test('pinmesh add <file> prints the CID Kubo computes (POST /add on the admin API)', async () => {
  const expected = (await runCli(await kuboBinary(), ['--api', first.kuboApis[0] as string, 'add', '-q', '--only-hash', file])).stdout.trim()
  const r = await pinmesh(['--host', admin(0), 'add', file])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, `added ${expected} hello.txt\n`)
  cid = expected
})

test('pinmesh status <cid> --wait shows PINNED on all 3 peers', async () => {
  assert.ok(cid !== undefined, 'the add test ran first')
  const r = await pinmesh(['--host', admin(2), 'status', cid, '--wait', '--wait-timeout', '90s'])
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  assert.match(lines[0] as string, new RegExp(`^${cid}( \\| \\S+)?:$`))
  assert.equal(lines.length, 4, r.stdout)
  for (let i = 0; i < 3; i++) assert.match(lines[i + 1] as string, new RegExp(`^    > peer${i + 1} +: PINNED \\| `))
  const json = JSON.parse((await pinmesh(['--host', admin(1), 'status', cid, '--json'])).stdout) as { peerMap: Record<string, { status: string }> }
  assert.deepEqual(Object.values(json.peerMap).map(p => p.status), ['pinned', 'pinned', 'pinned'])
})

test('SIGINT stops every pinmesh and Kubo process; a second start reuses the directory', async () => {
  const pids = (JSON.parse(await readFile(join(dir, 'pids.json'), 'utf8')) as { pids: number[] }).pids
  assert.equal(pids.length, 6)
  assert.equal(await stopScript(), 0, output)
  assert.match(output, /Stopped\./)
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} is still running`)
  assert.deepEqual(await processesUsing(dir), [])

  const again = await startScript()
  assert.deepEqual(again.peerIds, first.peerIds, 'same identities')
  const ls = await pinmesh(['--host', admin(1), 'pin', 'ls'])
  assert.equal(ls.code, 0, ls.stderr)
  assert.match(ls.stdout, new RegExp(`^${cid as string} \\| `))
  assert.equal(await stopScript(), 0, output)
  assert.deepEqual(await processesUsing(dir), [])
})
