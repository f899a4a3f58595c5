export type { PinTracker, PinInfo, TrackerStatus } from './types.js'
export { StatelessTracker, type StatelessTrackerComponents, type StatelessTrackerInit } from './stateless-tracker.js'
export { isAllocatedTo, satisfies, reconcile, retryDelay, isPriority } from './reconcile.js'
