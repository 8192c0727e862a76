import type { EventLog } from '../event-log/event-log.ts'

export interface IngestRouteOptions {
  eventLog: EventLog
  bodyLimit: number
}
