//! What each user does: the data file's rows, the `[[on_start]]` requests each user sends once,
//! the mix of `[[request]]`s, and the values requests capture for later ones. Takes the spec and
//! the load's model; gives the planned requests in the order `run` sends them.

use std::path::Path;

use crate::plan::data::DataTable;
use crate::plan::defaults;
use crate::plan::request::{self, RequestPlan};
use crate::plan::secret::Secrets;
use crate::plan::template::Names;
use crate::spec::{Locator, Model, Pick, SpecError, SpecFile};

/// The planned user flow.
pub(super) struct UserFlow {
    /// The `[[on_start]]` requests first, then the mix.
    pub requests: Vec<RequestPlan>,
    /// How many of `requests` are `[[on_start]]` requests.
    pub n_on_start: usize,
    /// The names of the values requests capture, by slot.
    pub captures: Vec<String>,
    pub data: Option<DataTable>,
}

/// Plans the user flow; the environment's values its templates use join `secrets`.
pub(super) fn plan_user_flow(
    spec: &SpecFile,
    root: &Path,
    model: Model,
    env: &dyn Fn(&str) -> Option<String>,
    secrets: &mut Secrets,
    at: &Locator<'_>,
) -> Result<UserFlow, SpecError> {
    if spec.requests.is_empty() {
        return at.fail(
            spec.load.span(),
            "the spec has no [[request]]: add at least one",
        );
    }
    let data = plan_data(spec, root, at)?;
    let captures = capture_names(spec);
    require_users_for_user_state(spec, model, at)?;
    let names = Names {
        env,
        columns: data.as_ref().map_or(&[], |d| &d.columns),
        captures: &captures,
    };
    let requests = plan_requests(spec, &names, secrets, at)?;
    Ok(UserFlow {
        requests,
        n_on_start: spec.on_start.len(),
        captures,
        data,
    })
}

/// The data file, read from `root`.
fn plan_data(
    spec: &SpecFile,
    root: &Path,
    at: &Locator<'_>,
) -> Result<Option<DataTable>, SpecError> {
    let Some(data) = &spec.data else {
        return Ok(None);
    };
    let written = &data.get_ref().file;
    DataTable::read(&root.join(written.get_ref()), data.get_ref().pick)
        .map(Some)
        .map_err(|e| at.error(written.span(), e))
}

/// Every name a request captures, once, in the order of the user flow.
fn capture_names(spec: &SpecFile) -> Vec<String> {
    let user_flow = spec.requests.iter().chain(&spec.on_start);
    user_flow
        .flat_map(|r| r.get_ref().capture.keys())
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(name) {
                names.push(name.clone());
            }
            names
        })
}

/// `[[on_start]]`, `capture` and a data row per user keep state in a user: the open model has
/// none.
fn require_users_for_user_state(
    spec: &SpecFile,
    model: Model,
    at: &Locator<'_>,
) -> Result<(), SpecError> {
    if model != Model::Open {
        return Ok(());
    }
    let first_stateful = spec.on_start.first().or(spec
        .requests
        .iter()
        .find(|r| !r.get_ref().capture.is_empty()));
    if let Some(request) = first_stateful {
        return at.fail(
            request.span(),
            "`on_start` and `capture` need the closed model: a user to keep the captured value",
        );
    }
    if let Some(data) = &spec.data
        && data.get_ref().pick == Pick::PerUser
    {
        return at.fail(
            data.span(),
            "`pick = \"per_user\"` needs the closed model: the open model has no users",
        );
    }
    Ok(())
}

