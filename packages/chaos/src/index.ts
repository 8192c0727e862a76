export { checkLedger, Ledger, type LedgerCheck } from './ledger.ts'
export { runKillScenario, type KillScenario, type ScenarioControl, type ScenarioResult } from './scenario.ts'
export { dedicatedServers } from './dedicated.ts'
export { TcpProxy } from './tcp-proxy.ts'
