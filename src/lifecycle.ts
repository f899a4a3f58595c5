/**
 * Components with a lifecycle. start() must not rely on other components having started;
 * work that needs them goes in afterStart(). Both start and stop are idempotent.
 */
export interface Startable {
  start (): Promise<void> | void
  afterStart? (): Promise<void> | void
  beforeStop? (): Promise<void> | void
  stop (): Promise<void> | void
}

/** Starts components in order, then runs every afterStart hook. */
export async function startAll (components: readonly Startable[]): Promise<void> {
  for (const c of components) await c.start()
  for (const c of components) await c.afterStart?.()
}

/**
 * Stops components in the order given (ingress first, what they consume last). Every component
 * is stopped even when one fails; the first failure is rethrown at the end.
 */
export async function stopAll (components: readonly Startable[]): Promise<void> {
  let first: unknown
  for (const c of components) {
    try { await c.beforeStop?.() } catch (err) { first ??= err }
  }
  for (const c of components) {
    try { await c.stop() } catch (err) { first ??= err }
  }
  if (first !== undefined) throw first
}
