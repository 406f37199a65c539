//! Error positions and the syntax checks the engine crate does not make.
//!
//! * Go rejects unclosed `{{if}}`/`{{range}}`/`{{with}}`/`{{define}}`/
//!   `{{block}}` and stray `{{end}}`/`{{else}}`; `gotmpl` accepts them, so
//!   [`check_blocks_closed`] scans the actions first.
//! * Go rejects calls to undefined functions at parse time, even in branches
//!   that never run; [`check_functions`] does the same on the parsed tree.
//! * Execution errors from the engine carry no position: [`map_error`] finds
//!   the first identifier or field named in the message, and removes every
//!   data value from the message.

use gotmpl::Template;
use gotmpl::parse::{Expr, ListNode, Node, PipeNode, Pos};

use super::error::{ErrorKind, TemplateError};

/// 1-based (line, column) of a byte offset.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(src.len());
    while !src.is_char_boundary(end) {
        end -= 1;
    }
    let before = &src[..end];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

fn parse_error(src: &str, offset: usize, message: String) -> TemplateError {
    let (line, col) = line_col(src, offset);
    TemplateError::new(ErrorKind::Parse, line, col, message)
}

/// Scans the actions of `src` for block structure, as Go's parser does.
pub(crate) fn check_blocks_closed(src: &str, left: &str, right: &str) -> Result<(), TemplateError> {
    let mut open: Vec<(&str, usize)> = Vec::new();
    let mut at = 0;
    while let Some(found) = src[at..].find(left) {
        let start = at + found;
        let mut body_start = start + left.len();
        if src[body_start..].starts_with("- ") {
            body_start += 2;
        }
        let trimmed = src[body_start..].trim_start();
        if trimmed.starts_with("/*") {
            // Comments end at "*/" and may contain quotes and delimiters.
            let Some(close) = src[body_start..].find("*/") else {
                return Ok(());
            };
            let Some(end) = src[body_start + close..].find(right) else {
                return Ok(());
            };
            at = body_start + close + end + right.len();
            continue;
        }
        let Some(end) = action_end(src, body_start, right) else {
            return Ok(()); // unclosed action: the engine reports it
        };
        at = end + right.len();
        let word: String = trimmed.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        match word.as_str() {
            "if" | "range" | "with" | "define" | "block" => open.push((keyword(&word), start)),
            "else" if open.is_empty() => {
                return Err(parse_error(src, start, "unexpected {{else}}".into()));
            }
            "end" if open.pop().is_none() => {
                return Err(parse_error(src, start, "unexpected {{end}}".into()));
            }
            _ => {}
        }
    }
    match open.pop() {
        Some((kw, start)) => {
            Err(parse_error(src, start, format!("unexpected EOF: {{{{{kw}}}}} opened here is never closed with {{{{end}}}}")))
        }
        None => Ok(()),
    }
}

fn keyword(word: &str) -> &'static str {
    match word {
        "if" => "if",
        "range" => "range",
        "with" => "with",
        "define" => "define",
        _ => "block",
    }
}

