export type { PinSet, PinSetReader, PinSetWriter, PinSetChange, ReplicatedDoc } from './types.js'
export { YjsPinSet, type YjsPinSetInit, type YjsPinSetComponents } from './yjs-pinset.js'
export { PINSET_FORMAT_VERSION } from './store.js'
