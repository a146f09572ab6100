import { LockdError } from '../errors.js';
import { segmentProblem } from './names.js';
import { DEFAULT_OUTPUT_TAIL_BYTES } from './storage-budget.js';
import { isTimeZone, normalizeSchedule } from './schedule.js';
import type { JobConfig, MisfirePolicy, OverlapPolicy } from './types.js';
import type { ConfigReader, Entry } from './yaml-reader.js';

const JOB_KEYS = [
  'schedule',
  'timezone',
  'run',
  'command',
  'timeout',
  'overlap',
  'misfire',
  'deadline',
  'retries',
  'retry_backoff',
  'kill_grace',
  'jitter',
  'history',
  'output_tail',
  'env',
  'cwd',
] as const;

const OVERLAP: readonly OverlapPolicy[] = ['skip', 'queue', 'allow'];
const MISFIRE: readonly MisfirePolicy[] = ['skip', 'run_once', 'run_all'];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Set by the runner for every run (DESIGN §5), after the job's env, so a job value would be lost. */
const RUNNER_ENV = [
  'LOCKD_CLUSTER',
  'LOCKD_NODE',
  'LOCKD_JOB',
  'LOCKD_RUN_ID',
  'LOCKD_SCHEDULED_AT',
  'LOCKD_FENCING_TOKEN',
  'LOCKD_ATTEMPT',
];

/** Bounds on `output_tail`: none kept, up to 64 KiB. */
const OUTPUT_TAIL_MAX_BYTES = 64 * 1024;

/** A job as read, before its `history` default is known (that needs every job; see `defaultHistory`). */
export type JobDraft = Omit<JobConfig, 'history'> & { history: number | undefined };

/**
 * Reads one entry of `jobs` (DESIGN §7) into a `JobDraft` with defaults filled in but `history`,
 * which is undefined unless the job sets it. Problems about the job as a whole are reported at its
 * name, prefixed `job "<name>": `. Returns undefined only after recording a problem.
 */
export function readJob(reader: ConfigReader, entry: Entry): JobDraft | undefined {
  const prefix = `job "${entry.name}": `;
  const badName = segmentProblem('job', entry.name);
  if (badName !== undefined) reader.report(entry.key, badName);
  const fields = reader.mapping(entry, JOB_KEYS);
  if (fields === undefined) return undefined;

  const timezoneEntry = fields.get('timezone');
  let timezone = reader.string(timezoneEntry);
  if (timezoneEntry && timezone !== undefined && !isTimeZone(timezone)) {
    reader.reportValue(timezoneEntry, `unknown time zone "${timezone}"`);
    timezone = undefined;
  }
  const scheduleEntry = reader.require(fields, 'schedule', entry, prefix);
  const schedule = readSchedule(reader, scheduleEntry, timezone ?? 'UTC');

  const action = readAction(reader, fields, entry, prefix);
  const timeout = reader.duration(fields.get('timeout'), { min: 1 });
  const cwd = reader.string(fields.get('cwd'));
  const cwdEntry = fields.get('cwd');
  if (cwd === '' && cwdEntry) reader.reportValue(cwdEntry, 'must not be empty');

  const settings = {
    timezone: timezone ?? 'UTC',
    ...(timeout === undefined ? {} : { timeoutMs: timeout }),
    overlap: reader.oneOf(fields.get('overlap'), OVERLAP) ?? 'skip',
    misfire: reader.oneOf(fields.get('misfire'), MISFIRE) ?? 'run_once',
    deadlineMs: reader.duration(fields.get('deadline'), { min: 1 }) ?? 10 * 60_000,
    retries: reader.integer(fields.get('retries'), 0, 100) ?? 0,
    retryBackoffMs: reader.duration(fields.get('retry_backoff')) ?? 10_000,
    killGraceMs: reader.duration(fields.get('kill_grace')) ?? 5_000,
    jitterMs: reader.duration(fields.get('jitter')) ?? 0,
    history: reader.integer(fields.get('history'), 1, 10_000),
    outputTailBytes: reader.size(fields.get('output_tail'), { min: 0, max: OUTPUT_TAIL_MAX_BYTES }) ?? DEFAULT_OUTPUT_TAIL_BYTES,
    env: readEnv(reader, fields.get('env')),
    ...(cwd ? { cwd } : {}),
  };
  if (schedule === undefined || action === undefined) return undefined;
  return { name: entry.name, schedule, ...action, ...settings };
}

function readSchedule(reader: ConfigReader, entry: Entry | undefined, timezone: string): string | undefined {
  const expression = reader.string(entry);
  if (entry === undefined || expression === undefined) return undefined;
  try {
    return normalizeSchedule(expression, timezone);
  } catch (err) {
    if (!(err instanceof LockdError)) throw err;
    reader.reportValue(entry, err.message);
    return undefined;
  }
}

/** `run` (shell string) XOR `command` (argv). */
function readAction(
  reader: ConfigReader,
  fields: Map<string, Entry>,
  job: Entry,
  prefix: string,
): { run: string } | { command: string[] } | undefined {
  const runEntry = fields.get('run');
  const commandEntry = fields.get('command');
  if (runEntry?.value !== undefined && commandEntry?.value !== undefined) {
    reader.report(job.key, `${prefix}set either run or command, not both`);
    return undefined;
  }
  if (runEntry?.value !== undefined) {
    const run = reader.string(runEntry);
    if (run?.trim() === '') reader.reportValue(runEntry, 'must not be empty');
    return run?.trim() ? { run } : undefined;
  }
  if (commandEntry?.value !== undefined) {
    const items = reader.list(commandEntry);
    if (items === undefined) return undefined;
    const argv = items.map((item) => reader.text(item));
    if (items.length === 0) reader.reportValue(commandEntry, 'expected at least the program to run');
    else if (argv[0] === '') reader.reportValue(items[0] as Entry, 'the program name must not be empty');
    return argv.length > 0 && argv[0] !== '' && argv.every((a) => a !== undefined) ? { command: argv as string[] } : undefined;
  }
  reader.report(job.key, `${prefix}one of run or command is required`);
  return undefined;
}

function readEnv(reader: ConfigReader, entry: Entry | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, variable] of reader.mapping(entry) ?? []) {
    if (!ENV_NAME.test(name)) reader.report(variable.key, `invalid environment variable name "${name}"`);
    else if (RUNNER_ENV.includes(name)) reader.report(variable.key, `${name} is set by lockd for every run`);
    // An empty value (`NAME:`) sets nothing: the child inherits the daemon's value.
    const value = reader.text(variable);
    if (value !== undefined) env[name] = value;
  }
  return env;
}
