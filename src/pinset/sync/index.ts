export { PinsetReplicator, type PinsetReplicatorInit, type PinsetReplicatorComponents } from './replicator.js'
export { TrustPolicy } from './trust.js'
export { pinsetTopic, SYNC_PROTOCOL, MAX_MESSAGE_BYTES } from './wire.js'
