import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino'

export type { Logger }

export interface LogInit {
  /** Root level. @default 'info' */
  level: string
  /** Human-readable lines (pino-pretty) instead of JSON. @default true on a TTY */
  pretty: boolean
  /** Per-component levels, e.g. `{ proxy: 'debug' }`. @default {} */
  levels: Readonly<Record<string, string>>
}

const REDACT = ['req.headers.authorization', '*.secret', 'cluster.secret', 'headers.authorization']

/**
 * The one place pinmesh creates a root logger. Components get `forComponent(root, name, init)`.
 * `destination` is for tests that capture log lines.
 */
export function createRootLogger (init: LogInit, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: lowestLevel(init),
    base: { pid: process.pid },
    redact: REDACT,
    serializers: { err: pino.stdSerializers.err }
  }
  if (destination !== undefined) return pino(options, destination)
  if (init.pretty) {
    const transport = pino.transport({ target: 'pino-pretty', options: { destination: 2, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } })
    // The formatting thread ends if its output fails; the daemon goes on, without log lines.
    transport.on('error', () => {})
    return pino(options, transport)
  }
  return pino(options, safeDestination(2))
}

/** Bytes of log lines held while the output does not take them; later lines are dropped. */
const MAX_BUFFERED_LOG_BYTES = 4 << 20

/**
 * Log lines to `fd`, asynchronously. A write that fails (EPIPE, ENOSPC on a full disk, EIO) must
 * not stop the daemon: pino's destination only absorbs EPIPE and re-emits anything else as an
 * unhandled 'error' event. Lines are held (up to MAX_BUFFERED_LOG_BYTES) and written again with
 * the next line, so logging resumes once the output accepts writes again. While it fails, the
 * synchronous flush at exit is skipped: sonic-boom's retries it for ever on any error but EAGAIN,
 * and the daemon would never exit.
 */
function safeDestination (fd: number): DestinationStream {
  const dest = pino.destination({ dest: fd, sync: false, maxLength: MAX_BUFFERED_LOG_BYTES })
  let failing = false
  dest.on('error', () => { failing = true /* nowhere to report it: the log is the output that failed */ })
  dest.on('write', () => { failing = false })
  const flushSync = dest.flushSync.bind(dest)
  dest.flushSync = () => { if (!failing) flushSync() }
  return dest
}

/** A child logger for one component, at its configured level. */
export function forComponent (root: Logger, component: string, init?: Pick<LogInit, 'levels' | 'level'>): Logger {
  const level = init?.levels[component] ?? init?.level
  return level === undefined ? root.child({ component }) : root.child({ component }, { level })
}

const ORDER = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

// The root must be at the lowest level any component asks for, or pino drops child lines before they reach it.
function lowestLevel (init: LogInit): string {
  const all = [init.level, ...Object.values(init.levels)]
  return all.reduce((a, b) => ORDER.indexOf(b) < ORDER.indexOf(a) ? b : a)
}
