import { parseArgs, type ParseArgsConfig } from 'node:util'

type OptionSpec = NonNullable<ParseArgsConfig['options']>

/** A usage mistake: unknown command or option, a missing or malformed argument. Exit code 1 with a hint. */
export class CliUsageError extends Error {
  static readonly NAME = 'CliUsageError'
  override readonly name = CliUsageError.NAME
}

/** Options every client command takes: where the admin API is and how to print. */
export const GLOBAL_OPTIONS = {
  host: { type: 'string' },
  'basic-auth': { type: 'string' },
  bearer: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const satisfies OptionSpec

const WAIT = {
  wait: { type: 'boolean' },
  'wait-timeout': { type: 'string' }
} as const satisfies OptionSpec

const PIN_OPTIONS = {
  replication: { type: 'string' },
  'replication-min': { type: 'string' },
  'replication-max': { type: 'string' },
  name: { type: 'string' },
  meta: { type: 'string', multiple: true },
  'expire-in': { type: 'string' },
  allocations: { type: 'string' }
} as const satisfies OptionSpec

/** Each client subcommand: its usage line, what it does, and its own options. */
export const CLIENT_COMMANDS = {
  id: { usage: 'id', help: "this peer's id, name, addresses and how many peers it sees", options: {} },
  'peers ls': { usage: 'peers ls', help: 'every peer of the cluster as this peer sees it', options: {} },
  status: {
    usage: 'status [cid] [--filter s] [--wait] [--wait-timeout d]',
    help: 'where one pin (or every pin) stands on every peer',
    options: { filter: { type: 'string' }, ...WAIT }
  },
  'pin add': {
    usage: 'pin add <cid> [--replication N] [--replication-min N] [--replication-max N] [--name s] [--meta k=v]... [--expire-in d] [--allocations id,…] [--mode recursive|direct] [--wait]',
    help: 'adds a CID to the cluster pinset',
    options: { ...PIN_OPTIONS, mode: { type: 'string' }, ...WAIT }
  },
  'pin rm': { usage: 'pin rm <cid> [--wait]', help: 'removes a CID from the cluster pinset (every peer unpins it)', options: { ...WAIT } },
  'pin ls': { usage: 'pin ls [cid]', help: 'the cluster pinset: name, replication, allocations of each pin', options: {} },
  'pin adopt': {
    usage: 'pin adopt <cid>...|--all [--replication N] [--replication-min N] [--replication-max N] [--meta k=v]... [--expire-in d] [--allocations id,…]',
    help: "adds pins of this peer's Kubo made outside the cluster to the cluster pinset, with their Kubo name and mode",
    options: {
      replication: PIN_OPTIONS.replication,
      'replication-min': PIN_OPTIONS['replication-min'],
      'replication-max': PIN_OPTIONS['replication-max'],
      meta: PIN_OPTIONS.meta,
      'expire-in': PIN_OPTIONS['expire-in'],
      allocations: PIN_OPTIONS.allocations,
      all: { type: 'boolean' }
    }
  },
  add: {
    usage: 'add <path>... [--replication…] [--name s] [--wait] [-q|-Q] [-w] [--hidden] [--local] [--cid-version n] [--raw-leaves] [--chunker s]',
    help: "adds files or directories (recursively) through the cluster and pins them; '-' reads stdin",
    options: {
      ...PIN_OPTIONS,
      ...WAIT,
      recursive: { type: 'boolean', short: 'r' },
      quiet: { type: 'boolean', short: 'q' },
      quieter: { type: 'boolean', short: 'Q' },
      'wrap-with-directory': { type: 'boolean', short: 'w' },
      hidden: { type: 'boolean', short: 'H' },
      local: { type: 'boolean' },
      'cid-version': { type: 'string' },
      'raw-leaves': { type: 'boolean' },
      chunker: { type: 'string' }
    }
  },
  recover: { usage: 'recover [cid]', help: 'retries failed or missing pins now (one CID, or every pin on every peer)', options: {} },
  health: { usage: 'health', help: 'checks that the daemon answers (exit code 0 if it does)', options: {} }
} as const satisfies Record<string, { usage: string, help: string, options: OptionSpec }>

export type ClientCommand = keyof typeof CLIENT_COMMANDS

/** Words that start a client command; `peers` and `pin` need a subcommand. */
const GROUPS: Record<string, readonly string[]> = { peers: ['ls'], pin: ['add', 'rm', 'ls', 'adopt'] }

/** Every option any client command knows, for finding the command word before parsing strictly. */
export function allClientOptions (): OptionSpec {
  const all: OptionSpec = { ...GLOBAL_OPTIONS }
  for (const c of Object.values(CLIENT_COMMANDS)) Object.assign(all, c.options)
  return all
}

/** Whether `word` (the first positional argument) names a client command. */
export function isClientCommand (word: string | undefined): boolean {
  return word !== undefined && (word in CLIENT_COMMANDS || word in GROUPS)
}

export interface ParsedClientArgs {
  command: ClientCommand
  /** Positional arguments after the command words. */
  args: string[]
  values: Record<string, string | boolean | string[] | undefined>
}

/**
 * Parses a client command line strictly: global options and the command's own, anywhere on the line.
 * Throws CliUsageError naming what is wrong.
 */
export function parseClientArgs (rawArgv: readonly string[]): ParsedClientArgs {
  const argv = joinNegativeNumbers(rawArgv)
  // First pass, lenient: only to find the command words (option values must not be taken for them).
  const loose = parseArgs({ args: [...argv], options: allClientOptions(), strict: false, allowPositionals: true })
  const [first, second] = loose.positionals
  let command: string
  let words: number
  if (first !== undefined && first in GROUPS) {
    const subs = GROUPS[first] as readonly string[]
    if (second === undefined || !subs.includes(second)) {
      throw new CliUsageError(`"${first}" needs a subcommand: ${subs.map(s => `${first} ${s}`).join(', ')}`)
    }
    command = `${first} ${second}`
    words = 2
  } else if (first !== undefined && first in CLIENT_COMMANDS) {
    command = first
    words = 1
  } else {
    throw new CliUsageError(`unknown command "${first ?? ''}"`)
  }
  const spec = CLIENT_COMMANDS[command as ClientCommand]
  let parsed
  try {
    parsed = parseArgs({ args: [...argv], options: { ...GLOBAL_OPTIONS, ...spec.options }, strict: true, allowPositionals: true })
  } catch (err) {
    throw new CliUsageError(`${command}: ${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`)
  }
  return { command: command as ClientCommand, args: parsed.positionals.slice(words), values: parsed.values as ParsedClientArgs['values'] }
}

/** `--replication -1` → `--replication=-1`: parseArgs would take `-1` for an option. */
function joinNegativeNumbers (argv: readonly string[]): string[] {
  const spec = allClientOptions()
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    const next = argv[i + 1]
    if (a.startsWith('--') && !a.includes('=') && spec[a.slice(2)]?.type === 'string' && next !== undefined && /^-\d+$/.test(next)) {
      out.push(`${a}=${next}`)
      i++
    } else out.push(a)
  }
  return out
}

