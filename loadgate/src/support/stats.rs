//! The statistics of a verdict over rounds: the median of each side and a bootstrap confidence
//! interval of their ratio. Rounds, not requests, are the samples: requests within a round are
//! correlated (a noisy neighbour slows all of them), rounds much less so.
//!
//! Why the bootstrap of the median ratio: it assumes no distribution (latency percentiles per
//! round are skewed and few), it handles paired rounds (same-machine A/B, where each pair shares
//! the machine's state at that moment) and unpaired ones (a stored baseline) alike, and the
//! interval it gives reads directly as "this run's p90 is 4–12 % above the baseline's".

/// How many resamples a bootstrap draws; enough for stable 5 % / 95 % quantiles.
const RESAMPLES: usize = 2_000;
/// The interval's two-sided level: 90 %, i.e. 95 % on the side that decides a failure.
const LOWER: f64 = 0.05;
const UPPER: f64 = 0.95;

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The ratio `current / baseline` of medians and its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    pub point: f64,
    pub low: f64,
    pub high: f64,
}

/// The ratio of `current` to `baseline` rounds. Paired: round i of each was run back to back,
/// so the ratio is taken per pair and its median resampled; unpaired: each side is resampled on
/// its own. `None` when a side has fewer than 3 rounds or a median of zero.
pub fn ratio(current: &[f64], baseline: &[f64], paired: bool, seed: u64) -> Option<Ratio> {
    if current.len() < 3 || baseline.len() < 3 || (paired && current.len() != baseline.len()) {
        return None;
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut estimates = Vec::with_capacity(RESAMPLES);
    let point;
    if paired {
        let ratios: Vec<f64> = current.iter().zip(baseline).map(|(c, b)| c / b).collect();
        if ratios.iter().any(|r| !r.is_finite()) {
            return None;
        }
        point = median(&ratios);
        for _ in 0..RESAMPLES {
            estimates.push(median(&resample(&ratios, &mut rng)));
        }
    } else {
        let base = median(baseline);
        if base == 0.0 || !base.is_finite() {
            return None;
        }
        point = median(current) / base;
        for _ in 0..RESAMPLES {
            let b = median(&resample(baseline, &mut rng));
            if b != 0.0 {
                estimates.push(median(&resample(current, &mut rng)) / b);
            }
        }
    }
    estimates.sort_by(f64::total_cmp);
    let at = |q: f64| estimates[((estimates.len() - 1) as f64 * q).round() as usize];
    Some(Ratio {
        point,
        low: at(LOWER),
        high: at(UPPER),
    })
}

fn resample(values: &[f64], rng: &mut fastrand::Rng) -> Vec<f64> {
    (0..values.len())
        .map(|_| values[rng.usize(..values.len())])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn a_clear_shift_has_an_interval_that_excludes_no_change() {
        let baseline = [10.0, 10.2, 9.9, 10.1, 10.0, 9.8];
        let slower = [12.1, 11.9, 12.0, 12.2, 11.8, 12.0];
        for paired in [false, true] {
            let r = ratio(&slower, &baseline, paired, 1).unwrap();
            assert!((r.point - 1.2).abs() < 0.02, "{r:?}");
            assert!(r.low > 1.1 && r.high < 1.3, "{paired}: {r:?}");
        }
    }

    #[test]
    fn the_same_distribution_has_an_interval_around_one() {
        let a = [10.0, 11.0, 9.0, 10.5, 9.5, 10.2];
        let b = [10.1, 9.2, 10.9, 9.6, 10.4, 10.0];
        let r = ratio(&a, &b, false, 7).unwrap();
        assert!(r.low < 1.0 && r.high > 1.0, "{r:?}");
        // Repeatable: the resampling is seeded.
        assert_eq!(ratio(&a, &b, false, 7), Some(r));
    }

    #[test]
    fn noise_widens_the_interval() {
        let base = [10.0; 5];
        let steady = [10.0, 10.1, 9.9, 10.0, 10.1];
        let noisy = [8.0, 12.5, 9.0, 13.0, 10.0];
        let narrow = ratio(&steady, &base, true, 1).unwrap();
        let wide = ratio(&noisy, &base, true, 1).unwrap();
        assert!(
            wide.high - wide.low > 5.0 * (narrow.high - narrow.low),
            "{narrow:?} {wide:?}"
        );
    }

    #[test]
    fn too_few_rounds_give_no_interval() {
        assert_eq!(ratio(&[1.0, 2.0], &[1.0, 2.0, 3.0], false, 1), None);
        assert_eq!(
            ratio(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0], true, 1),
            None
        );
        assert_eq!(ratio(&[1.0, 2.0, 3.0], &[0.0, 0.0, 0.0], false, 1), None);
    }
}
