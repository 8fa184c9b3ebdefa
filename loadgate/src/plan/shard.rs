//! `--shard I/N`: which part of a spec's load this process owns when N processes share it.
//! Every shard plans the whole spec and keeps only what it owns, striped by index modulo N, so
//! the N shards together are the single run: closed-model users, open-model request indices
//! (each keeping its intended time on the unscaled schedule), `max_in_flight`, `${seq}` values
//! and sequential data rows. [`ShardOf::WHOLE`] (1/1) owns everything and gives exactly the
//! values of a run without `--shard`.

use std::fmt;
use std::str::FromStr;

/// Shard `index` (0-based) of `count`: written `index + 1/count` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShardOf {
    index: u32,
    count: u32,
}

impl Default for ShardOf {
    fn default() -> Self {
        ShardOf::WHOLE
    }
}

impl ShardOf {
    /// The one shard of an unsharded run.
    pub const WHOLE: ShardOf = ShardOf { index: 0, count: 1 };

    /// Shard `index` (0-based) of `count`; `None` unless `index < count`.
    pub fn new(index: u32, count: u32) -> Option<ShardOf> {
        (index < count).then_some(ShardOf { index, count })
    }

    /// The `count` shards of a run, in order.
    pub fn all(count: u32) -> impl Iterator<Item = ShardOf> {
        (0..count).map(move |index| ShardOf { index, count })
    }

    /// 0-based, the `j` of the design.
    pub fn index(self) -> u32 {
        self.index
    }

    /// The `N` of `--shard I/N`.
    pub fn count(self) -> u32 {
        self.count
    }

    /// 1-based, as written and as shown.
    pub fn number(self) -> u32 {
        self.index + 1
    }

    fn owns(self, index: u64) -> bool {
        index % u64::from(self.count) == u64::from(self.index)
    }

    /// How many of the indices `0..total` the shard owns: ⌈(total − j)/N⌉.
    fn owned_of(self, total: u64) -> u64 {
        total
            .saturating_sub(u64::from(self.index))
            .div_ceil(u64::from(self.count))
    }

    /// Closed model: user `user` (0-based, global: it keeps its id and its seed) runs here.
    pub fn owns_user(self, user: u32) -> bool {
        self.owns(u64::from(user))
    }

    /// Closed model: how many of `users` users run here.
    pub fn users_owned(self, users: u32) -> u32 {
        // At most `users`, so it fits.
        self.owned_of(u64::from(users)) as u32
    }

    /// Open model: request `i` of the schedule is sent here, at its intended time
    /// `profile.time_of(i)` on the shared timeline (no rescaled rate, so no shard bursts).
    pub fn owns_request(self, i: u64) -> bool {
        self.owns(i)
    }

    /// Open model: this shard's share of `max_in_flight`, striped like users; at least one slot,
    /// so a shard can always send.
    pub fn max_in_flight(self, max_in_flight: u32) -> u32 {
        self.users_owned(max_in_flight).max(1)
    }

    /// `${seq}`: the shard's `local`-th value (0-based) is `local·N + j + 1`, so shards never
    /// render the same value and one shard renders 1, 2, 3… as an unsharded run does.
    pub fn seq_value(self, local: u64) -> u64 {
        local * u64::from(self.count) + u64::from(self.index) + 1
    }

    /// `pick = "sequential"`: the row of the shard's `local`-th pick (0-based) among `n_rows`:
    /// its own rows j, j+N, j+2N…, in order and round again. [`check_sharding`] refuses fewer
    /// rows than shards; were it skipped, the shard would still pick a valid row.
    pub fn row(self, local: u64, n_rows: usize) -> usize {
        let n = n_rows as u64;
        let own = self.owned_of(n).max(1);
        ((u64::from(self.index) + local % own * u64::from(self.count)) % n) as usize
    }
}

impl fmt::Display for ShardOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number(), self.count)
    }
}

/// Why `--shard` text is not a shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseShardError {
    #[error("`{0}` is not a shard: write I/N, e.g. 2/4 for the second of four")]
    Form(String),
    #[error("`{0}`: a run has at least one shard")]
    NoShards(String),
    #[error("`{0}`: shards are numbered from 1")]
    Zero(String),
    #[error("`{text}`: there is no shard {number} of {count}")]
    Beyond {
        text: String,
        number: u32,
        count: u32,
    },
}

