import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { FIXTURES } from '../fixtures/paths.js'
import { httpRequest } from '../fixtures/http.js'
import { kuboBehindPinmeshPerFile } from '../fixtures/proxy-pair.js'
import type { KuboDaemon } from '../fixtures/kubo.js'

// One real Kubo with pinmesh in front of it: pinmesh's pin/ls must answer what Kubo answers for
// the same pins, indirect ones and pins made in Kubo behind pinmesh's back included.

const pair = kuboBehindPinmeshPerFile()

interface Tree { root: string, sub: string, a: string, b: string, bin: string, legacy: string, legacyChild: string }
let tree: Tree
let setup: Promise<void> | undefined

async function cli (kubo: KuboDaemon, args: string[], api?: string): Promise<string> {
  const r = await kubo.cli(args, api !== undefined ? { api } : {})
  assert.equal(r.code, 0, r.stderr)
  return r.stdout
}

/** The pins every test looks at, made once (the pair's own before() hook must have run first). */
async function pins (): Promise<void> { setup ??= makePins(); await setup }

async function makePins (): Promise<void> {
  const k = pair.kubo
  const proxy = pair.pinmesh.proxyMultiaddr
  const added = await cli(k, ['add', '-r', '--pin=false', join(FIXTURES, 'tree')])
  const cidOf = (name: string): string => (new RegExp(`^added (\\S+) ${name}$`, 'm').exec(added) ?? [])[1] as string
  tree = { root: cidOf('tree'), sub: cidOf('tree/sub'), a: cidOf('tree/a.txt'), b: cidOf('tree/sub/b.txt'), bin: cidOf('tree/sub/random.bin'), legacy: '', legacyChild: '' }
  // Through pinmesh: the tree recursively, one file in it directly, its subdirectory recursively too.
  await cli(k, ['pin', 'add', '--name', 'tree', tree.root], proxy)
  await cli(k, ['pin', 'add', '--recursive=false', '--name', 'a-direct', tree.a], proxy)
  await cli(k, ['pin', 'add', tree.sub], proxy)
  // Directly in Kubo, behind pinmesh: a wrapped file (a directory with one child), with a name.
  const legacy = await cli(k, ['add', '-w', '-q', '--pin-name', 'legacy', join(FIXTURES, 'tree', 'sub', 'b.txt')])
  const [child, wrapper] = legacy.trim().split('\n')
  tree.legacy = wrapper as string
  tree.legacyChild = child as string
}

async function both (path: string): Promise<Array<{ status: number, body: string }>> {
  const out = []
  for (const base of [pair.kubo.apiUrl, pair.pinmesh.proxyUrl]) {
    const r = await httpRequest(`${base}/api/v0/${path}`)
    out.push({ status: r.status, body: r.body.toString() })
  }
  return out
}

/** NDJSON lines as a sorted list: Kubo promises no order within a type. */
const lines = (s: string): string[] => s.split('\n').filter(l => l !== '').sort()

test('pin/ls lists recursive, direct and indirect pins exactly as Kubo does (type=all and type=indirect, JSON and stream)', async (t) => {
  await pins()
  const paths = ['pin/ls', 'pin/ls?names=true', 'pin/ls?type=all', 'pin/ls?type=indirect', 'pin/ls?type=recursive&names=true', 'pin/ls?type=direct',
    'pin/ls?name=leg', 'pin/ls?type=indirect&names=true']
  for (const path of paths) {
    await t.test(path, async () => {
      const [kubo, pinmesh] = await both(path)
      assert.equal(pinmesh?.status, kubo?.status)
      assert.equal(pinmesh?.body, kubo?.body)
    })
    await t.test(`${path} stream=true`, async () => {
      const p = `${path}${path.includes('?') ? '&' : '?'}stream=true`
      const [kubo, pinmesh] = await both(p)
      assert.equal(pinmesh?.status, kubo?.status)
      assert.deepEqual(lines(pinmesh?.body ?? ''), lines(kubo?.body ?? ''))
    })
  }
  // The listing is not trivially empty: the children of the tree are there as indirect pins.
  const indirect = JSON.parse((await both('pin/ls?type=indirect'))[1]?.body ?? '{}') as { Keys: Record<string, unknown> }
  for (const c of [tree.b, tree.bin, tree.legacyChild]) assert.ok(c in indirect.Keys, `${c} indirect`)
  assert.ok(!(tree.a in indirect.Keys), 'a direct pin is not listed again as indirect')
  assert.ok(!(tree.sub in indirect.Keys), 'a recursive pin is not listed again as indirect')
  // Pins outside the cluster pinset are listed too: the legacy one made behind pinmesh's back, and the empty
  // directory `ipfs init` pinned before pinmesh started.
  const listed = JSON.parse((await both('pin/ls?type=recursive'))[1]?.body ?? '{}') as { Keys: Record<string, unknown> }
  const admin = await fetch(`${pair.pinmesh.apiUrl}/allocations`).then(async r => await r.text())
  const outside = Object.keys(listed.Keys).filter(c => !admin.includes(c))
  assert.ok(outside.includes(tree.legacy), 'the legacy pin is listed, and is not a cluster pin')
  assert.ok(outside.length >= 2, `a pin from before pinmesh is listed too: ${outside.join(' ')}`)
})

