// Enrolment progress. The service worker reads the daemon's event stream
// (GET /v1/jobs/{id}/events) and pages long-poll it through the message
// door with job.next {id, version}: the answer comes as soon as the job has
// moved past `version`, or after a timeout with the same state.

export const TERMINAL = new Set(['done', 'failed', 'cancelled']);

class Watcher {
  constructor(id) {
    this.id = id;
    this.version = 0;
    this.job = null;
    this.final = false;
    this.error = null;
    this.waiters = [];
    this.stopped = false;
  }

  snapshot() {
    return { id: this.id, version: this.version, job: this.job, final: this.final, error: this.error };
  }

  update(job, error = null) {
    if (job) this.job = job;
    if (error) this.error = error;
    this.final = Boolean(this.job && TERMINAL.has(this.job.state));
    this.version += 1;
    const waiters = this.waiters.splice(0);
    for (const wake of waiters) wake();
  }
}

export class JobHub {
  /**
   * @param {object} o
   * @param {(id: string) => AsyncIterable<{event: string, data: string}>} o.openStream
   * @param {(id: string) => Promise<object>} o.getJob
   * @param {number} [o.pollMs] how often to poll when the stream is gone
   * @param {(err: any) => object} [o.describe] error -> {code, message}
   */
  constructor({ openStream, getJob, pollMs = 1000, describe = (e) => ({ code: e.code || 'error', message: String(e.message) }) }) {
    this.openStream = openStream;
    this.getJob = getJob;
    this.pollMs = pollMs;
    this.describe = describe;
    this.watchers = new Map();
  }

  /** The watcher for `id`, started if needed. */
  watch(id) {
    let w = this.watchers.get(id);
    if (!w) {
      w = new Watcher(id);
      this.watchers.set(id, w);
      this.run(w);
      if (this.watchers.size > 20) {
        for (const [key, other] of this.watchers) {
          if (other.final || other.stopped) {
            this.watchers.delete(key);
            break;
          }
        }
      }
    }
    return w;
  }

  /** The job's state once it is newer than `version` (or after `timeoutMs`). */
  async next(id, version, timeoutMs = 20000) {
    const w = this.watch(id);
    if (w.version <= version && !w.final && !w.stopped) {
      let timer;
      await new Promise((resolve) => {
        w.waiters.push(resolve);
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
    }
    return w.snapshot();
  }

  async run(w) {
    try {
      for await (const ev of this.openStream(w.id)) {
        if (ev.event !== 'progress' && ev.event !== 'end') continue;
        let job;
        try {
          job = JSON.parse(ev.data);
        } catch {
          continue;
        }
        w.update(job);
        if (w.final || ev.event === 'end') break;
      }
    } catch {
      // the stream broke (daemon restarted, network): fall back to polling
    }
    while (!w.final) {
      try {
        w.update(await this.getJob(w.id));
      } catch (err) {
        w.stopped = true;
        // forget it so that a later next() starts over, once the daemon is back
        this.watchers.delete(w.id);
        w.update(null, this.describe(err));
        return;
      }
      if (!w.final) await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }
}
