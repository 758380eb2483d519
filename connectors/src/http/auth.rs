//! The `authentication` of Http and Function actions.
//!
//! - `Basic` (`username`, `password`) and `Raw` (`value`): an `Authorization` header.
//! - `ClientCertificate`: the certificate and its private key in PEM (in `pfx`, as text or
//!   base64). PKCS#12 (`.pfx`) archives are refused with the command that converts them,
//!   since the TLS stack (rustls) reads PEM only.
//! - `ManagedServiceIdentity`: a token from the App Service identity endpoint, the app settings
//!   `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` (as Azure sets them); without them the action
//!   fails with "not available outside Azure".
//! - `ActiveDirectoryOAuth` (`tenant`, `audience`, `clientId`, `secret`, optional `authority`):
//!   the client-credentials grant at `{authority}/{tenant}/oauth2/token`; the authority
//!   defaults to the app setting `Sluice.ActiveDirectoryAuthority`, else
//!   `https://login.microsoftonline.com`.
//!
//! Tokens are cached until a minute before they expire.

use base64::Engine as _;
use reqwest::header::HeaderValue;
use sluice_engine::expr::functions::to_text;
use sluice_engine::expr::Value;
use sluice_engine::runtime::{ActionFailure, Settings};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
const DEFAULT_AUDIENCE: &str = "https://management.azure.com/";

#[derive(Debug, Clone, PartialEq)]
pub enum Authentication {
    Basic {
        username: String,
        password: String,
    },
    Raw {
        value: String,
    },
    ClientCertificate {
        pem: String,
    },
    ManagedServiceIdentity {
        audience: String,
    },
    ActiveDirectoryOAuth {
        authority: Option<String>,
        tenant: String,
        audience: String,
        client_id: String,
        secret: String,
    },
}

impl Authentication {
    pub fn from_value(value: &Value) -> Result<Authentication, String> {
        let field = |name: &str| value.get(name).map(to_text).unwrap_or_default();
        let required = |name: &str| {
            let v = field(name);
            if v.is_empty() {
                Err(format!("{} authentication needs '{name}'", field("type")))
            } else {
                Ok(v)
            }
        };
        let kind = field("type");
        Ok(match kind.to_ascii_lowercase().as_str() {
            "basic" => Authentication::Basic {
                username: required("username")?,
                password: field("password"),
            },
            "raw" => Authentication::Raw {
                value: required("value")?,
            },
            "clientcertificate" => Authentication::ClientCertificate {
                pem: certificate_pem(&required("pfx")?)?,
            },
            "managedserviceidentity" => Authentication::ManagedServiceIdentity {
                audience: Some(field("audience"))
                    .filter(|a| !a.is_empty())
                    .unwrap_or_else(|| DEFAULT_AUDIENCE.to_string()),
            },
            "activedirectoryoauth" => Authentication::ActiveDirectoryOAuth {
                authority: Some(field("authority")).filter(|a| !a.is_empty()),
                tenant: required("tenant")?,
                audience: required("audience")?,
                client_id: required("clientId")?,
                secret: required("secret")?,
            },
            "none" | "" => Authentication::Raw {
                value: String::new(),
            },
            _ => return Err(format!("unknown authentication type '{kind}'")),
        })
    }
}

/// A client certificate in PEM, given as PEM text or as base64 of it.
fn certificate_pem(pfx: &str) -> Result<String, String> {
    if pfx.contains("-----BEGIN") {
        return Ok(pfx.to_string());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(pfx.trim())
        .map_err(|_| "the client certificate ('pfx') is neither PEM nor base64".to_string())?;
    match String::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN") => Ok(text),
        _ => Err(
            "PKCS#12 (.pfx) client certificates are not supported: give the certificate and \
                  its private key as PEM (`openssl pkcs12 -in cert.pfx -nodes`)"
                .to_string(),
        ),
    }
}

/// Bearer tokens for the identity-based authentications, cached.
pub struct Tokens {
    settings: Settings,
    cache: Mutex<HashMap<String, (String, Instant)>>,
}

impl Tokens {
    pub fn new(settings: Settings) -> Tokens {
        Tokens {
            settings,
            cache: Mutex::default(),
        }
    }

    /// The `Authorization` header for `auth` (none for an empty Raw value and for client
    /// certificates, which authenticate in TLS).
    pub async fn authorization(
        &self,
        auth: &Authentication,
        client: &reqwest::Client,
    ) -> Result<Option<HeaderValue>, ActionFailure> {
        let value = match auth {
            Authentication::Basic { username, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            ),
            Authentication::Raw { value } if value.is_empty() => return Ok(None),
            Authentication::Raw { value } => value.clone(),
            Authentication::ClientCertificate { .. } => return Ok(None),
            other => format!("Bearer {}", self.token(other, client).await?),
        };
        HeaderValue::from_str(&value).map(Some).map_err(|_| {
            ActionFailure::permanent(
                "InvalidRequest",
                "the credentials are not a valid header value",
            )
        })
    }

