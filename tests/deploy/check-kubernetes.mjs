// What the API schemas cannot see in deploy/kubernetes/*.yaml: that the objects of one file fit
// together as the sidecar pattern needs, and that the pod gives a drain the time it takes.
// Writes the Switchyard configuration of every ConfigMap to OUT_DIR/<file>.<configmap>.yaml so
// that the caller can run `switchyard --validate` on it. Prints one line per problem; exits 1 if
// there is any.
//
//   node tests/deploy/check-kubernetes.mjs OUT_DIR deploy/kubernetes/*.yaml
import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import { parseAllDocuments, parse } from "yaml";
import { readFileSync } from "node:fs";

const [outDir, ...files] = process.argv.slice(2);
let problems = 0;
const fail = (where, message) => {
  console.log(`${where}: ${message}`);
  problems++;
};

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v) &&
  Object.keys(selector ?? {}).length > 0;

function seconds(duration) {
  if (typeof duration !== "string") return NaN;
  const units = { h: 3600, m: 60, s: 1, ms: 0.001 };
  let total = 0;
  const rest = duration.replace(/(\d+)(ms|h|m|s)/g, (_, n, u) => {
    total += Number(n) * units[u];
    return "";
  });
  return rest === "" ? total : NaN;
}

const portOf = (address) => Number(String(address).split(":").pop());

