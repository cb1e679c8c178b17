// Validates Kubernetes manifests offline against the API schemas that kubernetes-models and
// @kubernetes-models/prometheus-operator carry (JSON schemas compiled with ajv), one file or
// several, every document of each. Prints one line per problem and exits 1 if there is any.
//
//   node tests/deploy/validate-manifests.mjs deploy/kubernetes/*.yaml
//
// The API schemas do not forbid unknown fields (the API server does that, with strict field
// validation), so a misspelt key such as `initialDelaySecond` would pass them. To catch those
// too, every object is handed to the schema's validator behind a Proxy that records which keys
// the validator looks at: a key it never reads is one the schema does not define. Objects whose
// keys the validator enumerates (maps such as labels, annotations, ConfigMap data) are open.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// apiVersion -> [package, schema name prefix]
const groups = {
  v1: ["kubernetes-models", "IoK8sApiCoreV1"],
  "apps/v1": ["kubernetes-models", "IoK8sApiAppsV1"],
  "policy/v1": ["kubernetes-models", "IoK8sApiPolicyV1"],
  "networking.k8s.io/v1": ["kubernetes-models", "IoK8sApiNetworkingV1"],
  "autoscaling/v2": ["kubernetes-models", "IoK8sApiAutoscalingV2"],
  "monitoring.coreos.com/v1": ["@kubernetes-models/prometheus-operator", "MonitoringCoreosComV1"],
};

async function validatorFor(apiVersion, kind) {
  const group = groups[apiVersion];
  if (!group || !/^[A-Za-z]+$/.test(kind)) return null;
  const [pkg, prefix] = group;
  try {
    // The compiled schemas are not in the packages' exports: import them by file.
    const file = new URL(`node_modules/${pkg}/_schemas/${prefix}${kind}.mjs`, import.meta.url);
    const module = await import(file);
    return module.validate;
  } catch {
    return null;
  }
}

// Wraps `value` so that reads and key enumerations are recorded per JSON pointer.
function tracked(value, pointer, seen) {
  if (value === null || typeof value !== "object") return value;
  const entry = { read: new Set(), enumerated: false };
  seen.set(pointer, { value, entry });
  const children = new Map();
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === "string") entry.read.add(key);
      const child = Reflect.get(target, key, receiver);
      if (typeof key !== "string" || child === null || typeof child !== "object") return child;
      if (!children.has(key)) children.set(key, tracked(child, `${pointer}/${key}`, seen));
      return children.get(key);
    },
    has(target, key) {
      if (typeof key === "string") entry.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      entry.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

function unknownKeys(seen) {
  const out = [];
  for (const [pointer, { value, entry }] of seen) {
    if (Array.isArray(value) || entry.enumerated) continue;
    for (const key of Object.keys(value)) {
      if (!entry.read.has(key)) out.push(`${pointer}/${key}`);
    }
  }
  return out;
}

let problems = 0;
let documents = 0;
for (const file of process.argv.slice(2)) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const [index, doc] of docs.entries()) {
    const where = `${file}[${index}]`;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) console.log(`${where}: YAML: ${e.message}`);
      problems += doc.errors.length;
      continue;
    }
    const object = doc.toJS();
    if (object === null) continue;
    documents++;
    const name = `${where} ${object.kind}/${object.metadata?.name}`;
    const validate = await validatorFor(object.apiVersion, object.kind);
    if (!validate) {
      console.log(`${name}: no schema for apiVersion ${object.apiVersion} kind ${object.kind}`);
      problems++;
      continue;
    }
    const seen = new Map();
    const ok = validate(tracked(object, "", seen));
    for (const e of ok ? [] : validate.errors) {
      console.log(`${name}: ${e.instancePath || "/"} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
      problems++;
    }
    // Only meaningful when the validator walked the whole object, that is when it passed.
    if (ok) {
      for (const pointer of unknownKeys(seen)) {
        console.log(`${name}: ${pointer}: unknown field`);
        problems++;
      }
    }
  }
}
if (documents === 0) {
  console.log("validate-manifests: no documents given");
  process.exit(1);
}
console.log(`validate-manifests: ${documents} documents, ${problems} problems`);
process.exit(problems === 0 ? 0 : 1);
