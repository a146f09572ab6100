import { familyHeader, labelValue, sampleValue } from './prometheus-text.js';

/** One job's series; `label` is the job name escaped once for every scrape to come. */
interface JobSeries {
  readonly label: string;
  /** Count per outcome, reason; insertion order is the order series are rendered in. */
  readonly runs: Map<string, number>;
  readonly missed: Map<string, number>;
  contended: number;
  lastSuccessSeconds?: number;
}

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  /** The family's sample lines for one job, each ending in a newline; '' when it has none. */
  lines(s: JobSeries): string;
}

const counts = (name: string, label: string) => (job: string, values: Map<string, number>): string => {
  let out = '';
  for (const [k, n] of values) out += `${name}{job="${job}",${label}="${labelValue(k)}"} ${n}\n`;
  return out;
};
const runsLines = counts('lockd_job_runs_total', 'outcome');
const missedLines = counts('lockd_job_missed_total', 'reason');

/** The per-job families in the order they are rendered (DESIGN §9 names, README "Metrics"). */
const FAMILIES: readonly Family[] = [
  {
    name: 'lockd_job_runs_total',
    type: 'counter',
    help: 'Slots handled, by outcome (success, failed, timeout, killed, skipped, missed)',
    lines: (s) => runsLines(s.label, s.runs),
  },
  {
    name: 'lockd_job_missed_total',
    type: 'counter',
    help: 'Slots recorded as missed, by reason',
    lines: (s) => missedLines(s.label, s.missed),
  },
  {
    name: 'lockd_lock_contended_total',
    type: 'counter',
    help: 'Job lock acquisitions that found the lock held',
    lines: (s) => (s.contended === 0 ? '' : `lockd_lock_contended_total{lock="${s.label}"} ${s.contended}\n`),
  },
  {
    name: 'lockd_job_last_success_timestamp_seconds',
    type: 'gauge',
    help: 'Unix time the last successful run ended (alert when it is too long ago)',
    lines: (s) => (s.lastSuccessSeconds === undefined ? '' : `lockd_job_last_success_timestamp_seconds{job="${s.label}"} ${sampleValue(s.lastSuccessSeconds)}\n`),
  },
];

/** Jobs rendered per chunk: a few hundred lines, well under a millisecond to build once warm. */
const JOBS_PER_CHUNK = 250;

/**
 * lockd's per-job metrics (DESIGN §9: counters and gauges only, no per-job histograms), kept in
 * plain Maps and rendered by lockd itself in chunks the caller can interleave with other work
 * (prom-client renders a family in one synchronous stretch). DESIGN's 2 MB for 10,000 jobs is
 * about 3.5 sample lines per job: the required counters take one to three, which leaves one gauge,
 * the last success time; durations and start delays are histograms over all jobs (`LockdMetrics`).
 * Series of a job that left the config stay until the process restarts, as with Prometheus client
 * libraries. Never throws.
 */
export class JobMetrics {
  readonly #jobs = new Map<string, JobSeries>();
  readonly #now: () => number;

  /** `now`: epoch ms, for `lockd_job_last_success_timestamp_seconds`. */
  constructor(now: () => number) {
    this.#now = now;
  }

  /** A run ended with its final `outcome`; a success also sets the job's last success time. */
  runFinished(job: string, outcome: string): void {
    const s = this.#series(job);
    increment(s.runs, outcome);
    if (outcome === 'success') s.lastSuccessSeconds = this.#now() / 1000;
  }

  /** A slot was counted missed: `outcome="missed"` and `reason`. */
  slotMissed(job: string, reason: string): void {
    const s = this.#series(job);
    increment(s.runs, 'missed');
    increment(s.missed, reason);
  }

  /** A slot was recorded skipped. */
  slotSkipped(job: string): void {
    increment(this.#series(job).runs, 'skipped');
  }

  /** Acquiring `lock` found it held. */
  lockContended(lock: string): void {
    this.#series(lock).contended += 1;
  }

  /**
   * The per-job families as Prometheus text, in chunks of at most 250 jobs' samples of one
   * family (each family's HELP and TYPE before its first sample, its samples contiguous). Covers
   * the jobs known when the generator starts; values are read as each chunk is built, so a
   * scrape that interleaves with scheduler events is not one instant (as with any client library).
   */
  *render(): Generator<string, void, undefined> {
    const jobs = [...this.#jobs.values()];
    for (const family of FAMILIES) {
      let chunk = familyHeader(family.name, family.type, family.help);
      for (let i = 0; i < jobs.length; i++) {
        chunk += family.lines(jobs[i]!);
        if ((i + 1) % JOBS_PER_CHUNK === 0) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk !== '') yield chunk;
    }
  }

  #series(job: string): JobSeries {
    let s = this.#jobs.get(job);
    if (s === undefined) {
      s = { label: labelValue(job), runs: new Map(), missed: new Map(), contended: 0 };
      this.#jobs.set(job, s);
    }
    return s;
  }
}

function increment(values: Map<string, number>, k: string): void {
  values.set(k, (values.get(k) ?? 0) + 1);
}
