import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { InvalidConfigurationError } from '../errors.js'
import { schema, type Config, type SectionName } from './schema.js'
import type { Field } from './fields.js'

export interface LoadOptions {
  /** Flag values keyed by dotted config key (`proxy.listen`), as strings. Highest precedence. */
  flags?: Readonly<Record<string, string>>
  /** Environment to read `PINMESH_*` from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>
  /** Config directory. @default $PINMESH_PATH or ~/.pinmesh */
  path?: string
  /** Config file. @default <path>/config.json, used only if it exists */
  configFile?: string
}

export const CONFIG_FILE_NAME = 'config.json'

/** Each setting as the user writes it: dotted key, env var, flag, field. */
export interface SettingName { section: SectionName, key: string, fileKey: string, dotted: string, env: string, flag: string, field: Field<unknown> }

export function settings (): SettingName[] {
  const out: SettingName[] = []
  for (const [section, fields] of Object.entries(schema) as Array<[SectionName, Record<string, Field<unknown>>]>) {
    for (const [key, field] of Object.entries(fields)) {
      const fileKey = field.fileKey ?? key
      const snake = fileKey.replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      out.push({
        section, key, fileKey, field,
        dotted: `${section}.${fileKey}`,
        env: `PINMESH_${section.toUpperCase()}_${snake.toUpperCase()}`,
        flag: `${section}-${snake.toLowerCase().replace(/_/g, '-')}`
      })
    }
  }
  return out
}

/**
 * Resolves the configuration: built-in defaults < config file < `PINMESH_*` env < flags.
 * Validates everything once and throws InvalidConfigurationError listing every problem by key.
 * The result is deep-frozen.
 */
export async function loadConfig (options: LoadOptions = {}): Promise<Config> {
  const env = options.env ?? process.env
  const path = resolve(options.path ?? env.PINMESH_PATH ?? join(homedir(), '.pinmesh'))
  const configFile = options.configFile ?? join(path, CONFIG_FILE_NAME)
  const problems: string[] = []

  let file: Record<string, unknown> = {}
  try {
    const parsed: unknown = JSON.parse(await readFile(configFile, 'utf8'))
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) problems.push(`${configFile}: must hold a JSON object`)
    else file = parsed as Record<string, unknown>
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    // A missing default file means "all defaults"; a file the user named explicitly must exist.
    if (code !== 'ENOENT' || options.configFile !== undefined) problems.push(`${configFile}: ${(err as Error).message}`)
  }

  const known = settings()
  for (const [section, body] of Object.entries(file)) {
    if (!(section in schema)) { problems.push(`${section}: unknown section in ${configFile}`); continue }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) { problems.push(`${section}: must be an object`); continue }
    for (const key of Object.keys(body)) {
      if (!known.some(s => s.section === section && s.fileKey === key)) problems.push(`${section}.${key}: unknown key in ${configFile}`)
    }
  }
  for (const flag of Object.keys(options.flags ?? {})) {
    if (!known.some(s => s.dotted === flag)) problems.push(`${flag}: unknown setting`)
  }

  const out: Record<string, Record<string, unknown>> = {}
  for (const s of known) {
    const sectionBody = file[s.section] as Record<string, unknown> | undefined
    const candidates: Array<[string, unknown]> = [
      [`${s.dotted} (flag --${s.flag})`, options.flags?.[s.dotted]],
      [`${s.dotted} (env ${s.env})`, env[s.env]],
      [`${s.dotted} (in ${configFile})`, sectionBody?.[s.fileKey]]
    ]
    const hit = candidates.find(([, v]) => v !== undefined)
    let value: unknown = s.field.default
    if (hit !== undefined) {
      try { value = s.field.parse(hit[1]) } catch (err) { problems.push(`${hit[0]}: ${(err as Error).message}`) }
    }
    ;(out[s.section] ??= {})[s.key] = value
  }

  if (problems.length > 0) throw new InvalidConfigurationError(problems)
  return deepFreeze({ path, ...out } as unknown as Config)
}

/** The config as it would be written to a file, secrets replaced unless `showSecrets`. */
export function toFileForm (config: Config, options: { showSecrets?: boolean } = {}): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {}
  for (const s of settings()) {
    const value = (config[s.section] as Record<string, unknown>)[s.key]
    ;(out[s.section] ??= {})[s.fileKey] = s.field.secret === true && options.showSecrets !== true ? '<hidden>' : s.field.toFile(value)
  }
  return out
}

function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
