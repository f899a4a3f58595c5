import { AdminClient, AdminApiError } from '../api/client.js'
import { CLIENT_COMMANDS, CliUsageError, GLOBAL_OPTIONS, parseClientArgs } from './args.js'
import { COMMANDS, type CliIo } from './commands.js'
import { formatStatus } from './format.js'
import { resolveTarget } from './target.js'
import { WaitError } from './wait.js'

export { isClientCommand, allClientOptions, clientUsage, CliUsageError } from './args.js'
export type { CliIo } from './commands.js'

export interface RunClientOptions {
  io?: CliIo
  env?: Readonly<Record<string, string | undefined>>
  signal?: AbortSignal
}

/**
 * Runs one client command (`pinmesh id`, `peers ls`, `status`, `pin add|rm|ls`, `add`, `recover`,
 * `health`) against the admin API and resolves with the exit code: 0 ok, 1 on any error, which is
 * printed on stderr as `pinmesh: <message>` (admin API errors as `pinmesh: <message> (<code>)`).
 */
export async function runClient (argv: readonly string[], options: RunClientOptions = {}): Promise<number> {
  const io = options.io ?? { stdout: process.stdout, stderr: process.stderr }
  const env = options.env ?? process.env
  let url = ''
  try {
    const parsed = parseClientArgs(argv)
    if (parsed.values.help === true) { io.stdout.write(commandHelp(parsed.command)); return 0 }
    const target = resolveTarget(parsed.values, env)
    url = target.url
    const client = new AdminClient({ url: target.url, ...(target.authorization !== undefined ? { authorization: target.authorization } : {}) })
    return await COMMANDS[parsed.command]({ client, io, args: parsed.args, values: parsed.values, json: parsed.values.json === true, signal: options.signal })
  } catch (err) {
    io.stderr.write(describeError(err, url, io))
    return 1
  }
}

/** The stderr text for a failed command. */
export function describeError (err: unknown, url: string, io?: CliIo): string {
  if (err instanceof CliUsageError) return `pinmesh: ${err.message}\nRun 'pinmesh --help' for usage.\n`
  if (err instanceof AdminApiError) {
    const hint = err.status === 401 || err.status === 403 ? ' (check --basic-auth / --bearer or PINMESH_CREDENTIALS)' : ''
    return `pinmesh: ${err.message} (${err.code})${hint}\n`
  }
  if (err instanceof WaitError) {
    // The last status seen says which peer is where; it goes to stdout like any status.
    if (err.info !== undefined && io !== undefined) io.stdout.write(formatStatus(err.info, err.names))
    return `pinmesh: ${err.message}\n`
  }
  const unreachable = connectionProblem(err)
  if (unreachable !== undefined) return `pinmesh: cannot reach the admin API at ${url}: ${unreachable} (is \`pinmesh daemon\` running? see --host)\n`
  if (err instanceof Error) return `pinmesh: ${err.message}\n`
  return `pinmesh: ${String(err)}\n`
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET'])

/** fetch wraps socket errors in `TypeError('fetch failed', { cause })`; undici's request throws them as is. */
function connectionProblem (err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code
    if (code !== undefined && CONNECTION_CODES.has(code)) return e.message !== '' ? e.message : code
    const errors = (e as { errors?: unknown }).errors
    if (Array.isArray(errors) && errors[0] instanceof Error) {
      const inner = connectionProblem(errors[0])
      if (inner !== undefined) return inner
    }
  }
  return undefined
}

function commandHelp (command: keyof typeof CLIENT_COMMANDS): string {
  const c = CLIENT_COMMANDS[command]
  const flags = Object.entries({ ...c.options, ...GLOBAL_OPTIONS }).map(([name, o]) =>
    `  ${'short' in o ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ' <value>' : ''}${'multiple' in o ? ' (repeatable)' : ''}`)
  return `Usage: pinmesh ${c.usage}\n\n${c.help}\n\nFlags:\n${flags.join('\n')}\n`
}
