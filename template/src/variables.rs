//! Go's parser rejects assigning (`$x = …`) to a variable that was never
//! declared (`$x := …`) in an enclosing scope; the engine crate would
//! declare it silently. This walk reports it with its position.

use gotmpl::Template;
use gotmpl::parse::{ListNode, Node, PipeNode};

use super::diagnose::line_col;
use super::error::{ErrorKind, TemplateError};

/// Checks every template tree of `parsed`.
pub(crate) fn check_assignments(parsed: &Template, src: &str) -> Result<(), TemplateError> {
    for name in parsed.templates() {
        if let Some(tree) = parsed.lookup(name) {
            let mut scopes = vec![vec!["$".to_string()]];
            walk(tree, &mut scopes, src)?;
        }
    }
    Ok(())
}

fn declared(scopes: &[Vec<String>], name: &str) -> bool {
    scopes.iter().any(|s| s.iter().any(|v| v == name))
}

fn pipe(p: &PipeNode, scopes: &mut [Vec<String>], src: &str) -> Result<(), TemplateError> {
    for var in &p.decl {
        if p.is_assign && !declared(scopes, var) {
            let (line, col) = line_col(src, p.pos.offset);
            return Err(TemplateError::new(ErrorKind::Parse, line, col, format!("undefined variable \"{var}\"")));
        }
        if !p.is_assign
            && let Some(scope) = scopes.last_mut()
        {
            scope.push(var.to_string());
        }
    }
    Ok(())
}

fn walk(list: &ListNode, scopes: &mut Vec<Vec<String>>, src: &str) -> Result<(), TemplateError> {
    for node in &list.nodes {
        match node {
            Node::List(l) => walk(l, scopes, src)?,
            Node::Action(a) => pipe(&a.pipe, scopes, src)?,
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                scopes.push(Vec::new());
                pipe(&b.pipe, scopes, src)?;
                walk(&b.body, scopes, src)?;
                scopes.pop();
                if let Some(e) = &b.else_body {
                    scopes.push(Vec::new());
                    walk(e, scopes, src)?;
                    scopes.pop();
                }
            }
            Node::Template(t) => {
                if let Some(p) = &t.pipe {
                    pipe(p, scopes, src)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}
