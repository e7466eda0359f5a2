use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use trailsync_events::Format;

use crate::cli::ExplainFormat;

/// Reads events in any accepted form and prints what sync would do with each.
pub fn run(file: Option<&Path>, format: ExplainFormat) -> anyhow::Result<ExitCode> {
    let bytes = match file {
        Some(path) if path != Path::new("-") => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        _ => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read standard input")?;
            buf
        }
    };
    let format = match format {
        ExplainFormat::Text => Format::Text,
        ExplainFormat::Json => Format::Json,
    };
    let report = trailsync_events::explain(&bytes);
    let mut out = std::io::stdout().lock();
    report
        .write(format, &mut out, &mut std::io::stderr().lock())
        .and_then(|()| out.flush())
        .context("cannot write the explanation")?;
    Ok(ExitCode::SUCCESS)
}
