//! Upload progress on stderr (indicatif), for `site-gen push` to the Worker
//! and to the secondary origin. A bar is drawn only on a terminal; a log
//! gets the lines printed with [`note`] instead.

use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressStyle};

/// A bar for sending `total` bytes of `label`, of which `done` are there
/// already (a resumed upload). Wrap the body in it with
/// [`ProgressBar::wrap_read`]; end it with [`sent`] (or, on failure,
/// [`ProgressBar::finish_and_clear`]).
pub fn upload(label: &str, done: u64, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("  {prefix}: [{bar:30}] {bytes} of {total_bytes}, {bytes_per_sec}, {eta} left")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar.set_position(done);
    bar
}

/// A line on stderr that neither a bar overwrites nor a log loses.
pub fn note(bar: &ProgressBar, line: &str) {
    bar.suspend(|| eprintln!("{line}"));
}

/// Ends an upload's bar with one line that stays, on a terminal and in a
/// log: `  label: 12.3 MiB sent in 4 seconds`.
pub fn sent(bar: &ProgressBar) {
    bar.finish_and_clear();
    eprintln!("  {}: {} sent in {}", bar.prefix(), HumanBytes(bar.position()), HumanDuration(bar.elapsed()));
}
