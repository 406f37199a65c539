//! PEM as Go's `encoding/pem` reads and writes it, and ESO's `filterPEM`,
//! `filterCertChain` and `certSANs`.

use gotmpl::Value;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

use super::super::binstr;
use super::super::value::{FnResult, arg_str, string, strings};
use super::{Ctx, Registry};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub(super) fn register(r: &mut Registry) {
    r.add("filterPEM", 2, 2, filter_pem);
    r.add("filterCertChain", 2, 2, |_, a| Ok(string(filter_cert_chain(arg_str(a, 0)?, &bytes(a, 1)?)?)));
    r.add("certSANs", 1, 1, cert_sans);
}

fn bytes(a: &[Value], i: usize) -> Result<Vec<u8>, String> {
    Ok(binstr::to_bytes(arg_str(a, i)?))
}

/// A decoded PEM block.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) kind: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) der: Vec<u8>,
}

fn line(data: &[u8]) -> (&[u8], &[u8]) {
    let (l, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    let end = l.iter().rposition(|b| !matches!(b, b' ' | b'\t' | b'\r')).map_or(0, |i| i + 1);
    (&l[..end], rest)
}

/// Go's `pem.Decode`: the next block and the rest, or `None` and all input.
pub(crate) fn decode(data: &[u8]) -> (Option<Block>, &[u8]) {
    let mut rest = data;
    loop {
        let start = if rest.starts_with(b"-----BEGIN ") { Some(11) } else { find(rest, b"\n-----BEGIN ").map(|i| i + 12) };
        let Some(start) = start else {
            return (None, data);
        };
        rest = &rest[start..];
        let (type_line, after) = line(rest);
        let Some(kind) = type_line.strip_suffix(b"-----") else {
            continue;
        };
        let kind = String::from_utf8_lossy(kind).into_owned();
        let mut body = after;
        let mut headers = Vec::new();
        loop {
            let (l, next) = line(body);
            match l.iter().position(|&b| b == b':') {
                Some(i) if !l.is_empty() => {
                    let key = String::from_utf8_lossy(&l[..i]).trim().to_owned();
                    let val = String::from_utf8_lossy(&l[i + 1..]).trim().to_owned();
                    headers.push((key, val));
                    body = next;
                }
                _ => break,
            }
        }
        if !headers.is_empty() && line(body).0.is_empty() {
            body = line(body).1;
        }
        let end_marker = format!("-----END {kind}-----");
        let (content, end_rest) = if body.starts_with(end_marker.as_bytes()) {
            (&body[..0], &body[end_marker.len()..])
        } else if let Some(i) = find(body, format!("\n{end_marker}").as_bytes()) {
            (&body[..i], &body[i + 1 + end_marker.len()..])
        } else {
            continue;
        };
        let (tail, after_end) = line(end_rest);
        if !tail.is_empty() {
            continue;
        }
        let b64: Vec<u8> = content.iter().copied().filter(|b| !b" \t\r\n".contains(b)).collect();
        match STANDARD.decode(&b64) {
            Ok(der) => return (Some(Block { kind, headers, der }), after_end),
            Err(_) => continue,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// All blocks, in order.
pub(crate) fn decode_all(mut data: &[u8]) -> Vec<Block> {
    let mut out = Vec::new();
    while let (Some(b), rest) = decode(data) {
        out.push(b);
        data = rest;
    }
    out
}

/// Go's `pem.Encode`.
pub(crate) fn encode(kind: &str, headers: &[(String, String)], der: &[u8]) -> String {
    let mut out = format!("-----BEGIN {kind}-----\n");
    if !headers.is_empty() {
        let mut hs = headers.to_vec();
        hs.sort_by(|a, b| (a.0 != "Proc-Type", &a.0).cmp(&(b.0 != "Proc-Type", &b.0)));
        for (k, v) in hs {
            out.push_str(&format!("{k}: {v}\n"));
        }
        out.push('\n');
    }
    let b64 = STANDARD.encode(der);
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {kind}-----\n"));
    out
}

/// Input from the first `-----BEGIN` on (ESO's `trimJunk`).
fn trim_junk(input: &[u8]) -> &[u8] {
    find(input, b"-----BEGIN").map_or(input, |i| &input[i..])
}

/// `filterPEM type input`: the blocks of that type (case-insensitive).
fn filter_pem(_: &Ctx, a: &[Value]) -> FnResult {
    let (kind, input) = (arg_str(a, 0)?, bytes(a, 1)?);
    let mut data = trim_junk(&input);
    let mut out = String::new();
    loop {
        let (block, rest) = decode(data);
        data = rest;
        let Some(block) = block else { break };
        if block.kind.eq_ignore_ascii_case(kind) {
            out.push_str(&encode(&block.kind, &block.headers, &block.der));
        }
    }
    if out.is_empty() && !data.is_empty() {
        return Err("error filtering pem: found junk".into());
    }
    Ok(string(out))
}

/// A parsed certificate: DER and the key identifiers used to chain.
pub(crate) struct Cert {
    pub(crate) der: Vec<u8>,
    aki: Option<Vec<u8>>,
    ski: Option<Vec<u8>>,
}

pub(crate) fn parse_cert(der: &[u8]) -> Result<Cert, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| "x509: malformed certificate".to_string())?;
    let (mut aki, mut ski) = (None, None);
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => aki = a.key_identifier.as_ref().map(|k| k.0.to_vec()),
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
            _ => {}
        }
    }
    Ok(Cert { der: der.to_vec(), aki, ski })
}

