import { pino, type Logger, type LoggerOptions } from 'pino'

/** Paths whose values never reach a log line: keys travel in these. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.writeKey',
  '*.readKey',
  'writeKey',
  'readKey',
]

/**
 * One root logger per process. JSON lines by default; pino-pretty only when stdout is a
 * terminal, so containers and log shippers always get JSON.
 */
export function loggerOptions(name: string, level: string): LoggerOptions {
  const options: LoggerOptions = { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }
  if (process.stdout.isTTY) {
    options.transport = { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } }
  }
  return options
}

export function createLogger(name: string, level: string): Logger {
  return pino(loggerOptions(name, level))
}

export type { Logger }
