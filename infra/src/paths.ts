import { fileURLToPath } from 'node:url'
import { join, resolve } from 'node:path'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** Local state: server data, logs, the demo keys. Git-ignored; TRIBUTARY_STATE_DIR moves it. */
export const STATE_DIR = process.env.TRIBUTARY_STATE_DIR ? resolve(process.env.TRIBUTARY_STATE_DIR) : join(REPO_ROOT, '.tributary')
