//! Finding the files (folders hold `*.yml`/`*.yaml`), reading them, and expanding `${VAR}` and
//! `${file:PATH}` in values.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Finds the config files a path names: a file as given, or a folder's `*.yml` and `*.yaml`
/// files (not its subfolders) sorted by name. A file reached twice is returned once.
#[derive(Default)]
pub(crate) struct FileFinder {
    seen: HashSet<PathBuf>,
}

impl FileFinder {
    /// The files of `path` not returned before, or why it cannot be read.
    pub(crate) fn find(&mut self, path: &Path) -> Result<Vec<PathBuf>, String> {
        let mut files = folder_or_file(path)?;
        files.retain(|file| {
            let identity = fs::canonicalize(file).unwrap_or_else(|_| file.clone());
            self.seen.insert(identity)
        });
        Ok(files)
    }
}

fn folder_or_file(path: &Path) -> Result<Vec<PathBuf>, String> {
    let metadata = fs::metadata(path)
        .map_err(|e| format!("cannot read: {}; check the path", io_reason(&e)))?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries =
        fs::read_dir(path).map_err(|e| format!("cannot list the folder: {}", io_reason(&e)))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list the folder: {}", io_reason(&e)))?;
        let file = entry.path();
        let is_yaml = file
            .extension()
            .is_some_and(|ext| ext == "yml" || ext == "yaml");
        if is_yaml && file.is_file() {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(
            "the folder holds no *.yml or *.yaml file; pass config files or a folder of them"
                .into(),
        );
    }
    files.sort();
    Ok(files)
}

/// Reads a config file as UTF-8 text.
pub(crate) fn read(file: &Path) -> Result<String, String> {
    fs::read_to_string(file).map_err(|e| format!("cannot read: {}", io_reason(&e)))
}

/// An I/O error without the "(os error 2)" noise.
fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or folder".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::InvalidData => "not UTF-8 text".into(),
        _ => e.to_string(),
    }
}

/// Why a `${...}` reference could not be expanded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExpandError {
    #[error("environment variable {0} is not set; set it, or replace ${{{0}}} with the value")]
    UnsetVariable(String),
    #[error("cannot read {} for ${{file:{reference}}}: {reason}; the path is relative to the config file's folder", path.display())]
    File {
        reference: String,
        path: PathBuf,
        reason: String,
    },
    #[error("\"${{\" is not closed; write ${{NAME}} or ${{file:PATH}}")]
    Unclosed,
    #[error("empty reference; write ${{NAME}} or ${{file:PATH}}")]
    Empty,
}

/// The content a `${file:PATH}` reference was replaced with. Files are where secrets are kept,
/// so messages name the reference instead of quoting the content ([`hide_file_contents`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileContent {
    /// `${file:PATH}`, as written.
    pub(crate) reference: String,
    pub(crate) content: String,
}