test('stream=true emits recursive, then direct, then indirect pins, as Kubo does', async () => {
  await pins()
  const r = await httpRequest(`${pair.pinmesh.proxyUrl}/api/v0/pin/ls?stream=true`)
  const types = r.body.toString().split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { Type: string }).Type)
  assert.deepEqual(types, [...types].sort((x, y) => ['recursive', 'direct', 'indirect'].indexOf(x) - ['recursive', 'direct', 'indirect'].indexOf(y)))
  assert.deepEqual(new Set(types), new Set(['recursive', 'direct', 'indirect']))
})

test('pin/ls <cid|path> of a CID held only indirectly answers "indirect through <root>" like Kubo', async (t) => {
  await pins()
  const cases = [
    `arg=${tree.b}`, `arg=${tree.b}&names=true`, `arg=${tree.b}&stream=true&names=true`, `arg=${tree.b}&type=indirect`,
    `arg=${tree.b}&type=recursive`, `arg=${tree.b}&type=direct`, `arg=/ipfs/${tree.root}/a.txt`, `arg=/ipfs/${tree.root}/sub/random.bin&stream=true`,
    `arg=${tree.a}`, `arg=${tree.a}&type=indirect`, `arg=${tree.sub}&type=indirect`, `arg=${tree.root}&names=true`, `arg=${tree.root}&name=zzz`,
    `arg=${tree.legacyChild}`, `arg=${tree.legacy}&names=true&stream=true`, `arg=${tree.root}&arg=${tree.a}`
  ]
  for (const q of cases) {
    await t.test(q, async () => {
      const [kubo, pinmesh] = await both(`pin/ls?${q}`)
      assert.equal(pinmesh?.status, kubo?.status, pinmesh?.body)
      assert.equal(pinmesh?.body, kubo?.body)
    })
  }
  const [, one] = await both(`pin/ls?arg=${tree.b}`)
  // b.txt sits below the tree, its subdirectory and the legacy wrapper: Kubo names the first it finds.
  assert.match(one?.body ?? '', new RegExp(`"Type":"indirect through (${tree.sub}|${tree.root}|${tree.legacy})"`))
})

test('pin/ls of an invalid path gives Kubo\'s own message, not "is not pinned"', async (t) => {
  await pins()
  for (const arg of ['notacid', '/ipfs/notacid', '/foo/bar', 'Qmfoo', '', ` ${'Qm'}`, `/ipfs/${'x'}/y`]) {
    await t.test(JSON.stringify(arg), async () => {
      const [kubo, pinmesh] = await both(`pin/ls?arg=${encodeURIComponent(arg)}`)
      assert.equal(kubo?.status, 500)
      assert.match(kubo?.body ?? '', /invalid path/)
      assert.equal(pinmesh?.status, kubo?.status)
      assert.equal(pinmesh?.body, kubo?.body)
    })
  }
})

test('the ipfs CLI prints the same pin ls through pinmesh as against Kubo', async (t) => {
  await pins()
  const cases = [['pin', 'ls'], ['pin', 'ls', '--type=indirect'], ['pin', 'ls', '--names'], ['pin', 'ls', '-s'], ['pin', 'ls', tree.b], ['pin', 'ls', `/ipfs/${tree.root}/sub/b.txt`], ['pin', 'ls', 'notacid']]
  for (const args of cases) {
    await t.test(args.join(' '), async () => {
      const direct = await pair.kubo.cli(args)
      const proxied = await pair.kubo.cli(args, { api: pair.pinmesh.proxyMultiaddr })
      assert.equal(proxied.code, direct.code)
      assert.deepEqual(lines(proxied.stdout), lines(direct.stdout))
      assert.equal(proxied.stderr, direct.stderr)
    })
  }
  const one = await pair.kubo.cli(['pin', 'ls', tree.b], { api: pair.pinmesh.proxyMultiaddr })
  assert.match(one.stdout, new RegExp(`^${tree.b} indirect through Qm\\w+\\n$`))
})
