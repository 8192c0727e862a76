import { createRequire as __tributaryRequire } from 'node:module'; const require = __tributaryRequire(import.meta.url);
var __defProp = Object.defineProperty;
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};

// src/ingest-server.ts
import { pino as pino2 } from "pino";

// ../apps/ingest/src/app.ts
import Fastify, { LogController } from "fastify";

// ../packages/shared/src/config/load-config.ts
import "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
var ConfigError = class extends Error {
  issues;
  constructor(issues) {
    super(
      `Invalid configuration (${issues.length} problem${issues.length === 1 ? "" : "s"}):
` + issues.map((i) => `  ${i.variable}: ${i.message}${i.received === void 0 ? "" : ` (got ${JSON.stringify(i.received)})`}`).join("\n")
    );
    this.name = "ConfigError";
    this.issues = issues;
  }
};
function convert(property, raw) {
  if ((property.type === "integer" || property.type === "number") && /^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (property.type === "boolean" && (raw === "true" || raw === "false")) return raw === "true";
  return raw;
}
function loadConfig(schema, source) {
  const picked = {};
  for (const [key, property] of Object.entries(schema.properties)) {
    const raw = source[key];
    if (raw !== void 0 && raw.trim() !== "") picked[key] = convert(property, raw.trim());
  }
  const converted = Value.Default(schema, picked);
  const issues = [];
  const seen = /* @__PURE__ */ new Set();
  for (const error of Value.Errors(schema, converted)) {
    const variable = error.path.replace(/^\//, "").split("/")[0] || "(root)";
    if (seen.has(variable)) continue;
    seen.add(variable);
    const expected = error.schema.description ? ` \u2014 ${error.schema.description}` : "";
    issues.push({ variable, message: `${error.message}${expected}`, received: source[variable] });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return converted;
}

// ../packages/shared/src/config/common-env.ts
import { Type as Type2 } from "@sinclair/typebox";

// ../packages/shared/src/config/env-types.ts
import { Type } from "@sinclair/typebox";
var PostgresUrl = (description) => Type.String({ pattern: "^postgres(ql)?://", description });
var RedisUrl = (description) => Type.String({ pattern: "^rediss?://", description });
var Port = (defaultPort, description) => Type.Integer({ minimum: 0, maximum: 65535, default: defaultPort, description });
var LogLevel = Type.Union(
  ["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l)),
  { default: "info", description: "one of fatal, error, warn, info, debug, trace, silent" }
);
var PositiveInt = (defaultValue, description, maximum = 2 ** 31 - 1) => Type.Integer({ minimum: 1, maximum, default: defaultValue, description });

// ../packages/shared/src/config/common-env.ts
var commonEnv = {
  DATABASE_URL: PostgresUrl("a postgres:// URL, e.g. postgres://user@127.0.0.1:5432/tributary"),
  REDIS_URL: RedisUrl("a redis:// URL, e.g. redis://127.0.0.1:6379"),
  HOST: Type2.String({ default: "127.0.0.1", minLength: 1, description: "address to listen on (0.0.0.0 in a container)" }),
  LOG_LEVEL: LogLevel,
  STREAM_SHARDS: PositiveInt(4, "number of event streams tributary:events:{0..N-1}; never lower it while entries remain", 256),
  SESSION_TIMEOUT_MINUTES: PositiveInt(30, "idle minutes after which a session ends", 24 * 60)
};

// ../packages/shared/src/ids.ts
import { randomFillSync } from "node:crypto";
var lastMs = 0;
var sequence = 0;
var pool = Buffer.alloc(4096);
var poolOffset = pool.length;
function random(bytes) {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return out;
}
function uuidv7(now = Date.now()) {
  if (now <= lastMs) {
    sequence = sequence + 1 & 4095;
    if (sequence === 0) lastMs += 1;
    now = lastMs;
  } else {
    lastMs = now;
    sequence = random(2).readUInt16BE(0) & 2047;
  }
  const bytes = Buffer.from(random(16));
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 112 | sequence >> 8;
  bytes[7] = sequence & 255;
  bytes[8] = 128 | bytes[8] & 63;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ../packages/shared/src/logger.ts
import { pino } from "pino";
var REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "*.writeKey",
  "*.readKey",
  "writeKey",
  "readKey"
];
function loggerOptions(name, level) {
  const options = { name, level, redact: { paths: REDACT_PATHS, censor: "[redacted]" } };
  if (process.stdout.isTTY) {
    options.transport = { target: "pino-pretty", options: { translateTime: "HH:MM:ss.l", ignore: "pid,hostname" } };
  }
  return options;
}
function createLogger(name, level) {
  return pino(loggerOptions(name, level));
}

// ../packages/shared/src/streams.ts
function streamKey(shard) {
  return `tributary:events:{${shard}}`;
}
function realtimeKeys(tenantId, shard) {
  const base = `tributary:rt:{${shard}}:${tenantId}:`;
  return {
    users: `${base}users`,
    sessions: `${base}sessions`,
    eventsInMinute: (minute) => `${base}epm:${minute}`,
    pagesInMinute: (minute) => `${base}pages:${minute}`
  };
}

// ../packages/shared/src/schemas/common.ts
import { Type as Type3 } from "@sinclair/typebox";
var ClientId = (description) => Type3.String({ minLength: 1, maxLength: 255, pattern: "^[^\\u0000-\\u001f\\u007f]+$", description });
var IsoTimestamp = (description) => Type3.String({ format: "date-time", maxLength: 64, description });
var EventName = (description) => Type3.String({ minLength: 1, maxLength: 200, pattern: "^[^\\u0000-\\u001f\\u007f{}]+$", description });
var ErrorItemSchema = Type3.Object({
  index: Type3.Integer({ minimum: 0, description: "position of the event in the request" }),
  code: Type3.String({ description: "stable, machine-readable" }),
  message: Type3.String({ description: "what to change" })
});
var ErrorResponseSchema = Type3.Object(
  {
    statusCode: Type3.Integer(),
    code: Type3.String({ description: "stable, machine-readable error code" }),
    error: Type3.String({ description: "HTTP reason phrase" }),
    message: Type3.String({ description: "what went wrong and what to do about it" }),
    errors: Type3.Optional(Type3.Array(ErrorItemSchema, { description: "per-event problems, by index" }))
  },
  { examples: [{ statusCode: 400, code: "no_valid_events", error: "Bad Request", message: "none of the 1 event could be accepted; see errors", errors: [{ index: 0, code: "missing_identity", message: "an event needs a userId, an anonymousId or a sessionId" }] }] }
);

// ../packages/shared/src/schemas/native.ts
import { Type as Type4 } from "@sinclair/typebox";
var MAX_BATCH_EVENTS = 1e3;
var MetadataSchema = Type4.Record(Type4.String({ maxLength: 128 }), Type4.Unknown(), {
  maxProperties: 255,
  description: "free-form JSON object (at most 255 keys, 8 levels deep)"
});
var EventSchema = Type4.Object(
  {
    eventId: Type4.Optional(ClientId("idempotency key; a UUIDv7 is generated when absent")),
    type: EventName("'pageview', 'action' or a custom event name"),
    sessionId: Type4.Optional(ClientId("an explicit session; absent, the server sessionises by event time")),
    userId: Type4.Optional(ClientId("the signed-in user")),
    anonymousId: Type4.Optional(ClientId("a device or browser id")),
    page: Type4.Optional(Type4.String({ minLength: 1, maxLength: 2048, pattern: "^[^\\u0000-\\u001f\\u007f]+$", description: "path or URL of a page view" })),
    action: Type4.Optional(EventName("name of the action")),
    metadata: Type4.Optional(MetadataSchema),
    timestamp: Type4.Optional(IsoTimestamp("when it happened on the client; default: when received"))
  },
  {
    additionalProperties: false,
    examples: [{ eventId: "0193a1c2-7d4e-7b8a-9c1d-2e3f4a5b6c7d", type: "pageview", anonymousId: "visitor-42", page: "/pricing", metadata: { referrer: "https://news.example" }, timestamp: "2026-11-26T09:30:00.000Z" }]
  }
);
var EventBatchSchema = Type4.Object(
  {
    events: Type4.Array(Type4.Unknown(), { minItems: 1, maxItems: MAX_BATCH_EVENTS, description: `1 to ${MAX_BATCH_EVENTS} events` }),
    sentAt: Type4.Optional(IsoTimestamp("the client's clock when it sent the batch, for skew correction"))
  },
  {
    additionalProperties: false,
    examples: [{ sentAt: "2026-11-26T09:31:00.000Z", events: [{ eventId: "e-1", type: "pageview", userId: "user-7", page: "/" }, { eventId: "e-2", type: "action", userId: "user-7", action: "signup" }] }]
  }
);
var EventsBodySchema = Type4.Union([EventSchema, EventBatchSchema]);
var EventsAcceptedSchema = Type4.Object({
  accepted: Type4.Integer({ description: "new events now durably queued" }),
  duplicates: Type4.Integer({ description: "events already received before (same eventId); nothing changed" }),
  errors: Type4.Array(ErrorItemSchema, { description: "events refused, by index; the others were accepted" })
});
var SessionStartSchema = Type4.Object(
  {
    sessionId: Type4.Optional(ClientId("your session id; a UUIDv7 is generated when absent")),
    userId: Type4.Optional(ClientId("the signed-in user")),
    anonymousId: Type4.Optional(ClientId("a device or browser id")),
    device: Type4.Optional(Type4.String({ maxLength: 255 })),
    platform: Type4.Optional(Type4.String({ maxLength: 255 })),
    browser: Type4.Optional(Type4.String({ maxLength: 255 })),
    os: Type4.Optional(Type4.String({ maxLength: 255 })),
    referrer: Type4.Optional(Type4.String({ maxLength: 2048 })),
    timestamp: Type4.Optional(IsoTimestamp("when the session started; default: when received")),
    sentAt: Type4.Optional(IsoTimestamp("the client's clock when it sent this, for skew correction"))
  },
  { additionalProperties: false, examples: [{ userId: "user-7", device: "iPhone 15", os: "iOS 19", referrer: "https://news.example" }] }
);
var SessionPingSchema = Type4.Object(
  {
    timestamp: Type4.Optional(IsoTimestamp("when it happened; default: when received")),
    sentAt: Type4.Optional(IsoTimestamp("the client's clock when it sent this"))
  },
  { additionalProperties: false }
);
var SessionParamsSchema = Type4.Object({ sessionId: ClientId("the session") });
var SessionCreatedSchema = Type4.Object({ sessionId: Type4.String(), duplicate: Type4.Boolean({ description: "the session was already started" }) });
var SessionPingAcceptedSchema = Type4.Object({ accepted: Type4.Boolean() });

// ../packages/shared/src/schemas/segment.ts
import { Type as Type5 } from "@sinclair/typebox";
var SEGMENT_TYPES = ["track", "page", "screen", "identify", "group", "alias"];
var SegmentId = Type5.Union([Type5.String({ minLength: 1, maxLength: 255, pattern: "^[^\\u0000-\\u001f\\u007f]+$" }), Type5.Number()]);
var SegmentMessageSchema = Type5.Object(
  {
    type: Type5.Optional(Type5.Union(SEGMENT_TYPES.map((t) => Type5.Literal(t)))),
    messageId: Type5.Optional(Type5.String({ minLength: 1, maxLength: 255, pattern: "^[^\\u0000-\\u001f\\u007f]+$" })),
    userId: Type5.Optional(Type5.Union([SegmentId, Type5.Null()])),
    anonymousId: Type5.Optional(Type5.Union([SegmentId, Type5.Null()])),
    event: Type5.Optional(EventName("track: the event name")),
    name: Type5.Optional(Type5.Union([Type5.String({ maxLength: 2048 }), Type5.Null()])),
    category: Type5.Optional(Type5.Union([Type5.String({ maxLength: 2048 }), Type5.Null()])),
    properties: Type5.Optional(Type5.Record(Type5.String(), Type5.Unknown())),
    traits: Type5.Optional(Type5.Record(Type5.String(), Type5.Unknown())),
    context: Type5.Optional(Type5.Record(Type5.String(), Type5.Unknown())),
    timestamp: Type5.Optional(Type5.Union([IsoTimestamp("when it happened"), Type5.Null()])),
    sentAt: Type5.Optional(Type5.Union([IsoTimestamp("when the SDK sent it"), Type5.Null()]))
  },
  { additionalProperties: true, examples: [{ type: "track", messageId: "msg-1", userId: "user-7", event: "Order Completed", properties: { revenue: 42 } }] }
);
var SegmentBatchSchema = Type5.Object(
  {
    batch: Type5.Array(Type5.Unknown(), { minItems: 1, maxItems: 1e3 }),
    sentAt: Type5.Optional(Type5.Union([IsoTimestamp("when the SDK sent the batch"), Type5.Null()])),
    writeKey: Type5.Optional(Type5.String()),
    context: Type5.Optional(Type5.Record(Type5.String(), Type5.Unknown()))
  },
  { additionalProperties: true }
);
var SegmentAcceptedSchema = Type5.Object({
  success: Type5.Literal(true),
  accepted: Type5.Integer(),
  duplicates: Type5.Integer(),
  errors: Type5.Array(ErrorItemSchema)
});

// ../packages/shared/src/ingest/inspect.ts
var MAX_KEY_LENGTH = 128;
var wellFormed = (s) => s.isWellFormed() && !s.includes("\0");
function inspectJson(value, maxDepth) {
  const stack = [{ value, depth: 0, path: "" }];
  while (stack.length > 0) {
    const { value: current, depth, path } = stack.pop();
    if (typeof current === "string") {
      if (!wellFormed(current)) return { code: "invalid_unicode", message: `${path || "a value"} holds a NUL character or a lone UTF-16 surrogate` };
      continue;
    }
    if (typeof current === "number") {
      if (!Number.isFinite(current)) return { code: "invalid_number", message: `${path || "a value"} is a number too large for JSON (e.g. 1e309)` };
      continue;
    }
    if (current === null || typeof current !== "object") continue;
    if (depth >= maxDepth) return { code: "depth_exceeded", message: `${path || "the body"} is nested more than ${maxDepth} levels deep` };
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) stack.push({ value: current[i], depth: depth + 1, path: `${path}/${i}` });
    } else {
      for (const key of Object.keys(current)) {
        if (key.length > MAX_KEY_LENGTH) return { code: "key_too_long", message: `a key under ${path || "/"} is ${key.length} characters; keys may have at most ${MAX_KEY_LENGTH}` };
        if (!wellFormed(key)) return { code: "invalid_unicode", message: `a key under ${path || "/"} holds a NUL character or a lone UTF-16 surrogate` };
        stack.push({ value: current[key], depth: depth + 1, path: `${path}/${key}` });
      }
    }
  }
  return void 0;
}

// ../packages/shared/src/schemas/formats.ts
import { FormatRegistry } from "@sinclair/typebox";
var DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$/;
function isDateTime(value) {
  const match = DATE_TIME.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (month < 1 || month > 12 || day < 1) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return day <= daysInMonth && Number.isFinite(Date.parse(value));
}
function registerFormats() {
  if (!FormatRegistry.Has("date-time")) FormatRegistry.Set("date-time", isDateTime);
}

// ../packages/shared/src/ingest/time.ts
var DAY_MS = 24 * 60 * 60 * 1e3;
var EARLIEST_EVENT_MS = Date.UTC(2e3, 0, 1);
function parse(value) {
  if (value === void 0 || value === null) return void 0;
  return isDateTime(value) ? Date.parse(value) : Number.NaN;
}
function occurredAt(receivedAt, timestamp8, sentAt) {
  const at = parse(timestamp8);
  if (at === void 0) return { ok: true, occurredAt: receivedAt };
  if (Number.isNaN(at)) return { ok: false, message: `timestamp "${timestamp8}" is not an ISO-8601 date-time` };
  const sent = parse(sentAt);
  if (sent !== void 0 && Number.isNaN(sent)) return { ok: false, message: `sentAt "${sentAt}" is not an ISO-8601 date-time` };
  let corrected = sent === void 0 ? at : receivedAt - (sent - at);
  if (corrected > receivedAt + DAY_MS) corrected = receivedAt;
  if (corrected < EARLIEST_EVENT_MS) return { ok: false, message: `timestamp ${new Date(corrected).toISOString()} is before 2000-01-01` };
  return { ok: true, occurredAt: Math.round(corrected) };
}

// ../packages/shared/src/ingest/normalize.ts
var userKeyOf = (e) => e.userId ?? e.anonymousId;
function normalizeNative(input, receivedAt, sentAt) {
  if (!input.userId && !input.anonymousId && !input.sessionId) {
    return { ok: false, code: "missing_identity", message: "an event needs a userId, an anonymousId or a sessionId" };
  }
  const time = occurredAt(receivedAt, input.timestamp, sentAt);
  if (!time.ok) return { ok: false, code: "invalid_timestamp", message: time.message };
  const event = { eventId: input.eventId ?? uuidv7(receivedAt), type: input.type, occurredAt: time.occurredAt };
  if (input.userId !== void 0) event.userId = input.userId;
  if (input.anonymousId !== void 0) event.anonymousId = input.anonymousId;
  if (input.sessionId !== void 0) event.sessionId = input.sessionId;
  if (input.page !== void 0) event.page = input.page;
  if (input.action !== void 0) event.action = input.action;
  if (input.metadata !== void 0) event.metadata = input.metadata;
  return { ok: true, event };
}
var SEGMENT_MAPPED = /* @__PURE__ */ new Set(["type", "messageId", "userId", "anonymousId", "timestamp", "sentAt", "writeKey", "receivedAt", "originalTimestamp"]);
var asId = (v) => typeof v === "number" ? String(v) : typeof v === "string" && v.length > 0 ? v : void 0;
var asPath = (v) => {
  if (typeof v !== "string") return void 0;
  const clean = v.replace(/[\u0000-\u001f\u007f]/g, "").slice(0, 2048);
  return clean.length > 0 ? clean : void 0;
};
function pageOf(message) {
  const properties = message.properties;
  const contextPage = message.context?.page;
  return asPath(properties?.path) ?? asPath(contextPage?.path) ?? asPath(message.name);
}
function normalizeSegment(message, type, receivedAt, batchSentAt) {
  const userId = asId(message.userId);
  const anonymousId = asId(message.anonymousId);
  if (!userId && !anonymousId) return { ok: false, code: "missing_identity", message: "a Segment message needs a userId or an anonymousId" };
  if (type === "track" && !message.event) return { ok: false, code: "validation_failed", message: "a track call needs an event name" };
  const original = message.originalTimestamp;
  const timestamp8 = message.timestamp ?? (typeof original === "string" ? original : void 0);
  const time = occurredAt(receivedAt, timestamp8, message.sentAt ?? batchSentAt);
  if (!time.ok) return { ok: false, code: "invalid_timestamp", message: time.message };
  const event = {
    eventId: message.messageId ?? uuidv7(receivedAt),
    type: type === "page" ? "pageview" : type === "track" ? "action" : type,
    occurredAt: time.occurredAt
  };
  if (userId) event.userId = userId;
  if (anonymousId) event.anonymousId = anonymousId;
  if (type === "page") {
    const page = pageOf(message);
    if (page) event.page = page;
  } else if (type === "screen") {
    const page = asPath(message.name);
    if (page) event.page = page;
  } else if (type === "track") {
    event.action = message.event;
  }
  const metadata = {};
  for (const [key, value] of Object.entries(message)) {
    if (!SEGMENT_MAPPED.has(key) && value !== void 0 && value !== null) metadata[key] = value;
  }
  if (Object.keys(metadata).length > 0) event.metadata = metadata;
  return { ok: true, event };
}

// ../packages/shared/src/stream-codec.ts
import { createHash } from "node:crypto";
function encodeEventJson(e) {
  const o = { i: e.eventId, y: e.type };
  if (e.userId !== void 0) o.ui = e.userId;
  if (e.anonymousId !== void 0) o.ai = e.anonymousId;
  if (e.page !== void 0) o.p = e.page;
  if (e.action !== void 0) o.a = e.action;
  if (e.metadata !== void 0) o.m = e.metadata;
  o.o = e.occurredAt;
  return JSON.stringify(o);
}
function shardFor(tenantId, shards) {
  let hash = 2166136261;
  for (let i = 0; i < tenantId.length; i++) {
    hash ^= tenantId.charCodeAt(i);
    hash = Math.imul(hash, 16777619) >>> 0;
  }
  return hash % shards;
}

// ../packages/shared/src/metrics/calendar.ts
var DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
function isCalendarDate(value) {
  const m = DATE.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === value;
}
function addDays(date3, days) {
  const d = /* @__PURE__ */ new Date(`${date3}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
function daysBetween(from, to) {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 864e5);
}
function eachDay(from, to) {
  const out = [];
  for (let d = from; d <= to; d = addDays(d, 1)) out.push(d);
  return out;
}
function dateIn(timezone, at) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: timezone, year: "numeric", month: "2-digit", day: "2-digit" }).format(at);
}
function lastDays(timezone, days, now = Date.now()) {
  const to = dateIn(timezone, now);
  return { from: addDays(to, -(days - 1)), to };
}

// ../packages/shared/src/metrics/aggregator.ts
var RECOMPUTE_DAYS_SQL = `
with bounds as (
  select d::date as day, (d::date::timestamp at time zone $2) as starts, ((d::date + 1)::timestamp at time zone $2) as ends
  from unnest($3::date[]) as d
),
activity as (
  select b.day, count(*)::int as events, (count(*) filter (where a.type = 'pageview'))::int as page_views, count(distinct a.user_key)::int as active_users
  from bounds b join user_activities a on a.tenant_id = $1 and a.occurred_at >= b.starts and a.occurred_at < b.ends
  group by b.day
),
started as (
  select b.day, count(*)::int as sessions, (count(*) filter (where s.ended_at is not null))::int as ended_sessions,
    coalesce(avg(extract(epoch from s.ended_at - s.started_at)) filter (where s.ended_at is not null), 0)::float8 as avg_duration
  from bounds b join user_sessions s on s.tenant_id = $1 and s.started_at >= b.starts and s.started_at < b.ends
  group by b.day
)
insert into platform_metrics as pm (tenant_id, date, active_users, sessions, avg_session_duration_seconds, ended_sessions, events, page_views, updated_at)
select $1, b.day, coalesce(a.active_users, 0), coalesce(s.sessions, 0), coalesce(s.avg_duration, 0), coalesce(s.ended_sessions, 0),
  coalesce(a.events, 0), coalesce(a.page_views, 0), now()
from bounds b left join activity a on a.day = b.day left join started s on s.day = b.day
on conflict (tenant_id, date) do update set
  active_users = excluded.active_users, sessions = excluded.sessions, avg_session_duration_seconds = excluded.avg_session_duration_seconds,
  ended_sessions = excluded.ended_sessions, events = excluded.events, page_views = excluded.page_views, updated_at = now()
`;
function zeroFill(from, to, stored) {
  const byDate = new Map(stored.map((d) => [d.date, d]));
  return eachDay(from, to).map((date3) => byDate.get(date3) ?? { date: date3, activeUsers: 0, sessions: 0, avgSessionDurationSeconds: 0, events: 0, pageViews: 0, endedSessions: 0 });
}
function totalsOf(days, distinctActiveUsers) {
  let sessions2 = 0;
  let events2 = 0;
  let pageViews = 0;
  let ended = 0;
  let durationSum = 0;
  for (const d of days) {
    sessions2 += d.sessions;
    events2 += d.events;
    pageViews += d.pageViews;
    ended += d.endedSessions;
    durationSum += d.avgSessionDurationSeconds * d.endedSessions;
  }
  return { activeUsers: distinctActiveUsers, sessions: sessions2, avgSessionDurationSeconds: ended === 0 ? 0 : durationSum / ended, events: events2, pageViews };
}
function publicDay({ date: date3, activeUsers, sessions: sessions2, avgSessionDurationSeconds, events: events2, pageViews }) {
  return { date: date3, activeUsers, sessions: sessions2, avgSessionDurationSeconds, events: events2, pageViews };
}

// ../packages/shared/src/schemas/read.ts
import { Type as Type6 } from "@sinclair/typebox";
var RangeQuerySchema = Type6.Object(
  {
    days: Type6.Optional(Type6.String({ pattern: "^\\d{1,3}$", description: "1 to 365: the last N days, today included (tenant timezone)" })),
    from: Type6.Optional(Type6.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}$", description: "first day, YYYY-MM-DD (with `to`)" })),
    to: Type6.Optional(Type6.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}$", description: "last day, YYYY-MM-DD (with `from`)" })),
    limit: Type6.Optional(Type6.String({ pattern: "^\\d{1,3}$", description: "top lists: how many (1-100, default 10)" }))
  },
  { additionalProperties: false }
);
var Day = Type6.Object({
  date: Type6.String(),
  activeUsers: Type6.Integer(),
  sessions: Type6.Integer(),
  avgSessionDurationSeconds: Type6.Number(),
  events: Type6.Integer(),
  pageViews: Type6.Integer()
});
var HistoricalSchema = Type6.Object({
  tenantId: Type6.String(),
  from: Type6.String(),
  to: Type6.String(),
  days: Type6.Array(Day),
  totals: Type6.Object({
    activeUsers: Type6.Integer({ description: "distinct over the whole range" }),
    sessions: Type6.Integer(),
    avgSessionDurationSeconds: Type6.Number(),
    events: Type6.Integer(),
    pageViews: Type6.Integer()
  })
});
var TopPagesSchema = Type6.Object({ tenantId: Type6.String(), from: Type6.String(), to: Type6.String(), pages: Type6.Array(Type6.Object({ page: Type6.String(), views: Type6.Integer() })) });
var TopEventsSchema = Type6.Object({ tenantId: Type6.String(), from: Type6.String(), to: Type6.String(), events: Type6.Array(Type6.Object({ name: Type6.String(), type: Type6.String(), count: Type6.Integer() })) });
var RealtimeSchema = Type6.Object({
  activeUsers: Type6.Integer({ description: "distinct users with activity in the last 5 minutes" }),
  activeSessions: Type6.Integer({ description: "sessions not ended with activity within the session timeout" }),
  eventsPerMinute: Type6.Array(Type6.Object({ minute: Type6.String(), count: Type6.Integer() }), { description: "last 60 minutes, oldest first" }),
  topPages: Type6.Array(Type6.Object({ page: Type6.String(), views: Type6.Integer() }), { description: "last 30 minutes" })
});
var SyncResultSchema = Type6.Object({ syncedDays: Type6.Integer(), sessionsClosed: Type6.Integer(), durationMs: Type6.Integer() });

// ../apps/ingest/src/errors.ts
var ApiError = class extends Error {
  constructor(statusCode, code, message, extra = {}) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
    this.extra = extra;
    this.name = "ApiError";
  }
  statusCode;
  code;
  extra;
};
var unauthorized = () => new ApiError(401, "unauthorized", "missing, unknown or revoked API key: send `Authorization: Bearer <key>`");
var wrongKeyKind = (expected) => new ApiError(403, "forbidden_key_kind", expected === "write" ? "this route needs a write key (wk_\u2026); read keys cannot ingest" : "this route needs a read key (rk_\u2026); write keys cannot read");
var redisUnavailable = () => new ApiError(503, "unavailable", "the event store is unreachable; nothing was stored, retry later", { retryAfterSeconds: 5 });
var backlogFull = () => new ApiError(503, "backlog_full", "the ingestion backlog is full; nothing was stored, retry later", { retryAfterSeconds: 10 });
var rateLimited = (retryAfterMs) => new ApiError(429, "rate_limited", "too many events for this write key; nothing was stored, retry after the delay", { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1e3)) });
var REASONS = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable"
};
var FASTIFY_CODES = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, "body_too_large", "the body (after decompression) is larger than this route accepts"],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, "unsupported_media_type", "send Content-Type: application/json"],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, "invalid_content_length", "Content-Length does not match the body"],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, "empty_body", "the body is empty; send a JSON object"],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, "invalid_json", "the body is not valid JSON"],
  FST_ERR_CTP_EMPTY_TYPE: [415, "unsupported_media_type", "send Content-Type: application/json"],
  FST_ERR_CTP_INVALID_TYPE: [415, "unsupported_media_type", "send Content-Type: application/json"]
};
function toErrorBody(err) {
  if (err instanceof ApiError) {
    const body = { statusCode: err.statusCode, code: err.code, error: REASONS[err.statusCode] ?? "Error", message: err.message };
    if (err.extra.errors) body.errors = err.extra.errors;
    return body;
  }
  const fastifyError = err;
  const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : void 0;
  if (mapped) return { statusCode: mapped[0], code: mapped[1], error: REASONS[mapped[0]], message: mapped[2] };
  if (fastifyError.validation) {
    const first = fastifyError.validation[0];
    const unknown = first?.keyword === "additionalProperties" ? first.params.additionalProperty : void 0;
    if (unknown) return { statusCode: 400, code: "unknown_field", error: REASONS[400], message: `unknown field "${unknown}" ${first?.instancePath ? `in ${first.instancePath}` : "in the body"}` };
    return { statusCode: 400, code: "validation_failed", error: REASONS[400], message: `${fastifyError.validationContext ?? "body"}${first?.instancePath ?? ""} ${first?.message ?? "is invalid"}` };
  }
  const zlibCode = err.code;
  if (zlibCode === "Z_DATA_ERROR" || zlibCode === "Z_BUF_ERROR") {
    return { statusCode: 400, code: "invalid_compressed_body", error: REASONS[400], message: "the body is not valid for its Content-Encoding" };
  }
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const code = /__proto__|constructor/.test(fastifyError.message) ? "forbidden_property" : err instanceof SyntaxError ? "invalid_json" : "bad_request";
    return { statusCode: fastifyError.statusCode, code, error: REASONS[fastifyError.statusCode] ?? "Bad Request", message: fastifyError.message };
  }
  return { statusCode: 500, code: "internal_error", error: REASONS[500], message: "something went wrong on our side; nothing was stored, retry later" };
}
async function errorHandler(err, request, reply) {
  const body = toErrorBody(err);
  if (body.statusCode >= 500) request.log.error({ err, code: body.code }, "unexpected error");
  else request.log.debug({ code: body.code }, body.message);
  if (err instanceof ApiError && err.extra.retryAfterSeconds) reply.header("retry-after", String(err.extra.retryAfterSeconds));
  return reply.code(body.statusCode).send(body);
}

// ../apps/ingest/src/event-log/event-log.ts
import { createHash as createHash2 } from "node:crypto";
import { readFileSync } from "node:fs";
var APPEND_SCRIPT = readFileSync(new URL("./append.lua", import.meta.url), "utf8");
var NS = "tributary:";
var MAX_EVENTS_PER_CALL = 2e3;
var STATUS = { a: "accepted", d: "duplicate", u: "unknown_session" };
function seenToken(eventId) {
  return eventId.length <= 64 ? eventId : "" + createHash2("sha256").update(eventId).digest("base64url").slice(0, 22);
}
var CALLS_IN_FLIGHT = 2;
function createEventLog(redis, options) {
  redis.defineCommand("tributaryAppend", { numberOfKeys: 1, lua: APPEND_SCRIPT });
  const call = redis.tributaryAppend.bind(redis);
  const queues = /* @__PURE__ */ new Map();
  const header = (op, shard, now) => [
    op,
    NS,
    `{${shard}}`,
    now,
    options.rateLimitPerSecond,
    options.backlogCap,
    options.sessionTimeoutMs,
    options.dedupWindowSeconds,
    options.sessionStateTtlSeconds
  ];
  function schedule(shard, queue) {
    if (queue.calls >= CALLS_IN_FLIGHT || queue.waiting.length === 0) return;
    queue.calls++;
    setImmediate(() => void flush(shard, queue));
  }
  async function flush(shard, queue) {
    try {
      if (queue.waiting.length > 0) {
        const batch = [];
        let events2 = 0;
        while (queue.waiting.length > 0 && (batch.length === 0 || events2 + queue.waiting[0].count <= MAX_EVENTS_PER_CALL)) {
          const next = queue.waiting.shift();
          batch.push(next);
          events2 += next.count;
        }
        const args = [...header("ev", shard, Date.now()), batch.length];
        for (const p of batch) args.push(p.tenantId, p.keyId, p.receivedAt, p.count, p.meta, p.lines);
        try {
          const reply = await call(streamKey(shard), ...args);
          batch.forEach((p, i) => {
            const [outcome, detail] = [reply[2 * i], reply[2 * i + 1] ?? ""];
            if (outcome === "rate") p.resolve({ outcome: "rate_limited", retryAfterMs: Number(detail) });
            else if (outcome === "backlog") p.resolve({ outcome: "backlog_full" });
            else p.resolve({ outcome: "ok", statuses: [...detail].map((c) => STATUS[c]) });
          });
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      queue.calls--;
      schedule(shard, queue);
    }
  }
  return {
    appendEvents(tenantId, keyId, events2, receivedAt) {
      const meta = [];
      const lines = [];
      for (const { event, json } of events2) {
        const page = event.type === "pageview" && event.page ? event.page : "";
        const candidate = event.sessionId ? "" : uuidv7(event.occurredAt);
        meta.push(`${seenToken(event.eventId)}${userKeyOf(event) ?? ""}${event.sessionId ?? ""}${candidate}${event.occurredAt}${page}`);
        lines.push(json);
      }
      const shard = shardFor(tenantId, options.shards);
      let queue = queues.get(shard);
      if (!queue) {
        queue = { waiting: [], calls: 0 };
        queues.set(shard, queue);
      }
      const q = queue;
      return new Promise((resolve, reject) => {
        q.waiting.push({ tenantId, keyId, receivedAt, count: events2.length, meta: meta.join(""), lines: lines.join("\n"), resolve, reject });
        schedule(shard, q);
      });
    },
    async session(op, tenantId, keyId, session, receivedAt) {
      const shard = shardFor(tenantId, options.shards);
      const reply = await call(streamKey(shard), ...header(op, shard, receivedAt), tenantId, keyId, session.id, session.uk ?? "", session.at, JSON.stringify(session));
      if (reply[0] === "rate") return { outcome: "rate_limited", retryAfterMs: Number(reply[1]) };
      if (reply[0] === "backlog") return { outcome: "backlog_full" };
      if (reply[0] === "dup") return { outcome: "duplicate" };
      if (reply[0] === "unknown") return { outcome: "unknown_session" };
      return { outcome: "ok" };
    }
  };
}

// ../apps/ingest/src/plugins/auth.ts
import fp from "fastify-plugin";
function keyFromHeaders(request) {
  const header = request.headers.authorization;
  if (!header) return void 0;
  const space = header.indexOf(" ");
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === "bearer") return value || void 0;
  if (scheme === "basic") {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return (colon === -1 ? decoded : decoded.slice(0, colon)) || void 0;
  }
  return void 0;
}
var auth_default = fp(
  async (app2) => {
    app2.decorateRequest("principal", null);
    async function verify(request, key, kind) {
      const check2 = await app2.keys.verify(key, kind);
      if (check2.ok) {
        request.principal = { tenantId: check2.tenantId, keyId: check2.keyId, timezone: check2.timezone };
        return;
      }
      throw check2.reason === "wrong_kind" ? wrongKeyKind(kind) : unauthorized();
    }
    app2.decorate("requireKey", (kind, options = {}) => async (request) => {
      const key = keyFromHeaders(request);
      if (key === void 0 && options.allowBodyWriteKey) return;
      await verify(request, key, kind);
    });
    app2.decorate("requireBodyWriteKey", async (request) => {
      if (request.principal) return;
      const body = request.body;
      await verify(request, typeof body?.writeKey === "string" ? body.writeKey : void 0, "write");
    });
  },
  { name: "auth", dependencies: ["database"] }
);

// ../apps/ingest/src/plugins/database.ts
import fp2 from "fastify-plugin";

// ../packages/db/src/client.ts
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";

// ../packages/db/src/schema/index.ts
var schema_exports = {};
__export(schema_exports, {
  API_KEY_KINDS: () => API_KEY_KINDS,
  apiKeys: () => apiKeys,
  metricsDirtyDays: () => metricsDirtyDays,
  platformMetrics: () => platformMetrics,
  syncRuns: () => syncRuns,
  tenants: () => tenants,
  userActivities: () => userActivities,
  userSessions: () => userSessions
});

// ../packages/db/src/schema/tenants.ts
import { pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
var tenants = pgTable(
  "tenants",
  {
    id: uuid().primaryKey(),
    name: text().notNull(),
    timezone: text().notNull().default("UTC"),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow()
  },
  (t) => [uniqueIndex("tenants_name_key").on(t.name)]
);

// ../packages/db/src/schema/api-keys.ts
import { sql } from "drizzle-orm";
import { check, index, pgTable as pgTable2, text as text2, timestamp as timestamp2, uniqueIndex as uniqueIndex2, uuid as uuid2 } from "drizzle-orm/pg-core";
var API_KEY_KINDS = ["write", "read"];
var apiKeys = pgTable2(
  "api_keys",
  {
    id: uuid2().primaryKey(),
    tenantId: uuid2().notNull().references(() => tenants.id, { onDelete: "cascade" }),
    kind: text2().$type().notNull(),
    /** The first characters of the key, shown in listings and used to find the row. */
    prefix: text2().notNull(),
    /** Hex SHA-256 of the whole key; the key itself is never stored. */
    hash: text2().notNull(),
    createdAt: timestamp2({ withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp2({ withTimezone: true })
  },
  (t) => [
    check("api_keys_kind_check", sql`${t.kind} in ('write', 'read')`),
    uniqueIndex2("api_keys_hash_key").on(t.hash),
    index("api_keys_prefix_idx").on(t.prefix),
    index("api_keys_tenant_id_idx").on(t.tenantId)
  ]
);

// ../packages/db/src/schema/user-sessions.ts
import { sql as sql2 } from "drizzle-orm";
import { boolean, index as index2, pgTable as pgTable3, primaryKey, text as text3, timestamp as timestamp3, uuid as uuid3 } from "drizzle-orm/pg-core";
var userSessions = pgTable3(
  "user_sessions",
  {
    tenantId: uuid3().notNull().references(() => tenants.id, { onDelete: "cascade" }),
    /** Client-chosen or server-generated (UUIDv7); unique per tenant. */
    id: text3().notNull(),
    /** userId when known, else anonymousId: the identity metrics count. */
    userKey: text3().notNull(),
    userId: text3(),
    anonymousId: text3(),
    startedAt: timestamp3({ withTimezone: true }).notNull(),
    lastSeenAt: timestamp3({ withTimezone: true }).notNull(),
    endedAt: timestamp3({ withTimezone: true }),
    isActive: boolean().notNull().default(true),
    device: text3(),
    platform: text3(),
    browser: text3(),
    os: text3(),
    referrer: text3(),
    createdAt: timestamp3({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp3({ withTimezone: true }).notNull().defaultNow()
  },
  (t) => [
    primaryKey({ name: "user_sessions_pkey", columns: [t.tenantId, t.id] }),
    index2("user_sessions_tenant_started_idx").on(t.tenantId, t.startedAt),
    index2("user_sessions_tenant_user_last_seen_idx").on(t.tenantId, t.userKey, t.lastSeenAt),
    // The idle-session sweep only ever looks at active sessions.
    index2("user_sessions_active_last_seen_idx").on(t.lastSeenAt).where(sql2`${t.isActive}`)
  ]
);

// ../packages/db/src/schema/user-activities.ts
import { index as index3, jsonb, pgTable as pgTable4, primaryKey as primaryKey2, text as text4, timestamp as timestamp4, uuid as uuid4 } from "drizzle-orm/pg-core";
var userActivities = pgTable4(
  "user_activities",
  {
    tenantId: uuid4().notNull().references(() => tenants.id, { onDelete: "cascade" }),
    /** The idempotency key: a client eventId/messageId, or a server UUIDv7. */
    eventId: text4().notNull(),
    sessionId: text4(),
    userKey: text4().notNull(),
    type: text4().notNull(),
    page: text4(),
    action: text4(),
    metadata: jsonb().$type(),
    occurredAt: timestamp4({ withTimezone: true }).notNull(),
    receivedAt: timestamp4({ withTimezone: true }).notNull()
  },
  (t) => [
    // The unique (tenant_id, event_id) key is what makes redelivery harmless.
    primaryKey2({ name: "user_activities_pkey", columns: [t.tenantId, t.eventId] }),
    index3("user_activities_tenant_occurred_idx").on(t.tenantId, t.occurredAt)
  ]
);

// ../packages/db/src/schema/platform-metrics.ts
import { date, doublePrecision, integer, pgTable as pgTable5, primaryKey as primaryKey3, timestamp as timestamp5, uuid as uuid5 } from "drizzle-orm/pg-core";
var platformMetrics = pgTable5(
  "platform_metrics",
  {
    tenantId: uuid5().notNull().references(() => tenants.id, { onDelete: "cascade" }),
    date: date({ mode: "string" }).notNull(),
    activeUsers: integer().notNull().default(0),
    sessions: integer().notNull().default(0),
    avgSessionDurationSeconds: doublePrecision().notNull().default(0),
    /** Sessions started that day that have ended: the weight of the average across days. */
    endedSessions: integer().notNull().default(0),
    events: integer().notNull().default(0),
    pageViews: integer().notNull().default(0),
    updatedAt: timestamp5({ withTimezone: true }).notNull().defaultNow()
  },
  (t) => [primaryKey3({ name: "platform_metrics_pkey", columns: [t.tenantId, t.date] })]
);

// ../packages/db/src/schema/metrics-dirty-days.ts
import { date as date2, pgTable as pgTable6, primaryKey as primaryKey4, timestamp as timestamp6, uuid as uuid6 } from "drizzle-orm/pg-core";
var metricsDirtyDays = pgTable6(
  "metrics_dirty_days",
  {
    tenantId: uuid6().notNull().references(() => tenants.id, { onDelete: "cascade" }),
    date: date2({ mode: "string" }).notNull(),
    markedAt: timestamp6({ withTimezone: true }).notNull().defaultNow()
  },
  (t) => [primaryKey4({ name: "metrics_dirty_days_pkey", columns: [t.tenantId, t.date] })]
);

// ../packages/db/src/schema/sync-runs.ts
import { integer as integer2, pgTable as pgTable7, text as text5, timestamp as timestamp7 } from "drizzle-orm/pg-core";
var syncRuns = pgTable7("sync_runs", {
  scope: text5().primaryKey(),
  lastRunAt: timestamp7({ withTimezone: true }).notNull(),
  durationMs: integer2().notNull(),
  syncedDays: integer2().notNull(),
  sessionsClosed: integer2().notNull()
});

// ../packages/db/src/client.ts
function createDatabase(url, options) {
  const sql4 = postgres(url, {
    max: options.maxConnections ?? 10,
    idle_timeout: 30,
    max_lifetime: 60 * 30,
    connect_timeout: 10,
    onnotice: () => {
    },
    connection: { application_name: options.applicationName }
  });
  const db = drizzle({ client: sql4, schema: schema_exports, casing: "snake_case" });
  return { db, sql: sql4, close: () => sql4.end({ timeout: 5 }) };
}

// ../packages/db/src/migrate.ts
import { fileURLToPath } from "node:url";
import { drizzle as drizzle2 } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres2 from "postgres";
var MIGRATIONS_FOLDER = process.env.MIGRATIONS_DIR ?? fileURLToPath(new URL("../../../drizzle", import.meta.url));

// ../packages/db/src/api-keys.ts
import { createHash as createHash3, randomBytes } from "node:crypto";
import { and, eq, isNull } from "drizzle-orm";
var KIND_PREFIX = { write: "wk_", read: "rk_" };
var DISPLAY_PREFIX_LENGTH = 11;
function hashKey(key) {
  return createHash3("sha256").update(key).digest("hex");
}
function displayPrefix(key) {
  return key.slice(0, DISPLAY_PREFIX_LENGTH);
}
function kindOfKey(key) {
  if (key.startsWith(KIND_PREFIX.write)) return "write";
  if (key.startsWith(KIND_PREFIX.read)) return "read";
  return void 0;
}

// ../packages/db/src/tenants.ts
import { eq as eq2 } from "drizzle-orm";

// ../packages/db/src/key-verifier.ts
import { timingSafeEqual } from "node:crypto";
import { eq as eq3 } from "drizzle-orm";
var MAX_KEY_LENGTH2 = 128;
function createKeyVerifier(db, options = {}) {
  const ttlMs = options.ttlMs ?? 5e3;
  const maxEntries = options.maxEntries ?? 1e4;
  const now = options.now ?? Date.now;
  const cache = /* @__PURE__ */ new Map();
  const inFlight = /* @__PURE__ */ new Map();
  async function lookup(key, hash) {
    const rows = await db.select({ keyId: apiKeys.id, tenantId: apiKeys.tenantId, kind: apiKeys.kind, hash: apiKeys.hash, revokedAt: apiKeys.revokedAt, timezone: tenants.timezone }).from(apiKeys).innerJoin(tenants, eq3(tenants.id, apiKeys.tenantId)).where(eq3(apiKeys.prefix, displayPrefix(key)));
    const presented = Buffer.from(hash, "hex");
    let match;
    for (const row of rows) {
      if (timingSafeEqual(presented, Buffer.from(row.hash, "hex"))) {
        match = { keyId: row.keyId, tenantId: row.tenantId, kind: row.kind, timezone: row.timezone, revoked: row.revokedAt !== null };
      }
    }
    return match;
  }
  function remember(hash, key) {
    cache.delete(hash);
    cache.set(hash, { key, expiresAt: now() + ttlMs });
    while (cache.size > maxEntries) {
      const oldest = cache.keys().next().value;
      if (oldest === void 0) break;
      cache.delete(oldest);
    }
  }
  async function find(key) {
    const hash = hashKey(key);
    const cached = cache.get(hash);
    if (cached && cached.expiresAt > now()) return cached.key;
    let pending = inFlight.get(hash);
    if (!pending) {
      pending = lookup(key, hash).finally(() => inFlight.delete(hash));
      inFlight.set(hash, pending);
      const found = await pending;
      remember(hash, found);
      return found;
    }
    return pending;
  }
  return {
    async verify(key, expected) {
      if (!key) return { ok: false, reason: "missing" };
      if (key.length > MAX_KEY_LENGTH2 || kindOfKey(key) === void 0) return { ok: false, reason: "unknown" };
      const stored = await find(key);
      if (!stored) return { ok: false, reason: "unknown" };
      if (stored.revoked) return { ok: false, reason: "revoked" };
      if (stored.kind !== expected) return { ok: false, reason: "wrong_kind" };
      return { ok: true, tenantId: stored.tenantId, keyId: stored.keyId, kind: stored.kind, timezone: stored.timezone };
    },
    /** Forget every cached lookup, e.g. after revoking a key in this process. */
    clear() {
      cache.clear();
    },
    get size() {
      return cache.size;
    }
  };
}

// ../packages/db/src/metrics.ts
import { sql as sql3 } from "drizzle-orm";
function bind(text6, values) {
  const parts = text6.split(/\$(\d+)/);
  const chunks = [];
  parts.forEach((part, i) => chunks.push(i % 2 === 0 ? sql3.raw(part) : sql3`${values[Number(part) - 1]}`));
  return sql3.join(chunks);
}
var dateArray = (dates) => `{${dates.join(",")}}`;
async function cleanupAndSync(db, options) {
  const started = performance.now();
  const tenantFilter = options.tenantId ? sql3`and tenant_id = ${options.tenantId}` : sql3``;
  return db.transaction(async (tx) => {
    if (options.wait) await tx.execute(sql3`select pg_advisory_xact_lock(hashtext('tributary:cleanup-and-sync'))`);
    else {
      const [row] = await tx.execute(sql3`select pg_try_advisory_xact_lock(hashtext('tributary:cleanup-and-sync')) as locked`);
      if (!row?.locked) return { ran: false, syncedDays: 0, sessionsClosed: 0, durationMs: Math.round(performance.now() - started) };
    }
    const [closed] = await tx.execute(sql3`
      with closed as (
        update user_sessions set is_active = false, ended_at = last_seen_at, updated_at = now()
        where is_active and ended_at is null and last_seen_at < now() - make_interval(mins => ${options.sessionTimeoutMinutes}) ${tenantFilter}
        returning tenant_id, started_at
      ),
      marked as (
        insert into metrics_dirty_days (tenant_id, date)
        select distinct c.tenant_id, (c.started_at at time zone tn.timezone)::date from closed c join tenants tn on tn.id = c.tenant_id
        on conflict do nothing
      )
      select count(*)::int as closed from closed`);
    const dirty = await tx.execute(sql3`
      with taken as (delete from metrics_dirty_days where true ${tenantFilter} returning tenant_id, date)
      select t.tenant_id, t.date::text as date, tn.timezone from taken t join tenants tn on tn.id = t.tenant_id order by 1, 2`);
    const byTenant = /* @__PURE__ */ new Map();
    for (const row of dirty) {
      const entry = byTenant.get(row.tenant_id) ?? { timezone: row.timezone, dates: [] };
      entry.dates.push(row.date);
      byTenant.set(row.tenant_id, entry);
    }
    for (const [tenantId, { timezone, dates }] of byTenant) {
      await tx.execute(bind(RECOMPUTE_DAYS_SQL, [tenantId, timezone, dateArray(dates)]));
    }
    const result = { ran: true, syncedDays: dirty.length, sessionsClosed: closed?.closed ?? 0, durationMs: Math.round(performance.now() - started) };
    await tx.execute(sql3`
      insert into sync_runs (scope, last_run_at, duration_ms, synced_days, sessions_closed)
      values (${options.tenantId ?? "all"}, now(), ${result.durationMs}, ${result.syncedDays}, ${result.sessionsClosed})
      on conflict (scope) do update set last_run_at = excluded.last_run_at, duration_ms = excluded.duration_ms,
        synced_days = excluded.synced_days, sessions_closed = excluded.sessions_closed`);
    return result;
  });
}
async function historical(db, tenantId, timezone, range) {
  const rows = await db.execute(sql3`
    select date::text as date, active_users, sessions, avg_session_duration_seconds as avg, ended_sessions as ended, events, page_views
    from platform_metrics where tenant_id = ${tenantId} and date between ${range.from}::date and ${range.to}::date`);
  const [distinct] = await db.execute(sql3`
    select count(distinct user_key)::int as users from user_activities
    where tenant_id = ${tenantId}
      and occurred_at >= (${range.from}::date::timestamp at time zone ${timezone})
      and occurred_at < (${addDays(range.to, 1)}::date::timestamp at time zone ${timezone})`);
  const stored = rows.map((r) => ({ date: r.date, activeUsers: r.active_users, sessions: r.sessions, avgSessionDurationSeconds: r.avg, endedSessions: r.ended, events: r.events, pageViews: r.page_views }));
  const days = zeroFill(range.from, range.to, stored);
  return { days: days.map(publicDay), totals: totalsOf(days, distinct?.users ?? 0) };
}
function rangeSql(tenantId, timezone, range) {
  return sql3`tenant_id = ${tenantId}
    and occurred_at >= (${range.from}::date::timestamp at time zone ${timezone})
    and occurred_at < (${addDays(range.to, 1)}::date::timestamp at time zone ${timezone})`;
}
async function topPages(db, tenantId, timezone, range, limit) {
  const rows = await db.execute(sql3`
    select page, count(*)::int as views from user_activities
    where ${rangeSql(tenantId, timezone, range)} and type = 'pageview' and page is not null
    group by page order by views desc, page limit ${limit}`);
  return rows.map((r) => ({ page: r.page, views: r.views }));
}
async function topEvents(db, tenantId, timezone, range, limit) {
  const rows = await db.execute(sql3`
    select coalesce(action, type) as name, type, count(*)::int as count from user_activities
    where ${rangeSql(tenantId, timezone, range)}
    group by 1, 2 order by count desc, name limit ${limit}`);
  return rows.map((r) => ({ name: r.name, type: r.type, count: r.count }));
}

// ../apps/ingest/src/plugins/database.ts
var database_default = fp2(
  async (app2, { url, keyCacheTtlMs }) => {
    const { db, sql: sql4, close } = createDatabase(url, { applicationName: "tributary-ingest", maxConnections: 10 });
    app2.decorate("db", db);
    app2.decorate("sql", sql4);
    app2.decorate("keys", createKeyVerifier(db, { ttlMs: keyCacheTtlMs }));
    app2.addHook("onClose", close);
  },
  { name: "database" }
);

// ../apps/ingest/src/plugins/redis.ts
import fp3 from "fastify-plugin";
import { Redis } from "ioredis";
var redis_default = fp3(
  async (app2, { url }) => {
    const redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2e3,
      connectTimeout: 2e3,
      lazyConnect: true,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1e3)
    });
    redis.on("error", (err) => app2.log.debug({ err }, "redis connection error"));
    try {
      await redis.connect();
    } catch (err) {
      app2.log.warn({ err }, "redis is not reachable yet");
    }
    app2.decorate("redis", redis);
    app2.addHook("onClose", async () => {
      await redis.quit().catch(() => redis.disconnect());
    });
  },
  { name: "redis" }
);

// ../apps/ingest/src/plugins/request-body.ts
import { createGunzip, createInflate } from "node:zlib";
import secureJson from "secure-json-parse";
function parseJson(_request, body, done) {
  if (body.length === 0) return done(new ApiError(400, "empty_body", "the body is empty; send a JSON object"));
  try {
    done(null, secureJson.parse(body, void 0, { protoAction: "error", constructorAction: "error" }));
  } catch (err) {
    if (/prototype/i.test(err.message)) {
      return done(new ApiError(400, "forbidden_property", 'the body holds a "__proto__" or "constructor.prototype" key, which is never accepted'));
    }
    done(new ApiError(400, "invalid_json", `the body is not valid JSON: ${err.message}`));
  }
}
function acceptCompressedBodies(app2) {
  app2.addHook("preParsing", async (request, _reply, payload) => {
    const encoding = request.headers["content-encoding"]?.trim().toLowerCase();
    if (!encoding || encoding === "identity") return payload;
    const decoder = encoding === "gzip" || encoding === "x-gzip" ? createGunzip() : encoding === "deflate" ? createInflate() : void 0;
    if (!decoder) throw new ApiError(415, "unsupported_encoding", `Content-Encoding "${encoding}" is not supported; use gzip or none`);
    Object.defineProperty(decoder, "receivedEncodedLength", { get: () => decoder.bytesWritten });
    payload.on("error", (err) => decoder.destroy(err));
    payload.pipe(decoder);
    return decoder;
  });
}
function acceptJsonOnly(app2) {
  app2.removeContentTypeParser(["application/json", "text/plain"]);
  app2.addContentTypeParser("application/json", { parseAs: "string" }, parseJson);
}
function parseAnyContentTypeAsJson(app2) {
  app2.removeContentTypeParser(["application/json", "text/plain"]);
  app2.addContentTypeParser("application/json", { parseAs: "string" }, parseJson);
  app2.addContentTypeParser("text/plain", { parseAs: "string" }, parseJson);
  app2.addContentTypeParser("*", { parseAs: "string" }, parseJson);
}

// ../apps/ingest/src/routes/events.ts
import "@fastify/type-provider-typebox";

// ../apps/ingest/src/plugins/metrics.ts
import fp4 from "fastify-plugin";
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";
var metrics_default = fp4(
  async (app2) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: "tributary_ingest_" });
    const requests = new Counter({ name: "tributary_http_requests_total", help: "HTTP requests answered, by route, method and status", labelNames: ["route", "method", "status"], registers: [registry] });
    const duration = new Histogram({
      name: "tributary_http_request_duration_seconds",
      help: "Time from request to response, by route and method",
      labelNames: ["route", "method"],
      buckets: [1e-3, 25e-4, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry]
    });
    const events2 = new Counter({ name: "tributary_events_total", help: "Events received, by outcome (accepted, duplicate, rejected) and rejection reason", labelNames: ["outcome", "reason"], registers: [registry] });
    app2.decorate("metrics", { registry, events: events2 });
    app2.addHook("onResponse", async (request, reply) => {
      const route = request.routeOptions.url ?? "unmatched";
      requests.inc({ route, method: request.method, status: String(reply.statusCode) });
      duration.observe({ route, method: request.method }, reply.elapsedTime / 1e3);
    });
    app2.get("/metrics", { logLevel: "warn" }, async (_request, reply) => {
      reply.header("content-type", registry.contentType);
      return registry.metrics();
    });
  },
  { name: "metrics" }
);
function countEvents(metrics, result) {
  if (result.accepted) metrics.events.inc({ outcome: "accepted", reason: "" }, result.accepted);
  if (result.duplicates) metrics.events.inc({ outcome: "duplicate", reason: "" }, result.duplicates);
  for (const e of result.errors) metrics.events.inc({ outcome: "rejected", reason: e.code });
}

// ../apps/ingest/src/ingest/accept.ts
async function callEventLog(call) {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw redisUnavailable();
  }
}
function refused(result) {
  if (result.outcome === "rate_limited") throw rateLimited(result.retryAfterMs ?? 1e3);
  throw backlogFull();
}
async function acceptBatch(log, tenantId, keyId, batch, receivedAt, metrics) {
  const errors4 = [...batch.errors];
  let accepted = 0;
  let duplicates = batch.duplicates;
  if (batch.events.length > 0) {
    const result = await callEventLog(() => log.appendEvents(tenantId, keyId, batch.events, receivedAt));
    if (result.outcome !== "ok") refused(result);
    result.statuses.forEach((status, i) => {
      if (status === "accepted") accepted++;
      else if (status === "duplicate") duplicates++;
      else errors4.push({ index: batch.events[i].index, code: "unknown_session", message: "the sessionId is not one this server knows; start the session first or send a userId or anonymousId" });
    });
  }
  errors4.sort((a, b) => a.index - b.index);
  if (metrics) countEvents(metrics, { accepted, duplicates, errors: errors4 });
  if (accepted === 0 && duplicates === 0) {
    throw new ApiError(400, "no_valid_events", `none of the ${errors4.length} event${errors4.length === 1 ? "" : "s"} could be accepted; see errors`, { errors: errors4 });
  }
  return { accepted, duplicates, errors: errors4 };
}
function sessionOutcome(result) {
  if (result.outcome === "rate_limited" || result.outcome === "backlog_full") refused(result);
  return result.outcome;
}

// ../apps/ingest/src/ingest/prepare.ts
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { ValueErrorType } from "@sinclair/typebox/errors";
registerFormats();
var MAX_EVENT_DEPTH = 10;
var MAX_EVENT_CHARS = 32768;
var TENANT_FIELDS = ["tenantId", "tenant_id", "projectId", "project_id"];
function compile(schema) {
  return TypeCompiler.Compile(schema);
}
function firstSchemaError(check2, value) {
  if (check2.Check(value)) return void 0;
  const error = check2.Errors(value).First();
  if (!error) return void 0;
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    return { code: "unknown_field", message: `unknown field "${error.path.split("/").pop()}"; see the API docs for the fields an event takes` };
  }
  const choices = error.schema.anyOf?.map((s) => s.const);
  if (choices?.length && choices.every((c) => typeof c === "string")) {
    return { code: "validation_failed", message: `${error.path}: must be one of ${choices.join(", ")}` };
  }
  return { code: "validation_failed", message: `${error.path || "the event"}: ${error.message}` };
}
function refuseTenantClaims(value, tenantId) {
  for (const field of TENANT_FIELDS) {
    if (field in value && value[field] !== tenantId) {
      throw new ApiError(403, "tenant_mismatch", `the body names another tenant in "${field}"; the tenant comes only from the API key`);
    }
  }
}
function prepareEvents(raw, tenantId, check2, normalize) {
  const events2 = [];
  const errors4 = [];
  const seenIds = /* @__PURE__ */ new Set();
  let duplicates = 0;
  for (let index4 = 0; index4 < raw.length; index4++) {
    const value = raw[index4];
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      errors4.push({ index: index4, code: "validation_failed", message: "an event must be a JSON object" });
      continue;
    }
    refuseTenantClaims(value, tenantId);
    const problem = inspectJson(value, MAX_EVENT_DEPTH) ?? firstSchemaError(check2, value);
    if (problem) {
      errors4.push({ index: index4, ...problem });
      continue;
    }
    const normalized = normalize(value, index4);
    if (!normalized.ok) {
      errors4.push({ index: index4, code: normalized.code, message: normalized.message });
      continue;
    }
    const json = encodeEventJson(normalized.event);
    if (json.length > MAX_EVENT_CHARS) {
      errors4.push({ index: index4, code: "event_too_large", message: `the event is ${json.length} characters once encoded; the limit is ${MAX_EVENT_CHARS}` });
      continue;
    }
    if (seenIds.has(normalized.event.eventId)) {
      duplicates++;
      continue;
    }
    seenIds.add(normalized.event.eventId);
    events2.push({ index: index4, event: normalized.event, json });
  }
  return { events: events2, errors: errors4, duplicates };
}

// ../apps/ingest/src/routes/events.ts
var checkEvent = compile(EventSchema);
var checkBatch = compile(EventBatchSchema);
var objectOnly = () => (body) => body !== null && typeof body === "object" && !Array.isArray(body) ? { value: body } : { error: new ApiError(400, "validation_failed", 'the body must be a JSON object: one event, or {"events": [...]}') };
var events = async (app2, { eventLog, bodyLimit }) => {
  app2.post(
    "/api/v2/analytics/events",
    {
      bodyLimit,
      onRequest: app2.requireKey("write"),
      validatorCompiler: objectOnly,
      schema: {
        summary: "Send one event or a batch of up to 1000",
        body: EventsBodySchema,
        response: { 202: EventsAcceptedSchema, 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 413: ErrorResponseSchema, 415: ErrorResponseSchema, 429: ErrorResponseSchema, 503: ErrorResponseSchema }
      }
    },
    async (request, reply) => {
      const receivedAt = Date.now();
      const { tenantId, keyId } = request.principal;
      const body = request.body;
      refuseTenantClaims(body, tenantId);
      let raw;
      let sentAt;
      if ("events" in body) {
        const problem = firstSchemaError(checkBatch, body);
        if (problem) {
          const events2 = body.events;
          if (Array.isArray(events2) && events2.length === 0) throw new ApiError(400, "empty_batch", "events is empty; send 1 to 1000 events");
          if (Array.isArray(events2) && events2.length > 1e3) throw new ApiError(400, "batch_too_large", `events holds ${events2.length} events; send at most 1000 per request`);
          throw new ApiError(400, problem.code, problem.message);
        }
        raw = body.events;
        sentAt = body.sentAt;
      } else {
        raw = [body];
      }
      const batch = prepareEvents(raw, tenantId, checkEvent, (event) => normalizeNative(event, receivedAt, sentAt));
      const result = await acceptBatch(eventLog, tenantId, keyId, batch, receivedAt, app2.metrics);
      return reply.code(202).send(result);
    }
  );
};
var events_default = events;

// ../apps/ingest/src/routes/health.ts
import { Type as Type7 } from "@fastify/type-provider-typebox";
var Check = Type7.Object({ ok: Type7.Boolean(), latencyMs: Type7.Number(), error: Type7.Optional(Type7.String()) });
var Readiness = Type7.Object({ ready: Type7.Boolean(), checks: Type7.Record(Type7.String(), Check) });
async function timed(probe) {
  const started = performance.now();
  try {
    await probe();
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, latencyMs: Math.round(performance.now() - started), error: err.message };
  }
}
var health = async (app2) => {
  app2.get("/healthz", { schema: { response: { 200: Type7.Object({ status: Type7.Literal("ok") }) } } }, async () => ({ status: "ok" }));
  app2.get("/readyz", { schema: { response: { 200: Readiness, 503: Readiness } } }, async (_request, reply) => {
    const [redis, postgres3] = await Promise.all([timed(() => app2.redis.ping()), timed(() => app2.sql`select 1`)]);
    const ready = redis.ok && postgres3.ok;
    return reply.code(ready ? 200 : 503).send({ ready, checks: { redis, postgres: postgres3 } });
  });
};
var health_default = health;

// ../apps/ingest/src/routes/read.ts
import "@fastify/type-provider-typebox";

// ../apps/ingest/src/event-log/realtime.ts
var MINUTE = 6e4;
async function readRealtime(redis, tenantId, options) {
  const now = options.now ?? Date.now();
  const keys = realtimeKeys(tenantId, shardFor(tenantId, options.shards));
  const currentMinute = Math.floor(now / MINUTE);
  const minutes = Array.from({ length: 60 }, (_, i) => currentMinute - 59 + i);
  const pageKeys = minutes.slice(-30).map(keys.pagesInMinute);
  const reply = await redis.multi().zcount(keys.users, now - 5 * MINUTE, "+inf").zcount(keys.sessions, now - options.sessionTimeoutMs, "+inf").mget(minutes.map(keys.eventsInMinute)).zunion(pageKeys.length, ...pageKeys, "WITHSCORES").exec();
  if (!reply) throw new Error("realtime read was aborted");
  for (const [err] of reply) if (err) throw err;
  const counts = reply[2][1];
  const pages = reply[3][1];
  const topPages2 = [];
  for (let i = 0; i + 1 < pages.length; i += 2) topPages2.push({ page: pages[i], views: Number(pages[i + 1]) });
  topPages2.sort((a, b) => b.views - a.views || a.page.localeCompare(b.page));
  return {
    activeUsers: reply[0][1],
    activeSessions: reply[1][1],
    eventsPerMinute: minutes.map((m, i) => ({ minute: new Date(m * MINUTE).toISOString(), count: Number(counts[i] ?? 0) })),
    topPages: topPages2.slice(0, options.topPages ?? 10)
  };
}

// ../apps/ingest/src/routes/read.ts
var MAX_DAYS = 365;
var errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 503: ErrorResponseSchema };
function parseRange(query, timezone, now = Date.now()) {
  const invalid = (message) => new ApiError(400, "invalid_range", message);
  if (query.days !== void 0 && (query.from !== void 0 || query.to !== void 0)) throw invalid("give either days or from and to, not both");
  if (query.from !== void 0 || query.to !== void 0) {
    if (query.from === void 0 || query.to === void 0) throw invalid("from and to go together");
    if (!isCalendarDate(query.from) || !isCalendarDate(query.to)) throw invalid("from and to are calendar dates, YYYY-MM-DD");
    if (query.from > query.to) throw invalid("from is after to");
    if (daysBetween(query.from, query.to) + 1 > MAX_DAYS) throw invalid(`a range covers at most ${MAX_DAYS} days`);
    return { from: query.from, to: query.to };
  }
  const days = query.days === void 0 ? 30 : Number(query.days);
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) throw invalid(`days is 1 to ${MAX_DAYS}`);
  return lastDays(timezone, days, now);
}
function parseLimit(limit) {
  const n = limit === void 0 ? 10 : Number(limit);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new ApiError(400, "invalid_limit", "limit is 1 to 100");
  return n;
}
var wrapDatabase = async (run) => {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw Object.assign(new ApiError(503, "unavailable", "the database is unreachable; retry later", { retryAfterSeconds: 5 }), { cause: err });
  }
};
var read = async (app2, { sessionTimeoutMinutes, shards }) => {
  const onRequest = app2.requireKey("read");
  app2.get("/api/v2/analytics/historical", { onRequest, schema: { summary: "Daily metrics over a range", querystring: RangeQuerySchema, response: { 200: HistoricalSchema, ...errors } } }, async (request) => {
    const { tenantId, timezone } = request.principal;
    const range = parseRange(request.query, timezone);
    const result = await wrapDatabase(() => historical(app2.db, tenantId, timezone, range));
    return { tenantId, ...range, ...result };
  });
  app2.get("/api/v2/analytics/historical/pages", { onRequest, schema: { summary: "Top pages over a range", querystring: RangeQuerySchema, response: { 200: TopPagesSchema, ...errors } } }, async (request) => {
    const { tenantId, timezone } = request.principal;
    const range = parseRange(request.query, timezone);
    const pages = await wrapDatabase(() => topPages(app2.db, tenantId, timezone, range, parseLimit(request.query.limit)));
    return { tenantId, ...range, pages };
  });
  app2.get("/api/v2/analytics/historical/events", { onRequest, schema: { summary: "Top events over a range", querystring: RangeQuerySchema, response: { 200: TopEventsSchema, ...errors } } }, async (request) => {
    const { tenantId, timezone } = request.principal;
    const range = parseRange(request.query, timezone);
    const events2 = await wrapDatabase(() => topEvents(app2.db, tenantId, timezone, range, parseLimit(request.query.limit)));
    return { tenantId, ...range, events: events2 };
  });
  app2.get("/api/v2/analytics/realtime", { onRequest, schema: { summary: "Live figures from Redis", response: { 200: RealtimeSchema, ...errors } } }, async (request) => {
    try {
      return await readRealtime(app2.redis, request.principal.tenantId, { shards, sessionTimeoutMs: sessionTimeoutMinutes * 6e4 });
    } catch {
      throw new ApiError(503, "unavailable", "the real-time store is unreachable; retry later", { retryAfterSeconds: 5 });
    }
  });
  app2.post("/api/v2/analytics/sync", { onRequest, schema: { summary: "Run cleanup-and-sync for this tenant now", response: { 200: SyncResultSchema, ...errors } } }, async (request) => {
    const result = await wrapDatabase(() => cleanupAndSync(app2.db, { sessionTimeoutMinutes, tenantId: request.principal.tenantId, wait: true }));
    return { syncedDays: result.syncedDays, sessionsClosed: result.sessionsClosed, durationMs: result.durationMs };
  });
};
var read_default = read;

// ../apps/ingest/src/plugins/request-log.ts
import fp5 from "fastify-plugin";
var request_log_default = fp5(
  async (app2) => {
    app2.addHook("onResponse", async (request, reply) => {
      const status = reply.statusCode;
      const route = request.routeOptions.url ?? "unknown";
      const line = { reqId: request.id, method: request.method, route, status, ms: Math.round(reply.elapsedTime * 10) / 10 };
      if (status >= 500) request.log.error(line, "request failed");
      else if (status >= 400) request.log.warn(line, "request refused");
      else if (route === "/healthz" || route === "/readyz" || route === "/metrics") request.log.debug(line, "request");
      else request.log.info(line, "request");
    });
  },
  { name: "request-log" }
);

// ../apps/ingest/src/plugins/api-docs.ts
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import fp6 from "fastify-plugin";
var api_docs_default = fp6(
  async (app2) => {
    await app2.register(swagger, {
      openapi: {
        info: {
          title: "Tributary ingest API",
          version: "1",
          description: "Send events with a write key (wk_\u2026): `Authorization: Bearer wk_\u2026`, HTTP Basic with the key as user name (Segment SDKs), or `writeKey` in a Segment body. Read with a read key (rk_\u2026). Every error has a stable `code`. See docs/api.md in the repository for the guarantees."
        },
        components: {
          securitySchemes: {
            writeKey: { type: "http", scheme: "bearer", description: "a write key, wk_\u2026" },
            readKey: { type: "http", scheme: "bearer", description: "a read key, rk_\u2026" },
            segmentBasic: { type: "http", scheme: "basic", description: "write key as user name, empty password" }
          }
        }
      },
      // Tag and secure each route by its path.
      transform: ({ schema, url }) => {
        const s = { ...schema };
        if (url.startsWith("/v1/")) Object.assign(s, { tags: ["Segment-compatible ingestion"], security: [{ segmentBasic: [] }, { writeKey: [] }] });
        else if (/\/(historical|realtime|sync)/.test(url)) Object.assign(s, { tags: ["Dashboard reads"], security: [{ readKey: [] }] });
        else if (url.startsWith("/api/")) Object.assign(s, { tags: ["Ingestion"], security: [{ writeKey: [] }] });
        else Object.assign(s, { tags: ["Operations"] });
        return { schema: s, url };
      }
    });
    await app2.register(swaggerUi, { routePrefix: "/docs" });
  },
  { name: "api-docs" }
);

// ../apps/ingest/src/routes/segment.ts
import "@fastify/type-provider-typebox";
var checkMessage = compile(SegmentMessageSchema);
var checkBatch2 = compile(SegmentBatchSchema);
var errors2 = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 413: ErrorResponseSchema, 415: ErrorResponseSchema, 429: ErrorResponseSchema, 503: ErrorResponseSchema };
var objectOnly2 = () => (body) => body !== null && typeof body === "object" && !Array.isArray(body) ? { value: body } : { error: new ApiError(400, "validation_failed", "the body must be a JSON object") };
var segment = async (app2, { eventLog, bodyLimit }) => {
  parseAnyContentTypeAsJson(app2);
  acceptCompressedBodies(app2);
  const auth = { onRequest: app2.requireKey("write", { allowBodyWriteKey: true }), preValidation: app2.requireBodyWriteKey };
  async function ingest(tenantId, keyId, raw, typeOf, sentAt, context) {
    const receivedAt = Date.now();
    const batch = prepareEvents(raw, tenantId, checkMessage, (message) => {
      const type = typeOf(message);
      if (!type) return { ok: false, code: "validation_failed", message: `type must be one of ${SEGMENT_TYPES.join(", ")}` };
      if (context && message.context === void 0) message.context = context;
      return normalizeSegment(message, type, receivedAt, sentAt);
    });
    const result = await acceptBatch(eventLog, tenantId, keyId, batch, receivedAt, app2.metrics);
    return { success: true, ...result };
  }
  app2.post(
    "/v1/batch",
    { bodyLimit, ...auth, validatorCompiler: objectOnly2, schema: { summary: "Segment: a batch of messages", body: SegmentBatchSchema, response: { 200: SegmentAcceptedSchema, ...errors2 } } },
    async (request) => {
      const { tenantId, keyId } = request.principal;
      const body = request.body;
      refuseTenantClaims(body, tenantId);
      const problem = firstSchemaError(checkBatch2, body);
      if (problem) throw new ApiError(400, problem.code, problem.message);
      return ingest(tenantId, keyId, body.batch, (m) => m.type, body.sentAt, body.context);
    }
  );
  for (const type of SEGMENT_TYPES) {
    app2.post(
      `/v1/${type}`,
      { bodyLimit, ...auth, validatorCompiler: objectOnly2, schema: { summary: `Segment: one ${type} call`, body: SegmentMessageSchema, response: { 200: SegmentAcceptedSchema, ...errors2 } } },
      async (request) => {
        const { tenantId, keyId } = request.principal;
        return ingest(tenantId, keyId, [request.body], () => type, void 0, void 0);
      }
    );
  }
};
var segment_default = segment;

// ../apps/ingest/src/routes/sessions.ts
import "@fastify/type-provider-typebox";
var SESSION_BODY_LIMIT = 16 * 1024;
var errors3 = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 404: ErrorResponseSchema, 413: ErrorResponseSchema, 415: ErrorResponseSchema, 429: ErrorResponseSchema, 503: ErrorResponseSchema };
function when(receivedAt, timestamp8, sentAt) {
  const time = occurredAt(receivedAt, timestamp8, sentAt);
  if (!time.ok) throw new ApiError(400, "invalid_timestamp", time.message);
  return time.occurredAt;
}
var unknownSession = (id) => new ApiError(404, "unknown_session", `session "${id}" is not one this server knows (never started, or idle longer than the session state is kept); start a new one`);
var sessions = async (app2, { eventLog }) => {
  const options = { bodyLimit: SESSION_BODY_LIMIT, onRequest: app2.requireKey("write") };
  app2.post("/api/v2/analytics/sessions", { ...options, schema: { summary: "Start a session", body: SessionStartSchema, response: { 201: SessionCreatedSchema, ...errors3 } } }, async (request, reply) => {
    const receivedAt = Date.now();
    const { tenantId, keyId } = request.principal;
    const body = request.body;
    refuseTenantClaims(body, tenantId);
    const userKey = body.userId ?? body.anonymousId;
    if (!userKey) throw new ApiError(400, "missing_identity", "a session needs a userId or an anonymousId");
    const at = when(receivedAt, body.timestamp, body.sentAt);
    const session = { id: body.sessionId ?? uuidv7(at), uk: userKey, at };
    for (const field of ["userId", "anonymousId", "device", "platform", "browser", "os", "referrer"]) {
      const value = body[field];
      if (value !== void 0) session[field === "userId" ? "ui" : field === "anonymousId" ? "ai" : field] = value;
    }
    const outcome = sessionOutcome(await callEventLog(() => eventLog.session("ss", tenantId, keyId, session, receivedAt)));
    return reply.code(201).send({ sessionId: session.id, duplicate: outcome === "duplicate" });
  });
  for (const [path, op, summary] of [
    ["heartbeat", "sh", "Keep a session alive"],
    ["end", "se", "End a session"]
  ]) {
    app2.post(
      `/api/v2/analytics/sessions/:sessionId/${path}`,
      { ...options, schema: { summary, params: SessionParamsSchema, body: SessionPingSchema, response: { 202: SessionPingAcceptedSchema, ...errors3 } } },
      async (request, reply) => {
        const receivedAt = Date.now();
        const { tenantId, keyId } = request.principal;
        const body = request.body ?? {};
        const session = { id: request.params.sessionId, at: when(receivedAt, body.timestamp, body.sentAt) };
        const outcome = sessionOutcome(await callEventLog(() => eventLog.session(op, tenantId, keyId, session, receivedAt)));
        if (outcome === "unknown_session") throw unknownSession(session.id);
        return reply.code(202).send({ accepted: true });
      }
    );
  }
};
var sessions_default = sessions;

// ../apps/ingest/src/app.ts
async function buildApp({ config: config2, logger, eventLog: eventLogOverride }) {
  const app2 = Fastify({
    loggerInstance: logger ?? createLogger("ingest", config2.LOG_LEVEL),
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && /^[\w.-]{1,64}$/.test(given) ? given : uuidv7();
    },
    requestIdHeader: false,
    logController: new LogController({ disableRequestLogging: true }),
    // Slow clients (slowloris, a stalled upload) are cut off rather than holding sockets.
    connectionTimeout: 3e4,
    requestTimeout: 3e4,
    keepAliveTimeout: 72e3,
    bodyLimit: config2.BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: 255 },
    onProtoPoisoning: "error",
    onConstructorPoisoning: "error",
    // Strict everywhere: no silent coercion, no silently dropped fields.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } }
  }).withTypeProvider();
  app2.setErrorHandler(errorHandler);
  await app2.register(request_log_default);
  await app2.register(metrics_default);
  await app2.register(api_docs_default);
  app2.setNotFoundHandler((request) => {
    throw new ApiError(404, "not_found", `no route ${request.method} ${request.url.split("?")[0]}`);
  });
  await app2.register(redis_default, { url: config2.REDIS_URL });
  await app2.register(database_default, { url: config2.DATABASE_URL, keyCacheTtlMs: config2.KEY_CACHE_TTL_MS });
  await app2.register(auth_default);
  await app2.register(health_default);
  const eventLog = eventLogOverride ?? createEventLog(app2.redis, {
    shards: config2.STREAM_SHARDS,
    sessionTimeoutMs: config2.SESSION_TIMEOUT_MINUTES * 6e4,
    dedupWindowSeconds: config2.DEDUP_WINDOW_SECONDS,
    sessionStateTtlSeconds: config2.SESSION_STATE_TTL_SECONDS,
    rateLimitPerSecond: config2.RATE_LIMIT_EVENTS_PER_SECOND,
    backlogCap: config2.STREAM_BACKLOG_CAP
  });
  const routeOptions = { eventLog, bodyLimit: config2.BODY_LIMIT_BYTES };
  await app2.register(async (native) => {
    acceptJsonOnly(native);
    acceptCompressedBodies(native);
    await native.register(events_default, routeOptions);
    await native.register(sessions_default, routeOptions);
  });
  await app2.register(segment_default, routeOptions);
  await app2.register(read_default, { sessionTimeoutMinutes: config2.SESSION_TIMEOUT_MINUTES, shards: config2.STREAM_SHARDS });
  return app2;
}

// ../apps/ingest/src/config.ts
import { Type as Type8 } from "@sinclair/typebox";
var NonNegativeInt = (defaultValue, description) => Type8.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: defaultValue, description });
var ingestEnv = Type8.Object({
  ...commonEnv,
  PORT: Port(3e3, "port the ingest API listens on"),
  KEY_CACHE_TTL_MS: PositiveInt(5e3, "how long a verified API key is trusted before Postgres is asked again (ms)", 6e5),
  BODY_LIMIT_BYTES: PositiveInt(1048576, "largest ingestion body, measured after decompression (bytes)", 64 * 1048576),
  DEDUP_WINDOW_SECONDS: PositiveInt(3600, "how long an event id is remembered so a resend changes nothing (s); Redis keeps ~100 bytes per event for this long", 7 * 86400),
  SESSION_STATE_TTL_SECONDS: PositiveInt(86400, "how long a started session is remembered for heartbeats, ends and events naming it (s)", 30 * 86400),
  RATE_LIMIT_EVENTS_PER_SECOND: NonNegativeInt(1e4, "events per second one write key may send, across all ingest processes (0: no limit)"),
  STREAM_BACKLOG_CAP: NonNegativeInt(2e5, "stream entries per shard beyond which ingest answers 503 until workers catch up (0: no cap)")
});
function loadIngestConfig(source = process.env) {
  return loadConfig(ingestEnv, source);
}

// src/ingest-server.ts
var config = loadIngestConfig();
var ceiling = {
  appendEvents: async (_tenant, _key, events2) => ({ outcome: "ok", statuses: events2.map(() => "accepted") }),
  session: async () => ({ outcome: "ok" })
};
var app = await buildApp({ config, logger: pino2({ level: "warn" }), ...process.env.MODE === "ceiling" ? { eventLog: ceiling } : {} });
await app.listen({ port: config.PORT, host: "127.0.0.1" });
process.send?.({ ready: true });
process.on("message", (message) => {
  if (message.rss) process.send?.({ rss: process.memoryUsage().rss });
});
process.on("SIGTERM", () => void app.close().then(() => process.exit(0)));
//# sourceMappingURL=ingest-server.js.map
