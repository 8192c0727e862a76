import { Type } from '@sinclair/typebox'

/** Shared building blocks for the apps' environment schemas. */

export const PostgresUrl = (description: string) =>
  Type.String({ pattern: '^postgres(ql)?://', description })

export const RedisUrl = (description: string) => Type.String({ pattern: '^rediss?://', description })

export const Port = (defaultPort: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: defaultPort, description })

export const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
  { default: 'info', description: 'one of fatal, error, warn, info, debug, trace, silent' },
)

export const PositiveInt = (defaultValue: number, description: string, maximum = 2 ** 31 - 1) =>
  Type.Integer({ minimum: 1, maximum, default: defaultValue, description })