/// Byte offset of the right delimiter closing the action whose body starts at
/// `from`, skipping string, raw-string and character literals.
fn action_end(src: &str, from: usize, right: &str) -> Option<usize> {
    let bytes = src.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        if bytes[i..].starts_with(right.as_bytes()) {
            return Some(i);
        }
        match bytes[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Calls `f` on every expression of the tree, depth first, in source order.
pub(crate) fn visit(list: &ListNode, f: &mut dyn FnMut(&Expr)) {
    for node in &list.nodes {
        match node {
            Node::List(l) => visit(l, f),
            Node::Action(a) => visit_pipe(&a.pipe, f),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                visit_pipe(&b.pipe, f);
                visit(&b.body, f);
                if let Some(e) = &b.else_body {
                    visit(e, f);
                }
            }
            Node::Template(t) => {
                if let Some(p) = &t.pipe {
                    visit_pipe(p, f);
                }
            }
            Node::Define(d) => visit(&d.body, f),
            Node::Text(_) | Node::Break(_) | Node::Continue(_) => {}
        }
    }
}

fn visit_pipe(pipe: &PipeNode, f: &mut dyn FnMut(&Expr)) {
    for cmd in &pipe.commands {
        for arg in &cmd.args {
            visit_expr(arg, f);
        }
    }
}

fn visit_expr(expr: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(expr);
    match expr {
        Expr::Pipe(_, p) => visit_pipe(p, f),
        Expr::Chain(_, inner, _) => visit_expr(inner, f),
        _ => {}
    }
}

fn trees(parsed: &Template) -> Vec<&ListNode> {
    parsed.templates().into_iter().filter_map(|n| parsed.lookup(n)).collect()
}

/// Rejects calls to functions that do not exist, like Go's parser.
pub(crate) fn check_functions(parsed: &Template, src: &str, known: &dyn Fn(&str) -> bool) -> Result<(), TemplateError> {
    let mut unknown: Option<(Pos, String)> = None;
    for tree in trees(parsed) {
        visit(tree, &mut |e| {
            if let Expr::Identifier(pos, name) = e
                && !known(name)
                && unknown.as_ref().is_none_or(|(p, _)| p.offset > pos.offset)
            {
                unknown = Some((*pos, name.to_string()));
            }
        });
    }
    match unknown {
        Some((pos, name)) => Err(parse_error(src, pos.offset, format!("function \"{name}\" not defined"))),
        None => Ok(()),
    }
}

/// Position of the first identifier or field whose name the message quotes.
fn locate(parsed: &Template, message: &str) -> Option<Pos> {
    let words: Vec<&str> = message.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).filter(|w| !w.is_empty()).collect();
    let mut best: Option<Pos> = None;
    for tree in trees(parsed) {
        visit(tree, &mut |e| {
            let hit = match e {
                Expr::Identifier(_, name) => words.contains(&name.as_str()),
                Expr::Field(_, chain) | Expr::Variable(_, _, chain) | Expr::Chain(_, _, chain) => {
                    chain.iter().any(|f| words.contains(&f.as_str()))
                }
                _ => false,
            };
            if hit && best.is_none_or(|b| b.offset > e.pos().offset) {
                best = Some(e.pos());
            }
        });
    }
    best
}

/// Replaces every data value (and anything longer than a key name could
/// reasonably quote) in an engine message.
pub(crate) fn scrub(message: &str, secrets: &[String]) -> String {
    let mut out = message.to_owned();
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| s.len() >= 3).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in sorted {
        out = out.replace(s.as_str(), "[redacted]");
    }
    out
}

/// Turns an engine error into a [`TemplateError`] with a position.
pub(crate) fn map_error(e: gotmpl::TemplateError, src: &str, parsed: Option<&Template>, secrets: &[String]) -> TemplateError {
    use gotmpl::TemplateError as E;
    let (kind, message) = match e {
        E::Parse { line, col, message, .. } | E::Lex { line, col, message, .. } => {
            return TemplateError::new(ErrorKind::Parse, line, col, message);
        }
        E::RecursionLimit => (ErrorKind::Limit, "template recursion is too deep".to_owned()),
        E::RangeIterLimit => (ErrorKind::Limit, "too many range iterations".to_owned()),
        E::MissingKey { key } => (ErrorKind::Execute, format!("map has no entry for key \"{key}\"")),
        E::UndefinedFunction(name) => (ErrorKind::Execute, format!("function \"{name}\" not defined")),
        E::UndefinedTemplate(name) => (ErrorKind::Execute, format!("template \"{name}\" not defined")),
        other => (ErrorKind::Execute, scrub(&other.to_string(), secrets)),
    };
    let message = message.strip_prefix("execution error: ").unwrap_or(&message).to_owned();
    let pos = parsed.and_then(|p| locate(p, &message));
    let (line, col) = pos.map_or((0, 0), |p| line_col(src, p.offset));
    TemplateError::new(kind, line, col, message)
}
