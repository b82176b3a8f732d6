//! Mobile phone numbers: validated with libphonenumber's metadata, stored in E.164.

use std::fmt;

use phonenumber::{Mode, Type};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MobilePhone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the phone number could not be read; write it in international form, e.g. +44 7400 123456")]
    Unreadable,
    #[error("the phone number is not a valid number")]
    Invalid,
    #[error("the phone number is not a mobile number ({0}); SMS codes can only go to mobile phones")]
    NotMobile(&'static str),
}

impl MobilePhone {
    /// Parses a number in international form (a leading `+` and country code), accepting only
    /// valid numbers that can receive SMS: mobile, or fixed-line-or-mobile where the numbering plan
    /// cannot tell the two apart (North America).
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let number = phonenumber::parse(None, input).map_err(|_| PhoneError::Unreadable)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid);
        }
        match number.number_type(&phonenumber::metadata::DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile => {}
            Type::FixedLine => return Err(PhoneError::NotMobile("fixed line")),
            Type::TollFree => return Err(PhoneError::NotMobile("toll free")),
            Type::PremiumRate => return Err(PhoneError::NotMobile("premium rate")),
            Type::SharedCost => return Err(PhoneError::NotMobile("shared cost")),
            _ => return Err(PhoneError::NotMobile("not a mobile line")),
        }
        Ok(Self(number.format().mode(Mode::E164).to_string()))
    }

    /// Wraps a number already stored in E.164 (validated when it was stored).
    pub fn from_stored(e164: String) -> Self {
        Self(e164)
    }

    /// The country calling code (`44` for `+447400123456`), for per-country send caps.
    pub fn country_code(&self) -> u16 {
        phonenumber::parse(None, &self.0).map(|n| n.code().value()).unwrap_or(0)
    }

    pub fn e164(&self) -> &str {
        &self.0
    }

    /// E.164 without the `+` (`447400123456`), as several SMS gateways want it.
    pub fn digits(&self) -> &str {
        self.0.trim_start_matches('+')
    }

    /// The number as shown to the person logging in: `+`, the first 4 digits, one `*` per hidden
    /// digit, the last 4 digits (`+12015550123` → `+1201***0123`). Numbers of 8 digits or fewer
    /// hide nothing but the middle they have.
    pub fn noise(&self) -> String {
        let digits: Vec<char> = self.0.chars().filter(char::is_ascii_digit).collect();
        let shown = 4.min(digits.len() / 2);
        let hidden = digits.len() - 2 * shown;
        let mut out = String::with_capacity(digits.len() + 1);
        out.push('+');
        out.extend(&digits[..shown]);
        out.extend(std::iter::repeat_n('*', hidden));
        out.extend(&digits[digits.len() - shown..]);
        out
    }
}

impl fmt::Display for MobilePhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_mobile_and_north_american_numbers_in_e164() {
        assert_eq!(MobilePhone::parse("+1 201 555 0123").unwrap().e164(), "+12015550123");
        assert_eq!(MobilePhone::parse("+44 7400 123456").unwrap().e164(), "+447400123456");
        assert_eq!(MobilePhone::parse("+49 151 23456789").unwrap().e164(), "+4915123456789");
        assert_eq!(MobilePhone::parse("+44 7400 123456").unwrap().country_code(), 44);
        assert_eq!(MobilePhone::from_stored("+12015550123".into()).country_code(), 1);
    }

    #[test]
    fn refuses_invalid_fixed_line_and_special_rate_numbers() {
        assert_eq!(MobilePhone::parse("hello"), Err(PhoneError::Unreadable));
        assert_eq!(MobilePhone::parse("2015550123"), Err(PhoneError::Unreadable));
        assert_eq!(MobilePhone::parse("+1 555 555 0123"), Err(PhoneError::Invalid));
        assert!(matches!(MobilePhone::parse("+44 20 7946 0000"), Err(PhoneError::NotMobile(_))));
        assert!(matches!(MobilePhone::parse("+44 800 123 4567"), Err(PhoneError::NotMobile(_))));
        assert!(matches!(MobilePhone::parse("+44 909 876 5432"), Err(PhoneError::NotMobile(_))));
    }

    #[test]
    fn noise_keeps_four_digits_each_side() {
        assert_eq!(MobilePhone::parse("+12015550123").unwrap().noise(), "+1201***0123");
        assert_eq!(MobilePhone::parse("+447400123456").unwrap().noise(), "+4474****3456");
        // Long numbers (DocSpace throws on 10+ digits) and short ones both work.
        assert_eq!(MobilePhone::from_stored("+861391234567890".into()).noise(), "+8613*******7890");
        assert_eq!(MobilePhone::from_stored("+1234567".into()).noise(), "+123*567");
    }
}

