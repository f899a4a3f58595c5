// The allocator's import surface: pure, no I/O.
export type { AllocationCandidate, AllocationRequest, Allocator } from './types.js'
export { BalancedAllocator, balancedAllocator, balancedOrder, parseAllocateBy, type BalancedAllocatorInit, type AllocationCriterion } from './balanced.js'