impl FromStr for ShardOf {
    type Err = ParseShardError;

    /// `I/N`, 1-based, as `--shard` takes it.
    fn from_str(text: &str) -> Result<ShardOf, ParseShardError> {
        let form = || ParseShardError::Form(text.to_owned());
        let (number, count) = text.split_once('/').ok_or_else(form)?;
        let number: u32 = number.trim().parse().map_err(|_| form())?;
        let count: u32 = count.trim().parse().map_err(|_| form())?;
        match (number, count) {
            (_, 0) => Err(ParseShardError::NoShards(text.to_owned())),
            (0, _) => Err(ParseShardError::Zero(text.to_owned())),
            _ if number > count => Err(ParseShardError::Beyond {
                text: text.to_owned(),
                number,
                count,
            }),
            _ => Ok(ShardOf {
                index: number - 1,
                count,
            }),
        }
    }
}

/// Why a spec cannot be split into that many shards: some shard would own nothing, or shards
/// would share what must stay apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardRefusal {
    #[error("{shards} shards for {users} users: {} would send nothing", idle(*users, *shards))]
    FewerUsers { users: u32, shards: u32 },
    #[error(
        "the data file has {rows} rows for {shards} shards: with `pick = \"sequential\"` each \
         shard needs rows of its own, so use at most {rows} shards or more rows"
    )]
    FewerRows { rows: usize, shards: u32 },
}

/// "shard 11", or "shards 11–40": the shards beyond the last user.
fn idle(users: u32, shards: u32) -> String {
    if users + 1 == shards {
        format!("shard {shards}")
    } else {
        format!("shards {}–{shards}", users + 1)
    }
}

