import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { Deployment } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { Job } from 'kubernetes-models/batch/v1'
import { ConfigMap, Service } from 'kubernetes-models/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { REPO_ROOT } from '../src/paths.ts'

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  Deployment: Deployment as never,
  HorizontalPodAutoscaler: HorizontalPodAutoscaler as never,
  Job: Job as never,
  ConfigMap: ConfigMap as never,
  Service: Service as never,
  PodDisruptionBudget: PodDisruptionBudget as never,
}

t.test('every Kubernetes manifest parses and validates against the Kubernetes schemas', async (t) => {
  const dir = join(REPO_ROOT, 'infra', 'k8s')
  const kinds: string[] = []
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      t.same(doc.errors, [], `${file} parses`)
      const object = doc.toJS() as { kind: string; metadata: { name: string } }
      const Model = MODELS[object.kind]
      t.ok(Model, `${file}: a known kind (${object.kind})`)
      t.doesNotThrow(() => new Model!(object as never).validate(), `${file}: ${object.kind} ${object.metadata.name} is valid`)
      kinds.push(object.kind)
    }
  }
  for (const kind of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Job', 'ConfigMap']) t.ok(kinds.includes(kind), `has a ${kind}`)
  const deployments = kinds.filter((k) => k === 'Deployment').length
  t.equal(deployments, 2, 'ingest and worker deploy separately')
})

interface PodTemplate {
  metadata: { annotations?: Record<string, string> }
  spec: {
    terminationGracePeriodSeconds?: number
    containers: Array<{ ports?: Array<{ containerPort: number }>; env?: Array<{ name: string; value?: string }>; lifecycle?: { preStop?: { exec?: { command: string[] } } } }>
  }
}

function podTemplate(file: string): PodTemplate {
  const deployment = parseAllDocuments(readFileSync(join(REPO_ROOT, 'infra', 'k8s', file), 'utf8'))
    .map((doc) => doc.toJS() as { kind: string; spec: { template: PodTemplate } })
    .find((object) => object.kind === 'Deployment')
  return deployment!.spec.template
}

t.test('each app is scraped on the port it listens on, and ingest keeps listening until its endpoint is gone', async (t) => {
  for (const [file, portVariable] of [['ingest.yaml', 'PORT'], ['worker.yaml', 'WORKER_PORT']] as const) {
    const pod = podTemplate(file)
    const container = pod.spec.containers[0]!
    const annotations = pod.metadata.annotations ?? {}
    t.equal(annotations['prometheus.io/scrape'], 'true', `${file}: scraped`)
    t.equal(annotations['prometheus.io/path'], '/metrics', `${file}: at /metrics`)
    const listensOn = container.env?.find((e) => e.name === portVariable)?.value
    t.equal(annotations['prometheus.io/port'], listensOn, `${file}: on the port ${portVariable} sets`)
    t.ok(container.ports?.some((p) => String(p.containerPort) === listensOn), `${file}: which is a container port`)
  }
  const ingest = podTemplate('ingest.yaml')
  const command = ingest.spec.containers[0]!.lifecycle?.preStop?.exec?.command ?? []
  t.equal(command[0], 'sleep', 'ingest waits before its SIGTERM')
  const wait = Number(command[1])
  t.ok(wait >= 3, 'long enough for the endpoints to drop the pod')
  // server.ts: closeWithGrace's 10 s drain follows the SIGTERM.
  t.ok(ingest.spec.terminationGracePeriodSeconds! > wait + 10, 'the grace period covers the wait and the drain')
})

t.test('a broken manifest is caught (the check can fail)', async (t) => {
  const broken = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 'two', selector: {}, template: {} } }
  t.throws(() => new Deployment(broken as never).validate())
})

t.test('docker-compose.yml: parses, services wired, same Redis settings as the local stack', async (t) => {
  const doc = parseAllDocuments(readFileSync(join(REPO_ROOT, 'infra', 'docker-compose.yml'), 'utf8'))[0]!
  t.same(doc.errors, [])
  const compose = doc.toJS() as { services: Record<string, { image?: string; build?: unknown; command?: string[]; environment?: Record<string, string>; depends_on?: Record<string, unknown>; deploy?: { replicas?: number } }> }
  const services = compose.services
  t.same(Object.keys(services).sort(), ['ingest', 'migrate', 'postgres', 'redis', 'worker'])
  for (const [name, service] of Object.entries(services)) {
    t.ok(service.image || service.build, `${name} has an image or a build`)
    for (const dependency of Object.keys(service.depends_on ?? {})) t.ok(services[dependency], `${name} depends on an existing service (${dependency})`)
  }
  t.match(services.redis!.command!.join(' '), /--appendonly yes --appendfsync always --maxmemory \d+[kmg]b --maxmemory-policy noeviction --auto-aof-rewrite-min-size 1gb --lazyfree-lazy-expire yes/)
  t.equal(services.worker!.deploy?.replicas, 2, 'two workers')
  t.match(services.postgres!.environment?.POSTGRES_INITDB_ARGS, /--lc-collate=C(\s|$)/, 'Postgres created with collation C, as the local stack is')
})
