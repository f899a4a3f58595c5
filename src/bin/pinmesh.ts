import './threadpool.js'
import '../polyfills.js'
import '../pnet-fix.js'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { initConfig, loadConfig, settings, toFileForm, type Config } from '../config/index.js'
import { PINMESH_VERSION } from '../version.js'
import { allClientOptions, clientUsage, isClientCommand } from '../cli/args.js'

const USAGE = `pinmesh ${PINMESH_VERSION}: runs a set of Kubo nodes as one cluster behind Kubo's own RPC API

Usage:
  pinmesh init [flags]          write <path>/config.json (every setting, a new cluster secret) and identity.key
  pinmesh daemon [flags]        run the daemon (proxy on /ip4/127.0.0.1/tcp/9095 by default)
  pinmesh config show [flags]   print the resolved configuration (secrets hidden)
  pinmesh version               print the version
  pinmesh <client command>      see below; \`pinmesh <command> --help\` for its flags

${clientUsage()}
Daemon flags (every setting also has an env var PINMESH_<SECTION>_<KEY>; see the README):
  --path <dir>                  config directory (default $PINMESH_PATH or ~/.pinmesh)
  --config <file>               config file (default <path>/config.json; not for init)
  --bootstrap <multiaddr>       same as --net-bootstrap; may be repeated
${settings().map(s => `  --${s.flag} <value>\n      ${s.field.doc}`).join('\n')}
`

class UsageError extends Error {}

async function main (argv: string[]): Promise<number> {
  const options: NonNullable<ParseArgsConfig['options']> = {
    path: { type: 'string' },
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    bootstrap: { type: 'string', multiple: true }
  }
  for (const s of settings()) options[s.flag] = { type: 'string' }
  // Client commands talk to a running daemon's admin API and never load the daemon's code.
  const loose = parseArgs({ args: argv, options: { ...allClientOptions(), ...options }, strict: false, allowPositionals: true })
  if (isClientCommand(loose.positionals[0])) {
    const { runClient } = await import('../cli/index.js')
    return await runClient(argv)
  }
  let parsed
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values, positionals } = parsed
  const command = positionals.join(' ')
  if (values.help === true || command === '' || command === 'help') { process.stdout.write(USAGE); return 0 }
  if (command === 'version') { process.stdout.write(`pinmesh ${PINMESH_VERSION}\n`); return 0 }

  const flags: Record<string, string> = {}
  for (const s of settings()) {
    const v = values[s.flag]
    if (typeof v === 'string') flags[s.dotted] = v
  }
  if (Array.isArray(values.bootstrap)) {
    flags['net.bootstrap'] = [flags['net.bootstrap'], ...values.bootstrap].filter(v => v !== undefined).join(',')
  }
  if (command === 'init') {
    if (values.config !== undefined) throw new UsageError('init writes <path>/config.json; use --path instead of --config')
    return await runInit(flags, typeof values.path === 'string' ? values.path : undefined)
  }
  const config = await loadConfig({
    flags,
    path: typeof values.path === 'string' ? values.path : undefined,
    configFile: typeof values.config === 'string' ? values.config : undefined
  })
  switch (command) {
    case 'daemon': return await runDaemon(config)
    case 'config show': process.stdout.write(JSON.stringify(toFileForm(config), null, 2) + '\n'); return 0
    default: throw new UsageError(`unknown command "${command}"`)
  }
}

async function runInit (flags: Record<string, string>, path: string | undefined): Promise<number> {
  try {
    const r = await initConfig({ flags, path })
    process.stdout.write(`Wrote configuration to ${r.configFile}\nWrote identity to ${r.identityFile}\nPeer id: ${r.peerId}\n`)
    return 0
  } catch (err) {
    if ((err as Error).name !== 'AlreadyInitializedError') throw err
    process.stderr.write(`pinmesh: ${(err as Error).message}\n`)
    return 1
  }
}

async function runDaemon (config: Config): Promise<number> {
  // A failing stdout or stderr (a full disk, a closed pipe) must not stop a running daemon:
  // without a listener, a write error is an uncaught 'error' event.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
  // Loaded here so that client subcommands never pay for the daemon's dependencies.
  const { createNode } = await import('../node.js')
  const node = await createNode(config)
  await node.start()
  process.stdout.write([
    `Peer id: ${node.peerId}`,
    ...node.net.addresses().map(a => `Swarm listening on ${a}`),
    `Admin API server listening on ${node.apiAddress()}`,
    `Proxy API server listening on ${node.proxyAddress()}`,
    'Daemon is ready',
    ''
  ].join('\n'))
  const { promise, resolve } = Promise.withResolvers<number>()
  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) {
      // As Kubo and IPFS Cluster do: a second interrupt does not wait for the graceful stop. Only
      // process.exit ends it now; resolving would still wait for every open handle to close.
      process.stderr.write('Received another interrupt before graceful shutdown, terminating...\n')
      process.exit(1)
    }
    stopping = true
    node.logger.info({ signal }, 'shutting down')
    node.stop().then(() => { resolve(0) }, (err: unknown) => { node.logger.error({ err }, 'shutdown failed'); resolve(1) })
  }
  process.on('SIGINT', () => { shutdown('SIGINT') })
  process.on('SIGTERM', () => { shutdown('SIGTERM') })
  return await promise
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: unknown) => {
  const name = err instanceof Error ? err.name : ''
  if (err instanceof UsageError) process.stderr.write(`pinmesh: ${err.message}\nRun 'pinmesh --help' for usage.\n`)
  else if (name === 'InvalidConfigurationError') process.stderr.write(`pinmesh: ${(err as Error).message}\n`)
  else process.stderr.write(`pinmesh: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})
