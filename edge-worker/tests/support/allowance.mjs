// The download allowance's numbers, as edge-worker/src/allowance.rs computes
// them (docs/downloads.md, "The precise rule"), for the tests' bounds.

const SLACK_MIN = 256 * 1024;
const SLACK_MAX = 16 * 1024 * 1024;

/** The most sent beyond `downloads` whole clips: all but a quarter of the clip. */
export function beyond(size) {
  return size - Math.ceil(size / 4);
}

/** Margin per download for a clip of `size` bytes on a `downloads`-download link. */
export function slack(size, downloads) {
  const margin = Math.min(Math.max(Math.floor(size / 4), SLACK_MIN), SLACK_MAX);
  return Math.min(margin, Math.floor(beyond(size) / (2 * downloads)));
}

/** One download's worth: the clip and its slack. */
export function unit(size, downloads) {
  return size + slack(size, downloads);
}

/** What resumes may be given back in all. */
export function creditPool(size, downloads) {
  const each = slack(size, downloads);
  return Math.min(Math.max(downloads, 2) * each, beyond(size) - downloads * each);
}

/** The least a granted request is charged: a 1024th of the clip, at most 256 KiB and all the link's slacks. */
export function leastCharge(size, downloads) {
  return Math.min(Math.ceil(size / 1024), 256 * 1024, slack(size, downloads) * downloads);
}

/** What a response that sent `sent` bytes is charged. */
export function charge(sent, size, downloads) {
  return Math.max(sent, leastCharge(size, downloads));
}
