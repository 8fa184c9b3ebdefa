//! One user sending requests one at a time over one keep-alive connection, as the load's users
//! render them (templates, data rows, captures, cookies, the spec's seed): what the cost phase
//! sends while Callgrind counts. Nothing here is timed.

use std::sync::Arc;

use url::Url;

use crate::plan::Plan;
use crate::run::client::http1::Connection;
use crate::run::cookies::Jar;
use crate::run::exchange::{Buffers, User, exchange};
use crate::run::shared::{Counters, Shared};

/// A lone user of `plan` against one service.
pub struct Serial {
    shared: Shared,
    rng: fastrand::Rng,
    vars: Vec<String>,
    buffers: Buffers,
    connection: Connection,
    jar: Jar,
}

impl Serial {
    pub fn new(plan: &Plan, base_url: &Url) -> anyhow::Result<Serial> {
        let counters = Arc::new(Counters::new(plan.shard));
        let shared = Shared::new(plan, base_url, counters, 1)?;
        Ok(Serial {
            rng: fastrand::Rng::with_seed(plan.seed),
            vars: vec![String::new(); shared.n_captures],
            buffers: Buffers::default(),
            connection: Connection::default(),
            jar: Jar::default(),
            shared,
        })
    }

    /// Sends request `request_idx` of the plan and reads its answer; true when it was as
    /// expected.
    pub async fn send(&mut self, request_idx: usize) -> bool {
        let mut user = User {
            id: 1,
            rng: &mut self.rng,
            vars: &mut self.vars,
            buffers: &mut self.buffers,
            connection: &mut self.connection,
            slot: Some(0),
            jar: self.shared.cookies.then_some(&mut self.jar),
        };
        exchange(
            &self.shared,
            &self.shared.stripes[0],
            request_idx,
            &mut user,
        )
        .await
    }

    /// The `[[on_start]]` requests in order (a login whose token the others send); true when
    /// all succeeded.
    pub async fn start(&mut self) -> bool {
        for request_idx in 0..self.shared.n_on_start {
            if !self.send(request_idx).await {
                return false;
            }
        }
        true
    }
}
