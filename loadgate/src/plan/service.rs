//! `[service]` → [`ServicePlan`]: the command that starts the service under test, its
//! environment (where `${env.NAME}` hands it the secret the requests send), and how to tell it is
//! ready and to stop it.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use crate::plan::defaults;
use crate::plan::secret::Secrets;
use crate::plan::template::{Escape, Names, Template};
use crate::spec::{Locator, ServiceSpec, SpecError};

#[derive(Debug, Clone)]
pub struct ServicePlan {
    /// Program and arguments; `{port}` is replaced by a free port at launch.
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `None`: ready once the port accepts a TCP connection.
    pub ready_path: Option<String>,
    pub ready_timeout: Duration,
    pub stop_grace: Duration,
    /// The base URL once `{port}` is replaced: `http://127.0.0.1:{port}` unless `url` says.
    pub url: String,
    /// Run on one CPU: the cost phase's, where Valgrind runs one thread at a time anyway, and a
    /// runtime that sizes its pool by the CPUs it may use (Tokio, Rayon) then starts one worker
    /// whose scheduling repeats from run to run.
    pub one_cpu: bool,
}

/// Plans `[service]`, if the spec has one; the environment's values it uses join `secrets`.
pub(super) fn plan_service(
    service: Option<&ServiceSpec>,
    env: &dyn Fn(&str) -> Option<String>,
    secrets: &mut Secrets,
    at: &Locator<'_>,
) -> Result<Option<ServicePlan>, SpecError> {
    let Some(service) = service else {
        return Ok(None);
    };
    if service.command.get_ref().is_empty() {
        return at.fail(service.command.span(), "the service command is empty");
    }
    let ready_path = match service.ready.as_ref().and_then(|r| r.http.as_ref()) {
        Some(path) if !path.get_ref().starts_with('/') => {
            return at.fail(
                path.span(),
                format!("`{}` must be a path starting with /", path.get_ref()),
            );
        }
        Some(path) => Some(path.get_ref().clone()),
        None => defaults::READY_PATH.map(str::to_owned),
    };
    let url = match &service.url {
        None => defaults::SERVICE_URL.to_owned(),
        Some(url) => {
            let parsed = url::Url::parse(&url.get_ref().replace("{port}", "1"));
            match parsed {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => url.get_ref().clone(),
                _ => {
                    return at.fail(
                        url.span(),
                        format!(
                            "`{}` is not an http:// or https:// URL (write `{{port}}` for the \
                             service's port)",
                            url.get_ref()
                        ),
                    );
                }
            }
        }
    };
    Ok(Some(ServicePlan {
        url,
        command: service.command.get_ref().clone(),
        env: plan_service_env(&service.env, env, secrets, at)?,
        ready_path,
        ready_timeout: service
            .ready
            .as_ref()
            .and_then(|r| r.timeout)
            .map_or(defaults::READY_TIMEOUT, |d| d.0),
        stop_grace: service.stop_grace.map_or(defaults::STOP_GRACE, |d| d.0),
        one_cpu: false,
    }))
}

/// The service's environment: text, or `${env.NAME}` resolved now (nothing else to render).
fn plan_service_env(
    written: &BTreeMap<String, Spanned<String>>,
    env: &dyn Fn(&str) -> Option<String>,
    secrets: &mut Secrets,
    at: &Locator<'_>,
) -> Result<Vec<(String, String)>, SpecError> {
    let names = Names {
        env,
        columns: &[],
        captures: &[],
        captured_before: None,
    };
    let mut service_env = Vec::new();
    for (key, value) in written {
        let template = Template::parse(value.get_ref(), Escape::None, &names)
            .map_err(|e| at.error(value.span(), e))?;
        let Some(text) = template.as_static() else {
            return at.fail(
                value.span(),
                "a service's environment takes only `${env.NAME}` templates",
            );
        };
        service_env.push((key.clone(), text.to_owned()));
        secrets.extend(template.secrets());
    }
    Ok(service_env)
}
