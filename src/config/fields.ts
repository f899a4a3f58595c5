import { parseListenAddress, toHttpUrl } from '../utils/address.js'
import { parseDuration, formatDuration } from '../utils/duration.js'

/**
 * One configuration setting. `parse` accepts the JSON value from the config file or the string
 * from an environment variable or flag, and throws a message (without the key) when it is invalid.
 */
export interface Field<T> {
  readonly doc: string
  readonly default: T
  /** Name in the config file, env var and flag, when it differs from the code name (durations drop `Ms`). */
  readonly fileKey?: string
  /** Hidden in `config show` and in logs. */
  readonly secret?: boolean
  parse (raw: unknown): T
  /** The value as written in a config file. */
  toFile (value: T): unknown
}

const identity = <T>(v: T): unknown => v

export function str (def: string, doc: string, check?: (v: string) => void, opts: { secret?: boolean } = {}): Field<string> {
  return {
    doc, default: def, secret: opts.secret, toFile: identity,
    parse (raw) {
      if (typeof raw !== 'string') throw new Error(`must be a string, got ${typeof raw}`)
      check?.(raw)
      return raw
    }
  }
}

export function oneOf<T extends string> (values: readonly T[], def: T, doc: string): Field<T> {
  return {
    doc, default: def, toFile: identity,
    parse (raw) {
      if (typeof raw !== 'string' || !(values as readonly string[]).includes(raw)) throw new Error(`must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`)
      return raw as T
    }
  }
}

export function int (def: number, doc: string, range: { min?: number, max?: number } = {}): Field<number> {
  return {
    doc, default: def, toFile: identity,
    parse (raw) {
      const n = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw
      if (typeof n !== 'number' || !Number.isInteger(n)) throw new Error(`must be a whole number, got ${JSON.stringify(raw)}`)
      if (range.min !== undefined && n < range.min) throw new Error(`must be ≥ ${range.min}, got ${n}`)
      if (range.max !== undefined && n > range.max) throw new Error(`must be ≤ ${range.max}, got ${n}`)
      return n
    }
  }
}

export function bool (def: boolean, doc: string): Field<boolean> {
  return {
    doc, default: def, toFile: identity,
    parse (raw) {
      if (typeof raw === 'boolean') return raw
      if (typeof raw === 'string' && ['true', '1', 'yes'].includes(raw.toLowerCase())) return true
      if (typeof raw === 'string' && ['false', '0', 'no'].includes(raw.toLowerCase())) return false
      throw new Error(`must be true or false, got ${JSON.stringify(raw)}`)
    }
  }
}

/** A duration: a Go-style string in files/env/flags (`"30s"`), milliseconds in code. */
export function duration (fileKey: string, def: string, doc: string, range: { minMs?: number } = {}): Field<number> {
  return {
    doc, fileKey, default: parseDuration(def), toFile: formatDuration,
    parse (raw) {
      if (typeof raw !== 'string') throw new Error(`must be a duration string such as "30s", got ${JSON.stringify(raw)}`)
      const ms = parseDuration(raw)
      if (range.minMs !== undefined && ms < range.minMs) throw new Error(`must be at least ${formatDuration(range.minMs)}, got ${raw}`)
      return ms
    }
  }
}

/** A TCP listen address: multiaddr (`/ip4/127.0.0.1/tcp/9095`) or `host:port`. */
export function listenAddress (def: string, doc: string): Field<string> {
  return str(def, doc, (v) => { parseListenAddress(v) })
}

/** An HTTP endpoint: multiaddr or http(s) URL. Kept as given; `toHttpUrl` converts it. */
export function httpEndpoint (def: string, doc: string): Field<string> {
  return str(def, doc, (v) => { toHttpUrl(v) })
}

export function stringList (def: readonly string[], doc: string, check?: (v: string) => void): Field<readonly string[]> {
  return {
    doc, default: def, toFile: identity,
    parse (raw) {
      const list = typeof raw === 'string' ? raw.split(',').map(s => s.trim()).filter(s => s !== '') : raw
      if (!Array.isArray(list) || !list.every(s => typeof s === 'string')) throw new Error('must be a list of strings (comma-separated in env and flags)')
      list.forEach(s => check?.(s))
      return list
    }
  }
}

export function stringMap (def: Readonly<Record<string, string>>, doc: string): Field<Readonly<Record<string, string>>> {
  return {
    doc, default: def, toFile: identity,
    parse (raw) {
      if (typeof raw === 'string') {
        const out: Record<string, string> = {}
        for (const pair of raw.split(',').map(s => s.trim()).filter(s => s !== '')) {
          const eq = pair.indexOf('=')
          if (eq <= 0) throw new Error(`expected key=value pairs separated by commas, got ${JSON.stringify(pair)}`)
          out[pair.slice(0, eq)] = pair.slice(eq + 1)
        }
        return out
      }
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !Object.values(raw).every(v => typeof v === 'string')) {
        throw new Error('must be an object of string values')
      }
      return { ...(raw as Record<string, string>) }
    }
  }
}
