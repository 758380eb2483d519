//! Where the Service Bus connector connects: a `serviceProviderConnections` entry with
//! provider `/serviceProviders/serviceBus` whose `parameterValues` hold `amqpUri`
//! (`amqp://user:pass@host:5672/%2f`), or a Service Bus `connectionString`, which is mapped to
//! a broker through the app setting `Sluice.ServiceBus.AmqpUri` (a clear error without it:
//! Sluice speaks AMQP 0.9.1 to RabbitMQ, not AMQP 1.0 to Azure).

use sluice_engine::expr::functions::to_text;
use sluice_engine::expr::Value;
use sluice_engine::runtime::Settings;

pub const PROVIDER: &str = "/serviceProviders/serviceBus";

/// Resolves a connection's `parameterValues` to an AMQP URI.
pub fn amqp_uri(name: &str, values: &Value, settings: &Settings) -> Result<String, super::Error> {
    let unusable = |reason: String| super::Error::Connection {
        name: name.to_string(),
        reason,
    };
    let text = |k: &str| values.get(k).map(to_text).filter(|s| !s.is_empty());
    let uri = match text("amqpUri").or_else(|| text("uri")) {
        Some(uri) => uri,
        None if text("connectionString").is_some() => settings("Sluice.ServiceBus.AmqpUri")
            .ok_or_else(|| {
                unusable(
                    "an Azure Service Bus connection string; Sluice runs Service Bus \
                 workflows on RabbitMQ: set the app setting Sluice.ServiceBus.AmqpUri (e.g. \
                 amqp://guest:guest@127.0.0.1:5672/%2f) or give the connection an 'amqpUri'"
                        .to_string(),
                )
            })?,
        None => settings("Sluice.ServiceBus.AmqpUri")
            .ok_or_else(|| unusable("no 'amqpUri'".to_string()))?,
    };
    if uri.starts_with("amqps://") {
        return Err(unusable(
            "amqps:// (TLS) is not supported in this build".to_string(),
        ));
    }
    if !uri.starts_with("amqp://") {
        return Err(unusable(format!("'{uri}' is not an amqp:// URI")));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn uris_come_from_the_connection_or_the_mapped_setting() {
        let none: Settings = Arc::new(|_: &str| None);
        let mapped: Settings = Arc::new(|k: &str| {
            (k == "Sluice.ServiceBus.AmqpUri").then(|| "amqp://h/%2f".to_string())
        });
        let direct =
            Value::from_json(serde_json::json!({"amqpUri": "amqp://g:g@127.0.0.1:5672/%2f"}));
        assert_eq!(
            amqp_uri("sb", &direct, &none).unwrap(),
            "amqp://g:g@127.0.0.1:5672/%2f"
        );
        let azure = Value::from_json(
            serde_json::json!({"connectionString": "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b"}),
        );
        assert!(amqp_uri("sb", &azure, &none)
            .unwrap_err()
            .to_string()
            .contains("Sluice.ServiceBus.AmqpUri"));
        assert_eq!(amqp_uri("sb", &azure, &mapped).unwrap(), "amqp://h/%2f");
        let tls = Value::from_json(serde_json::json!({"amqpUri": "amqps://h"}));
        assert!(amqp_uri("sb", &tls, &none)
            .unwrap_err()
            .to_string()
            .contains("TLS"));
    }
}
