//! Tree rewrites that give the engine Go's execution semantics where the
//! engine crate differs:
//!
//! * `{{template "name"}}` runs with nil data in Go (the engine passes dot):
//!   the call gets the argument `__sesame_nil`.
//! * Go prints an action's value with `fmt.Fprint` (floats as `1e+06`,
//!   `1e-05`; the engine uses Rust's float formatting): every printing
//!   action gets a final `| __sesame_print` command that formats as Go does.
//! * Go maps are references, so `{{ $_ := set $d "k" "v" }}` changes `$d`;
//!   engine values are immutable. When the dict is a plain variable, the
//!   action becomes `{{ $d = set $d "k" "v" }}{{ $_ := $d }}` (likewise for
//!   `unset`, `merge`, `mergeOverwrite` and their `must` forms).
//!
//! And for the sandbox: every list of nodes (a template's body, a branch, a
//! loop body) starts with `{{__sesame_step N}}`, which charges its N nodes
//! (at least one, so an empty template call counts too) to the step budget
//! and checks the time budget and the cancel flag; so does a loop's every
//! iteration and every nested `{{template}}` call.

use gotmpl::parse::{ActionNode, CommandNode, Expr, ListNode, Node, Number, PipeNode, Pos};

/// The rewritten tree.
pub(crate) fn rewrite(list: &ListNode) -> ListNode {
    let body: Vec<Node> = list.nodes.iter().flat_map(write_back).map(|n| rewrite_node(&n)).collect();
    let mut nodes = Vec::with_capacity(body.len() + 1);
    nodes.push(step(list.pos, body.len().max(1)));
    nodes.extend(body);
    ListNode { pos: list.pos, nodes }
}

/// `{{__sesame_step n}}`: prints nothing.
fn step(pos: Pos, n: usize) -> Node {
    let mut cmd = call(pos, "__sesame_step");
    cmd.args.push(Expr::Number(pos, Number::Int(i64::try_from(n).unwrap_or(i64::MAX))));
    Node::Action(ActionNode { pos, pipe: PipeNode { pos, decl: Vec::new(), commands: vec![cmd], is_assign: false } })
}

const MUTATORS: &[&str] = &["set", "unset", "merge", "mergeOverwrite", "mustMerge", "mustMergeOverwrite"];

/// Splits a dict-mutating action into an assignment back to the dict's
/// variable and, if the action declared or assigned a variable, a copy.
fn write_back(node: &Node) -> Vec<Node> {
    let Node::Action(a) = node else {
        return vec![node.clone()];
    };
    let target = match a.pipe.commands.as_slice() {
        [cmd] => match cmd.args.as_slice() {
            [Expr::Identifier(_, f), Expr::Variable(_, var, fields), ..]
                if MUTATORS.contains(&f.as_str()) && fields.is_empty() && var.as_str() != "$" =>
            {
                var.clone()
            }
            _ => return vec![node.clone()],
        },
        _ => return vec![node.clone()],
    };
    if a.pipe.decl.len() > 1 {
        return vec![node.clone()];
    }
    let mut assign = a.clone();
    assign.pipe.decl = vec![target.clone()];
    assign.pipe.is_assign = true;
    let mut out = vec![Node::Action(assign)];
    if !a.pipe.decl.is_empty() {
        let mut copy = a.clone();
        copy.pipe.commands = vec![CommandNode { pos: a.pos, args: vec![Expr::Variable(a.pos, target, Vec::new())] }];
        out.push(Node::Action(copy));
    }
    out
}

fn call(pos: Pos, name: &str) -> CommandNode {
    CommandNode { pos, args: vec![Expr::Identifier(pos, name.into())] }
}

fn rewrite_node(node: &Node) -> Node {
    match node {
        Node::List(l) => Node::List(rewrite(l)),
        Node::Action(a) if a.pipe.decl.is_empty() => {
            let mut a2 = a.clone();
            a2.pipe.commands.push(call(a.pos, "__sesame_print"));
            Node::Action(a2)
        }
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            let mut b2 = b.clone();
            b2.body = rewrite(&b.body);
            b2.else_body = b.else_body.as_ref().map(rewrite);
            match node {
                Node::If(_) => Node::If(b2),
                Node::Range(_) => Node::Range(b2),
                _ => Node::With(b2),
            }
        }
        Node::Template(t) if t.pipe.is_none() => {
            let mut t2 = t.clone();
            t2.pipe = Some(PipeNode { pos: t.pos, decl: Vec::new(), commands: vec![call(t.pos, "__sesame_nil")], is_assign: false });
            Node::Template(t2)
        }
        Node::Define(d) => {
            let mut d2 = d.clone();
            d2.body = rewrite(&d.body);
            Node::Define(d2)
        }
        other => other.clone(),
    }
}
