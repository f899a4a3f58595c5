export type { Cluster, ClusterPeer, ClusterIdentity, PinRequest, GlobalPinInfo, ClusterRepoStat } from './types.js'
export { PinsetCluster, type ClusterComponents, type ClusterInit } from './cluster.js'
export { electedPeer } from './election.js'
