/**
 * The ledger: what the load generator was told about every event it sent. Acked (2xx and
 * not listed in `errors`), rejected (4xx, or listed in a 2xx's `errors`), or unknown (5xx,
 * timeout, connection error: it may or may not have been stored).
 */
export class Ledger {
  readonly acked = new Map<string, string>() // eventId → tenantId
  readonly rejected = new Map<string, string>()
  readonly unknown = new Map<string, string>()

  record(tenantId: string, eventIds: string[], outcome: { status?: number; errorIndexes?: number[] }) {
    const { status } = outcome
    const errored = new Set(outcome.errorIndexes ?? [])
    eventIds.forEach((id, i) => {
      if (status === undefined || status >= 500) this.unknown.set(id, tenantId)
      else if (status >= 400 || errored.has(i)) this.rejected.set(id, tenantId)
      else this.acked.set(id, tenantId)
    })
  }
}

export interface LedgerCheck {
  sent: number
  acked: number
  rejected: number
  unknown: number
  stored: number
  lost: string[]
  duplicated: number
  phantoms: string[]
  rejectedButStored: string[]
  deadLetters: number
  /** Tenants whose real-time event count differs from their stored rows. */
  counterMismatches: Array<{ tenantId: string; counted: number; stored: number }>
}

/**
 * The checks, given every stored (tenant, event id) row: every acked event stored once, no
 * row that was never sent, no rejected event stored, nothing in the dead-letter streams.
 * With `counted` (events each tenant's real-time counters counted): the counters count
 * exactly the events that were stored — each accepted event once, whatever its client was
 * told, because the counters and the stream entry are written by the same atomic script
 * and a resent event is recognised as a duplicate before either.
 */
export function checkLedger(ledger: Ledger, stored: Array<{ tenantId: string; eventId: string }>, deadLetters: number, counted?: Map<string, number>): LedgerCheck {
  const key = (tenantId: string, eventId: string) => `${tenantId}\n${eventId}`
  const storedKeys = new Map<string, number>()
  const storedByTenant = new Map<string, number>()
  for (const r of stored) {
    storedKeys.set(key(r.tenantId, r.eventId), (storedKeys.get(key(r.tenantId, r.eventId)) ?? 0) + 1)
    storedByTenant.set(r.tenantId, (storedByTenant.get(r.tenantId) ?? 0) + 1)
  }
  const lost = [...ledger.acked].filter(([id, tenant]) => !storedKeys.has(key(tenant, id))).map(([id]) => id)
  const duplicated = [...storedKeys.values()].filter((n) => n > 1).length
  const sentKeys = new Set([...ledger.acked, ...ledger.unknown, ...ledger.rejected].map(([id, tenant]) => key(tenant, id)))
  const phantoms = [...storedKeys.keys()].filter((k) => !sentKeys.has(k))
  const rejectedButStored = [...ledger.rejected].filter(([id, tenant]) => storedKeys.has(key(tenant, id))).map(([id]) => id)
  const counterMismatches = [...(counted ?? [])].filter(([tenantId, n]) => n !== (storedByTenant.get(tenantId) ?? 0)).map(([tenantId, n]) => ({ tenantId, counted: n, stored: storedByTenant.get(tenantId) ?? 0 }))
  return {
    sent: ledger.acked.size + ledger.rejected.size + ledger.unknown.size,
    acked: ledger.acked.size,
    rejected: ledger.rejected.size,
    unknown: ledger.unknown.size,
    stored: stored.length,
    lost,
    duplicated,
    phantoms,
    rejectedButStored,
    deadLetters,
    counterMismatches,
  }
}
