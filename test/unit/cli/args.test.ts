import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CliUsageError, isClientCommand, parseClientArgs, pinQuery } from '../../../src/cli/args.js'

test('client commands are recognised by their first word; daemon commands are not', () => {
  for (const w of ['id', 'peers', 'status', 'pin', 'add', 'recover', 'health']) assert.equal(isClientCommand(w), true, w)
  for (const w of ['daemon', 'init', 'config', 'version', 'help', undefined]) assert.equal(isClientCommand(w), false, String(w))
})

test('global flags may come before or after the command words', () => {
  const a = parseClientArgs(['--host', '/ip4/10.0.0.1/tcp/9094', 'pin', 'add', 'bafyX', '--replication', '2', '--json'])
  assert.equal(a.command, 'pin add')
  assert.deepEqual(a.args, ['bafyX'])
  assert.equal(a.values.host, '/ip4/10.0.0.1/tcp/9094')
  assert.equal(a.values.replication, '2')
  assert.equal(a.values.json, true)
  const b = parseClientArgs(['status', '--host=http://h:1', 'Qm1', '--wait', '--wait-timeout', '30s'])
  assert.equal(b.command, 'status')
  assert.deepEqual(b.args, ['Qm1'])
  assert.equal(b.values.wait, true)
})

test('an option value that looks like a command word is not taken for the command', () => {
  const a = parseClientArgs(['--host', 'status:1', 'peers', 'ls'])
  assert.equal(a.command, 'peers ls')
  const b = parseClientArgs(['pin', 'add', '--name', 'add', 'Qm1'])
  assert.equal(b.values.name, 'add')
  assert.deepEqual(b.args, ['Qm1'])
})

test('add takes short flags -r -q -Q -w -H and several paths', () => {
  const a = parseClientArgs(['add', '-r', '-Q', '-w', 'a', 'b', '--meta', 'x=1', '--meta', 'y=2'])
  assert.equal(a.command, 'add')
  assert.deepEqual(a.args, ['a', 'b'])
  assert.equal(a.values.recursive, true)
  assert.equal(a.values.quieter, true)
  assert.equal(a.values['wrap-with-directory'], true)
  assert.deepEqual(a.values.meta, ['x=1', 'y=2'])
})

test('usage errors name the problem', () => {
  assert.throws(() => parseClientArgs(['pin']), (e: Error) => e instanceof CliUsageError && /pin add, pin rm, pin ls/.test(e.message))
  assert.throws(() => parseClientArgs(['peers', 'rm']), /needs a subcommand/)
  assert.throws(() => parseClientArgs(['status', '--replication', '2']), (e: Error) => e instanceof CliUsageError && /status: Unknown option '--replication'/.test(e.message))
  assert.throws(() => parseClientArgs(['id', '--cluster-secret', 'x']), /Unknown option '--cluster-secret'/)
  assert.throws(() => parseClientArgs(['pin', 'add', '--wait=yes']), CliUsageError)
})

test('pin flags become the admin API query parameters', () => {
  const { values } = parseClientArgs(['pin', 'add', 'Qm1', '--replication-min', '2', '--replication-max', '3', '--name', 'n',
    '--meta', 'a=b', '--meta', 'c=d=e', '--expire-in', '1h', '--allocations', 'p1,p2', '--mode', 'direct'])
  assert.deepEqual(pinQuery(values), {
    'replication-min': '2', 'replication-max': '3', name: 'n', mode: 'direct', 'expire-in': '1h', 'user-allocations': 'p1,p2', 'meta-a': 'b', 'meta-c': 'd=e'
  })
  assert.deepEqual(pinQuery(parseClientArgs(['pin', 'add', 'Qm1', '--replication', '-1']).values), { replication: '-1' })
})

test('malformed pin flags are refused before anything is sent', () => {
  const bad = [
    [['--replication', '0'], /--replication must be a positive whole number or -1/],
    [['--replication', 'two'], /got "two"/],
    [['--replication-min', '3', '--replication-max', '2'], /must not be larger/],
    [['--meta', 'novalue'], /--meta takes key=value/],
    [['--meta', '=v'], /--meta takes key=value/],
    [['--mode', 'indirect'], /--mode must be recursive or direct/]
  ] as const
  for (const [flags, re] of bad) {
    const { values } = parseClientArgs(['pin', 'add', 'Qm1', ...flags])
    assert.throws(() => pinQuery(values), re, flags.join(' '))
  }
})
