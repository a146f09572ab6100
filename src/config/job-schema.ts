import { isScalar } from 'yaml';
import { LockdError } from '../errors.js';
import { segmentProblem } from './names.js';
import { JOB_SPEC, SEATS_SPEC } from './job-spec.js';
import { isTimeZone, normalizeSchedule } from './schedule.js';
import { keyNames } from './spec.js';
import type { BackendConfig, JobConfig, JobSeats } from './types.js';
import type { ConfigReader, Entry } from './yaml-reader.js';

const KEYS = JOB_SPEC.keys;
const ENV_NAME = new RegExp(KEYS.env.keyPattern);
/** Set by the runner for every run (DESIGN §5), after the job's env, so a job value would be lost. */
const RUNNER_ENV = [
  'LOCKD_CLUSTER',
  'LOCKD_NODE',
  'LOCKD_JOB',
  'LOCKD_RUN_ID',
  'LOCKD_SCHEDULED_AT',
  'LOCKD_FENCING_TOKEN',
  'LOCKD_ATTEMPT',
  'LOCKD_SEAT_TOKEN',
  'LOCKD_SEATS',
];

/** A job as read, before its `history` default is known (that needs every job; see `defaultHistory`). */
export type JobDraft = Omit<JobConfig, 'history'> & { history: number | undefined };

/**
 * Reads one entry of `jobs` (DESIGN §7) into a `JobDraft` with defaults filled in but `history`,
 * which is undefined unless the job sets it. Problems about the job as a whole are reported at its
 * name, prefixed `job "<name>": `. Returns undefined only after recording a problem.
 */
export function readJob(reader: ConfigReader, entry: Entry, backendType: BackendConfig['type']): JobDraft | undefined {
  const prefix = `job "${entry.name}": `;
  const badName = segmentProblem('job', entry.name);
  if (badName !== undefined) reader.report(entry.key, badName);
  const fields = reader.mapping(entry, keyNames(JOB_SPEC));
  if (fields === undefined) return undefined;

  const timezoneEntry = fields.get('timezone');
  let timezone = reader.string(timezoneEntry);
  if (timezoneEntry && timezone !== undefined && !isTimeZone(timezone)) {
    reader.reportValue(timezoneEntry, `unknown time zone "${timezone}"`);
    timezone = undefined;
  }
  const scheduleEntry = reader.require(fields, 'schedule', entry, prefix);
  const schedule = readSchedule(reader, scheduleEntry, timezone ?? KEYS.timezone.default);

  const action = readAction(reader, fields, entry, prefix);
  const timeout = reader.duration(fields.get('timeout'), KEYS.timeout);
  const cwd = reader.string(fields.get('cwd'));
  const cwdEntry = fields.get('cwd');
  if (cwd === '' && cwdEntry) reader.reportValue(cwdEntry, 'must not be empty');

  const advisoryLock = readAdvisoryLock(reader, fields.get('advisory_lock'), backendType);
  const overlap = reader.oneOf(fields.get('overlap'), KEYS.overlap.values) ?? KEYS.overlap.default;
  if (advisoryLock !== undefined && overlap === 'allow') {
    reader.report(fields.get('advisory_lock')?.key, `${prefix}advisory_lock needs overlap skip or queue (with allow, runs overlap and the lock is held only while a run starts)`);
  }
  const seats = readSeats(reader, fields.get('seats'), prefix);
  if (seats !== undefined && overlap === 'allow') {
    reader.report(fields.get('seats')?.key, `${prefix}seats needs overlap skip or queue (with allow, runs overlap and the seat would be held only while a run starts)`);
  }
  const settings = {
    timezone: timezone ?? KEYS.timezone.default,
    ...(timeout === undefined ? {} : { timeoutMs: timeout }),
    overlap,
    misfire: reader.oneOf(fields.get('misfire'), KEYS.misfire.values) ?? KEYS.misfire.default,
    deadlineMs: reader.duration(fields.get('deadline'), KEYS.deadline) ?? KEYS.deadline.default,
    retries: reader.integer(fields.get('retries'), KEYS.retries) ?? KEYS.retries.default,
    retryBackoffMs: reader.duration(fields.get('retry_backoff'), KEYS.retry_backoff) ?? KEYS.retry_backoff.default,
    killGraceMs: reader.duration(fields.get('kill_grace'), KEYS.kill_grace) ?? KEYS.kill_grace.default,
    jitterMs: reader.duration(fields.get('jitter'), KEYS.jitter) ?? KEYS.jitter.default,
    history: reader.integer(fields.get('history'), KEYS.history),
    outputTailBytes: reader.size(fields.get('output_tail'), KEYS.output_tail) ?? KEYS.output_tail.default,
    env: readEnv(reader, fields.get('env')),
    ...(cwd ? { cwd } : {}),
    ...(advisoryLock === undefined ? {} : { advisoryLock }),
    ...(seats === undefined ? {} : { seats }),
  };
  if (schedule === undefined || action === undefined) return undefined;
  return { name: entry.name, schedule, ...action, ...settings };
}

/**
 * `advisory_lock`: a signed 64-bit integer, read from its source text (a JS number would round
 * keys above 2^53); only with the PostgreSQL backend.
 */
function readAdvisoryLock(reader: ConfigReader, entry: Entry | undefined, backendType: BackendConfig['type']): bigint | undefined {
  const node = entry?.value;
  if (entry === undefined || node === undefined) return undefined;
  const text = isScalar(node) && typeof node.value === 'number' ? (node.source ?? '') : '';
  if (!/^-?\d+$/.test(text)) {
    reader.reportValue(entry, 'expected an integer key, e.g. 12345 (as passed to pg_try_advisory_lock)');
    return undefined;
  }
  const key = BigInt(text);
  if (key < -(2n ** 63n) || key >= 2n ** 63n) {
    reader.reportValue(entry, `must be a signed 64-bit integer, got ${text}`);
    return undefined;
  }
  if (backendType !== 'postgres') {
    reader.report(entry.key, `advisory_lock needs backend.type: postgres (this file uses ${backendType})`);
    return undefined;
  }
  return key;
}

/**
 * `seats`: a mapping of exactly `name` (a segment name, as seat sets share the backend's key
 * paths) and `count` (1..MAX_SEATS). Undefined when absent or after recording a problem.
 */
function readSeats(reader: ConfigReader, entry: Entry | undefined, prefix: string): JobSeats | undefined {
  if (entry?.value === undefined) return undefined;
  const fields = reader.mapping(entry, keyNames(SEATS_SPEC));
  if (fields === undefined) return undefined;
  const nameEntry = reader.require(fields, 'name', entry, `${prefix}seats: `);
  const countEntry = reader.require(fields, 'count', entry, `${prefix}seats: `);
  let name = reader.string(nameEntry);
  const badName = name === undefined ? undefined : segmentProblem('seat set', name);
  if (badName !== undefined && nameEntry) {
    reader.reportValue(nameEntry, badName);
    name = undefined;
  }
  const count = reader.integer(countEntry, SEATS_SPEC.keys.count);
  return name === undefined || count === undefined ? undefined : { name, count };
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
