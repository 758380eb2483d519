//! The closed vocabularies of WDL: action and trigger types, run statuses, workflow kinds and the
//! like. Real files write them in any case (`"SUCCEEDED"`, `"foreach"`), so every one of them is
//! matched case-insensitively and printed in its documented spelling.

/// Declares an enum whose variants are read case-insensitively from their documented names.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident ($label:literal) { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The documented spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Reads a name in any letter case.
            pub fn parse(text: &str) -> Option<$name> {
                $(if text.eq_ignore_ascii_case($text) { return Some($name::$variant); })+
                None
            }

            /// The documented spellings, for error messages.
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "unknown {} '{}', expected one of: {}",
                        $label, text, $name::expected()
                    ))
                })
            }
        }
    };
}

vocabulary! {
    /// The status an action or run ends in, as written in `runAfter` and `staticResults`.
    RunStatus ("run status") {
        Succeeded = "Succeeded",
        Failed = "Failed",
        Skipped = "Skipped",
        TimedOut = "TimedOut",
        Cancelled = "Cancelled",
        Aborted = "Aborted",
    }
}

vocabulary! {
    /// Whether a workflow keeps its run state durably (`Stateful`) or in memory (`Stateless`).
    WorkflowKind ("workflow kind") {
        Stateful = "Stateful",
        Stateless = "Stateless",
    }
}

vocabulary! {
    /// Every action type Sluice models. Connector-backed types are validated here and executed
    /// by handlers registered at run time.
    ActionType ("action type") {
        Scope = "Scope",
        If = "If",
        Switch = "Switch",
        Foreach = "Foreach",
        Until = "Until",
        InitializeVariable = "InitializeVariable",
        SetVariable = "SetVariable",
        IncrementVariable = "IncrementVariable",
        DecrementVariable = "DecrementVariable",
        AppendToArrayVariable = "AppendToArrayVariable",
        AppendToStringVariable = "AppendToStringVariable",
        Compose = "Compose",
        ParseJson = "ParseJson",
        Query = "Query",
        Select = "Select",
        Join = "Join",
        Table = "Table",
        Http = "Http",
        HttpWebhook = "HttpWebhook",
        Function = "Function",
        InvokeFunction = "InvokeFunction",
        Workflow = "Workflow",
        Response = "Response",
        Terminate = "Terminate",
        Wait = "Wait",
        JavaScriptCode = "JavaScriptCode",
        ServiceProvider = "ServiceProvider",
        ApiConnection = "ApiConnection",
        ApiConnectionWebhook = "ApiConnectionWebhook",
        Xslt = "Xslt",
        Liquid = "Liquid",
    }
}

impl ActionType {
    /// Loop types, inside which Response and Terminate are not allowed.
    pub fn is_loop(self) -> bool {
        matches!(self, ActionType::Foreach | ActionType::Until)
    }
}

vocabulary! {
    /// Every trigger type Sluice models.
    TriggerType ("trigger type") {
        Request = "Request",
        Recurrence = "Recurrence",
        SlidingWindow = "SlidingWindow",
        ServiceProvider = "ServiceProvider",
        ApiConnection = "ApiConnection",
        HttpWebhook = "HttpWebhook",
    }
}

vocabulary! {
    /// `retryPolicy.type`.
    RetryType ("retry policy type") {
        Default = "Default",
        None = "None",
        Fixed = "Fixed",
        Exponential = "Exponential",
    }
}

vocabulary! {
    /// `recurrence.frequency`.
    Frequency ("frequency") {
        Second = "Second",
        Minute = "Minute",
        Hour = "Hour",
        Day = "Day",
        Week = "Week",
        Month = "Month",
    }
}

vocabulary! {
    /// The type of a workflow parameter or of an output.
    ParameterType ("parameter type") {
        String = "String",
        SecureString = "SecureString",
        Int = "Int",
        Float = "Float",
        Bool = "Bool",
        Array = "Array",
        Object = "Object",
        SecureObject = "SecureObject",
    }
}

vocabulary! {
    /// The type of a variable declared by InitializeVariable.
    VariableType ("variable type") {
        Boolean = "Boolean",
        Integer = "Integer",
        Float = "Float",
        String = "String",
        Array = "Array",
        Object = "Object",
    }
}

