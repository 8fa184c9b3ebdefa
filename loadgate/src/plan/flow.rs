//! What each user does: the data file's rows, the `[[on_start]]` requests each user sends once,
//! the mix of `[[request]]`s and `[[flow]]`s (ordered steps), and the values requests capture
//! for later ones. Takes the spec and the load's model; gives the planned requests in the order
//! `run` sends them, the flows as ranges of them, and warnings that do not stop a run.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use crate::plan::data::DataTable;
use crate::plan::defaults;
use crate::plan::request::{self, RequestPlan};
use crate::plan::secret::Secrets;
use crate::plan::template::Names;
use crate::spec::{FlowSpec, Locator, Model, Pick, RequestSpec, SpecError, SpecFile};

/// One `[[flow]]`: picked by weight like a request of the mix, its steps then sent in order.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowPlan {
    pub name: String,
    pub weight: u32,
    /// Its steps, in order: indexes of `Plan::requests` (each named `FLOW/STEP`).
    pub steps: Range<usize>,
}

/// The planned user flow.
pub(super) struct UserFlow {
    /// The `[[on_start]]` requests first, then the `[[request]]`s, then the flows' steps.
    pub requests: Vec<RequestPlan>,
    /// How many of `requests` are `[[on_start]]` requests.
    pub n_on_start: usize,
    pub flows: Vec<FlowPlan>,
    /// The names of the values requests capture, by slot.
    pub captures: Vec<String>,
    pub data: Option<DataTable>,
    /// What looks like a mistake but runs (a capture nothing uses), located in the spec.
    pub warnings: Vec<String>,
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
    if spec.requests.is_empty() && spec.flows.is_empty() {
        return at.fail(
            spec.load.span(),
            "the spec has no [[request]] nor [[flow]]: add at least one",
        );
    }
    let data = plan_data(spec, root, at)?;
    let captures = capture_names(spec);
    require_users_for_user_state(spec, model, at)?;
    let names = Names {
        env,
        columns: data.as_ref().map_or(&[], |d| &d.columns),
        captures: &captures,
        captured_before: None,
    };
    let mut planner = Planner {
        names: &names,
        secrets,
        at,
        default_timeout: spec
            .defaults
            .timeout
            .map_or(defaults::REQUEST_TIMEOUT, |d| d.0),
        default_headers: &spec.defaults.headers,
        requests: Vec::new(),
        warnings: Vec::new(),
    };
    for request in &spec.on_start {
        planner.add(request, &Role::OnStart)?;
    }
    for request in &spec.requests {
        planner.add(request, &Role::Mix)?;
    }
    let on_start_captures: Vec<String> = spec
        .on_start
        .iter()
        .flat_map(|r| r.get_ref().capture.keys().cloned())
        .collect();
    let mix = spec.on_start.len()..spec.on_start.len() + spec.requests.len();
    let flows = spec
        .flows
        .iter()
        .map(|flow| planner.add_flow(flow, &on_start_captures, mix.clone()))
        .collect::<Result<_, _>>()?;
    let (requests, warnings) = (planner.requests, planner.warnings);
    Ok(UserFlow {
        requests,
        n_on_start: spec.on_start.len(),
        flows,
        captures,
        data,
        warnings,
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
    let steps = spec.flows.iter().flat_map(|f| &f.get_ref().steps);
    let user_flow = spec.requests.iter().chain(&spec.on_start).chain(steps);
    user_flow
        .flat_map(|r| r.get_ref().capture.keys())
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(name) {
                names.push(name.clone());
            }
            names
        })
}

