/**
 * The sidecar injection decision, as a pure function of the Pod being created and the
 * namespace's StreamBindings and Binders: the HTTPS handler in server.ts only fetches those
 * and wraps the answer in an AdmissionReview (model: dapr's pkg/injector).
 */
import type {
  V1Container,
  V1EnvVar,
  V1Pod,
  V1ResourceRequirements,
  V1Volume,
} from '@kubernetes/client-node';
import type { Binder, StreamBinding } from '../api/types.ts';
import { binderCredentialEnv } from '../render/credentials.ts';
import { CONFIG_MAP_KEY, CONFIG_MAP_NAME, defaultBinderName } from '../render/sidecar-config.ts';
import { SIDECAR_ENV, SIDECAR_MEMORY_LIMIT, sidecarProcessEnv } from '../../../sidecar-config/env.ts';

export const INJECT_LABEL = 'bindery.io/inject';
export const BINDINGS_ANNOTATION = 'bindery.io/bindings';
export const APP_PORT_ANNOTATION = 'bindery.io/app-port';
export const SIDECAR_NAME = 'bindery-runtime';
export const CONFIG_DIR = '/etc/bindery';
export const CONFIG_VOLUME = 'bindery-config';
export const TMP_VOLUME = 'bindery-tmp';
export const OPS_PORT = 7071;
/** The chart's PodMonitor scrapes the sidecars by this port name. */
export const OPS_PORT_NAME = 'bindery-ops';
/** Set by the StatefulSet controller on every pod it creates (Kubernetes >= 1.28). */
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';

export interface SidecarOptions {
  image: string;
  imagePullPolicy?: string;
  resources: V1ResourceRequirements;
  /** Replicas of the StatefulSet that owns the pod, when it has one. */
  statefulSetReplicas?: number;
}

/** RFC 6902 operations; the builder only ever adds. */
export interface JsonPatchOperation {
  op: 'add';
  path: string;
  value: unknown;
}

export type InjectionDecision =
  | { allowed: true; patch: JsonPatchOperation[]; outcome: 'injected' | 'not-opted-in' | 'already-injected' }
  | { allowed: false; message: string };

export const DEFAULT_SIDECAR_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '50m', memory: '64Mi' },
  limits: { cpu: '500m', memory: SIDECAR_MEMORY_LIMIT },
};

export function buildInjectionPatch(
  pod: V1Pod,
  bindings: readonly StreamBinding[],
  binders: readonly Binder[],
  options: SidecarOptions,
): InjectionDecision {
  if (pod.metadata?.labels?.[INJECT_LABEL] !== 'true') {
    return { allowed: true, patch: [], outcome: 'not-opted-in' };
  }
  const spec = pod.spec;
  const present = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
  if (present.some((c) => c.name === SIDECAR_NAME)) {
    return { allowed: true, patch: [], outcome: 'already-injected' };
  }

  const annotations = pod.metadata?.annotations ?? {};
  const names = (annotations[BINDINGS_ANNOTATION] ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (names.length === 0) {
    return { allowed: false, message: `a pod labelled ${INJECT_LABEL}: "true" needs the annotation ${BINDINGS_ANNOTATION} (comma-separated StreamBinding names)` };
  }
  const known = new Map(bindings.map((b) => [b.metadata.name, b]));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    const list = unknown.map((n) => `"${n}"`).join(', ');
    return { allowed: false, message: `${BINDINGS_ANNOTATION} names unknown StreamBinding${unknown.length > 1 ? 's' : ''} ${list}` };
  }

  let appPort: number | undefined;
  const appPortText = annotations[APP_PORT_ANNOTATION];
  if (appPortText !== undefined) {
    appPort = Number(appPortText);
    if (!/^\d+$/.test(appPortText) || appPort < 1 || appPort > 65535) {
      return { allowed: false, message: `${APP_PORT_ANNOTATION} must be a port number (1-65535), got "${appPortText}"` };
    }
  }

  const binderNames = binders.map((b) => b.metadata.name);
  const defaultBinder = defaultBinderName(binders);
  const used = new Set<string>();
  for (const name of names) {
    const binder = known.get(name)?.spec.binder ?? defaultBinder;
    if (binder === undefined) {
      return { allowed: false, message: `StreamBinding "${name}" names no binder and the namespace has no (single) default Binder` };
    }
    if (!binderNames.includes(binder)) {
      return { allowed: false, message: `StreamBinding "${name}" uses Binder "${binder}", which does not exist` };
    }
    used.add(binder);
  }

  const env: V1EnvVar[] = [{ name: SIDECAR_ENV.bindings, value: names.join(',') }, ...Object.entries(sidecarProcessEnv(options.resources.limits?.memory)).map(([name, value]) => ({ name, value }))];
  if (appPort !== undefined) env.push({ name: SIDECAR_ENV.appPort, value: String(appPort) });
  env.push(...instanceEnv(pod, options.statefulSetReplicas));
  for (const binder of binders) if (used.has(binder.metadata.name)) env.push(...credentialEnv(binder));

  const sidecar = sidecarContainer(env, options);
  const volumes: V1Volume[] = [
    { name: CONFIG_VOLUME, configMap: { name: CONFIG_MAP_NAME, items: [{ key: CONFIG_MAP_KEY, path: CONFIG_MAP_KEY }] } },
    // The root filesystem is read-only; the runtime's TypeScript loader caches under /tmp.
    { name: TMP_VOLUME, emptyDir: { sizeLimit: '64Mi' } },
  ];

  const patch: JsonPatchOperation[] = [];
  // First among the init containers, so that the app's own init containers can already
  // send and receive through it.
  if (spec?.initContainers && spec.initContainers.length > 0) {
    patch.push({ op: 'add', path: '/spec/initContainers/0', value: sidecar });
  } else {
    patch.push({ op: 'add', path: '/spec/initContainers', value: [sidecar] });
  }
  if (spec?.volumes && spec.volumes.length > 0) {
    for (const volume of volumes) patch.push({ op: 'add', path: '/spec/volumes/-', value: volume });
  } else {
    patch.push({ op: 'add', path: '/spec/volumes', value: volumes });
  }
  return { allowed: true, patch, outcome: 'injected' };
}

