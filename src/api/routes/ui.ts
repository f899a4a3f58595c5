import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { Route } from '../router.js'
import { ApiError } from '../errors.js'

/**
 * The status page's static files. They are read from `<package root>/src/api/ui/`, which is the
 * same path from src/api/routes/ui.ts (tsx) and from dist/api/routes/ui.js (built): no build step
 * copies them, so `src/api/ui/` must ship with the package.
 */
export const UI_DIR = fileURLToPath(new URL('../../../src/api/ui/', import.meta.url))

const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8'
}

const HEADERS = {
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

export function uiRoutes (): Route[] {
  return [
    {
      method: 'GET',
      path: '/ui',
      handle: async ({ req, res }) => {
        // The page uses relative URLs (`app.js`, `../peers`), so it must be served as a directory.
        const path = (req.url ?? '/ui').split('?')[0] as string
        if (!path.endsWith('/')) {
          res.writeHead(308, { Location: `${path.slice(path.lastIndexOf('/') + 1)}/`, 'Content-Length': 0 })
          res.end()
          return
        }
        await sendFile(res, 'index.html')
      }
    },
    {
      method: 'GET',
      path: '/ui/:file',
      handle: async ({ res, params }) => {
        const file = params.file as string
        if (!Object.hasOwn(FILES, file)) throw new ApiError(404, 'ERR_NOT_FOUND', `no such file: /ui/${file}`)
        await sendFile(res, file)
      }
    }
  ]
}

async function sendFile (res: import('node:http').ServerResponse, file: string): Promise<void> {
  const body = await readFile(UI_DIR + file)
  res.writeHead(200, { ...HEADERS, 'Content-Type': FILES[file] as string, 'Content-Length': body.length })
  res.end(body)
}
