//! Medians, nearest-rank percentiles and JSON numbers, computed the same way as the Node peer.

pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

/// Nearest-rank 99th percentile: the smallest sample with at least 99% of samples at or below it.
pub fn p99(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((0.99 * s.len() as f64).ceil() as usize).max(1);
    Some(s[rank - 1])
}

/// A JSON number with `digits` decimals, or `null` for a missing or non-finite value.
pub fn json_f64(x: impl Into<Option<f64>>, digits: usize) -> String {
    match x.into() {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "null".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_count_is_mean_of_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn p99_of_100_samples_is_the_99th() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(p99(&xs), Some(99.0));
    }
}
