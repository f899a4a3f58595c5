import { multiaddr } from '@multiformats/multiaddr'
import { multiaddrToUri } from '@multiformats/multiaddr-to-uri'

/** A TCP endpoint to listen on or dial. */
export interface HostPort { host: string, port: number }

/**
 * Parses a listen address: an IPFS-style multiaddr (`/ip4/127.0.0.1/tcp/9095`, `/ip6/::1/tcp/0`,
 * `/dns4/localhost/tcp/9095`) or `host:port`. Throws a plain Error naming what is wrong.
 */
export function parseListenAddress (value: string): HostPort {
  if (value.startsWith('/')) {
    const parts = multiaddr(value).getComponents()
    const host = parts[0]
    const tcp = parts[1]
    if (host === undefined || !['ip4', 'ip6', 'dns4', 'dns6', 'dns'].includes(host.name) || host.value === undefined) {
      throw new Error(`${value}: must start with /ip4, /ip6 or /dns`)
    }
    if (tcp?.name !== 'tcp' || tcp.value === undefined) throw new Error(`${value}: must name a /tcp port`)
    return { host: host.value, port: checkPort(value, tcp.value) }
  }
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(value)
  if (m === null) throw new Error(`${value}: expected a multiaddr like /ip4/127.0.0.1/tcp/9095 or host:port`)
  return { host: m[1] === '' ? '0.0.0.0' : m[1] as string, port: checkPort(value, m[2] as string) }
}

/** Turns a Kubo API address (multiaddr or http(s) URL) into a base URL without a trailing slash. */
export function toHttpUrl (value: string): string {
  if (value.startsWith('/')) {
    parseListenAddress(value.replace(/\/(http|https|tls\/http)$/, ''))
    return multiaddrToUri(value).replace(/\/$/, '').replace(/^tcp:/, 'http:')
  }
  const u = new URL(value)
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`${value}: only http and https URLs are supported`)
  return u.origin
}

/** The multiaddr form of a bound TCP endpoint, as pinmesh prints it. */
export function toMultiaddr ({ host, port }: HostPort): string {
  const proto = host.includes(':') ? 'ip6' : /^[\d.]+$/.test(host) ? 'ip4' : 'dns'
  return `/${proto}/${host}/tcp/${port}`
}

function checkPort (value: string, port: string): number {
  const n = Number(port)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${value}: port ${port} is out of range`)
  return n
}
