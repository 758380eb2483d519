//! Where a Kafka-protocol connector connects: from a `serviceProviderConnections` entry of
//! connections.json whose provider is `/serviceProviders/eventHub` (or Sluice's plain
//! `/serviceProviders/kafka`).
//!
//! `parameterValues` may hold:
//! - `connectionString`: an Event Hubs connection string
//!   (`Endpoint=sb://NS.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…`),
//!   which becomes bootstrap `NS.servicebus.windows.net:9093`, SASL_SSL with PLAIN, user
//!   `$ConnectionString`, password the whole string, and the client settings Microsoft
//!   recommends for Event Hubs' Kafka endpoint;
//! - `bootstrapServers`: a Kafka bootstrap list, with any librdkafka settings in
//!   `properties` (`{"security.protocol": "SASL_SSL", …}`) passed through;
//! - neither: the embedded cluster that `sluice run` starts in-process.

use sluice_engine::expr::functions::to_text;
use sluice_engine::expr::Value;

/// A resolved connection.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KafkaConnection {
    /// None: use the embedded cluster.
    pub bootstrap: Option<String>,
    /// librdkafka settings.
    pub properties: Vec<(String, String)>,
}

/// The Event Hubs Kafka endpoint settings Microsoft recommends (azure-event-hubs-for-kafka
/// "recommended configurations" for librdkafka).
const EVENT_HUBS_SETTINGS: &[(&str, &str)] = &[
    ("security.protocol", "SASL_SSL"),
    ("sasl.mechanisms", "PLAIN"),
    ("sasl.username", "$ConnectionString"),
    ("socket.keepalive.enable", "true"),
    ("metadata.max.age.ms", "180000"),
    ("socket.timeout.ms", "60000"),
    ("session.timeout.ms", "30000"),
    ("max.poll.interval.ms", "300000"),
    ("request.timeout.ms", "60000"),
];

impl KafkaConnection {
    /// Reads resolved `parameterValues`; the error is the reason, which the caller names the
    /// connection in ([`super::Error::Connection`]).
    pub fn from_parameters(values: &Value) -> Result<KafkaConnection, String> {
        let text = |name: &str| values.get(name).map(to_text).filter(|s| !s.is_empty());
        let mut properties: Vec<(String, String)> = values
            .get("properties")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), to_text(v))).collect())
            .unwrap_or_default();
        if let Some(connection_string) = text("connectionString") {
            let namespace = event_hubs_namespace(&connection_string)?;
            let mut settings: Vec<(String, String)> = EVENT_HUBS_SETTINGS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            settings.push(("sasl.password".into(), connection_string));
            settings.append(&mut properties);
            return Ok(KafkaConnection {
                bootstrap: Some(format!("{namespace}:9093")),
                properties: settings,
            });
        }
        Ok(KafkaConnection {
            bootstrap: text("bootstrapServers"),
            properties,
        })
    }

    /// A librdkafka configuration for this connection, with `bootstrap` for the embedded
    /// cluster when the connection names none.
    pub fn client_config(
        &self,
        embedded: Option<&str>,
    ) -> Result<rdkafka::ClientConfig, super::Error> {
        let bootstrap = self
            .bootstrap
            .as_deref()
            .or(embedded)
            .ok_or(super::Error::NoBootstrap)?;
        let mut config = rdkafka::ClientConfig::new();
        config.set("bootstrap.servers", bootstrap);
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        Ok(config)
    }
}

/// `Endpoint=sb://NS/;…` → `NS`.
fn event_hubs_namespace(connection_string: &str) -> Result<String, String> {
    connection_string
        .split(';')
        .filter_map(|part| part.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("Endpoint"))
        .map(|(_, v)| {
            v.trim()
                .trim_start_matches("sb://")
                .trim_end_matches('/')
                .to_string()
        })
        .filter(|ns| !ns.is_empty())
        .ok_or_else(|| "the Event Hubs connection string has no Endpoint=sb://…".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_hubs_connection_strings_become_sasl_settings() {
        let cs = "Endpoint=sb://orders.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=abc=;EntityPath=in";
        let values = Value::from_json(serde_json::json!({"connectionString": cs}));
        let c = KafkaConnection::from_parameters(&values).unwrap();
        assert_eq!(
            c.bootstrap.as_deref(),
            Some("orders.servicebus.windows.net:9093")
        );
        let get = |k: &str| {
            c.properties
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("sasl.username"), Some("$ConnectionString"));
        assert_eq!(get("sasl.password"), Some(cs));
        assert_eq!(get("security.protocol"), Some("SASL_SSL"));
        let bad = Value::from_json(serde_json::json!({"connectionString": "SharedAccessKey=x"}));
        assert!(KafkaConnection::from_parameters(&bad)
            .unwrap_err()
            .contains("Endpoint"));
    }

    #[test]
    fn bootstrap_servers_and_properties_pass_through() {
        let values = Value::from_json(
            serde_json::json!({"bootstrapServers": "k:9092", "properties": {"linger.ms": 5}}),
        );
        let c = KafkaConnection::from_parameters(&values).unwrap();
        assert_eq!(c.bootstrap.as_deref(), Some("k:9092"));
        assert_eq!(
            c.properties,
            vec![("linger.ms".to_string(), "5".to_string())]
        );
        let embedded = KafkaConnection::from_parameters(&Value::Null).unwrap();
        assert_eq!(embedded.bootstrap, None);
        assert!(embedded.client_config(None).is_err());
    }
}