function instanceEnv(pod: V1Pod, statefulSetReplicas: number | undefined): V1EnvVar[] {
  const owner = pod.metadata?.ownerReferences?.find((o) => o.kind === 'StatefulSet' && o.controller === true);
  if (!owner) return [];
  const env: V1EnvVar[] = [];
  if (pod.metadata?.labels?.[POD_INDEX_LABEL] !== undefined) {
    env.push({ name: SIDECAR_ENV.instanceIndex, valueFrom: { fieldRef: { fieldPath: `metadata.labels['${POD_INDEX_LABEL}']` } } });
  } else {
    // Older API servers: the ordinal is the suffix of the pod's name (`<statefulset>-<n>`).
    const ordinal = /-(\d+)$/.exec(pod.metadata?.name ?? '')?.[1];
    if (ordinal !== undefined) env.push({ name: SIDECAR_ENV.instanceIndex, value: ordinal });
  }
  if (statefulSetReplicas !== undefined) env.push({ name: SIDECAR_ENV.instanceCount, value: String(statefulSetReplicas) });
  return env;
}

/**
 * The credentials of a Binder the pod's bindings use, as references to its Secret: no other
 * Binder's credentials reach the pod (docs/adr/0003-sidecar-gets-its-own-binders-credentials.md).
 * Required, so that a pod whose Secret is missing waits for it rather than starting without.
 */
function credentialEnv(binder: Binder): V1EnvVar[] {
  return binderCredentialEnv(binder.metadata.name, binder.spec).map((e) => ({
    name: e.name,
    valueFrom: { secretKeyRef: { name: e.secretName, key: e.secretKey, optional: false } },
  }));
}

function sidecarContainer(env: V1EnvVar[], options: SidecarOptions): V1Container {
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: OPS_PORT_NAME },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 2,
  });
  return {
    name: SIDECAR_NAME,
    image: options.image,
    ...(options.imagePullPolicy ? { imagePullPolicy: options.imagePullPolicy } : {}),
    args: ['runtime', '--config', `${CONFIG_DIR}/${CONFIG_MAP_KEY}`],
    // A native sidecar: started before the app's containers, stopped after them.
    restartPolicy: 'Always',
    env,
    ports: [{ name: OPS_PORT_NAME, containerPort: OPS_PORT, protocol: 'TCP' }],
    volumeMounts: [
      { name: CONFIG_VOLUME, mountPath: CONFIG_DIR, readOnly: true },
      { name: TMP_VOLUME, mountPath: '/tmp' },
    ],
    // The app's containers start once the startup probe passes, so their first send finds
    // the sidecar listening.
    startupProbe: probe('/healthz', 1, 60),
    livenessProbe: probe('/healthz', 10, 3),
    readinessProbe: probe('/readyz', 5, 3),
    resources: options.resources,
    securityContext: {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}
