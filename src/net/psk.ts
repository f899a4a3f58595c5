import { InvalidConfigurationError } from '../errors.js'

/**
 * Turns `cluster.secret` (64 hex characters) into the private-network key that `preSharedKey({ psk })` takes,
 * in Kubo's swarm.key format: `/key/swarm/psk/1.0.0/\n/base16/\n<hex>\n`. An empty secret means "no private
 * network" and yields `undefined`. Throws `InvalidConfigurationError` on anything else.
 */
export function swarmKeyFromSecret (secret: string): Uint8Array | undefined {
  if (secret === '') return undefined
  if (!/^[0-9a-fA-F]{64}$/.test(secret)) throw new InvalidConfigurationError(['cluster.secret: must be 64 hex characters (32 bytes)'])
  // pnet's base16 decoder only accepts lower case.
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${secret.toLowerCase()}\n`)
}
