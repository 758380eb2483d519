//! `sluice runs` while `sluice run` holds the store: sled lets one process open it, so the
//! commands go through the running host's management API instead. The host writes its base
//! URL to `DATA_DIR/host.url` when it starts; the key is the app setting
//! `Sluice.Management.Key` or `DATA_DIR/management.key`, as the host itself reads it.

use super::{print_list, print_run, Request};
use anyhow::{anyhow, bail, Context};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sluice_engine::definition::App;
use sluice_engine::store::RunFilter;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

const MANAGEMENT: &str = "/runtime/webhooks/workflow/api/management";

/// The file in the data directory where a running host says where it listens.
pub const HOST_URL_FILE: &str = "host.url";

/// Runs `request` through the management API of the host that holds the store in `dir`.
pub fn run(app: &Path, dir: &Path, request: Request) -> anyhow::Result<ExitCode> {
    let api = Api::find(app, dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match request {
            Request::List { filter, format } => print_list(&api.list(&filter).await?, format),
            Request::Show { id, format } => print_run(&api.find_run(&id).await?.1, format),
            Request::Resubmit { id, from, mocks } => {
                if mocks.is_some() {
                    bail!("--mocks needs the store, which `sluice run` holds at {}; stop it, or resubmit without mocks", api.base);
                }
                api.resubmit(&id, from.as_deref()).await
            }
            Request::Cancel { id } => api.cancel(&id).await,
            Request::Purge { .. } => bail!(
                "`sluice run` at {} holds the run store; it applies retention itself every hour \
                 (Workflows.RuntimeConfiguration.RetentionInDays). Stop it to purge by hand.",
                api.base
            ),
        }
    })
}

/// A running host's management API.
struct Api {
    base: String,
    key: String,
    client: reqwest::Client,
}

impl Api {
    fn find(app: &Path, dir: &Path) -> anyhow::Result<Api> {
        let file = dir.join(HOST_URL_FILE);
        let base = std::fs::read_to_string(&file)
            .map(|url| url.trim().to_string())
            .with_context(|| {
                format!(
                    "another process holds the run store in {}, and {} does not say where it listens",
                    dir.display(),
                    file.display()
                )
            })?;
        let setting = App::load(app)
            .ok()
            .and_then(|app| app.settings.get(crate::app_host::MANAGEMENT_KEY_SETTING));
        let key = match setting.filter(|k| !k.trim().is_empty()) {
            Some(key) => key.trim().to_string(),
            None => std::fs::read_to_string(dir.join("management.key"))
                .map(|k| k.trim().to_string())
                .with_context(|| format!("no management key for the host at {base}"))?,
        };
        Ok(Api {
            base,
            key,
            client: reqwest::Client::new(),
        })
    }

    /// Sends a request; the body parsed as JSON, with the status.
    async fn call(&self, method: Method, path: &str) -> anyhow::Result<(StatusCode, Value)> {
        let url = format!("{}{MANAGEMENT}{path}", self.base);
        let response = self
            .client
            .request(method, &url)
            .header("x-functions-key", &self.key)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "the run store is held by another process, and the host at {} does not answer ({e})",
                    self.base
                )
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == StatusCode::UNAUTHORIZED {
            bail!("the host at {} refused the management key", self.base);
        }
        Ok((status, body))
    }

    async fn workflows(&self) -> anyhow::Result<Vec<String>> {
        let (_, body) = self.call(Method::GET, "/workflows").await?;
        Ok(body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w["name"].as_str().map(str::to_string))
            .collect())
    }

    /// The runs `filter` selects, newest first, across the workflows it names.
    async fn list(&self, filter: &RunFilter) -> anyhow::Result<Vec<Value>> {
        let workflows = match &filter.workflow {
            Some(w) => vec![w.clone()],
            None => self.workflows().await?,
        };
        let query = query(filter);
        let mut rows = Vec::new();
        for workflow in workflows {
            let path = format!("/workflows/{workflow}/runs?{query}");
            let (status, body) = self.call(Method::GET, &path).await?;
            if !status.is_success() {
                bail!("listing the runs of '{workflow}': {status} {body}");
            }
            rows.extend(body["value"].as_array().cloned().unwrap_or_default());
        }
        // Run ids are UUIDv7 in upper-case hex: newest first is descending id order.
        rows.sort_by(|a, b| b["id"].as_str().cmp(&a["id"].as_str()));
        rows.truncate(filter.limit);
        Ok(rows)
    }

    /// The run `id`, and the workflow it belongs to.
    async fn find_run(&self, id: &str) -> anyhow::Result<(String, Value)> {
        for workflow in self.workflows().await? {
            let (status, mut body) = self
                .call(Method::GET, &format!("/workflows/{workflow}/runs/{id}"))
                .await?;
            if status.is_success() {
                if body["workflow"].is_null() {
                    body["workflow"] = Value::from(workflow.as_str());
                }
                return Ok((workflow, body));
            }
        }
        bail!("no run {id} in the history")
    }

    async fn resubmit(&self, id: &str, from: Option<&str>) -> anyhow::Result<ExitCode> {
        let (workflow, _) = self.find_run(id).await?;
        let action = from.map_or(String::new(), |a| format!("?action={a}"));
        let path = format!("/workflows/{workflow}/runs/{id}/resubmit{action}");
        let (status, body) = self.call(Method::POST, &path).await?;
        let Some(new_id) = body["runId"].as_str().filter(|_| status.is_success()) else {
            bail!("resubmitting {id}: {status} {body}");
        };
        let path = format!("/workflows/{workflow}/runs/{new_id}");
        loop {
            let (status, run) = self.call(Method::GET, &path).await?;
            if status == StatusCode::OK {
                println!("{}", serde_json::to_string_pretty(&run)?);
                let succeeded = run["status"] == "Succeeded";
                return Ok(if succeeded {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn cancel(&self, id: &str) -> anyhow::Result<ExitCode> {
        let (workflow, _) = self.find_run(id).await?;
        let path = format!("/workflows/{workflow}/runs/{id}/cancel");
        let (status, body) = self.call(Method::POST, &path).await?;
        if !status.is_success() {
            bail!(
                "{}",
                body["error"]["message"].as_str().unwrap_or("cancel failed")
            );
        }
        println!("cancelled run {id}; it will not be resumed");
        Ok(ExitCode::SUCCESS)
    }
}

/// The list query of the management API for `filter` (its workflow is in the path).
fn query(filter: &RunFilter) -> String {
    let mut parts = vec![format!("top={}", filter.limit)];
    if filter.running {
        parts.push("status=Running".into());
    } else if let Some(status) = filter.status {
        parts.push(format!("status={}", status.as_str()));
    }
    for (name, time) in [("since", filter.since), ("until", filter.until)] {
        if let Some(time) = time {
            let text = time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            parts.push(format!("{name}={text}"));
        }
    }
    if let Some(stuck) = filter.stuck_for {
        parts.push(format!("stuckForSeconds={}", stuck.as_secs()));
    }
    parts.join("&")
}
