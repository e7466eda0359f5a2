//! What [`load`](crate::load) returns instead of a [`Config`](crate::Config): every problem found,
//! each pointing at a file, a line and a field.

use std::fmt;
use std::path::PathBuf;

/// One problem in the configuration.
///
/// Displays as one line, `FILE:LINE (document N): PATH: MESSAGE`, leaving out the parts that are
/// unknown, so editors and terminals can jump to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as it was given (or found in a given folder); empty for problems of the whole
    /// configuration, such as "no destination".
    pub file: PathBuf,
    /// The field, e.g. `sources[0] (aws).spec.tables[1]`; empty for problems of a whole file.
    pub path: String,
    /// What is wrong and what to do about it.
    pub message: String,
    /// The 0-based document within the file, set only when the file holds several documents.
    pub document: Option<usize>,
    /// The 1-based line the problem is on, when known.
    pub line: Option<usize>,
}

impl Diagnostic {
    /// A problem with neither a document nor a line.
    pub fn new(
        file: impl Into<PathBuf>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            path: path.into(),
            message: message.into(),
            document: None,
            line: None,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.as_os_str().is_empty() {
            write!(f, "{}", self.file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            if let Some(document) = self.document {
                write!(f, " (document {})", document + 1)?;
            }
            f.write_str(": ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Every problem found in one load, in file order and, within a file, in line order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