/// Expands `${NAME}` (environment variable `NAME`) and `${file:PATH}` (the file's content without
/// its trailing line breaks; PATH relative to `dir` unless absolute). Expanded text is never
/// expanded again. Every broken reference is returned, not just the first. The contents of the
/// files read are added to `files`.
pub(crate) fn expand(
    text: &str,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    files: &mut Vec<FileContent>,
) -> Result<String, Vec<ExpandError>> {
    if !text.contains("${") {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            errors.push(ExpandError::Unclosed);
            rest = "";
            break;
        };
        match resolve(&after[..end], dir, env, files) {
            Ok(value) => out.push_str(&value),
            Err(e) => errors.push(e),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn resolve(
    reference: &str,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    files: &mut Vec<FileContent>,
) -> Result<String, ExpandError> {
    if let Some(file) = reference.strip_prefix("file:") {
        let path = dir.join(file);
        let content = fs::read_to_string(&path)
            .map(|content| content.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| ExpandError::File {
                reference: file.to_string(),
                path,
                reason: io_reason(&e),
            })?;
        files.push(FileContent {
            reference: format!("${{file:{file}}}"),
            content: content.clone(),
        });
        return Ok(content);
    }
    let name = reference.trim();
    if name.is_empty() {
        return Err(ExpandError::Empty);
    }
    env(name).ok_or_else(|| ExpandError::UnsetVariable(name.to_string()))
}

/// Contents this long are replaced wherever they appear in a message; shorter ones only where a
/// message quotes them whole (`"..."`), lest a short value garble every message it occurs in.
const HIDDEN_ANYWHERE: usize = 8;

/// `message` with the contents of `files` replaced by the references they came from.
pub(crate) fn hide_file_contents(message: &str, files: &[FileContent]) -> String {
    let mut message = message.to_string();
    let mut files: Vec<&FileContent> = files.iter().filter(|f| !f.content.is_empty()).collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.content.len()));
    for file in files {
        if file.content.chars().count() >= HIDDEN_ANYWHERE {
            let escaped = file.content.escape_debug().to_string();
            message = message
                .replace(&file.content, &file.reference)
                .replace(&escaped, &file.reference);
        } else {
            message = message.replace(
                &format!("{:?}", file.content),
                &format!("{:?}", file.reference),
            );
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "USER" => Some("alice".into()),
            "NESTED" => Some("${USER}".into()),
            _ => None,
        }
    }

    fn messages(result: Result<String, Vec<ExpandError>>) -> Vec<String> {
        result
            .expect_err("should fail")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn variables_expand_once() {
        let dir = Path::new(".");
        assert_eq!(
            expand("plain", dir, &env, &mut Vec::new()).ok(),
            Some("plain".into())
        );
        assert_eq!(
            expand("postgres://${USER}@h/${USER}", dir, &env, &mut Vec::new()).ok(),
            Some("postgres://alice@h/alice".into())
        );
        assert_eq!(
            expand("${NESTED}", dir, &env, &mut Vec::new()).ok(),
            Some("${USER}".into())
        );
        assert_eq!(
            expand("$USER and $", dir, &env, &mut Vec::new()).ok(),
            Some("$USER and $".into())
        );
    }

    #[test]
    fn every_broken_reference_is_reported() {
        let dir = Path::new(".");
        let errors = messages(expand("${A}-${USER}-${B}", dir, &env, &mut Vec::new()));
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0].contains("environment variable A is not set"),
            "{errors:?}"
        );
        assert!(
            errors[1].contains("environment variable B is not set"),
            "{errors:?}"
        );
        assert!(messages(expand("x${USER", dir, &env, &mut Vec::new()))[0].contains("not closed"));
        assert!(messages(expand("${}", dir, &env, &mut Vec::new()))[0].contains("empty"));
        let missing = messages(expand(
            "${file:nope.txt}",
            Path::new("/nonexistent-dir"),
            &env,
            &mut Vec::new(),
        ));
        assert!(
            missing[0].contains("/nonexistent-dir/nope.txt"),
            "{missing:?}"
        );
        assert!(missing[0].contains("no such file"), "{missing:?}");
    }

    #[test]
    fn file_contents_are_named_not_quoted() {
        let dir = tempfile_dir();
        std::fs::write(dir.join("secret.txt"), "sentinel-file-5d1e\n").expect("write");
        std::fs::write(dir.join("short.txt"), "abc").expect("write");
        let mut files = Vec::new();
        let text = expand(
            "x-${file:secret.txt}-${file:short.txt}",
            &dir,
            &env,
            &mut files,
        );
        assert_eq!(text.ok().as_deref(), Some("x-sentinel-file-5d1e-abc"));
        assert_eq!(files.len(), 2);
        assert_eq!(
            hide_file_contents(
                "\"x-sentinel-file-5d1e-abc\" is bad; \"abc\" too; abcd",
                &files
            ),
            "\"x-${file:secret.txt}-abc\" is bad; \"${file:short.txt}\" too; abcd"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "trailsync-config-expand-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("temporary folder");
        dir
    }
}
