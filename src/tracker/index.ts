export type { PinTracker, PinInfo, TrackerStatus, KnownStatus, WaitStatusOptions } from './types.js'
export { StatelessTracker, type StatelessTrackerComponents, type StatelessTrackerInit } from './stateless-tracker.js'
export { isAllocatedTo, satisfies, reconcile, retryDelay, isPriority } from './reconcile.js'