vocabulary! {
    /// The entries of a comma-separated `operationOptions` string.
    OperationOption ("operation option") {
        DisableAsyncPattern = "DisableAsyncPattern",
        Sequential = "Sequential",
        SingleInstance = "SingleInstance",
        SuppressWorkflowHeaders = "SuppressWorkflowHeaders",
        SuppressWorkflowHeadersOnResponse = "SuppressWorkflowHeadersOnResponse",
        IncludeAuthorizationHeadersInOutputs = "IncludeAuthorizationHeadersInOutputs",
        EnableSchemaValidation = "EnableSchemaValidation",
        FailWhenLimitsReached = "FailWhenLimitsReached",
        DisableAutomaticDecompression = "DisableAutomaticDecompression",
        Asynchronous = "Asynchronous",
    }
}

/// Logic Apps action and trigger types that Sluice recognises but does not run, with the reason
/// shown to the user. Anything neither modelled nor listed here is an unknown type.
pub fn unsupported_type(name: &str) -> Option<&'static str> {
    const UNSUPPORTED: &[(&str, &str)] = &[
        (
            "Agent",
            "AI agent loops (agentic workflows) are not supported",
        ),
        (
            "AS2Encode",
            "the AS2 B2B connector needs an integration account",
        ),
        (
            "AS2Decode",
            "the AS2 B2B connector needs an integration account",
        ),
        (
            "X12Encode",
            "the X12 B2B connector needs an integration account",
        ),
        (
            "X12Decode",
            "the X12 B2B connector needs an integration account",
        ),
        (
            "X12BatchEncode",
            "the X12 B2B connector needs an integration account",
        ),
        (
            "EdifactEncode",
            "the EDIFACT B2B connector needs an integration account",
        ),
        (
            "EdifactDecode",
            "the EDIFACT B2B connector needs an integration account",
        ),
        (
            "RosettaNetEncode",
            "the RosettaNet B2B connector needs an integration account",
        ),
        (
            "RosettaNetDecode",
            "the RosettaNet B2B connector needs an integration account",
        ),
        (
            "FlatFileEncoding",
            "flat file encoding needs an integration account schema",
        ),
        (
            "FlatFileDecoding",
            "flat file decoding needs an integration account schema",
        ),
        (
            "XmlValidation",
            "XML schema validation needs an integration account schema",
        ),
        (
            "XmlCompose",
            "XML compose with schema needs an integration account schema",
        ),
        (
            "XmlParse",
            "XML parse with schema needs an integration account schema",
        ),
        ("CSharpScriptCode", "inline C# script is not supported"),
        ("PowershellCode", "inline PowerShell is not supported"),
        (
            "ChunkText",
            "the AI data operation ChunkText is not supported",
        ),
        (
            "ParseDocument",
            "the AI data operation ParseDocument is not supported",
        ),
        (
            "Expression",
            "Consumption-only expression actions are not supported",
        ),
        (
            "Http",
            "the polling Http trigger is not supported; use Recurrence with an Http action",
        ),
        (
            "ApiConnectionNotification",
            "managed connector notification triggers need Azure",
        ),
        ("Batch", "batch triggers need an integration account"),
        ("SendToBatch", "batch actions need an integration account"),
    ];
    UNSUPPORTED
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, why)| *why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_in_any_case() {
        assert_eq!(RunStatus::parse("SUCCEEDED"), Some(RunStatus::Succeeded));
        assert_eq!(ActionType::parse("foreach"), Some(ActionType::Foreach));
        assert_eq!(
            ActionType::parse("JavascriptCode"),
            Some(ActionType::JavaScriptCode)
        );
        assert_eq!(ActionType::parse("Nope"), None);
        assert_eq!(ActionType::Foreach.to_string(), "Foreach");
    }

    #[test]
    fn deserialize_reports_expected_values() {
        let e = serde_json::from_str::<RunStatus>("\"Done\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("unknown run status 'Done', expected one of: Succeeded, Failed"),
            "{e}"
        );
        let ok: RunStatus = serde_json::from_str("\"timedout\"").unwrap();
        assert_eq!(ok, RunStatus::TimedOut);
    }
}