    async fn token(
        &self,
        auth: &Authentication,
        client: &reqwest::Client,
    ) -> Result<String, ActionFailure> {
        let key = format!("{auth:?}");
        if let Some((token, until)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            if *until > Instant::now() {
                return Ok(token.clone());
            }
        }
        let request = match auth {
            Authentication::ManagedServiceIdentity { audience } => {
                let (Some(endpoint), Some(secret)) = (
                    (self.settings)("IDENTITY_ENDPOINT"),
                    (self.settings)("IDENTITY_HEADER"),
                ) else {
                    return Err(ActionFailure::permanent(
                        "Unauthorized",
                        "ManagedServiceIdentity authentication is not available outside Azure: \
                         set the app settings IDENTITY_ENDPOINT and IDENTITY_HEADER to a token endpoint",
                    ));
                };
                let mut url = reqwest::Url::parse(&endpoint).map_err(|e| {
                    ActionFailure::permanent("Unauthorized", format!("IDENTITY_ENDPOINT: {e}"))
                })?;
                url.query_pairs_mut()
                    .append_pair("resource", audience)
                    .append_pair("api-version", "2019-08-01");
                client.get(url).header("X-IDENTITY-HEADER", secret)
            }
            Authentication::ActiveDirectoryOAuth {
                authority,
                tenant,
                audience,
                client_id,
                secret,
            } => {
                let authority = authority
                    .clone()
                    .or_else(|| (self.settings)("Sluice.ActiveDirectoryAuthority"))
                    .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
                let form = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("client_id", client_id)
                    .append_pair("client_secret", secret)
                    .append_pair("resource", audience)
                    .finish();
                client
                    .post(format!(
                        "{}/{tenant}/oauth2/token",
                        authority.trim_end_matches('/')
                    ))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form)
            }
            _ => unreachable!("only identity authentications need a token"),
        };
        let (token, lifetime) = fetch_token(request).await?;
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (token.clone(), until));
        Ok(token)
    }
}

/// Calls a token endpoint: `{access_token, expires_in | expires_on}`.
async fn fetch_token(
    request: reqwest::RequestBuilder,
) -> Result<(String, Duration), ActionFailure> {
    let fail = |m: String| ActionFailure {
        retryable: true,
        ..ActionFailure::permanent("Unauthorized", format!("could not get a token: {m}"))
    };
    let response = request.send().await.map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    let body: serde_json::Value = response.json_text().await.map_err(fail)?;
    if !status.is_success() {
        return Err(fail(format!(
            "the token endpoint answered {status}: {body}"
        )));
    }
    let token = body["access_token"]
        .as_str()
        .ok_or_else(|| fail("the answer has no access_token".into()))?;
    let number = |v: &serde_json::Value| v.as_u64().or_else(|| v.as_str()?.parse().ok());
    let lifetime = number(&body["expires_in"])
        .or_else(|| {
            let on = number(&body["expires_on"])?;
            Some(on.saturating_sub(chrono::Utc::now().timestamp() as u64))
        })
        .unwrap_or(300);
    Ok((token.to_string(), Duration::from_secs(lifetime)))
}

/// Reading a JSON body without reqwest's `json` feature.
trait JsonText {
    async fn json_text(self) -> Result<serde_json::Value, String>;
}

impl JsonText for reqwest::Response {
    async fn json_text(self) -> Result<serde_json::Value, String> {
        let bytes = self.bytes().await.map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| format!("the answer is not JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(json: &str) -> Result<Authentication, String> {
        Authentication::from_value(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn authentication_kinds_are_read_with_their_fields() {
        assert_eq!(
            auth(r#"{"type":"Basic","username":"u","password":"p"}"#),
            Ok(Authentication::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        assert!(auth(r#"{"type":"Raw"}"#).unwrap_err().contains("'value'"));
        assert!(auth(r#"{"type":"Kerberos"}"#)
            .unwrap_err()
            .contains("unknown"));
        let pfx = base64::engine::general_purpose::STANDARD.encode([0x30, 0x82, 0x01]);
        let err = auth(&format!(r#"{{"type":"ClientCertificate","pfx":"{pfx}"}}"#)).unwrap_err();
        assert!(err.contains("PEM"), "{err}");
    }

    #[tokio::test]
    async fn managed_identity_outside_azure_fails_clearly() {
        let tokens = Tokens::new(std::sync::Arc::new(|_: &str| None));
        let msi = auth(r#"{"type":"ManagedServiceIdentity"}"#).unwrap();
        let err = tokens
            .authorization(&msi, &reqwest::Client::new())
            .await
            .unwrap_err();
        assert!(
            err.message.contains("not available outside Azure"),
            "{}",
            err.message
        );
        assert!(!err.retryable);
    }
}
