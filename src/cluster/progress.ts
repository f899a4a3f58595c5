import type { PinInfo } from '../tracker/index.js'

/** Kubo's pin progress: blocks and bytes of the DAG walked so far. */
export interface PinProgress { nodes: number, bytes: number }

/**
 * The progress to show for a pin being waited on, as one Kubo's `pin add --progress` shows its
 * own: the final count (the whole DAG) of a holder that has pinned it, this peer's first; else
 * this peer's Kubo while it pins, when it is one of `holders`; else the holder furthest along.
 * Undefined while no holder reports any. `state` gives a holder's last known status.
 */
export function pinProgress (state: (peer: string) => PinInfo | undefined, holders: readonly string[], self: string): PinProgress | undefined {
  const states = holders.map(state).filter((s): s is PinInfo & { progress: PinProgress } => s?.progress !== undefined)
  const furthest = (list: typeof states): PinProgress | undefined => list.reduce<PinProgress | undefined>((a, s) => (a === undefined || s.progress.nodes > a.nodes ? s.progress : a), undefined)
  const pinned = states.filter(s => s.status === 'pinned')
  if (pinned.length > 0) return pinned.find(s => s.peer === self)?.progress ?? furthest(pinned)
  if (holders.includes(self)) return state(self)?.progress
  return furthest(states)
}
