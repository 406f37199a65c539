use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// A status condition, ESO's shape (`type`, `status`, `reason`, `message`, `lastTransitionTime`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition type; Sesame sets `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason, e.g. `SecretSynced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human readable message. Never contains a secret value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: Option<String>,
}

impl Condition {
    pub fn ready(ok: bool, reason: &str, message: impl Into<String>) -> Self {
        Condition {
            type_: "Ready".into(),
            status: if ok { "True" } else { "False" }.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_transition_time: None,
        }
    }

    /// Same condition content, ignoring the transition time.
    pub fn same_as(&self, other: &Condition) -> bool {
        self.type_ == other.type_ && self.status == other.status && self.reason == other.reason && self.message == other.message
    }
}

/// Put `new` into `conditions`, keeping `lastTransitionTime` when the status did not flip.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition, now: &str) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            new.last_transition_time = if old.status == new.status {
                old.last_transition_time.clone().or_else(|| Some(now.to_string()))
            } else {
                Some(now.to_string())
            };
            *old = new;
        }
        None => {
            new.last_transition_time = Some(now.to_string());
            conditions.push(new);
        }
    }
}

/// A Go duration string (`1h`, `30m`, `1h30m`, `90s`, `0`), as ESO's `refreshInterval`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GoDuration(pub String);

impl GoDuration {
    pub fn parse(&self) -> Result<std::time::Duration, String> {
        crate::duration::parse_go_duration(&self.0)
    }
}

impl JsonSchema for GoDuration {
    fn schema_name() -> Cow<'static, str> {
        "GoDuration".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": crate::duration::GO_DURATION_PATTERN,
        })
    }
}

/// Legacy integer seconds or a duration string (ESO's store `refreshInterval`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrDuration {
    Seconds(i64),
    Duration(String),
}

impl IntOrDuration {
    pub fn parse(&self) -> Result<std::time::Duration, String> {
        match self {
            IntOrDuration::Seconds(s) if *s >= 0 => Ok(std::time::Duration::from_secs(*s as u64)),
            IntOrDuration::Seconds(s) => Err(format!("negative interval {s}")),
            IntOrDuration::Duration(d) => crate::duration::parse_go_duration(d),
        }
    }
}

impl JsonSchema for IntOrDuration {
    fn schema_name() -> Cow<'static, str> {
        "IntOrDuration".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "x-kubernetes-int-or-string": true })
    }
}
