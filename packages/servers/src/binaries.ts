import { spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync, readdirSync } from 'node:fs'
import { delimiter, join } from 'node:path'

export class MissingBinaryError extends Error {
  constructor(binary: string, installCommand: string) {
    super(`${binary} is not installed; install it with: ${installCommand}`)
    this.name = 'MissingBinaryError'
  }
}

export interface BinarySpec {
  binary: string
  /** Debian package that provides it. */
  debianPackage: string
  /** Homebrew formula, for the message on macOS. */
  brewFormula: string
  /** Extra folders to look in (Debian keeps Postgres' server binaries off PATH). */
  extraDirs?: () => string[]
}

const postgresLibDirs = () => {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return []
  return readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => join(root, v, 'bin'))
}

export const REDIS_SERVER: BinarySpec = { binary: 'redis-server', debianPackage: 'redis-server', brewFormula: 'redis' }
export const POSTGRES: BinarySpec = { binary: 'postgres', debianPackage: 'postgresql', brewFormula: 'postgresql@15', extraDirs: postgresLibDirs }
export const INITDB: BinarySpec = { ...POSTGRES, binary: 'initdb' }

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export function findBinary(spec: BinarySpec): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...(spec.extraDirs?.() ?? [])]
  for (const dir of dirs) {
    const candidate = join(dir, spec.binary)
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}

function canUseApt(): boolean {
  return process.platform === 'linux' && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')
}

function installCommand(spec: BinarySpec): string {
  if (process.platform === 'darwin') return `brew install ${spec.brewFormula}`
  if (existsSync('/usr/bin/apt-get')) return `sudo apt-get install -y ${spec.debianPackage}`
  return `your package manager's ${spec.debianPackage} package (Debian: apt-get install -y ${spec.debianPackage})`
}

let aptUpdated = false

/**
 * Finds a server binary. When it is missing on Debian/Ubuntu and we are root, installs it
 * with apt-get; anywhere else stops with one line naming the exact install command.
 */
export function ensureBinary(spec: BinarySpec, options: { log?: (line: string) => void; allowInstall?: boolean } = {}): string {
  const log = options.log ?? console.error
  const found = findBinary(spec)
  if (found) return found
  if (options.allowInstall === false || !canUseApt()) throw new MissingBinaryError(spec.binary, installCommand(spec))
  log(`${spec.binary} not found: installing Debian package ${spec.debianPackage} with apt-get…`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  if (!aptUpdated) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore', env })
    aptUpdated = true
  }
  const result = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', spec.debianPackage], { stdio: 'inherit', env })
  const installed = findBinary(spec)
  if (result.status !== 0 || !installed) throw new MissingBinaryError(spec.binary, `apt-get install -y ${spec.debianPackage}`)
  return installed
}