for (const file of files) {
  const objects = parseAllDocuments(readFileSync(file, "utf8"))
    .map((d) => d.toJS())
    .filter(Boolean);
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const configMaps = new Map(byKind("ConfigMap").map((o) => [o.metadata.name, o]));
  const secrets = new Map(byKind("Secret").map((o) => [o.metadata.name, o]));
  const services = byKind("Service");
  const deployments = byKind("Deployment");

  for (const cm of configMaps.values()) {
    if (cm.data?.["switchyard.yaml"] === undefined) continue;
    writeFileSync(`${outDir}/${basename(file, ".yaml")}.${cm.metadata.name}.yaml`,
      cm.data["switchyard.yaml"]);
  }

  let sidecars = 0;
  for (const d of deployments) {
    const where = `${file} Deployment/${d.metadata.name}`;
    const pod = d.spec.template;
    if (!matches(d.spec.selector.matchLabels, pod.metadata?.labels)) {
      fail(where, "spec.selector does not select the pod template's labels");
    }
    for (const c of pod.spec.containers) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref && secrets.get(ref.name)?.stringData?.[ref.key] === undefined &&
            secrets.get(ref.name)?.data?.[ref.key] === undefined) {
          fail(where, `${c.name}: env ${e.name} refers to secret ${ref.name} key ${ref.key}, not in this file`);
        }
      }
    }
    for (const v of pod.spec.volumes ?? []) {
      if (v.configMap && !configMaps.has(v.configMap.name)) {
        fail(where, `volume ${v.name}: no ConfigMap ${v.configMap.name} in this file`);
      }
    }
    const sy = pod.spec.containers.find((c) => c.name === "switchyard");
    if (!sy) continue;
    sidecars++;
    if (pod.spec.containers.length < 2) fail(where, "no application container beside switchyard");
    const ports = new Map((sy.ports ?? []).map((p) => [p.name, p.containerPort]));
    if (sy.readinessProbe?.httpGet?.path !== "/ready") fail(where, "readiness probe is not GET /ready");
    if (sy.livenessProbe?.httpGet?.path !== "/healthz") fail(where, "liveness probe is not GET /healthz");
    for (const probe of [sy.readinessProbe, sy.livenessProbe]) {
      if (probe?.httpGet && !ports.has(probe.httpGet.port)) {
        fail(where, `probe port ${probe.httpGet.port} is not a named port of switchyard`);
      }
    }
    const sleep = sy.lifecycle?.preStop?.exec?.command;
    const sleepSeconds = sleep?.[0] === "sleep" ? Number(sleep[1]) : NaN;
    if (!(sleepSeconds > 0)) fail(where, "switchyard has no preStop sleep");

    const mount = sy.volumeMounts?.find((m) => m.mountPath === "/etc/switchyard");
    const volume = pod.spec.volumes?.find((v) => v.name === mount?.name);
    const args = sy.args ?? [];
    if (args[args.indexOf("--config") + 1] !== "/etc/switchyard/switchyard.yaml" || !volume?.configMap) {
      fail(where, "switchyard does not read /etc/switchyard/switchyard.yaml from a ConfigMap");
      continue;
    }
    const config = parse(configMaps.get(volume.configMap.name)?.data?.["switchyard.yaml"] ?? "{}");
    const drain = config.drain_timeout === undefined ? 15 : seconds(config.drain_timeout);
    const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
    if (!(grace > sleepSeconds + drain)) {
      fail(where, `terminationGracePeriodSeconds ${grace} does not cover preStop ${sleepSeconds}s + drain_timeout ${drain}s`);
    }
    const listenPort = portOf(config.listeners?.[0]?.address);
    const adminPort = portOf(config.admin?.address);
    if (ports.get("http") !== listenPort) fail(where, `container port http is not the listener's port ${listenPort}`);
    if (ports.get("admin") !== adminPort) fail(where, `container port admin is not the admin port ${adminPort}`);
    if (!String(config.admin?.address).startsWith("0.0.0.0:")) {
      fail(where, "the admin listener must listen on the pod's address for probes and scraping");
    }
    if (config.admin?.token !== "${SWITCHYARD_ADMIN_TOKEN}" || !sy.env?.some((e) => e.name === "SWITCHYARD_ADMIN_TOKEN" && e.valueFrom?.secretKeyRef)) {
      fail(where, "admin.token must come from SWITCHYARD_ADMIN_TOKEN, set from a Secret");
    }
    const annotations = pod.metadata?.annotations ?? {};
    if (annotations["prometheus.io/scrape"] !== "true" || Number(annotations["prometheus.io/port"]) !== adminPort) {
      fail(where, "prometheus.io/scrape and prometheus.io/port must point at the admin port");
    }
    if (d.spec.strategy?.rollingUpdate?.maxUnavailable !== 0) {
      fail(where, "rollingUpdate.maxUnavailable should be 0 (a new pod is ready before an old one drains)");
    }
    // The application is reached over loopback inside the pod, on a port the app container has.
    const appPorts = pod.spec.containers.filter((c) => c !== sy).flatMap((c) => c.ports ?? []).map((p) => p.containerPort);
    for (const cluster of config.clusters ?? []) {
      for (const endpoint of cluster.endpoints ?? []) {
        if (endpoint.startsWith("127.0.0.1:") && !appPorts.includes(portOf(endpoint))) {
          fail(where, `cluster ${cluster.name}: ${endpoint} is no port of the application container`);
        }
      }
    }
    if (config.redis) {
      const m = /^\$\{([A-Z0-9_]+)_SERVICE_HOST\}:\$\{([A-Z0-9_]+)_SERVICE_PORT\}$/.exec(config.redis.address);
      const service = m && services.find((s) => s.metadata.name.toUpperCase().replaceAll("-", "_") === m[1]);
      if (m && !service) fail(where, `redis.address names service ${m[1]}, not in this file`);
      if (service && objects.indexOf(service) > objects.indexOf(d)) {
        fail(where, "the Redis Service must come before the Deployment (its address is in the pods' environment)");
      }
    }

    // The Service sends clients to Switchyard, not around it.
    const front = services.filter((s) => matches(s.spec.selector, pod.metadata.labels));
    if (front.length === 0) fail(where, "no Service selects the pods");
    for (const s of front) {
      for (const p of s.spec.ports) {
        if (!ports.has(p.targetPort)) fail(`${file} Service/${s.metadata.name}`, `port ${p.name} targets ${p.targetPort}, not a named port of switchyard`);
      }
      if (!s.spec.ports.some((p) => p.targetPort === "http")) fail(`${file} Service/${s.metadata.name}`, "no port targets switchyard's http port");
    }
    if (!byKind("PodDisruptionBudget").some((p) => matches(p.spec.selector.matchLabels, pod.metadata.labels))) {
      fail(where, "no PodDisruptionBudget selects the pods");
    }
    const monitors = byKind("ServiceMonitor").filter((m) =>
      front.some((s) => matches(m.spec.selector.matchLabels, s.metadata.labels) &&
        m.spec.endpoints.every((e) => s.spec.ports.some((p) => p.name === e.port && p.targetPort === "admin"))));
    if (monitors.length === 0) fail(where, "no ServiceMonitor scrapes the admin port through the Service");
  }
  if (sidecars === 0) fail(file, "no Deployment with a switchyard container");
}
console.log(`check-kubernetes: ${files.length} files, ${problems} problems`);
process.exit(problems === 0 ? 0 : 1);