/// The `[[on_start]]` requests (weight 0: not part of the mix), then the `[[request]]`s; names
/// group statistics, so they must differ.
fn plan_requests(
    spec: &SpecFile,
    names: &Names<'_>,
    secrets: &mut Secrets,
    at: &Locator<'_>,
) -> Result<Vec<RequestPlan>, SpecError> {
    let default_timeout = spec
        .defaults
        .timeout
        .map_or(defaults::REQUEST_TIMEOUT, |d| d.0);
    let on_start = spec.on_start.iter().map(|r| (r, true));
    let mix = spec.requests.iter().map(|r| (r, false));
    let mut requests: Vec<RequestPlan> = Vec::with_capacity(on_start.len() + mix.len());
    for (request, is_on_start) in on_start.chain(mix) {
        if is_on_start && let Some(weight) = &request.get_ref().weight {
            return at.fail(
                weight.span(),
                "an `[[on_start]]` request runs once per user: it takes no weight",
            );
        }
        let mut planned = request::plan_request(
            request.get_ref(),
            &spec.defaults.headers,
            default_timeout,
            names,
            at,
        )?;
        if is_on_start {
            planned.weight = 0;
        }
        if requests.iter().any(|r| r.name == planned.name) {
            return at.fail(
                request.get_ref().name.span(),
                format!(
                    "two requests are named `{}`: names group statistics, so they must differ",
                    planned.name
                ),
            );
        }
        for template in planned.templates() {
            secrets.extend(template.secrets());
        }
        requests.push(planned);
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::plan::{Overrides, Plan, build};
    use crate::spec::SpecError;

    const FLOW: &str = r#"
[service]
command = ["demo-service"]
env = { API_KEY = "${env.API_KEY}" }

[load]
users = 2
duration = "1s"

[data]
file = "messages.jsonl"
pick = "per_user"

[[on_start]]
name = "login"
method = "POST"
path = "/login"
json = { user = "u${user.id}" }
capture = { token = "json:$.token" }

[[request]]
name = "classify"
method = "POST"
path = "/classify"
headers = { Authorization = "Bearer ${user.token}", X-Api-Key = "${env.API_KEY}" }
json = { text = "${row.text}" }
expect = { status = [200], body_contains = "label", json = { "$.ok" = true } }
"#;

    fn plan_flow(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Plan, SpecError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("messages.jsonl"), "{\"text\": \"hi\"}\n").unwrap();
        build(
            Path::new("flow.toml"),
            text,
            dir.path(),
            &Overrides::default(),
            env,
        )
    }

    #[test]
    fn a_user_flow_plans_on_start_requests_captures_data_and_secrets() {
        let env = |name: &str| (name == "API_KEY").then(|| "k3y-s3cret".to_owned());
        let plan = plan_flow(FLOW, &env).unwrap();
        assert_eq!(plan.n_on_start, 1);
        let names: Vec<&str> = plan.requests.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["login", "classify"]);
        assert_eq!((plan.requests[0].weight, plan.requests[1].weight), (0, 1));
        assert_eq!(plan.captures, ["token"]);
        assert_eq!(plan.requests[0].captures[0].slot, 0);
        assert!(plan.requests[1].uses_row && !plan.requests[0].uses_row);
        assert!(plan.requests[1].reads_body() && plan.requests[0].reads_body());
        assert_eq!(plan.data.as_ref().unwrap().columns, ["text"]);
        assert_eq!(plan.secrets.redact("x k3y-s3cret"), "x ***");
        assert_eq!(
            plan.service.unwrap().env,
            [("API_KEY".to_owned(), "k3y-s3cret".to_owned())]
        );
    }

    #[test]
    fn user_flow_mistakes_are_located() {
        let env = |_: &str| Some("k".to_owned());
        let cases = [
            (
                FLOW.replace("users = 2", "model = \"open\"\nrate = 10"),
                "need the closed model",
            ),
            (
                FLOW.replace("${user.token}", "${user.tokn}"),
                "no request captures `tokn`",
            ),
            (FLOW.replace("${row.text}", "${row.txt}"), "no column `txt`"),
            (
                FLOW.replace("json:$.token", "xml:token"),
                "a capture is `json:$.path`",
            ),
            (FLOW.replace("\"$.ok\"", "\"ok\""), "must start with `$`"),
            (
                FLOW.replace("messages.jsonl", "missing.csv"),
                "cannot read data file",
            ),
            (
                FLOW.replace("name = \"login\"", "name = \"login\"\nweight = 3"),
                "takes no weight",
            ),
        ];
        for (text, expected) in cases {
            let err = plan_flow(&text, &env).unwrap_err();
            assert!(err.message.contains(expected), "{expected}: {err}");
            assert!(err.line > 0, "{err}");
        }
        let err = plan_flow(FLOW, &|_| None).unwrap_err();
        assert!(err.message.contains("`API_KEY` is not set"), "{err}");
        assert_eq!(err.key.as_deref(), Some("service.env.API_KEY"));
    }
}
