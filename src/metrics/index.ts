// The metrics component's import surface: the Monitor contract and its gossipsub implementation.
export type { PeerMetrics, ReceivedMetrics, Monitor } from './types.js'
export { GossipMonitor, type GossipMonitorComponents, type GossipMonitorInit, type GossipMonitorStats, type MetricsSample } from './gossip-monitor.js'
export { metricsTopic, encodeMetrics, decodeMetrics, MAX_METRICS_BYTES } from './wire.js'
