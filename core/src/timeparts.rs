//! Timestamp parts for the `minute`/`hour`/`day`/`week`/`month`/`year`
//! modifiers. Accepts the shapes Windows shippers emit: ISO 8601
//! (`2020-06-10T02:50:56.537Z`) and `2020-06-10 02:50:54[.631]`.

use crate::compiler::TimePart;

/// The requested part of a timestamp, or `None` if it does not parse.
pub fn part(s: &str, p: TimePart) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let time = |r| {
        if b.len() >= 16 && matches!(b[10], b'T' | b' ') && b[13] == b':' {
            num(r)
        } else {
            None
        }
    };
    Some(match p {
        TimePart::Year => y,
        TimePart::Month => m,
        TimePart::Day => d,
        TimePart::Hour => time(11..13)?,
        TimePart::Minute => time(14..16)?,
        TimePart::Week => iso_week(y, m, d),
    })
}

/// Days since 1970-01-01 (proleptic Gregorian).
fn days(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// ISO 8601 week number (weeks start on Monday; week 1 holds January 4th).
fn iso_week(y: i64, m: i64, d: i64) -> i64 {
    let n = days(y, m, d);
    let weekday = (n + 3).rem_euclid(7); // 0 = Monday
    let thursday = n - weekday + 3;
    let ty = {
        // The year of that Thursday.
        let mut ty = y;
        if thursday < days(y, 1, 1) {
            ty -= 1;
        } else if thursday >= days(y + 1, 1, 1) {
            ty += 1;
        }
        ty
    };
    (thursday - days(ty, 1, 1)) / 7 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let t = "2020-06-10T02:50:56.537Z";
        assert_eq!(part(t, TimePart::Year), Some(2020));
        assert_eq!(part(t, TimePart::Month), Some(6));
        assert_eq!(part(t, TimePart::Day), Some(10));
        assert_eq!(part(t, TimePart::Hour), Some(2));
        assert_eq!(part(t, TimePart::Minute), Some(50));
        assert_eq!(part("2020-06-09 22:50:54", TimePart::Hour), Some(22));
        assert_eq!(part("2020-06-09", TimePart::Hour), None);
        assert_eq!(part("yesterday", TimePart::Year), None);
    }

    #[test]
    fn iso_weeks() {
        assert_eq!(part("2020-06-10", TimePart::Week), Some(24));
        assert_eq!(part("2021-01-01", TimePart::Week), Some(53));
        assert_eq!(part("2024-12-30", TimePart::Week), Some(1));
        assert_eq!(part("2026-11-22", TimePart::Week), Some(47));
    }
}
