import t from 'tap'
import { addDays, daysBetween, eachDay, isCalendarDate } from '../src/metrics/calendar.ts'

t.test('calendar arithmetic across months, leap days and years', async (t) => {
  t.equal(addDays('2024-02-28', 1), '2024-02-29')
  t.equal(addDays('2026-03-01', -1), '2026-02-28')
  t.equal(addDays('2026-12-31', 1), '2027-01-01')
  t.same(eachDay('2026-12-30', '2027-01-02'), ['2026-12-30', '2026-12-31', '2027-01-01', '2027-01-02'])
  t.same(eachDay('2026-05-05', '2026-05-05'), ['2026-05-05'])
  t.equal(daysBetween('2025-01-01', '2026-01-01'), 365)
  t.equal(addDays('0100-01-01', -1), '0099-12-31', 'early years keep four digits')
})

t.test('the last calendar date, 9999-12-31: its next day is a date Postgres reads, and a range ending there ends', async (t) => {
  // toISOString writes year 10000 as "+010000-…": sliced, it was "+010000-01", which sorts
  // before "9999-12-31" as text, so a range ending on 9999-12-31 never ended (the read API
  // ran out of memory).
  t.ok(isCalendarDate('9999-12-31'))
  t.equal(addDays('9999-12-31', 1), '10000-01-01')
  t.same(eachDay('9999-12-29', '9999-12-31'), ['9999-12-29', '9999-12-30', '9999-12-31'])
})
