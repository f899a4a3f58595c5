export type { Cluster, ClusterPeer, ClusterIdentity, PinRequest } from './types.js'
export { PinsetCluster, type ClusterComponents, type ClusterInit } from './cluster.js'
