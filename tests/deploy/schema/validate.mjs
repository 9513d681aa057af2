// Validates rendered Kubernetes objects against the Kubernetes 1.27 schemas of npm
// kubernetes-models, offline, and rejects fields the schemas do not know.
//
// kubernetes-models checks types, required fields and formats but ignores unknown fields
// (a misspelt `readinessProbe.grcp` would pass, and the API server would drop it). So every
// field of every object is also checked to be one the schema validates: the field's value is
// replaced by a value of no JSON type (a Symbol), which any known field rejects at its own
// path; a field that no error names is unknown.
//
// usage: node validate.mjs FILE.yaml ...   (multi-document YAML; exit 1 on any problem)
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const NO_TYPE = Symbol("no JSON type");

async function modelFor(apiVersion, kind) {
  // "apps/v1" -> kubernetes-models/apps/v1/Deployment; core "v1" -> kubernetes-models/v1/...
  try {
    const module = await import(`kubernetes-models/${apiVersion}/${kind}`);
    return module[kind];
  } catch (err) {
    return null;
  }
}

function errorsOf(Model, object) {
  try {
    new Model(object).validate();
    return [];
  } catch (err) {
    if (!err.errors) throw err;
    return err.errors;
  }
}

// JSON Pointer of a path, as ajv writes instancePath.
const pointer = (path) => path.map((p) => "/" + String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("");

function* fields(value, path = []) {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* fields(value[i], [...path, i]);
  } else if (value !== null && typeof value === "object") {
    for (const key of Object.keys(value)) {
      yield [...path, key];
      yield* fields(value[key], [...path, key]);
    }
  }
}

function withValueAt(object, path, replacement) {
  const copy = structuredClone(object);
  let node = copy;
  for (const p of path.slice(0, -1)) node = node[p];
  node[path[path.length - 1]] = replacement;
  return copy;
}

function unknownFields(Model, object) {
  const unknown = [];
  for (const path of fields(object)) {
    // Below an unknown field nothing is checked; report the outermost one only.
    if (unknown.some((u) => pointer(u) === pointer(path.slice(0, u.length)))) continue;
    const at = pointer(path);
    const errors = errorsOf(Model, withValueAt(object, path, NO_TYPE));
    if (!errors.some((e) => e.instancePath === at || e.instancePath.startsWith(at + "/"))) {
      unknown.push(path);
    }
  }
  return unknown.map(pointer);
}

let problems = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) {
      console.log(`FAIL ${file}: YAML: ${doc.errors[0].message}`);
      problems++;
      continue;
    }
    const object = doc.toJS();
    if (!object) continue;
    const where = `${file}: ${object.kind}/${object.metadata?.name}`;
    const Model = await modelFor(object.apiVersion, object.kind);
    if (!Model) {
      console.log(`FAIL ${where}: no Kubernetes 1.27 schema for ${object.apiVersion} ${object.kind}`);
      problems++;
      continue;
    }
    checked++;
    for (const e of errorsOf(Model, object)) {
      console.log(`FAIL ${where}: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
      problems++;
    }
    for (const path of unknownFields(Model, object)) {
      console.log(`FAIL ${where}: ${path}: unknown field (not in the Kubernetes 1.27 schema)`);
      problems++;
    }
  }
}
console.log(`${checked} object(s) checked against the Kubernetes 1.27 schemas, ${problems} problem(s)`);
process.exit(problems || !checked ? 1 : 0);
