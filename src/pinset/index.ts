export type { PinSet, PinSetReader, PinSetWriter, PinSetChange, ShardedDoc, ShardId, ShardSummary, PinPage } from './types.js'
export { shardOf, encodeCursor, decodeCursor } from './shard-key.js'
export { ShardedPinSet, type ShardedPinSetInit, type ShardedPinSetComponents } from './sharded-pinset.js'
