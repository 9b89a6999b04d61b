// A token bucket per key (a tab): `capacity` requests at once, refilled at
// `perMinute`. Bounds how fast any one tab can use the daemon as a cloaking
// oracle, while a user dropping a dozen photos at once is never refused.

export class RateLimiter {
  constructor({ capacity = 24, perMinute = 30, now = () => Date.now() } = {}) {
    this.capacity = capacity;
    this.ratePerMs = perMinute / 60000;
    this.now = now;
    this.buckets = new Map();
  }

  /** Take one token for `key`; false if the bucket is empty. */
  take(key) {
    const t = this.now();
    const bucket = this.buckets.get(key) || { tokens: this.capacity, at: t };
    bucket.tokens = Math.min(this.capacity, bucket.tokens + (t - bucket.at) * this.ratePerMs);
    bucket.at = t;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.buckets.set(key, bucket);
    if (this.buckets.size > 1000) this.prune(t);
    return allowed;
  }

  /** Forget buckets that have refilled completely. */
  prune(t = this.now()) {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (t - b.at) * this.ratePerMs >= this.capacity) this.buckets.delete(key);
    }
  }

  forget(key) {
    this.buckets.delete(key);
  }
}
