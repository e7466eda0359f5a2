use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress of a long task: a bar on a terminal, log lines otherwise.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    label: &'static str,
}

impl Progress {
    pub(crate) fn new(label: &'static str, total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            if let Ok(style) =
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {wide_msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(label);
            bar
        });
        Progress { bar, total, label }
    }

    /// Marks one step done, with what it was.
    pub(crate) fn step(&self, done: u64, message: String) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(message);
            }
            None => tracing::info!("{} {done}/{}: {message}", self.label, self.total),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
