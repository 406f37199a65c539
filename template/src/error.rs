//! The error a template produces: where (line/column) and what went wrong.
//!
//! The description is built only from the template source, key names,
//! function names and fixed texts; secret values never appear in it (engine
//! messages are additionally scrubbed of every data value before they get
//! here, see `engine::scrub`).

use std::fmt;

/// A template failed to parse or to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// 1-based line in the template source; 0 when the error concerns the
    /// template as a whole (output size, time limit, `KeysAndValues` output).
    pub line: usize,
    /// 1-based column (in characters); 0 when unknown.
    pub column: usize,
    /// Parse or execution error, or a limit that was hit.
    pub kind: ErrorKind,
    /// What went wrong, without secret values.
    pub message: String,
}

/// The phase or limit an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The template is not valid Go template syntax.
    Parse,
    /// Execution failed (missing key, function error, type error, …).
    Execute,
    /// A sandbox limit was exceeded (output size, time, iterations, depth).
    Limit,
    /// The rendered output could not be used (e.g. `KeysAndValues` YAML).
    Output,
}

impl TemplateError {
    pub(crate) fn new(kind: ErrorKind, line: usize, column: usize, message: impl Into<String>) -> Self {
        TemplateError { line, column, kind, message: message.into() }
    }

    pub(crate) fn output(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Output, 0, 0, message)
    }

    pub(crate) fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Limit, 0, 0, message)
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.kind {
            ErrorKind::Parse => "parse error",
            ErrorKind::Execute => "execution error",
            ErrorKind::Limit => "limit exceeded",
            ErrorKind::Output => "invalid output",
        };
        match (self.line, self.column) {
            (0, _) => write!(f, "template {phase}: {}", self.message),
            (l, 0) => write!(f, "template {phase} at line {l}: {}", self.message),
            (l, c) => write!(f, "template {phase} at {l}:{c}: {}", self.message),
        }
    }
}

impl std::error::Error for TemplateError {}
