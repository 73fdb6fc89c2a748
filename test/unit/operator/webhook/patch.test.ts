import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import fastJsonPatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import type { Binder, StreamBinding } from '../../../../operator/src/api/types.ts';
import { buildInjectionPatch, DEFAULT_SIDECAR_RESOURCES, type SidecarOptions } from '../../../../operator/src/webhook/patch.ts';

const fixtures = fileURLToPath(new URL('../../../fixtures/admission/', import.meta.url));
const read = (name: string): unknown => JSON.parse(readFileSync(`${fixtures}${name}`, 'utf8'));
const reviewPod = (name: string): V1Pod => (read(`${name}.json`) as { request: { object: V1Pod } }).request.object;

const namespace = read('namespace.json') as {
  bindings: StreamBinding[];
  binders: Binder[];
  secrets: { data: Record<string, string> }[];
};
const options: SidecarOptions = { image: 'bindery/bindery:0.1.0', imagePullPolicy: 'IfNotPresent', resources: DEFAULT_SIDECAR_RESOURCES };

function inject(pod: V1Pod, extra: Partial<SidecarOptions> = {}) {
  return buildInjectionPatch(pod, namespace.bindings, namespace.binders, { ...options, ...extra });
}

/** Applies the patch the way the API server does, to a copy, and returns the resulting Pod. */
function injected(pod: V1Pod, extra: Partial<SidecarOptions> = {}): V1Pod {
  const decision = inject(pod, extra);
  if (!decision.allowed) throw new Error(decision.message);
  const errors = fastJsonPatch.validate(decision.patch as fastJsonPatch.Operation[], pod);
  expect(errors).toBeUndefined();
  return fastJsonPatch.applyPatch(structuredClone(pod), decision.patch as fastJsonPatch.Operation[], true, false).newDocument;
}

function sidecarOf(pod: V1Pod): V1Container {
  const sidecar = pod.spec?.initContainers?.find((c) => c.name === 'bindery-runtime');
  if (!sidecar) throw new Error('no bindery-runtime init container');
  return sidecar;
}

const envOf = (c: V1Container, name: string): V1EnvVar | undefined => c.env?.find((e) => e.name === name);

