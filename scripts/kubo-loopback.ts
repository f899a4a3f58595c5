/**
 * Makes a freshly initialised Kubo config reach nothing but 127.0.0.1: no bootstrap peers, no mDNS,
 * no AutoConf fetch, no delegated routers or relays, no NAT port mapping, TCP on loopback only,
 * API and gateway on loopback ports chosen by the OS. Shared by the local cluster and the test fixtures.
 */
export function loopbackOnly (cfg: Record<string, any>): void {
  cfg.Bootstrap = []
  cfg.Discovery = { MDNS: { Enabled: false } }
  cfg.AutoConf = { Enabled: false }
  cfg.Routing = { ...cfg.Routing, Type: 'dht', DelegatedRouters: [], LoopbackAddressesOnLanDHT: true }
  cfg.Swarm = { ...cfg.Swarm, DisableNatPortMap: true, RelayClient: { Enabled: false }, RelayService: { Enabled: false }, Transports: { Network: { QUIC: false, WebTransport: false, WebRTCDirect: false, Websocket: false } } }
  cfg.AutoNAT = { ServiceMode: 'disabled' }
  cfg.Addresses = { ...cfg.Addresses, API: '/ip4/127.0.0.1/tcp/0', Gateway: '/ip4/127.0.0.1/tcp/0', Swarm: ['/ip4/127.0.0.1/tcp/0'] }
}
