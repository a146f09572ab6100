import { existsSync, readFileSync } from 'node:fs';

/*
 * What the scale benchmark's daemons run: `jobs:` bodies (YAML, indented 2) written out in full as
 * an operator would, one entry per job, and the ledger the burst jobs append to.
 */

const jobName = (i: number): string => `job-${String(i).padStart(5, '0')}`;

/**
 * `n` hourly jobs that stay idle for the next `quietMinutes` (< 60) from now: their minutes are
 * spread over the rest of the hour, so no job is due while the benchmark watches the daemon.
 */
export function idleJobsYaml(n: number, quietMinutes: number): string {
  const firstMinute = new Date().getUTCMinutes() + quietMinutes;
  const spread = 60 - quietMinutes;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(`  ${jobName(i)}:`, `    schedule: "${(firstMinute + (i % spread)) % 60} * * * *"`, '    run: "true"');
  }
  return lines.join('\n');
}

/**
 * The shell line of a burst job: appends `<job> <slot> <ns since epoch>` to `file` (one short
 * `>>` append, atomic). The bare-spawn baseline runs the same line with the same variables set.
 */
export function burstLine(file: string): string {
  return `echo "$LOCKD_JOB $LOCKD_SCHEDULED_AT $(date +%s%N)" >> '${file}'`;
}

/** `burstLine` appends: job, slot (ISO), ns since epoch at which its shell ran `date`. */
export interface Start {
  job: string;
  slot: number;
  atMs: number;
}

/** The starts appended to `file` for slot `slot` (ms since epoch). */
export function startsOf(file: string, slot: number): Start[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim().split(' '))
    .filter((f) => f.length === 3 && Date.parse(f[1]!) === slot)
    .map(([job, at, ns]) => ({ job: job!, slot: Date.parse(at!), atMs: Number(BigInt(ns!) / 1000n) / 1000 }));
}

/** `n` identical jobs due every `periodS` seconds, all in the same slot, each running `burstLine`. */
export function burstJobsYaml(n: number, periodS: number, file: string): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(`  ${jobName(i)}:`, `    schedule: "*/${periodS} * * * * *"`, `    run: ${JSON.stringify(burstLine(file))}`);
  }
  return lines.join('\n');
}
