import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { kuboBinary, kuboEnv, runCli, type CliResult } from '../fixtures/kubo.js'
import { FIXTURES } from '../fixtures/paths.js'
import { kuboBehindPinmeshPerFile } from '../fixtures/proxy-pair.js'
import { COMMANDS, EXPECTED_DIFFERENCES, snapshotDir, type DiffCase, type DiffState, type Step } from '../fixtures/kubo-commands.js'

// The differential test: every command `ipfs commands` lists, run with the real `ipfs` CLI once against
// Kubo's API and once through pinmesh's proxy in front of the same Kubo. Everything must print the same,
// except the explicitly listed differences of the commands the cluster answers (EXPECTED_DIFFERENCES).

const pair = kuboBehindPinmeshPerFile()

/** Where the outcome goes as JSON, for `npm run bench:differential`. */
const REPORT = process.env.PINMESH_DIFFERENTIAL_REPORT

interface RunResult extends CliResult { files?: Record<string, string> }

interface Outcome {
  id: string
  identical: boolean
  expected?: string
  diff?: string
  /** Kubo's exit status, the first line of its stderr and the start of its stdout, for the report. */
  kubo: { code: number, stderr: string, stdout: string }
}

async function cliEnv (): Promise<{ bin: string, env: NodeJS.ProcessEnv }> {
  // EDITOR=true: `config edit` must not open an editor.
  return { bin: await kuboBinary(), env: { ...kuboEnv(pair.kubo.repo), EDITOR: 'true' } }
}

