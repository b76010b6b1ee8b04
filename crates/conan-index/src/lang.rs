//! Which language a passage is in, as far as this zh ↔ en app cares.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Zh,
    En,
    /// Neither Han characters nor Latin letters dominate (digits, emoji, other scripts).
    Other,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
            Lang::Other => "other",
        }
    }

    /// A hit in the other of the two languages than its query.
    pub fn crosses(self, other: Lang) -> bool {
        self != other && self != Lang::Other && other != Lang::Other
    }
}

fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF      // Extension A
        | 0x4E00..=0x9FFF    // Unified Ideographs
        | 0xF900..=0xFAFF    // Compatibility Ideographs
        | 0x20000..=0x3134F) // Extensions B–G
}

/// Count Han characters against Latin letters. One Han character carries about as much as a
/// short English word, so it weighs three letters: "我用 iPhone" is Chinese, "Beijing (北京)"
/// is English.
pub fn detect(text: &str) -> Lang {
    let (mut han, mut latin) = (0usize, 0usize);
    for c in text.chars() {
        if is_han(c) {
            han += 1;
        } else if c.is_ascii_alphabetic() || matches!(c, 'À'..='ɏ') {
            latin += 1;
        }
    }
    if han > 0 && han * 3 >= latin {
        Lang::Zh
    } else if latin > 0 {
        Lang::En
    } else {
        Lang::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_the_two_languages_and_mixtures_by_weight() {
        assert_eq!(detect("今天天气很好。"), Lang::Zh);
        assert_eq!(detect("今天天氣很好。"), Lang::Zh); // Traditional
        assert_eq!(detect("The weather is lovely today."), Lang::En);
        assert_eq!(detect("我用 iPhone 拍照"), Lang::Zh);
        assert_eq!(detect("We visited Beijing (北京) last year."), Lang::En);
        assert_eq!(detect("Café crème"), Lang::En);
        assert_eq!(detect("123 🙂"), Lang::Other);
        assert_eq!(detect(""), Lang::Other);
        assert!(Lang::Zh.crosses(Lang::En));
        assert!(!Lang::Zh.crosses(Lang::Zh));
        assert!(!Lang::Other.crosses(Lang::En));
    }
}
