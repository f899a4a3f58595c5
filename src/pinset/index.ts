export type { PinSet, PinSetReader, PinSetWriter, PinSetChange, ReplicatedDoc, ShardedDoc, ShardId, ShardSummary, PinPage } from './types.js'
export { shardOf, encodeCursor, decodeCursor } from './shard-key.js'
export { YjsPinSet, type YjsPinSetInit, type YjsPinSetComponents } from './yjs-pinset.js'
export { PINSET_FORMAT_VERSION } from './store.js'
