export type { AddDestination, DestinationHead, OpenDestination } from './types.js'
export { fanout, type FanoutOutput, type FanoutResult } from './fanout.js'
export { openLocalDestination } from './local-destination.js'
export { RemoteAdd, ADD_PROTOCOL, type RemoteAddComponents } from './remote.js'
