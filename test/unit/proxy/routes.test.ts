import { test } from 'node:test'
import assert from 'node:assert/strict'
import { matchIntercept, type InterceptHandler } from '../../../src/proxy/index.js'

const h: InterceptHandler = async () => {}
const table = new Map([['pin/add', h], ['add', h], ['pin/ls', h]])

const cases: Array<{ name: string, path: string, want?: { command: string, args: string[] } }> = [
  { name: 'exact command', path: '/api/v0/pin/add', want: { command: 'pin/add', args: [] } },
  { name: 'trailing slash', path: '/api/v0/pin/add/', want: { command: 'pin/add', args: [] } },
  { name: 'path-embedded argument', path: '/api/v0/pin/add/QmFoo', want: { command: 'pin/add', args: ['QmFoo'] } },
  { name: 'percent-encoded argument', path: '/api/v0/pin/ls/%2Fipfs%2FQmFoo', want: { command: 'pin/ls', args: ['/ipfs/QmFoo'] } },
  { name: 'top-level command', path: '/api/v0/add', want: { command: 'add', args: [] } },
  { name: 'a command not in the table passes through', path: '/api/v0/pin/rm' },
  { name: 'a longer command that shares a prefix passes through', path: '/api/v0/pin/addx' },
  { name: 'an unknown sub-path two levels down passes through', path: '/api/v0/pin/add/a/b' },
  { name: 'outside /api/v0', path: '/pin/add' },
  { name: 'the bare prefix', path: '/api/v0/' },
  // Kubo routes on the decoded path: an encoded command must not slip past the cluster into Kubo.
  { name: 'an encoded slash in the command', path: '/api/v0/pin%2Fadd', want: { command: 'pin/add', args: [] } },
  { name: 'an encoded letter in the command', path: '/api/v0/%70in/add/QmFoo', want: { command: 'pin/add', args: ['QmFoo'] } },
  { name: 'an encoded command and argument', path: '/api/v0/pin%2Fadd%2FQmFoo', want: { command: 'pin/add', args: ['QmFoo'] } }
]

for (const c of cases) {
  test(`matchIntercept: ${c.name}`, () => {
    const m = matchIntercept(c.path, table)
    if (c.want === undefined) assert.equal(m, undefined)
    else assert.deepEqual(m === undefined ? undefined : { command: m.command, args: m.args }, c.want)
  })
}

test('an empty table intercepts nothing', () => {
  assert.equal(matchIntercept('/api/v0/add', new Map()), undefined)
})
