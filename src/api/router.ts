import type { IncomingMessage, ServerResponse } from 'node:http'

export interface RouteContext {
  req: IncomingMessage
  res: ServerResponse
  params: Record<string, string>
  query: URLSearchParams
  /** Aborted when the client goes away. */
  signal: AbortSignal
}

/** One admin API endpoint. `:name` path segments become params (URL-decoded). */
export interface Route {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT'
  path: string
  /** Whether credentials are required when auth is configured. @default true */
  auth?: boolean
  handle: (ctx: RouteContext) => Promise<void>
}

export type RouteMatch = { route: Route, params: Record<string, string> } | { allowed: string[] } | undefined

/** Finds the route for a method and path; `{ allowed }` when the path exists for other methods only. */
export function matchRoute (routes: readonly Route[], method: string, pathname: string): RouteMatch {
  const segs = pathname.split('/').filter(s => s !== '')
  const allowed: string[] = []
  for (const route of routes) {
    const pattern = route.path.split('/').filter(s => s !== '')
    if (pattern.length !== segs.length) continue
    const params: Record<string, string> = {}
    let ok = true
    for (let i = 0; i < pattern.length && ok; i++) {
      const p = pattern[i] as string
      const s = segs[i] as string
      if (p.startsWith(':')) {
        try { params[p.slice(1)] = decodeURIComponent(s) } catch { params[p.slice(1)] = s }
      } else if (p !== s) ok = false
    }
    if (!ok) continue
    if (route.method === method) return { route, params }
    allowed.push(route.method)
  }
  return allowed.length > 0 ? { allowed } : undefined
}
