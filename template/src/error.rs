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
    /// What went wrong. Built from the template source, key and function
    /// names and fixed texts, with data values scrubbed; but see
    /// `template_text`.
    pub message: String,
    /// The message ends in the template's own text (`fail`),
    /// which may carry values derived from the data (`fail (b64enc .pw)`):
    /// show it to the template's author, not in logs or object status.
    pub template_text: bool,
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
        TemplateError { line, column, kind, message: message.into(), template_text: false }
    }

    pub(crate) fn output(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Output, 0, 0, message)
    }

    pub(crate) fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Limit, 0, 0, message)
    }
}

impl TemplateError {
    /// The error without any text the template produced: the same as its
    /// `Display` unless the message is the template's own (`fail`), which is
    /// replaced by a fixed text. Safe for logs, events and status.
    pub fn value_free(&self) -> String {
        if !self.template_text {
            return self.to_string();
        }
        let hidden = TemplateError { message: "the template called fail (its text is not shown)".into(), ..self.clone() };
        hidden.to_string()
    }

    /// A one-line summary without the message: phase, position, and for a
    /// limit the limit's message (fixed texts only).
    pub fn summary(&self) -> String {
        match self.kind {
            ErrorKind::Limit => self.to_string(),
            _ => TemplateError { message: String::new(), ..self.clone() }.to_string().trim_end_matches(": ").to_string(),
        }
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