describe('sidecar injection patch', () => {
  it.each([
    ['deployment-pod', 'output'],
    ['statefulset-pod', 'input,audit'],
    ['statefulset-pod-without-index-label', 'input'],
  ])('%s: the patch applies cleanly and adds a native sidecar for bindings %s', (fixture, bindings) => {
    const before = reviewPod(fixture);
    const after = injected(before, { statefulSetReplicas: 3 });
    const sidecar = sidecarOf(after);
    expect(after.spec?.initContainers?.[0]?.name).toBe('bindery-runtime');
    expect(sidecar.restartPolicy).toBe('Always');
    expect(sidecar.args).toEqual(['runtime', '--config', '/etc/bindery/bindery.yaml']);
    expect(envOf(sidecar, 'BINDERY_BINDINGS')?.value).toBe(bindings);
    // The sidecar's young generation (docs/adr/0052), its old space at 37.5 % of its 256Mi limit
    // (0061) and its allocator, jemalloc (0059); the app's containers get none of them.
    expect(envOf(sidecar, 'NODE_OPTIONS')?.value).toBe('--max-semi-space-size=1 --max-old-space-size=96');
    expect(envOf(sidecar, 'LD_PRELOAD')?.value).toBe('libjemalloc.so.2');
    expect(envOf(sidecar, 'MALLOC_CONF')?.value).toBe('background_thread:true,dirty_decay_ms:1000');
    // The app's own containers, init containers and volumes are kept as they were.
    expect(after.spec?.containers).toEqual(before.spec?.containers);
    for (const c of before.spec?.initContainers ?? []) expect(after.spec?.initContainers).toContainEqual(c);
    for (const v of before.spec?.volumes ?? []) expect(after.spec?.volumes).toContainEqual(v);
    expect(after.spec?.volumes).toContainEqual({
      name: 'bindery-config',
      configMap: { name: 'bindery-config', items: [{ key: 'bindery.yaml', path: 'bindery.yaml' }] },
    });
    expect(sidecar.volumeMounts).toContainEqual({ name: 'bindery-config', mountPath: '/etc/bindery', readOnly: true });
  });

  it.each([
    ['1Gi', '--max-semi-space-size=1 --max-old-space-size=384'],
    ['128M', '--max-semi-space-size=1 --max-old-space-size=45'],
    ['20Mi', '--max-semi-space-size=1 --max-old-space-size=16'],
    [undefined, '--max-semi-space-size=1'],
  ])('a sidecar memory limit of %s sizes its old space: %s', (memory, nodeOptions) => {
    const resources = { requests: { memory: '64Mi' }, ...(memory !== undefined && { limits: { memory } }) };
    const sidecar = sidecarOf(injected(reviewPod('deployment-pod'), { resources }));
    expect(sidecar.resources).toEqual(resources);
    expect(envOf(sidecar, 'NODE_OPTIONS')?.value).toBe(nodeOptions);
  });

  it('probes the ops port and runs restricted, with resources', () => {
    const sidecar = sidecarOf(injected(reviewPod('deployment-pod')));
    expect(sidecar.ports).toEqual([{ name: 'bindery-ops', containerPort: 7071, protocol: 'TCP' }]);
    expect(sidecar.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'bindery-ops' });
    expect(sidecar.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'bindery-ops' });
    expect(sidecar.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'bindery-ops' });
    expect(sidecar.resources).toEqual(DEFAULT_SIDECAR_RESOURCES);
    expect(sidecar.securityContext).toEqual({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it.each([
    ['deployment-pod', '8801'],
    ['statefulset-pod', '8802'],
    ['statefulset-pod-without-index-label', undefined],
  ])('%s: BINDERY_APP_PORT is %s (absent: inputs are pulled)', (fixture, port) => {
    expect(envOf(sidecarOf(injected(reviewPod(fixture))), 'BINDERY_APP_PORT')?.value).toBe(port);
  });

  it.each([
    ['statefulset-pod', { valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } } }, '3'],
    ['statefulset-pod-without-index-label', { value: '11' }, '3'],
    ['deployment-pod', undefined, undefined],
  ])('%s: instance index %j and count %s', (fixture, index, count) => {
    const sidecar = sidecarOf(injected(reviewPod(fixture), { statefulSetReplicas: 3 }));
    const indexVar = envOf(sidecar, 'BINDERY_INSTANCE_INDEX');
    expect(indexVar === undefined ? undefined : { ...indexVar, name: undefined }).toEqual(
      index === undefined ? undefined : { ...index, name: undefined },
    );
    expect(envOf(sidecar, 'BINDERY_INSTANCE_COUNT')?.value).toBe(count);
  });

  it('takes credentials from the Binders\' Secrets by reference, never by value', () => {
    const decision = inject(reviewPod('statefulset-pod'));
    const text = JSON.stringify(decision);
    for (const secret of namespace.secrets) {
      for (const encoded of Object.values(secret.data)) {
        expect(text).not.toContain(encoded);
        expect(text).not.toContain(Buffer.from(encoded, 'base64').toString('utf8'));
      }
    }
    const sidecar = sidecarOf(injected(reviewPod('statefulset-pod')));
    expect(envOf(sidecar, 'BINDERY_BINDER_DEFAULT_RABBIT_USERNAME')).toEqual({
      name: 'BINDERY_BINDER_DEFAULT_RABBIT_USERNAME',
      valueFrom: { secretKeyRef: { name: 'rabbit-creds', key: 'username', optional: false } },
    });
    expect(envOf(sidecar, 'BINDERY_BINDER_EVENTS_KAFKA_PASSWORD')).toEqual({
      name: 'BINDERY_BINDER_EVENTS_KAFKA_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'kafka-creds', key: 'password', optional: false } },
    });
    expect(sidecar.env?.every((e) => e.value === undefined || !e.name.startsWith('BINDERY_BINDER_'))).toBe(true);
  });

  it('gives the credentials of the Binders the pod\'s bindings use, required, and of no other Binder', () => {
    const sidecar = sidecarOf(injected(reviewPod('deployment-pod')));
    expect(envOf(sidecar, 'BINDERY_BINDER_DEFAULT_RABBIT_PASSWORD')?.valueFrom?.secretKeyRef?.optional).toBe(false);
    expect(envOf(sidecar, 'BINDERY_BINDER_EVENTS_KAFKA_PASSWORD')).toBeUndefined();
    expect(envOf(sidecar, 'BINDERY_BINDER_EVENTS_KAFKA_USERNAME')).toBeUndefined();
    expect((sidecar.env ?? []).filter((e) => e.name.startsWith('BINDERY_BINDER_')).map((e) => e.name).sort())
      .toEqual(['BINDERY_BINDER_DEFAULT_RABBIT_PASSWORD', 'BINDERY_BINDER_DEFAULT_RABBIT_USERNAME']);
  });

  it.each(['deployment-pod', 'statefulset-pod', 'statefulset-pod-without-index-label'])(
    '%s: a pod that already has the sidecar gets no patch',
    (fixture) => {
      const once = injected(reviewPod(fixture), { statefulSetReplicas: 2 });
      expect(inject(once, { statefulSetReplicas: 2 })).toEqual({ allowed: true, patch: [], outcome: 'already-injected' });
    },
  );

  it.each(['unlabelled-pod', 'label-false-pod'])('%s: a pod that did not opt in is allowed untouched', (fixture) => {
    expect(inject(reviewPod(fixture))).toEqual({ allowed: true, patch: [], outcome: 'not-opted-in' });
  });

  it.each([
    ['unknown-binding-pod', 'bindery.io/bindings names unknown StreamBinding "orders-in"'],
    ['missing-bindings-annotation-pod', 'needs the annotation bindery.io/bindings'],
    ['bad-app-port-pod', 'bindery.io/app-port must be a port number (1-65535), got "http"'],
  ])('%s is refused: %s', (fixture, message) => {
    const decision = inject(reviewPod(fixture));
    expect(decision.allowed).toBe(false);
    expect(decision.allowed ? '' : decision.message).toContain(message);
  });

  it.each([
    ['no default Binder', 'deployment-pod', namespace.binders.filter((b) => b.spec.default !== true), 'StreamBinding "output" names no binder and the namespace has no (single) default Binder'],
    ['its Binder missing', 'statefulset-pod', namespace.binders.filter((b) => b.metadata.name !== 'events.kafka'), 'StreamBinding "audit" uses Binder "events.kafka", which does not exist'],
  ])('a binding with %s is refused', (_case, fixture, binders, message) => {
    const decision = buildInjectionPatch(reviewPod(fixture), namespace.bindings, binders, options);
    expect(decision.allowed ? '' : decision.message).toContain(message);
  });
});
