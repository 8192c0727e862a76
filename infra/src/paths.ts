import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** Local state: server data, logs, the demo keys. Git-ignored. */
export const STATE_DIR = join(REPO_ROOT, '.tributary')
