/**
 * `npm run demo` as a user runs it: a child process whose verdicts are read from its output,
 * on the memory binder and on the real RabbitMQ.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testEnv } from '../../support/env.ts';

const root = join(import.meta.dirname, '../../..');

async function demoCommand(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  return pkg.scripts.demo!;
}

function run(command: string, env: Record<string, string> = {}): Promise<{ code: number | null; output: string; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { cwd: root, env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('exit', (code) => resolve({ code, output, seconds: (Date.now() - started) / 1000 }));
  });
}

const verdicts = [
  'PASS  1. Two groups: each group gets every message',
  'PASS  2. One group: its consumers share the messages, none gets one twice',
  "PASS  3. Durable group: messages sent while the group's consumer is down wait for it",
  'PASS  4. Anonymous consumer: what is sent while it is down is not kept for it',
];

describe('bindery demo', () => {
  it('npm run demo (memory): every step holds, exit 0', async () => {
    const { code, output, seconds } = await run(await demoCommand());
    expect(output).toContain('4 of 4 steps held');
    for (const verdict of verdicts) expect(output).toContain(verdict);
    expect(output).toMatch(/\[consumer-1, group atguiguA\] received "[0-9a-f-]{36}" on port 8802/);
    expect(output).toMatch(/\[consumer-2, group atguiguB\] received "[0-9a-f-]{36}" on port 8803/);
    expect(code).toBe(0);
    // The demo's own clock: process start-up depends on how busy the machine is.
    const demoSeconds = Number(/steps held \(([\d.]+) s\)/.exec(output)?.[1]);
    expect(demoSeconds).toBeLessThan(15);
    expect(seconds).toBeGreaterThan(demoSeconds);
  });

  it('--binder rabbit: every step holds on the real RabbitMQ', async () => {
    const { code, output } = await run(`${await demoCommand()} --binder rabbit`, { RABBIT_URL: testEnv().rabbitUrl });
    expect(output).toContain('Bindery demo on the rabbit binder');
    for (const verdict of verdicts) expect(output).toContain(verdict);
    expect(code).toBe(0);
    expect(output).not.toContain('guest:guest');
  });

  it('refuses an unknown binder with exit 2', async () => {
    const { code, output } = await run(`${await demoCommand()} --binder redis`);
    expect(code).toBe(2);
    expect(output).toContain('--binder must be memory, rabbit or kafka');
  });
});
