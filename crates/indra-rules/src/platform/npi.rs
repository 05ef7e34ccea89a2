//! National Provider Identifier checks.
//!
//! An NPI is ten digits whose last digit is a Luhn check digit computed over the nine before it,
//! prefixed with the card-issuer prefix `80840` (CMS, "NPI check digit" in the NPI final rule).

/// The issuer prefix CMS prepends before running the Luhn algorithm over an NPI.
const ISSUER_PREFIX: &str = "80840";

/// Whether `npi` is a well-formed NPI: exactly ten ASCII digits with a valid check digit.
pub fn npi_is_valid(npi: &str) -> bool {
    npi.len() == 10
        && npi.bytes().all(|b| b.is_ascii_digit())
        && luhn_sum(ISSUER_PREFIX.bytes().chain(npi.bytes()), false).is_multiple_of(10)
}

/// Completes nine digits into a valid NPI by appending the check digit (for demo data and tests).
///
/// # Panics
/// When `first9` is not exactly nine ASCII digits: that is a programming error in the caller.
pub fn npi_with_check_digit(first9: &str) -> String {
    assert!(
        first9.len() == 9 && first9.bytes().all(|b| b.is_ascii_digit()),
        "npi_with_check_digit needs exactly nine ASCII digits, got {first9:?}"
    );
    // The check digit is the one that makes the Luhn sum of all digits a multiple of ten; with the
    // check digit not yet present, every digit that would be doubled shifts by one position.
    let sum = luhn_sum(ISSUER_PREFIX.bytes().chain(first9.bytes()), true);
    let check = (10 - sum % 10) % 10;
    format!("{first9}{check}")
}

/// Luhn sum over ASCII digits. Counting from the rightmost digit, every second digit is doubled
/// (digits of the product summed); `double_rightmost` says whether the rightmost one is.
fn luhn_sum(digits: impl DoubleEndedIterator<Item = u8>, double_rightmost: bool) -> u32 {
    digits
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if (i % 2 == 0) == double_rightmost {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_known_numbers() {
        let cases = [
            ("1234567893", true),
            ("1234567890", false),
            ("1245319599", true),
            ("1245319598", false),
            ("123456789", false),
            ("12345678933", false),
            ("123456789a", false),
            ("", false),
            ("１234567893", false),
        ];
        for (npi, valid) in cases {
            assert_eq!(npi_is_valid(npi), valid, "{npi:?}");
        }
    }

    #[test]
    fn appends_the_check_digit() {
        assert_eq!(npi_with_check_digit("123456789"), "1234567893");
        assert_eq!(npi_with_check_digit("124531959"), "1245319599");
        for n in [0u32, 1, 17, 100_000_000, 123_456_789, 999_999_999] {
            let npi = npi_with_check_digit(&format!("{n:09}"));
            assert!(npi_is_valid(&npi), "{npi}");
            // Any other last digit is invalid.
            let last = npi.as_bytes()[9];
            for other in (b'0'..=b'9').filter(|&d| d != last) {
                let wrong = format!("{}{}", &npi[..9], other as char);
                assert!(!npi_is_valid(&wrong), "{wrong}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "nine ASCII digits")]
    fn rejects_a_bad_prefix() {
        npi_with_check_digit("12345678");
    }
}
