import type { AdminClient, AddEvent } from '../api/client.js'
import type { GlobalPinInfo } from '../cluster/index.js'
import { parseDuration } from '../utils/duration.js'
import { CliUsageError, pinQuery, type ClientCommand, type ParsedClientArgs } from './args.js'
import { formatAdded, formatId, formatPeers, formatPin, formatRecoverAll, formatStatus, peerNames } from './format.js'
import { collectEntries, multipartBody, multipartContentType, newBoundary } from './multipart.js'
import { AddProgress, ProgressBar } from './progress.js'
import { waitPinned } from './wait.js'

/** Where a command writes. `stderr.isTTY` turns the add progress bar on. */
export interface CliIo {
  stdout: { write: (s: string) => unknown }
  stderr: { write: (s: string) => unknown, isTTY?: boolean, columns?: number }
}

export interface CommandContext {
  client: AdminClient
  io: CliIo
  args: string[]
  values: ParsedClientArgs['values']
  json: boolean
  signal?: AbortSignal
}

type Command = (ctx: CommandContext) => Promise<number>

function printJson (ctx: CommandContext, value: unknown): void {
  ctx.io.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

function oneArg (ctx: CommandContext, what: string, optional: true): string | undefined
function oneArg (ctx: CommandContext, what: string, optional?: false): string
function oneArg (ctx: CommandContext, what: string, optional = false): string | undefined {
  if (ctx.args.length > 1) throw new CliUsageError(`expected one ${what}, got ${ctx.args.length}: ${ctx.args.join(' ')}`)
  if (!optional && ctx.args.length === 0) throw new CliUsageError(`missing ${what}`)
  return ctx.args[0]
}

function waitTimeout (ctx: CommandContext): number | undefined {
  const v = ctx.values['wait-timeout']
  if (typeof v !== 'string') return undefined
  if (ctx.values.wait !== true) throw new CliUsageError('--wait-timeout only makes sense with --wait')
  try { return parseDuration(v) } catch (err) { throw new CliUsageError(`--wait-timeout: ${(err as Error).message}`) }
}

async function names (ctx: CommandContext): Promise<Map<string, string>> {
  const [self, peers] = await Promise.all([ctx.client.id({ signal: ctx.signal }), ctx.client.peers({ signal: ctx.signal })])
  return peerNames(self, peers)
}

/** Prints one CID's cluster status (waiting for it with --wait), as JSON or as ipfs-cluster-ctl does. */
async function printStatusOf (ctx: CommandContext, cid: string, timeoutMs: number | undefined): Promise<void> {
  const n = ctx.json ? new Map<string, string>() : await names(ctx)
  const info = await statusOf(ctx, cid, ctx.values.wait === true, timeoutMs, n)
  if (ctx.json) printJson(ctx, info)
  else ctx.io.stdout.write(formatStatus(info, n))
}

async function statusOf (ctx: CommandContext, cid: string, wait: boolean, timeoutMs: number | undefined, peerNamesMap: Map<string, string>): Promise<GlobalPinInfo> {
  if (!wait) return await ctx.client.status(cid, { signal: ctx.signal })
  return await waitPinned(async (c, o) => await ctx.client.status(c, o), cid, { timeoutMs, signal: ctx.signal, names: peerNamesMap })
}

const id: Command = async (ctx) => {
  if (ctx.args.length > 0) throw new CliUsageError('id takes no arguments')
  const [self, peers] = await Promise.all([ctx.client.id({ signal: ctx.signal }), ctx.client.peers({ signal: ctx.signal })])
  if (ctx.json) printJson(ctx, self)
  else ctx.io.stdout.write(formatId(self, peers))
  return 0
}

const peersLs: Command = async (ctx) => {
  if (ctx.args.length > 0) throw new CliUsageError('peers ls takes no arguments')
  const [self, peers] = await Promise.all([ctx.client.id({ signal: ctx.signal }), ctx.client.peers({ signal: ctx.signal })])
  if (ctx.json) printJson(ctx, { self, peers })
  else ctx.io.stdout.write(formatPeers(self, peers))
  return 0
}

const status: Command = async (ctx) => {
  const cid = oneArg(ctx, 'CID', true)
  const timeoutMs = waitTimeout(ctx)
  const filter = typeof ctx.values.filter === 'string' ? ctx.values.filter : undefined
  if (cid === undefined) {
    if (ctx.values.wait === true) throw new CliUsageError('--wait needs a CID')
    const all = ctx.client.statusAll(filter, { signal: ctx.signal })
    if (ctx.json) {
      const list = []
      for await (const info of all) list.push(info)
      printJson(ctx, list)
      return 0
    }
    const n = await names(ctx)
    for await (const info of all) ctx.io.stdout.write(formatStatus(info, n))
    return 0
  }
  if (filter !== undefined) throw new CliUsageError('--filter applies to the status of every pin, not to one CID')
  await printStatusOf(ctx, cid, timeoutMs)
  return 0
}

const pinAdd: Command = async (ctx) => {
  const cid = oneArg(ctx, 'CID')
  const timeoutMs = waitTimeout(ctx)
  const query = pinQuery(ctx.values)
  await ctx.client.pin(cid, query, { signal: ctx.signal })
  // Like ipfs-cluster-ctl: the answer to a pin is where it stands afterwards.
  await printStatusOf(ctx, cid, timeoutMs)
  return 0
}

const pinRm: Command = async (ctx) => {
  const cid = oneArg(ctx, 'CID')
  const timeoutMs = waitTimeout(ctx)
  const record = await ctx.client.unpin(cid, { signal: ctx.signal })
  if (ctx.values.wait === true) {
    // The admin API reports per-peer status only for pins in the pinset, so waiting ends when the
    // removal is visible there (every peer's tracker then unpins on its own).
    const deadline = timeoutMs !== undefined && timeoutMs > 0 ? Date.now() + timeoutMs : Infinity
    for (;;) {
      try { await ctx.client.allocation(cid, { signal: ctx.signal }) } catch (err) {
        if ((err as { code?: string }).code === 'ERR_PIN_NOT_FOUND') break
        throw err
      }
      if (Date.now() > deadline) throw new Error(`${cid} is still in the pinset after ${ctx.values['wait-timeout'] as string}`)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
  if (ctx.json) printJson(ctx, record)
  else ctx.io.stdout.write(`unpinned ${record.cid}${record.name !== '' ? ` | ${record.name}` : ''}: removed from the cluster pinset, every peer unpins it\n`)
  return 0
}

const pinLs: Command = async (ctx) => {
  const cid = oneArg(ctx, 'CID', true)
  if (cid !== undefined) {
    const pin = await ctx.client.allocation(cid, { signal: ctx.signal })
    if (ctx.json) printJson(ctx, pin)
    else ctx.io.stdout.write(formatPin(pin, await names(ctx)))
    return 0
  }
  if (ctx.json) {
    const all = []
    for await (const p of ctx.client.allocations({ signal: ctx.signal })) all.push(p)
    printJson(ctx, all)
    return 0
  }
  const n = await names(ctx)
  for await (const p of ctx.client.allocations({ signal: ctx.signal })) ctx.io.stdout.write(formatPin(p, n))
  return 0
}

const pinAdopt: Command = async (ctx) => {
  const all = ctx.values.all === true
  if (all === (ctx.args.length > 0)) throw new CliUsageError('give either the CIDs to adopt or --all')
  const result = await ctx.client.adopt(all ? { all: true } : { cids: ctx.args }, pinQuery(ctx.values), { signal: ctx.signal })
  if (ctx.json) { printJson(ctx, result); return 0 }
  const n = await names(ctx)
  for (const p of result.adopted) ctx.io.stdout.write(formatPin(p, n))
  for (const cid of result.inPinset) ctx.io.stdout.write(`${cid} is in the cluster pinset already\n`)
  if (result.adopted.length === 0 && result.inPinset.length === 0) ctx.io.stdout.write('nothing to adopt: every pin of this Kubo is in the cluster pinset\n')
  return 0
}

/** Kubo add options the CLI passes through (flag → query parameter). */
function addQuery (ctx: CommandContext, progress: boolean): Record<string, string> {
  const q = pinQuery(ctx.values)
  const cidVersion = ctx.values['cid-version']
  if (typeof cidVersion === 'string') {
    if (cidVersion !== '0' && cidVersion !== '1') throw new CliUsageError(`--cid-version must be 0 or 1, got "${cidVersion}"`)
    q['cid-version'] = cidVersion
  }
  if (ctx.values['raw-leaves'] === true) q['raw-leaves'] = 'true'
  if (typeof ctx.values.chunker === 'string') q.chunker = ctx.values.chunker
  if (ctx.values['wrap-with-directory'] === true) q['wrap-with-directory'] = 'true'
  if (ctx.values.local === true) q.local = 'true'
  if (progress) q.progress = 'true'
  return q
}

const add: Command = async (ctx) => {
  if (ctx.args.length === 0) throw new CliUsageError('missing path (a file, a directory, or - for stdin)')
  if (ctx.args.filter(a => a === '-').length > 1) throw new CliUsageError('stdin (-) can be given once')
  const timeoutMs = waitTimeout(ctx)
  const quiet = ctx.values.quiet === true
  const quieter = ctx.values.quieter === true
  const entries = await collectEntries(ctx.args, { hidden: ctx.values.hidden === true })
  const showBar = ctx.io.stderr.isTTY === true && !ctx.json && !quiet && !quieter
  const total = entries.some(e => e.kind === 'stdin') ? undefined : entries.reduce((s, e) => s + e.size, 0)
  const bar = showBar ? new ProgressBar(ctx.io.stderr, total) : undefined
  const progress = new AddProgress()
  const boundary = newBoundary()
  const added: AddEvent[] = []
  try {
    for await (const ev of ctx.client.add(multipartBody(entries, boundary), { contentType: multipartContentType(boundary), query: addQuery(ctx, showBar), signal: ctx.signal })) {
      if (ev.Hash === undefined) {
        if (ev.Bytes !== undefined) bar?.update(progress.update(ev.Name, ev.Bytes), ev.Name)
        continue
      }
      added.push(ev)
      if (ctx.json || quieter) continue
      bar?.clear()
      ctx.io.stdout.write(quiet ? `${ev.Hash}\n` : formatAdded(ev.Hash, ev.Name))
    }
  } finally {
    bar?.clear()
  }
  const last = added.at(-1)
  if (last === undefined) throw new Error('the add returned no CID')
  if (quieter && !ctx.json) ctx.io.stdout.write(`${last.Hash as string}\n`)
  // What gets pinned: the top-level entries (names without a slash), or only the wrapper ("") with -w.
  const roots = ctx.values['wrap-with-directory'] === true ? added.filter(e => e.Name === '') : added.filter(e => !e.Name.includes('/'))
  if (ctx.values.wait === true) {
    const n = await names(ctx)
    for (const r of roots) {
      const info = await waitPinned(async (c, o) => await ctx.client.status(c, o), r.Hash as string, { timeoutMs, signal: ctx.signal, names: n })
      if (!ctx.json && !quiet && !quieter) ctx.io.stdout.write(formatStatus(info, n))
    }
  }
  if (ctx.json) printJson(ctx, added)
  return 0
}

const recover: Command = async (ctx) => {
  const cid = oneArg(ctx, 'CID', true)
  if (cid !== undefined) {
    const info = await ctx.client.recover(cid, { signal: ctx.signal })
    if (ctx.json) printJson(ctx, info)
    else ctx.io.stdout.write(formatStatus(info, await names(ctx)))
    return 0
  }
  const result = await ctx.client.recoverAll({ signal: ctx.signal })
  if (ctx.json) printJson(ctx, result)
  else ctx.io.stdout.write(formatRecoverAll(result, await names(ctx)))
  return 0
}

const health: Command = async (ctx) => {
  if (ctx.args.length > 0) throw new CliUsageError('health takes no arguments')
  const ok = await ctx.client.health({ signal: ctx.signal })
  if (ctx.json) printJson(ctx, { healthy: ok })
  else if (ok) ctx.io.stdout.write('healthy\n')
  if (!ok) throw new Error('the daemon answered /health but not with 204: not healthy')
  return 0
}

export const COMMANDS: Record<ClientCommand, Command> = {
  id,
  'peers ls': peersLs,
  status,
  'pin add': pinAdd,
  'pin rm': pinRm,
  'pin ls': pinLs,
  'pin adopt': pinAdopt,
  add,
  recover,
  health
}