/** `--replication 2` → 2; -1 means every peer. */
export function parseReplication (flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (value.trim() === '' || !Number.isInteger(n) || n === 0 || n < -1) {
    throw new CliUsageError(`--${flag} must be a positive whole number or -1 (every peer), got "${value}"`)
  }
  return n
}

/**
 * The admin API / Kubo query parameters for pin options given as flags
 * (`--replication 2 --meta a=b` → `replication=2&meta-a=b`), checked before anything is sent.
 */
export function pinQuery (values: ParsedClientArgs['values']): Record<string, string> {
  const q: Record<string, string> = {}
  for (const flag of ['replication', 'replication-min', 'replication-max'] as const) {
    const n = parseReplication(flag, values[flag] as string | undefined)
    if (n !== undefined) q[flag] = String(n)
  }
  const min = Number(q['replication-min'] ?? q.replication)
  const max = Number(q['replication-max'] ?? q.replication)
  if (min > 0 && max > 0 && min > max) throw new CliUsageError(`--replication-min (${min}) must not be larger than --replication-max (${max})`)
  if (typeof values.name === 'string') q.name = values.name
  if (typeof values.mode === 'string') {
    if (values.mode !== 'recursive' && values.mode !== 'direct') throw new CliUsageError(`--mode must be recursive or direct, got "${values.mode}"`)
    q.mode = values.mode
  }
  if (typeof values['expire-in'] === 'string') q['expire-in'] = values['expire-in']
  if (typeof values.allocations === 'string') q['user-allocations'] = values.allocations
  for (const kv of (values.meta as string[] | undefined) ?? []) {
    const eq = kv.indexOf('=')
    if (eq <= 0) throw new CliUsageError(`--meta takes key=value, got "${kv}"`)
    q[`meta-${kv.slice(0, eq)}`] = kv.slice(eq + 1)
  }
  return q
}

/** The usage text of the client commands, for `pinmesh --help`. */
export function clientUsage (): string {
  const lines = Object.values(CLIENT_COMMANDS).map(c => `  pinmesh ${c.usage}\n      ${c.help}`)
  return `Client commands (they talk to a running daemon's admin API):
${lines.join('\n')}

Client flags:
  --host <addr>                 admin API as a multiaddr or URL (default $PINMESH_HOST or /ip4/127.0.0.1/tcp/9094)
  --basic-auth <user:pass>      HTTP Basic credentials (default $PINMESH_CREDENTIALS when it holds a colon)
  --bearer <token>              bearer token (default $PINMESH_CREDENTIALS when it holds no colon)
  --json                        print the API's JSON instead of text
  --wait                        (status, pin add, add) wait until every allocated peer has pinned; fail on pin_error
  --wait-timeout <d>            give up waiting after this long (e.g. 30s, 5m; default: no limit)
`
}