/// `[[on_start]]`, `capture`, `[[flow]]`, a data row per user and a reused WebSocket keep state
/// in a user: the open model has none.
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
    let reused = spec.requests.iter().find_map(|r| {
        let websocket = r.get_ref().websocket.as_ref()?;
        websocket.get_ref().reuse.as_ref().filter(|r| *r.get_ref())
    });
    if let Some(reuse) = reused {
        return at.fail(
            reuse.span(),
            "`websocket.reuse` keeps a user's socket across its iterations: it needs the closed model",
        );
    }
    if let Some(flow) = spec.flows.first() {
        return at.fail(
            flow.get_ref().name.span(),
            "`[[flow]]` needs the closed model: a user to send its steps in order",
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

/// Where a request was written, which decides its weight, think time and name.
enum Role<'s> {
    /// `[[on_start]]`: weight 0, not part of the mix.
    OnStart,
    Mix,
    /// A `[[flow.step]]`: weight 0 (the flow has one), named `FLOW/STEP`; it may use the
    /// captures of `[[on_start]]` and of the steps before it.
    Step {
        flow: &'s str,
        before: &'s [String],
    },
}

/// Plans the requests one after the other; names group statistics, so they must differ.
struct Planner<'a, 'n> {
    names: &'a Names<'n>,
    secrets: &'a mut Secrets,
    at: &'a Locator<'a>,
    default_headers: &'a BTreeMap<String, Spanned<String>>,
    default_timeout: std::time::Duration,
    requests: Vec<RequestPlan>,
    warnings: Vec<String>,
}

impl Planner<'_, '_> {
    fn add(&mut self, request: &Spanned<RequestSpec>, role: &Role<'_>) -> Result<(), SpecError> {
        let (at, written) = (self.at, request.get_ref());
        let is_step = matches!(role, Role::Step { .. });
        if let (false, Some(think)) = (is_step, &written.think) {
            return at.fail(
                think.span(),
                "`think` is a `[[flow.step]]`'s own pause: elsewhere `[load] think_time` applies",
            );
        }
        if let (Role::OnStart | Role::Step { .. }, Some(weight)) = (role, &written.weight) {
            return at.fail(
                weight.span(),
                if is_step {
                    "a flow's step takes no weight: the `[[flow]]` has one"
                } else {
                    "an `[[on_start]]` request runs once per user: it takes no weight"
                },
            );
        }
        let names = Names {
            captured_before: match role {
                Role::Step { before, .. } => Some(before),
                _ => None,
            },
            ..*self.names
        };
        let mut planned = request::plan_request(
            written,
            self.default_headers,
            self.default_timeout,
            &names,
            at,
        )?;
        match role {
            Role::OnStart => planned.weight = 0,
            Role::Mix => {}
            Role::Step { flow, .. } => {
                planned.weight = 0;
                planned.name = format!("{flow}/{}", planned.name);
            }
        }
        if self.requests.iter().any(|r| r.name == planned.name) {
            return at.fail(
                written.name.span(),
                format!(
                    "two requests are named `{}`: names group statistics, so they must differ",
                    planned.name
                ),
            );
        }
        for template in planned.templates() {
            self.secrets.extend(template.secrets());
        }
        self.requests.push(planned);
        Ok(())
    }

    /// A flow's steps, in order, each able to use what the steps before it capture; a capture
    /// that no later step nor `[[request]]` (`mix`) reads is a warning.
    fn add_flow(
        &mut self,
        flow: &Spanned<FlowSpec>,
        on_start_captures: &[String],
        mix: Range<usize>,
    ) -> Result<FlowPlan, SpecError> {
        let (at, written) = (self.at, flow.get_ref());
        let name = written.name.get_ref();
        if name.is_empty() || name.contains('/') {
            return at.fail(
                written.name.span(),
                "a flow's name cannot be empty nor hold `/` (its steps are named `FLOW/STEP`)",
            );
        }
        if written.steps.is_empty() {
            return at.fail(
                written.name.span(),
                format!("flow `{name}` has no steps: add `[[flow.step]]` tables after it"),
            );
        }
        let weight = request::plan_weight(written.weight.as_ref(), at)?;
        let mut before = on_start_captures.to_vec();
        let start = self.requests.len();
        for step in &written.steps {
            self.add(
                step,
                &Role::Step {
                    flow: name,
                    before: &before,
                },
            )?;
            before.extend(step.get_ref().capture.keys().cloned());
        }
        let steps = start..self.requests.len();
        self.warn_unused_captures(written, steps.clone(), mix);
        Ok(FlowPlan {
            name: name.clone(),
            weight,
            steps,
        })
    }

    fn warn_unused_captures(&mut self, flow: &FlowSpec, steps: Range<usize>, mix: Range<usize>) {
        let reads = |idx: usize, slot: usize| {
            self.requests[idx]
                .templates()
                .any(|t| t.user_vars().any(|s| s == slot))
        };
        let mut warnings = Vec::new();
        for (i, step) in flow.steps.iter().enumerate() {
            for capture in &self.requests[steps.start + i].captures {
                let later = steps.start + i + 1..steps.end;
                if !later.chain(mix.clone()).any(|idx| reads(idx, capture.slot)) {
                    let span = step.get_ref().capture[&capture.name].span();
                    let message = format!(
                        "warning: step `{}` captures `{}`, which no later step of flow `{}` uses",
                        self.requests[steps.start + i].name,
                        capture.name,
                        flow.name.get_ref()
                    );
                    let located = self.at.error(span, message).to_string();
                    warnings.push(located.lines().next().unwrap_or_default().to_owned());
                }
            }
        }
        self.warnings.extend(warnings);
    }
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

    const FLOWS: &str = r#"
[load]
users = 2
duration = "1s"

[[on_start]]
name = "login"
method = "POST"
path = "/login"
capture = { who = "json:$.user" }

[[request]]
name = "home"
path = "/"
weight = 2

[[flow]]
name = "cart"
weight = 3

[[flow.step]]
name = "open"
method = "POST"
path = "/cart/open?u=${user.who}"
capture = { token = "json:$.token" }

[[flow.step]]
name = "add"
method = "POST"
path = "/cart/add?token=${user.token}"
think = "5ms"

[[flow.step]]
name = "checkout"
method = "POST"
path = "/cart/checkout?token=${user.token}"
capture = { receipt = "json:$.receipt" }
"#;

    #[test]
    fn flows_plan_their_steps_after_the_mix_named_flow_slash_step() {
        let plan = plan_flow(FLOWS, &|_| None).unwrap();
        let names: Vec<&str> = plan.requests.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["login", "home", "cart/open", "cart/add", "cart/checkout"]
        );
        assert_eq!(plan.flows.len(), 1);
        let flow = &plan.flows[0];
        assert_eq!(
            (flow.name.as_str(), flow.weight, flow.steps.clone()),
            ("cart", 3, 2..5)
        );
        assert!(plan.requests[2..].iter().all(|r| r.weight == 0));
        let think = plan.requests[3].think.unwrap();
        assert_eq!(think.max, std::time::Duration::from_millis(5));
        assert!(plan.cookies, "cookies are on by default");
        // `receipt` is read by no later step: a located warning, not an error.
        assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
        let warning = &plan.warnings[0];
        assert!(warning.starts_with("flow.toml:37:"), "{warning}");
        assert!(
            warning.contains("captures `receipt`, which no later step"),
            "{warning}"
        );
        let off = FLOWS.replace("[load]", "[defaults]\ncookies = false\n\n[load]");
        assert!(!plan_flow(&off, &|_| None).unwrap().cookies);
    }

    #[test]
    fn flow_mistakes_are_located() {
        let cases = [
            (
                FLOWS.replace("weight = 3\n\n[[flow.step]]\nname = \"open\"", "weight = 3\n\n[[flow]]\nname = \"empty\"\n\n[[flow.step]]\nname = \"open\""),
                "flow.name",
                "flow `cart` has no steps",
            ),
            (
                FLOWS.replace("/cart/open?u=${user.who}", "/cart/open?t=${user.token}"),
                "flow.step.path",
                "used before any step captures `token`",
            ),
            (
                FLOWS.replace("think = \"5ms\"", "weight = 2"),
                "flow.step.weight",
                "a flow's step takes no weight",
            ),
            (
                FLOWS.replace("path = \"/\"\nweight = 2", "path = \"/\"\nthink = \"1s\""),
                "request.think",
                "`think` is a `[[flow.step]]`'s own pause",
            ),
            (
                "[load]\nmodel = \"open\"\nrate = 5\nduration = \"1s\"\n[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\npath = \"/\"\n".to_owned(),
                "flow.name",
                "needs the closed model",
            ),
        ];
        for (text, key, expected) in cases {
            let err = plan_flow(&text, &|_| None).unwrap_err();
            assert!(err.message.contains(expected), "{expected}: {err}");
            assert_eq!(err.key.as_deref(), Some(key), "{err}");
            assert!(err.line > 0, "{err}");
        }
    }
}