fn same(a: &Option<Vec<u8>>, b: &Option<Vec<u8>>) -> bool {
    a.as_deref().unwrap_or_default() == b.as_deref().unwrap_or_default()
}

/// ESO's chain ordering: leaf → intermediates → root by key identifiers.
pub(crate) fn order_chain(certs: Vec<Cert>) -> Result<Vec<Cert>, String> {
    let n = certs.len();
    let mut parent = vec![None; n];
    let mut is_parent = vec![false; n];
    for i in 0..n {
        if let Some(j) = (0..n).find(|&j| j != i && same(&certs[i].aki, &certs[j].ski)) {
            is_parent[j] = true;
            parent[i] = Some(j);
        }
    }
    let leaves: Vec<usize> = (0..n).filter(|&i| !is_parent[i]).collect();
    let mut cur = match leaves.as_slice() {
        [leaf] => Some(*leaf),
        [] => return Err("no leaf certificate found".into()),
        _ => return Err("found multiple leaf or disjunct certificates".into()),
    };
    let mut order = Vec::new();
    while let Some(i) = cur {
        if order.len() >= n {
            return Err("constructing chain resulted in cycle".into());
        }
        order.push(i);
        cur = parent[i];
    }
    let mut slots: Vec<Option<Cert>> = certs.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

fn is_root(c: &Cert) -> bool {
    c.aki.is_none() || same(&c.aki, &c.ski)
}

/// `filterCertChain leaf|intermediate|root input`.
fn filter_cert_chain(kind: &str, input: &[u8]) -> Result<String, String> {
    let certs = decode_all(input).iter().map(|b| parse_cert(&b.der)).collect::<Result<Vec<_>, _>>()?;
    let ordered = order_chain(certs)?;
    let pem = |c: &Cert| encode("CERTIFICATE", &[], &c.der);
    Ok(match kind {
        "leaf" if ordered[0].aki.is_some() && !same(&ordered[0].aki, &ordered[0].ski) => pem(&ordered[0]),
        "intermediate" => ordered.iter().skip(1).take_while(|c| !is_root(c)).map(pem).collect(),
        "root" if ordered.last().is_some_and(is_root) => ordered.last().map(pem).unwrap_or_default(),
        _ => String::new(),
    })
}

/// `certSANs pem`: DNS names, IP addresses, e-mail addresses, then URIs.
fn cert_sans(_: &Ctx, a: &[Value]) -> FnResult {
    let input = bytes(a, 0)?;
    let (block, _) = decode(trim_junk(&input));
    let block = block.ok_or("failed to decode PEM block")?;
    let (_, cert) = X509Certificate::from_der(&block.der).map_err(|_| "failed to parse certificate".to_string())?;
    let (mut dns, mut ips, mut emails, mut uris) = (vec![], vec![], vec![], vec![]);
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                GeneralName::IPAddress(ip) => ips.push(ip_string(ip)),
                GeneralName::RFC822Name(e) => emails.push(e.to_string()),
                GeneralName::URI(u) => uris.push(u.to_string()),
                _ => {}
            }
        }
    }
    Ok(strings(dns.into_iter().chain(ips).chain(emails).chain(uris)))
}

/// Go's `net.IP.String()`.
fn ip_string(raw: &[u8]) -> String {
    match raw.len() {
        4 => std::net::Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).to_string(),
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(raw);
            let v6 = std::net::Ipv6Addr::from(b);
            v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string())
        }
        _ => format!("?{}", hex::encode(raw)),
    }
}
