//! Times of day as clinicians say them: "at 3", "10:30", "9 am", "noon", "4 o'clock".
//!
//! A bare hour follows clinic hours: 1 to 7 is afternoon (nobody books a 3 am session), 8 to 11
//! is morning, 12 is noon. An explicit am or pm always wins.

use super::text::Doc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeOfDay {
    /// 0-23.
    pub hour: u8,
    pub minute: u8,
    /// Written as a clock time (a colon, am/pm, noon), not a bare number.
    pub explicit: bool,
    /// `Some(true)` for pm, `Some(false)` for am, when said.
    pub pm: Option<bool>,
}

impl TimeOfDay {
    #[cfg(test)]
    pub fn hhmm(self) -> (u8, u8) {
        (self.hour, self.minute)
    }

    pub fn minutes_of_day(self) -> u32 {
        u32::from(self.hour) * 60 + u32::from(self.minute)
    }

    /// The start and end of a range, sharing an am/pm said once ("2:10-2:55 pm").
    pub fn range(start: TimeOfDay, end: TimeOfDay) -> (TimeOfDay, TimeOfDay) {
        let mut start = start;
        if start.pm.is_none()
            && let Some(pm) = end.pm
        {
            let twelve = start.hour % 12;
            let candidate = if pm { twelve + 12 } else { twelve };
            if candidate <= end.hour {
                start.hour = candidate;
            }
        }
        (start, end)
    }

    pub fn civil(self) -> jiff::civil::Time {
        let hour = i8::try_from(self.hour).unwrap_or(0);
        let minute = i8::try_from(self.minute).unwrap_or(0);
        jiff::civil::Time::new(hour, minute, 0, 0).unwrap_or(jiff::civil::Time::midnight())
    }
}

/// The hour a bare clock number means at a clinic.
fn clinic_hour(hour: u8) -> u8 {
    match hour {
        1..=7 => hour + 12,
        _ => hour,
    }
}

/// A time of day at token `i`, with the index after it. Without `bare_ok`, a lone number ("at
/// 3") is not taken unless the caller has seen "at" before it.
pub(crate) fn time_at(doc: &Doc, i: usize, bare_ok: bool) -> Option<(TimeOfDay, usize)> {
    let word = doc.norm(i);
    if word == "noon" || word == "midday" {
        return Some((
            TimeOfDay {
                hour: 12,
                minute: 0,
                explicit: true,
                pm: Some(true),
            },
            i + 1,
        ));
    }
    let token = doc.tokens.get(i)?;
    let hour = u8::try_from(token.number()?).ok()?;
    if token.norm.len() > 2 {
        return None;
    }
    let mut j = i + 1;
    let mut minute = 0u8;
    let mut colon = false;
    if matches!(doc.norm(j), ":" | ".")
        && doc.tokens.get(j).is_some_and(|t| t.joined)
        && let Some(next) = doc
            .tokens
            .get(j + 1)
            .filter(|t| t.joined && t.norm.len() == 2)
        && let Some(m) = next
            .number()
            .and_then(|m| u8::try_from(m).ok())
            .filter(|m| *m < 60)
    {
        // "10.30" only as a time when followed by am/pm; "7.5" never (one digit).
        if doc.norm(j) == ":" || meridiem_at(doc, j + 2).is_some() {
            minute = m;
            colon = true;
            j += 2;
        }
    }
    let meridiem = meridiem_at(doc, j);
    let mut pm = None;
    if let Some((is_pm, n)) = meridiem {
        pm = Some(is_pm);
        j += n;
    } else if doc.matches_at(j, "o'clock") {
        j += 3;
    }
    let explicit = colon || meridiem.is_some() || doc.norm(j.wrapping_sub(1)) == "clock";
    if !explicit && !bare_ok {
        return None;
    }
    let hour = match pm {
        Some(_) if !(1..=12).contains(&hour) => return None,
        Some(true) => hour % 12 + 12,
        Some(false) => hour % 12,
        None if colon && (13..=23).contains(&hour) => hour,
        None if (1..=12).contains(&hour) => clinic_hour(hour),
        None => return None,
    };
    Some((
        TimeOfDay {
            hour,
            minute,
            explicit,
            pm,
        },
        j,
    ))
}

/// "am", "pm", "a.m.", "p.m." at `i`: (is pm, tokens covered).
fn meridiem_at(doc: &Doc, i: usize) -> Option<(bool, usize)> {
    match doc.norm(i) {
        "am" => Some((false, 1)),
        "pm" => Some((true, 1)),
        "a" | "p" if doc.matches_at(i + 1, ". m") => {
            let n = if doc.norm(i + 3) == "." && doc.tokens.get(i + 3).is_some_and(|t| t.joined) {
                4
            } else {
                3
            };
            Some((doc.norm(i) == "p", n))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, bare_ok: bool) -> Option<(u8, u8)> {
        let doc = Doc::new(text);
        time_at(&doc, 0, bare_ok).map(|(t, _)| t.hhmm())
    }

    #[test]
    fn bare_hours_follow_clinic_hours() {
        assert_eq!(at("3", true), Some((15, 0)));
        assert_eq!(at("7", true), Some((19, 0)));
        assert_eq!(at("8", true), Some((8, 0)));
        assert_eq!(at("11", true), Some((11, 0)));
        assert_eq!(at("12", true), Some((12, 0)));
        assert_eq!(at("1:30", true), Some((13, 30)));
        assert_eq!(at("10:30", true), Some((10, 30)));
        assert_eq!(at("3", false), None);
        assert_eq!(at("50", true), None);
        assert_eq!(at("13", true), None);
    }

    #[test]
    fn am_pm_and_noon_win() {
        assert_eq!(at("7 am", false), Some((7, 0)));
        assert_eq!(at("10am", false), Some((10, 0)));
        assert_eq!(at("9:30 a.m.", false), Some((9, 30)));
        assert_eq!(at("12 pm", false), Some((12, 0)));
        assert_eq!(at("12 am", false), Some((0, 0)));
        assert_eq!(at("8 pm", false), Some((20, 0)));
        assert_eq!(at("noon", false), Some((12, 0)));
        assert_eq!(at("14:30", false), Some((14, 30)));
        assert_eq!(at("4 o'clock", false), Some((16, 0)));
        assert_eq!(at("7.5 mg", true), Some((19, 0)));
    }

    #[test]
    fn ranges_share_the_meridiem() {
        let doc = Doc::new("2:10 2:55 pm");
        let (s, _) = time_at(&doc, 0, false).unwrap();
        let (e, _) = time_at(&doc, 3, false).unwrap();
        let (s, e) = TimeOfDay::range(s, e);
        assert_eq!((s.hhmm(), e.hhmm()), ((14, 10), (14, 55)));
    }
}
