// The metrics component's import surface: the Monitor contract and its gossipsub implementation.
export type { PeerMetrics, ReceivedMetrics, Monitor, PeerLossDetector } from './types.js'
export { GossipMonitor, type GossipMonitorComponents, type GossipMonitorInit, type GossipMonitorStats, type MetricsSample } from './gossip-monitor.js'
export { metricsTopic, encodeMetrics, decodeMetrics, MAX_METRICS_BYTES } from './wire.js'
export { PingLossDetector, type PingLossDetectorComponents, type PingLossDetectorInit, type PingLossDetectorStats } from './ping-loss-detector.js'
export { LoopLag, type LoopLagInit, type StallClock } from './loop-lag.js'
export { peerLiveness, metricsExpired, type Liveness, type LivenessFacts, type LivenessPolicy, type Probe } from './liveness.js'