/// Property tests: phone numbers come from request bodies and are shown back masked.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Arbitrary text, `+` and digits with separators, or numbers shaped like real mobile numbers
    /// (US, UK, DE, FR, CN, RU, IN, AU, BR) so that a good share parses.
    fn phone_input() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => any::<String>(),
            2 => "\\+?[0-9 ()./-]{0,20}",
            3 => prop_oneof![
                "\\+1 ?(201|415|646) ?[2-9][0-9]{2}[ -]?[0-9]{4}",
                "\\+44 ?7[1-57-9][0-9]{2} ?[0-9]{6}",
                "\\+49 ?15[1-9] ?[0-9]{7,8}",
                "\\+33 ?[67]( ?[0-9]{2}){4}",
                "\\+86 ?13[0-9] ?[0-9]{8}",
                "\\+7 ?9[0-9]{2} ?[0-9]{7}",
                "\\+91 ?9[0-9]{9}",
                "\\+61 ?4[0-9]{8}",
                "\\+55 ?11 ?9[0-9]{8}",
                // Not mobile: London fixed line, UK freephone.
                "\\+44 ?20 ?[0-9]{4} ?[0-9]{4}",
                "\\+44 ?800 ?[0-9]{3} ?[0-9]{4}",
            ],
        ]
    }

    proptest! {
        #![proptest_config(crate::api::dto::properties::config())]

        /// `parse` never panics; an accepted number is `+` and 2 to 15 digits, re-parses to itself,
        /// and its `digits`, `country_code` and `Display` agree with it.
        #[test]
        fn accepted_numbers_are_e164_and_round_trip(input in phone_input()) {
            let Ok(phone) = MobilePhone::parse(&input) else { return Ok(()) };
            let e164 = phone.e164();
            let digits = e164.strip_prefix('+').expect("E.164 starts with +");
            prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()) && (2..=15).contains(&digits.len()), "{}", e164);
            prop_assert_eq!(MobilePhone::parse(e164), Ok(phone.clone()));
            prop_assert_eq!(phone.digits(), digits);
            prop_assert_eq!(phone.to_string(), e164);
            let code = phone.country_code();
            prop_assert!(code != 0 && digits.starts_with(&code.to_string()), "{} {}", e164, code);
            prop_assert_eq!(MobilePhone::from_stored(e164.to_owned()), phone);
        }

        /// `noise` never panics and never shows more than the first 4 and last 4 digits: the rest,
        /// and any digit when there are fewer than 2, are stars, one per hidden digit.
        #[test]
        fn noise_shows_at_most_four_digits_each_side(input in phone_input(), stored in any::<String>()) {
            let mut phones = vec![MobilePhone::from_stored(stored)];
            phones.extend(MobilePhone::parse(&input).ok());
            for phone in phones {
                let digits: String = phone.e164().chars().filter(char::is_ascii_digit).collect();
                let noise = phone.noise();
                let shown = 4.min(digits.len() / 2);
                let masked = format!(
                    "+{}{}{}",
                    &digits[..shown],
                    "*".repeat(digits.len() - 2 * shown),
                    &digits[digits.len() - shown..]
                );
                prop_assert_eq!(&noise, &masked);
                prop_assert!(noise.chars().filter(char::is_ascii_digit).count() <= 8);
            }
        }
    }
}
