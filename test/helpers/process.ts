import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Config } from '../../src/config/index.js';

export const SERVER_ENTRY = resolve(import.meta.dirname, '../../dist/src/server.js');

/** Writes a parsed Config back as a config file (JSON is YAML) a child process can load. */
export function writeConfigFile(config: Config, overrides: Record<string, unknown> = {}): string {
  const { port: _port, redisTarget: _redisTarget, adminToken: _adminToken, logLevel: _logLevel, configPath: _configPath, ...file } = config;
  const path = join(mkdtempSync(join(tmpdir(), 'ho-config-')), 'handoff.config.json');
  writeFileSync(path, JSON.stringify({ ...file, ...overrides }, null, 2));
  return path;
}

export interface ServiceProcess {
  child: ChildProcess;
  /** Every line the process wrote on stdout and stderr so far. */
  lines: string[];
  /** Resolves with the first line matching `pattern` (already written ones count). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name) once the process ends. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Spawns the real service (`node dist/src/server.js`), built by `npm test`'s pretest. */
export function spawnService(options: { args?: string[]; env: Record<string, string | undefined> }): ServiceProcess {
  const child = spawn(process.execPath, [SERVER_ENTRY, ...(options.args ?? [])], {
    env: { PATH: process.env.PATH, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  // A chunk may end mid-line: each stream keeps its unfinished line until the rest comes.
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts.filter(Boolean));
      for (const listener of listeners) listener();
    });
    stream?.on('end', () => {
      if (partial) lines.push(partial);
      partial = '';
      for (const listener of listeners) listener();
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  let closed = false;
  const exited = new Promise<number | string>((resolveExit) => {
    // 'close', not 'exit': by then every line the process wrote has been read.
    child.once('close', (code, signal) => {
      closed = true;
      resolveExit(code ?? signal ?? 'unknown');
      for (const listener of listeners) listener();
    });
  });
  return {
    child,
    lines,
    exited,
    waitForLine(pattern, timeoutMs = 15_000) {
      return new Promise((resolveLine, reject) => {
        const check = () => {
          const line = lines.find((l) => pattern.test(l));
          if (line !== undefined) {
            cleanup();
            resolveLine(line);
          } else if (closed) {
            cleanup();
            reject(new Error(`process exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${lines.join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${lines.join('\n')}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