/// Refuses `shards` shards when one would own nothing: no user, with `users` the fewest users
/// any part of a closed-model run has, or no row of a sequential pick of `sequential_rows`.
pub fn check_sharding(
    shards: u32,
    users: Option<u32>,
    sequential_rows: Option<usize>,
) -> Result<(), ShardRefusal> {
    if let Some(users) = users.filter(|&users| users < shards) {
        return Err(ShardRefusal::FewerUsers { users, shards });
    }
    match sequential_rows {
        Some(rows) if rows < shards as usize => Err(ShardRefusal::FewerRows { rows, shards }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::plan::template::{Escape, Names, RenderContext, Template};
    use crate::plan::{Overrides, Plan, build};

    /// Plans `load` (a `[load]` table) with one request, which reads a data file of `rows` rows
    /// picked as `pick` when there is one.
    fn plan(load: &str, data: Option<(&str, usize)>) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let mut text = format!("{load}\n[[request]]\nname = \"home\"\n");
        match data {
            Some((pick, rows)) => {
                let csv: String = (0..rows).map(|r| format!("{r}\n")).collect();
                std::fs::write(dir.path().join("ids.csv"), format!("id\n{csv}")).unwrap();
                text += "path = \"/${row.id}\"\n[data]\nfile = \"ids.csv\"\n";
                text += &format!("pick = \"{pick}\"\n");
            }
            None => text += "path = \"/\"\n",
        }
        let root = dir.path();
        build(
            Path::new("t.toml"),
            &text,
            root,
            &Overrides::default(),
            &|_| None,
        )
        .unwrap()
    }

    #[test]
    fn shards_parse_one_based_and_print_as_written() {
        let shard: ShardOf = "2/4".parse().unwrap();
        assert_eq!((shard.index(), shard.count(), shard.number()), (1, 4, 2));
        assert_eq!(shard.to_string(), "2/4");
        assert_eq!("1/1".parse(), Ok(ShardOf::WHOLE));
        assert_eq!(ShardOf::default(), ShardOf::WHOLE);
        let refused = |text: &str| text.parse::<ShardOf>().unwrap_err().to_string();
        assert_eq!(refused("0/3"), "`0/3`: shards are numbered from 1");
        assert_eq!(refused("4/3"), "`4/3`: there is no shard 4 of 3");
        assert_eq!(refused("1/0"), "`1/0`: a run has at least one shard");
        for garbage in ["", "x", "2", "2/", "/4", "1/3/5", "-1/3", "1.0/3", "a/b"] {
            assert!(refused(garbage).contains("write I/N"), "{garbage:?}");
        }
        assert_eq!(ShardOf::new(3, 3), None);
        assert_eq!(ShardOf::all(3).last(), ShardOf::new(2, 3));
    }

    #[test]
    fn users_and_in_flight_slots_partition_exactly() {
        for n in 1..=9 {
            for users in 0..=300 {
                let mut owners = vec![0u32; users as usize];
                for shard in ShardOf::all(n) {
                    let owned: Vec<u32> = (0..users).filter(|&u| shard.owns_user(u)).collect();
                    assert_eq!(
                        shard.users_owned(users) as usize,
                        owned.len(),
                        "{users}/{n}"
                    );
                    owned.iter().for_each(|&u| owners[u as usize] += 1);
                }
                assert!(owners.iter().all(|&o| o == 1), "{users} users, {n} shards");
                let slots: u32 = ShardOf::all(n).map(|s| s.max_in_flight(users)).sum();
                assert_eq!(slots, users.max(n), "{users} slots, {n} shards");
            }
        }
        assert_eq!((0..10).filter(|&u| ShardOf::WHOLE.owns_user(u)).count(), 10);
    }

    /// The intended send times of a staged open schedule, as `open.rs` walks it: request `i` at
    /// `time_of(i)` until the end of the load.
    fn schedule(plan: &Plan, shard: ShardOf) -> Vec<u64> {
        let end = plan.load.warmup + plan.load.duration;
        (0u64..)
            .map_while(|i| Some((i, plan.load.profile.time_of(i as f64)?)))
            .take_while(|(_, t)| *t < end)
            .filter(|(i, _)| shard.owns_request(*i))
            .map(|(_, t)| t.as_secs_f64().to_bits())
            .collect()
    }

    #[test]
    fn the_shards_send_times_are_the_single_schedule_bit_for_bit() {
        let plan = plan(
            "[load]\nmodel = \"open\"\nrate = 7.5\nwarmup = \"1s\"\nstages = [\
             { duration = \"2s\", rate = 300.0 }, { duration = \"1.5s\", rate = 300.0 }, \
             { duration = \"1s\", rate = 40.0 }]",
            None,
        );
        let single = schedule(&plan, ShardOf::WHOLE);
        assert!(single.len() > 500, "{}", single.len());
        let mut sorted_single = single.clone();
        sorted_single.sort_unstable();
        for n in 1..=7 {
            let shards: Vec<Vec<u64>> = ShardOf::all(n).map(|s| schedule(&plan, s)).collect();
            for (j, times) in shards.iter().enumerate() {
                // On the shared timeline: shard j starts at request j's time, not at zero.
                assert_eq!(times[0], single[j], "shard {j} of {n}");
                assert!(times.len().abs_diff(single.len() / n as usize) <= 1);
            }
            let mut union: Vec<u64> = shards.concat();
            union.sort_unstable();
            assert_eq!(union, sorted_single, "{n} shards");
        }
    }

    #[test]
    fn seq_values_are_disjoint_and_one_shard_counts_from_one() {
        let whole: Vec<u64> = (0..5).map(|c| ShardOf::WHOLE.seq_value(c)).collect();
        assert_eq!(whole, [1, 2, 3, 4, 5]);
        for n in 1..=8 {
            let mut seen = BTreeSet::new();
            for shard in ShardOf::all(n) {
                assert!(
                    (0..100).all(|c| seen.insert(shard.seq_value(c))),
                    "{n} shards"
                );
            }
            // As many values from each shard: together exactly 1..=100·N.
            assert_eq!(seen, (1..=100 * u64::from(n)).collect());
        }
    }

    #[test]
    fn seq_renders_through_the_shard() {
        let names = Names {
            env: &|_| None,
            columns: &[],
            captures: &[],
            captured_before: None,
        };
        let template = Template::parse("/n/${seq}", Escape::None, &names).unwrap();
        let seq = AtomicU64::new(0);
        let render = |shard| {
            let mut out = String::new();
            let rng = &mut fastrand::Rng::with_seed(1);
            let ctx = &mut RenderContext {
                seq: &seq,
                shard,
                user_id: 1,
                rng,
                row: &[],
                user_vars: &[],
            };
            template.render(ctx, &mut out);
            out
        };
        let second_of_three = ShardOf::new(1, 3).unwrap();
        assert_eq!(
            [render(second_of_three), render(second_of_three)],
            ["/n/2", "/n/5"]
        );
        assert_eq!(render(ShardOf::WHOLE), "/n/3");
    }

    #[test]
    fn sequential_rows_are_the_shard_s_own_in_order() {
        for rows in 1..=40 {
            // One shard is today's pick: the counter modulo the rows.
            assert!((0..100).all(|c| ShardOf::WHOLE.row(c, rows) == c as usize % rows));
            for n in 1..=(rows as u32).min(8) {
                let mut first_pass = Vec::new();
                for shard in ShardOf::all(n) {
                    let own = (rows as u32 - shard.index()).div_ceil(n) as u64;
                    let picks: Vec<usize> = (0..3 * own).map(|c| shard.row(c, rows)).collect();
                    // Only rows r ≡ j (mod N), in order, then round again.
                    assert!(
                        picks
                            .iter()
                            .all(|&r| r % n as usize == shard.index() as usize)
                    );
                    assert!(picks[..own as usize].is_sorted());
                    assert_eq!(picks[..own as usize], picks[own as usize..2 * own as usize]);
                    first_pass.extend_from_slice(&picks[..own as usize]);
                }
                first_pass.sort_unstable();
                assert_eq!(first_pass, (0..rows).collect::<Vec<_>>(), "{rows}/{n}");
            }
        }
    }

    #[test]
    fn a_shard_that_would_own_nothing_is_refused() {
        let closed = plan("[load]\nusers = 10\nduration = \"1s\"", None);
        let refused = |plan: &Plan, n| plan.sharded(ShardOf::new(0, n).unwrap()).unwrap_err();
        assert_eq!(
            refused(&closed, 40).to_string(),
            "40 shards for 10 users: shards 11–40 would send nothing"
        );
        assert_eq!(
            refused(&closed, 11).to_string(),
            "11 shards for 10 users: shard 11 would send nothing"
        );
        assert!(closed.sharded(ShardOf::new(9, 10).unwrap()).is_ok());
        let open = "[load]\nmodel = \"open\"\nrate = 5.0\nmax_in_flight = 10\nduration = \"1s\"";
        let sharded = plan(open, None)
            .sharded(ShardOf::new(3, 4).unwrap())
            .unwrap();
        assert_eq!((sharded.load.max_in_flight, sharded.shard.number()), (2, 4));
        let rows = |pick, rows| plan(open, Some((pick, rows)));
        assert_eq!(
            refused(&rows("sequential", 3), 4),
            ShardRefusal::FewerRows { rows: 3, shards: 4 }
        );
        assert!(
            refused(&rows("sequential", 3), 4)
                .to_string()
                .contains("3 rows for 4 shards")
        );
        let last = ShardOf::new(3, 4).unwrap();
        assert!(rows("sequential", 4).sharded(last).is_ok());
        assert!(rows("random", 1).sharded(last).is_ok());
        // A sweep's smallest step must split too.
        let sweep = "[load]\nusers = 1\nduration = \"1s\"\n\
                     [sweep]\nusers = [2, 8]\nlimit = { p90 = \"50ms\" }";
        assert_eq!(
            refused(&plan(sweep, None), 3),
            ShardRefusal::FewerUsers {
                users: 2,
                shards: 3
            }
        );
    }

    #[test]
    fn the_whole_plan_is_today_s_plan() {
        let open = "[load]\nmodel = \"open\"\nrate = 5.0\nmax_in_flight = 7\nduration = \"1s\"";
        let planned = plan(open, None);
        assert_eq!(planned.shard, ShardOf::WHOLE);
        let whole = planned.sharded(ShardOf::WHOLE).unwrap();
        assert_eq!(
            (whole.load, whole.shard),
            (planned.load.clone(), planned.shard)
        );
        assert_eq!(ShardOf::WHOLE.max_in_flight(7), 7);
    }
}
