//! Generators shared by the properties: arbitrary text biased towards the characters that matter
//! to each parser, and arbitrary JSON biased towards the field names and enum values of the API.
use proptest::prelude::*;
use serde_json::Value;

/// Every field name and enum value of the ExternalSecret and store specs: random JSON built from
/// these reaches the deserialisers' interesting branches instead of failing at the first field.
pub const API_WORDS: &[&str] = &[
    "apiVersion",
    "external-secrets.io/v1",
    "kind",
    "ExternalSecret",
    "SecretStore",
    "ClusterSecretStore",
    "metadata",
    "name",
    "namespace",
    "spec",
    "secretStoreRef",
    "refreshInterval",
    "1h",
    "0",
    "1h30m",
    "-1s",
    "refreshPolicy",
    "Periodic",
    "OnChange",
    "CreatedOnce",
    "target",
    "creationPolicy",
    "Owner",
    "Orphan",
    "Merge",
    "None",
    "deletionPolicy",
    "Retain",
    "Delete",
    "immutable",
    "data",
    "secretKey",
    "remoteRef",
    "key",
    "property",
    "version",
    "metadataPolicy",
    "Fetch",
    "conversionStrategy",
    "Default",
    "Unicode",
    "decodingStrategy",
    "Auto",
    "Base64",
    "Base64URL",
    "dataFrom",
    "extract",
    "find",
    "path",
    "regexp",
    "tags",
    "rewrite",
    "source",
    "provider",
    "fake",
    "value",
    "controller",
    "conditions",
    "namespaces",
    "namespaceRegexes",
    "namespaceSelector",
    "matchLabels",
    "retrySettings",
    "maxRetries",
    "retryInterval",
    "validationResult",
    "template",
    "engineVersion",
    "v2",
    "templateFrom",
    "mergePolicy",
    "type",
    "status",
    "aws",
    "vault",
    "gcpsm",
    "azurekv",
    "auth",
    "region",
    "server",
    "caBundle",
    "secretRef",
];

/// Characters parsers care about, mixed into random text.
const SPECIAL: &[&str] = &[
    ".", "..", "*", "?", "|", "#", "@", "\\", "!", "=", "<", ">", "%", "(", ")", "[", "]", "{", "}", ",", ":", "\"", "'", "/", "-", "_",
    "~", " ", "\t", "\n", "\u{0}", "\u{7f}", "ü", "µ", "μ", "€", "😀", "\u{202e}", "$1", "${1}", "$", "^", "+", "e", "E", "0", "9",
];

/// Arbitrary text: mostly short, from a mix of API words, parser-special characters, ASCII and any
/// Unicode scalar value.
pub fn text() -> BoxedStrategy<String> {
    let piece = prop_oneof![
        3 => prop::sample::select(SPECIAL).prop_map(str::to_string),
        2 => prop::sample::select(API_WORDS).prop_map(str::to_string),
        3 => "[a-zA-Z0-9]{1,6}",
        1 => any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat()).boxed()
}

/// Arbitrary bytes, sometimes valid UTF-8 text, sometimes not.
pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        text().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..64),
        json().prop_map(|v| v.to_string().into_bytes()),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        prop::sample::select(&[0i64, 1, -1, 2, 3600, i64::MAX, i64::MIN][..]).prop_map(Value::from),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => number(),
        3 => prop::sample::select(API_WORDS).prop_map(Value::from),
        3 => text().prop_map(Value::String),
    ]
}

/// Arbitrary JSON, nested up to 5 levels, object keys drawn mostly from the API's field names.
pub fn json() -> BoxedStrategy<Value> {
    let key = prop_oneof![4 => prop::sample::select(API_WORDS).prop_map(str::to_string), 1 => text()].boxed();
    leaf()
        .prop_recursive(5, 96, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..7).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
        .boxed()
}

/// An object of the given kind whose spec is arbitrary JSON.
pub fn object(kind: &'static str) -> impl Strategy<Value = Value> {
    (json(), any::<bool>()).prop_map(move |(spec, namespaced)| {
        let mut metadata = serde_json::json!({"name": "fuzzed"});
        if namespaced {
            metadata["namespace"] = "fuzz".into();
        }
        serde_json::json!({"apiVersion": "external-secrets.io/v1", "kind": kind, "metadata": metadata, "spec": spec})
    })
}
