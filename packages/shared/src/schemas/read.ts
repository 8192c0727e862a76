import { Type } from '@sinclair/typebox'

/** Query strings stay strings (no type coercion anywhere); the route parses and checks them. */
const rangeFields = {
  days: Type.Optional(Type.String({ pattern: '^\\d{1,3}$', description: '1 to 365: the last N days, today included (tenant timezone)' })),
  from: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'first day, YYYY-MM-DD (with `to`)' })),
  to: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'last day, YYYY-MM-DD (with `from`)' })),
}

/** `historical`'s query: a range only (a `limit` there is refused, not ignored). */
export const RangeQuerySchema = Type.Object(rangeFields, { additionalProperties: false })

/** The top lists' query: a range and how many. */
export const TopListQuerySchema = Type.Object(
  { ...rangeFields, limit: Type.Optional(Type.String({ pattern: '^\\d{1,3}$', description: 'how many (1-100, default 10)' })) },
  { additionalProperties: false },
)

const Day = Type.Object({
  date: Type.String(),
  activeUsers: Type.Integer(),
  sessions: Type.Integer(),
  avgSessionDurationSeconds: Type.Number(),
  events: Type.Integer(),
  pageViews: Type.Integer(),
})

export const HistoricalSchema = Type.Object({
  tenantId: Type.String(),
  from: Type.String(),
  to: Type.String(),
  days: Type.Array(Day),
  totals: Type.Object({
    activeUsers: Type.Integer({ description: 'distinct over the whole range' }),
    sessions: Type.Integer(),
    avgSessionDurationSeconds: Type.Number(),
    events: Type.Integer(),
    pageViews: Type.Integer(),
  }),
})

export const TopPagesSchema = Type.Object({ tenantId: Type.String(), from: Type.String(), to: Type.String(), pages: Type.Array(Type.Object({ page: Type.String(), views: Type.Integer() })) })
export const TopEventsSchema = Type.Object({ tenantId: Type.String(), from: Type.String(), to: Type.String(), events: Type.Array(Type.Object({ name: Type.String(), type: Type.String(), count: Type.Integer() })) })

export const RealtimeSchema = Type.Object({
  activeUsers: Type.Integer({ description: 'distinct users with activity in the last 5 minutes' }),
  activeSessions: Type.Integer({ description: 'sessions not ended with activity within the session timeout' }),
  eventsPerMinute: Type.Array(Type.Object({ minute: Type.String(), count: Type.Integer() }), { description: 'last 60 minutes, oldest first' }),
  topPages: Type.Array(Type.Object({ page: Type.String(), views: Type.Integer() }), { description: 'last 30 minutes' }),
})

export const SyncResultSchema = Type.Object({ syncedDays: Type.Integer(), sessionsClosed: Type.Integer(), durationMs: Type.Integer() })