async function run (api: string, step: Step, opts: { cwd?: string, boundedMs?: number } = {}): Promise<RunResult> {
  const { bin, env } = await cliEnv()
  const args = ['--api', api, ...step.args]
  if (opts.boundedMs === undefined) return await runCli(bin, args, { env, input: step.input, cwd: opts.cwd, timeoutMs: 30_000 })
  // A stream that only ends when stopped: what matters is that it is still up after boundedMs.
  return await new Promise((resolve, reject) => {
    const proc = spawn(bin, args, { env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { proc.kill('SIGKILL') }, opts.boundedMs)
    proc.once('error', reject)
    proc.once('close', (code, signal) => {
      clearTimeout(timer)
      if (signal === 'SIGKILL') resolve({ code: -1, stdout: '<still streaming>', stderr: '', stdoutBytes: Buffer.from('<still streaming>') })
      else resolve({ code: code ?? -1, stdout, stderr, stdoutBytes: Buffer.from(stdout) })
    })
  })
}

async function must (api: string, step: Step): Promise<string> {
  const r = await run(api, step)
  assert.equal(r.code, 0, `ipfs ${step.args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

/** Builds the state the cases refer to. Pins go through pinmesh, so the cluster pinset and Kubo's agree. */
async function prepare (dir: string): Promise<DiffState> {
  const kubo = pair.kubo.apiMultiaddr
  const proxy = pair.pinmesh.proxyMultiaddr
  const last = (s: string): string => s.trim().split('\n').at(-1) as string
  const filePath = join(FIXTURES, 'tree', 'a.txt')
  const treePath = join(FIXTURES, 'tree')
  const fileCid = last(await must(proxy, { args: ['add', '-Q', filePath] }))
  const treeCid = last(await must(proxy, { args: ['add', '-Q', '-r', treePath] }))
  // What the `add` cases pin is pinned beforehand, so that adding it again leaves the pins as they were.
  const bigPath = join(treePath, 'sub', 'random.bin')
  for (const args of [['-w', filePath], ['--cid-version=1', '--raw-leaves', bigPath], [bigPath], [join(treePath, 'sub', 'b.txt')]]) await must(proxy, { args: ['add', '-Q', ...args] })
  const subCid = (await must(kubo, { args: ['files', 'stat', '--hash', `/ipfs/${treeCid}/sub`] })).trim()
  const directCid = last(await must(kubo, { args: ['block', 'put'], input: 'pinned directly\n' }))
  await must(proxy, { args: ['pin', 'add', '--recursive=false', directCid] })
  const looseText = 'loose text, stored but not pinned\n'
  const looseCid = last(await must(kubo, { args: ['add', '-Q', '--pin=false'], input: looseText }))
  const blockBytes = 'raw block bytes\n'
  const blockCid = last(await must(kubo, { args: ['block', 'put'], input: blockBytes }))
  const dagJson = '{"hello":"pinmesh","n":[1,2,3]}'
  const dagCid = last(await must(kubo, { args: ['dag', 'put'], input: dagJson }))
  const newText = 'text that neither node has stored yet\n'
  const newTextCid = last(await must(kubo, { args: ['add', '-Q', '--only-hash'], input: newText }))
  // A file missing one of its blocks: reading it offline fails halfway through the stream (X-Stream-Error trailer).
  const brokenCid = last(await must(kubo, { args: ['add', '-Q', '--pin=false', '--raw-leaves', '--chunker=size-100000', bigPath] }))
  const leaves = (await must(kubo, { args: ['refs', brokenCid] })).trim().split('\n')
  assert.equal(leaves.length, 3)
  await must(kubo, { args: ['block', 'rm', leaves[1] as string] })
  const carPath = join(dir, 'tree.car')
  const exported = await run(kubo, { args: ['dag', 'export', treeCid] })
  assert.equal(exported.code, 0)
  await writeFile(carPath, exported.stdoutBytes)
  const keyName = 'pm-key'
  const keyId = (await must(kubo, { args: ['key', 'gen', keyName] })).trim()
  // `key export` needs the daemon stopped; `key import` takes the same libp2p protobuf key file.
  await writeFile(join(dir, 'pm-key.key'), privateKeyToProtobuf(await generateKeyPair('Ed25519')))
  await must(kubo, { args: ['files', 'mkdir', '/pm-state'] })
  await must(kubo, { args: ['files', 'cp', `/ipfs/${fileCid}`, '/pm-state/a.txt'] })
  await must(kubo, { args: ['name', 'publish', `--key=${keyName}`, `/ipfs/${fileCid}`] })
  const record = await run(kubo, { args: ['routing', 'get', `/ipns/${keyId}`] })
  assert.equal(record.code, 0, record.stderr)
  const recordFile = join(dir, 'record.bin')
  await writeFile(recordFile, record.stdoutBytes)
  const signedText = 'signed by pm-key\n'
  const signature = (JSON.parse(await must(kubo, { args: ['key', 'sign', `--key=${keyName}`, '--enc=json'], input: signedText })) as { Signature: string }).Signature
  const multibaseFile = join(dir, 'multibase.txt')
  await writeFile(multibaseFile, (await must(kubo, { args: ['multibase', 'encode', '-b', 'base32', filePath] })).trim())
  // Kubo's init pins the empty directory; pinned through pinmesh too, both sides list the same pins.
  const clusterPins = new Set((await must(proxy, { args: ['pin', 'ls', '--type=all', '--quiet'] })).split('\n'))
  for (const line of (await must(kubo, { args: ['pin', 'ls', '--type=recursive'] })).split('\n')) {
    const [cid] = line.split(' ')
    if (cid !== undefined && cid !== '' && !clusterPins.has(cid)) await must(proxy, { args: ['pin', 'add', cid] })
  }
  const configFile = join(dir, 'config.json')
  await writeFile(configFile, await must(kubo, { args: ['config', 'show'] }))
  return {
    fileCid,
    filePath,
    treeCid,
    treePath,
    subCid,
    bigPath,
    directCid,
    looseCid,
    looseText,
    brokenCid,
    blockCid,
    blockBytes,
    dagCid,
    dagJson,
    newText,
    newTextCid,
    carPath,
    peerId: pair.kubo.peerId,
    otherPeer: '12D3KooWJWstWgwD8BBYUR57zPDL4Rf3aisgQ5DdU6TCFLbsQnbv',
    keyName,
    keyId,
    keyFile: join(dir, 'pm-key.key'),
    recordFile,
    signedText,
    signature,
    multibaseFile,
    configFile
  }
}

/** `ipfs <args>` with the state's values named, so that ids are readable and stable. */
function caseId (c: DiffCase, state: DiffState, dir: string): string {
  if (c.id !== undefined) return c.id
  const names = Object.entries(state).filter(([, v]) => typeof v === 'string' && v.length >= 8).sort((a, b) => b[1].length - a[1].length)
  let s = `ipfs ${c.args.join(' ')}`.trimEnd()
  for (const [k, v] of names) s = s.split(v).join(`<${k}>`)
  return s.split(dir).join('<dir>')
}

/** What two runs may legitimately differ in, whatever the command: the API address the CLI was pointed at. */
function normalizeApi (s: string): string {
  const ports = [pair.kubo.apiMultiaddr, pair.pinmesh.proxyMultiaddr].map(a => /\/tcp\/(\d+)/.exec(a)?.[1] as string)
  let out = s
  for (const p of ports) out = out.split(`127.0.0.1:${p}`).join('127.0.0.1:<api>').split(`/tcp/${p}`).join('/tcp/<api>')
  return out
}

function view (c: DiffCase, r: RunResult): { code: number, stdout: string, stderr: string, files?: Record<string, string> } {
  const norm = (s: string): string => normalizeApi(c.normalize?.(s) ?? s)
  // Byte for byte unless normalised: latin1 maps each byte to one character (and stays readable in messages).
  let stdout = c.normalize === undefined && c.compare !== 'lines' ? normalizeApi(r.stdoutBytes.toString('latin1')) : norm(r.stdout)
  if (c.compare === 'lines') stdout = stdout.split('\n').filter(l => l !== '').sort().join('\n')
  return { code: r.code, stdout, stderr: norm(r.stderr), files: r.files }
}

/** The pin lists both sides show, which every case that pins or unpins must leave as it found them. */
async function pinLists (): Promise<string> {
  const sorted = (s: string): string => s.split('\n').sort().join('\n')
  const kubo = await must(pair.kubo.apiMultiaddr, { args: ['pin', 'ls', '--type=all'] })
  const cluster = await must(pair.pinmesh.proxyMultiaddr, { args: ['pin', 'ls', '--type=recursive'] })
  return `${sorted(kubo)}\n--\n${sorted(cluster)}`
}

async function settle (baseline: string, id: string): Promise<void> {
  const deadline = Date.now() + 15_000
  let now = await pinLists()
  while (now !== baseline && Date.now() < deadline) {
    await sleep(100)
    now = await pinLists()
  }
  assert.equal(now, baseline, `${id} did not leave the pins as it found them`)
}

async function runSide (c: DiffCase, api: string, baseline: string, id: string): Promise<RunResult> {
  for (const b of c.before ?? []) await must(api, b)
  const cwd = await mkdtemp(join(tmpdir(), 'pinmesh-diff-'))
  try {
    const r: RunResult = await run(api, { args: c.args, input: c.input }, { cwd, boundedMs: c.boundedMs })
    if (c.compareCwd === true) r.files = await snapshotDir(cwd)
    return r
  } finally {
    await rm(cwd, { recursive: true, force: true })
    if (c.restartsKubo === true) await pair.kubo.restart()
    // Not checked: when the command failed there may be nothing to undo (settle() checks the pins).
    for (const a of c.after ?? []) await run(api, a)
    if (c.pins === true) await settle(baseline, id)
  }
}

function firstDifference (a: ReturnType<typeof view>, b: ReturnType<typeof view>): string | undefined {
  if (a.code !== b.code) return `exit status ${a.code} (Kubo) vs ${b.code} (pinmesh); stderr Kubo: ${a.stderr.slice(0, 300)} | pinmesh: ${b.stderr.slice(0, 300)}`
  if (a.stdout !== b.stdout) return `stdout Kubo: ${JSON.stringify(a.stdout.slice(0, 400))}\n  pinmesh: ${JSON.stringify(b.stdout.slice(0, 400))}`
  if (a.stderr !== b.stderr) return `stderr Kubo: ${JSON.stringify(a.stderr.slice(0, 400))}\n  pinmesh: ${JSON.stringify(b.stderr.slice(0, 400))}`
  try { assert.deepEqual(b.files, a.files) } catch { return 'the files written differ' }
  return undefined
}

test('every ipfs command prints the same through pinmesh as against Kubo, but for the listed differences', { timeout: 15 * 60_000 }, async (t) => {
  const listed = (await must(pair.kubo.apiMultiaddr, { args: ['commands'] })).split('\n').filter(l => l !== '').map(l => l.replace(/^ipfs ?/, ''))
  assert.ok(listed.length > 100, `ipfs commands listed only ${listed.length}`)
  const unaccounted = listed.filter(c => COMMANDS[c] === undefined)
  assert.deepEqual(unaccounted, [], 'commands Kubo has that test/fixtures/kubo-commands.ts does not account for')
  const gone = Object.keys(COMMANDS).filter(c => !listed.includes(c))
  assert.deepEqual(gone, [], 'commands in the table that Kubo no longer lists')

  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-diff-state-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const state = await prepare(dir)
  const baseline = await pinLists()

  const notRun: string[] = []
  const cases: Array<{ command: string, c: DiffCase, id: string }> = []
  for (const command of listed) {
    const entry = COMMANDS[command]
    assert.ok(entry !== undefined)
    if ('notRun' in entry) { notRun.push(`ipfs ${command}: ${entry.notRun}`); continue }
    const cs = entry.cases(state)
    assert.ok(cs.length > 0, `no case for ipfs ${command}`)
    for (const c of cs) {
      assert.deepEqual(c.args.slice(0, command === '' ? 0 : command.split(' ').length), command === '' ? [] : command.split(' '), `a case of "ipfs ${command}" runs another command`)
      cases.push({ command, c, id: caseId(c, state, dir) })
    }
  }
  const order = { undefined: 0, late: 1, last: 2 }
  cases.sort((a, b) => order[`${a.c.phase}`] - order[`${b.c.phase}`])
  const ids = cases.map(x => x.id)
  assert.equal(new Set(ids).size, ids.length, 'case ids must be unique')
  const stale = Object.keys(EXPECTED_DIFFERENCES).filter(id => !ids.includes(id))
  assert.deepEqual(stale, [], 'EXPECTED_DIFFERENCES lists cases that do not exist')

  const outcomes: Outcome[] = []
  const started = Date.now()
  for (const { c, id } of cases) {
    const kuboRun = await runSide(c, pair.kubo.apiMultiaddr, baseline, id)
    const direct = view(c, kuboRun)
    const proxied = view(c, await runSide(c, pair.pinmesh.proxyMultiaddr, baseline, id))
    const diff = firstDifference(direct, proxied)
    outcomes.push({ id, identical: diff === undefined, expected: EXPECTED_DIFFERENCES[id], diff, kubo: { code: direct.code, stderr: direct.stderr.split('\n')[0] ?? '', stdout: kuboRun.stdout.slice(0, 200) } })
  }
  const seconds = (Date.now() - started) / 1000
  assert.equal(await pinLists(), baseline, 'the cases did not leave the pins as they found them')

  const identical = outcomes.filter(o => o.identical)
  const expected = outcomes.filter(o => !o.identical && o.expected !== undefined)
  const unexpected = outcomes.filter(o => !o.identical && o.expected === undefined)
  const nowIdentical = outcomes.filter(o => o.identical && o.expected !== undefined)
  const summary = `differential: ${identical.length}/${outcomes.length} identical over ${listed.length} commands ` +
    `(${listed.length - notRun.length} run, ${notRun.length} not run) in ${seconds.toFixed(1)} s; ` +
    `${expected.length} expected differences: ${expected.map(o => o.id).join('; ')}`
  t.diagnostic(summary)
  console.log(summary)
  if (REPORT !== undefined) {
    await writeFile(REPORT, JSON.stringify({ identical: identical.length, total: outcomes.length, commands: listed.length, notRun, seconds, expected: expected.map(o => ({ id: o.id, reason: o.expected, diff: o.diff })), unexpected, nowIdentical: nowIdentical.map(o => o.id), cases: outcomes }, null, 2))
  }
  assert.deepEqual(unexpected.map(o => `${o.id}\n  ${o.diff ?? ''}`), [], 'unexpected differences between Kubo and pinmesh')
  assert.deepEqual(nowIdentical.map(o => o.id), [], 'listed as expected differences but identical now: remove them from EXPECTED_DIFFERENCES')
})
