export { checkLedger, Ledger, type LedgerCheck } from './ledger.ts'
export { runKillScenario, type KillScenario, type ScenarioResult } from './scenario.ts'
export { dedicatedServers } from './dedicated.ts'
