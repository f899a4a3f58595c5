// The net component's import surface. Importing it loads libp2p; code that only needs the identity file
// (`pinmesh init`) imports './identity.js' directly.
export type { ClusterNet, ClusterNetComponents, ClusterNetInit, ClusterLibp2p, ClusterServices, PeerInfo } from './types.js'
export { createClusterNet } from './cluster-net.js'
export { loadOrCreateIdentity, createIdentity, IDENTITY_FILE_NAME } from './identity.js'
export { swarmKeyFromSecret } from './psk.js'
export { redialDelay, type BackoffRange } from './backoff.js'
export { PEERS_FILE_NAME } from './peer-book.js'
export { MAX_PUBSUB_MESSAGE_BYTES, MAX_PUBSUB_FRAME_BYTES, STREAM_WINDOW_BYTES, STREAM_READ_BUFFER_BYTES } from './limits.js'
