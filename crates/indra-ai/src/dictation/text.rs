//! The dictation as tokens, sentences and clauses, with the byte spans every proposal points back
//! to.
//!
//! Everything the parser recognizes is matched on tokens, never on raw substrings, so "mom" is not
//! found inside "moment" and a span always covers whole words. A token's `norm` is lowercase with
//! accents folded ("Ríos" -> "rios"), because dictation software and clinicians drop accents the
//! record keeps.

use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Word,
    Number,
    Punct,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    /// Byte span in the original text.
    pub start: usize,
    pub end: usize,
    pub norm: String,
    pub kind: TokenKind,
    /// No whitespace between this token and the one before ("2:10" is `2`, `:`, `10`, joined).
    pub joined: bool,
    /// The original starts with an uppercase letter.
    pub capitalized: bool,
}

impl Token {
    pub fn is_word(&self) -> bool {
        self.kind == TokenKind::Word
    }

    pub fn number(&self) -> Option<u32> {
        if self.kind == TokenKind::Number {
            self.norm.parse().ok()
        } else {
            None
        }
    }
}

/// A tokenized dictation.
#[derive(Debug)]
pub(crate) struct Doc<'a> {
    pub text: &'a str,
    pub tokens: Vec<Token>,
    /// Token index ranges of the sentences, in order.
    pub sentences: Vec<Range<usize>>,
    /// Speech-to-text output without capitals: names cannot be told apart from words by case.
    pub all_lowercase: bool,
}

/// Lowercase with the accents of Latin letters removed.
pub(crate) fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(fold_char)
        .collect()
}

fn fold_char(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'ď' | 'đ' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
        'ğ' => 'g',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => 'i',
        'ł' | 'ľ' => 'l',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
        'ř' => 'r',
        'ś' | 'š' | 'ş' => 's',
        'ť' | 'ţ' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => 'u',
        'ý' | 'ÿ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        '’' | '‘' | '`' => '\'',
        '–' | '—' => '-',
        other => other,
    }
}

/// Words after which a period does not end a sentence.
const ABBREVIATIONS: [&str; 10] = [
    "dr", "mr", "mrs", "ms", "st", "vs", "approx", "pt", "e.g", "etc",
];

impl<'a> Doc<'a> {
    pub fn new(text: &'a str) -> Self {
        let tokens = tokenize(text);
        let sentences = split_sentences(&tokens);
        let all_lowercase = !text.chars().any(char::is_uppercase);
        Self {
            text,
            tokens,
            sentences,
            all_lowercase,
        }
    }

    pub fn norm(&self, i: usize) -> &str {
        self.tokens.get(i).map_or("", |t| t.norm.as_str())
    }

    /// Byte span covering tokens `range` (empty ranges give an empty span at the start).
    pub fn span(&self, range: Range<usize>) -> Range<usize> {
        match (self.tokens.get(range.start), range.end.checked_sub(1)) {
            (Some(first), Some(last)) if last >= range.start => {
                let end = self.tokens.get(last).map_or(first.end, |t| t.end);
                first.start..end
            }
            (Some(first), _) => first.start..first.start,
            _ => self.text.len()..self.text.len(),
        }
    }

    /// The original text of tokens `range`.
    pub fn slice(&self, range: Range<usize>) -> &'a str {
        let span = self.span(range);
        self.text.get(span).unwrap_or("")
    }

    /// Whether the tokens starting at `i` spell `phrase` (tokenized the same way: "follow-up" is
    /// three tokens). Joins are not compared.
    pub fn matches_at(&self, i: usize, phrase: &str) -> bool {
        self.phrase_len_at(i, phrase).is_some()
    }

    /// The number of tokens `phrase` covers when it matches at `i`.
    pub fn phrase_len_at(&self, i: usize, phrase: &str) -> Option<usize> {
        // Most phrases are lowercase ASCII words and spaces: compare without tokenizing them.
        if phrase.bytes().all(|b| b.is_ascii_lowercase() || b == b' ') {
            let mut n = 0;
            for part in phrase.split(' ').filter(|p| !p.is_empty()) {
                if self.tokens.get(i + n)?.norm != part {
                    return None;
                }
                n += 1;
            }
            return Some(n);
        }
        let mut n = 0;
        for part in phrase_tokens(phrase) {
            if self.tokens.get(i + n)?.norm != part {
                return None;
            }
            n += 1;
        }
        Some(n)
    }

    /// The first position in `range` where one of `phrases` starts, with the match's token range.
    pub fn find_any(&self, range: Range<usize>, phrases: &[&str]) -> Option<Range<usize>> {
        for i in range.clone() {
            for phrase in phrases {
                if let Some(n) = self.phrase_len_at(i, phrase)
                    && i + n <= range.end
                {
                    return Some(i..i + n);
                }
            }
        }
        None
    }

    /// Every match of one of `phrases` in `range`.
    pub fn find_all(&self, range: Range<usize>, phrases: &[&str]) -> Vec<Range<usize>> {
        let mut found = Vec::new();
        let mut i = range.start;
        while i < range.end {
            let hit = phrases
                .iter()
                .filter_map(|p| self.phrase_len_at(i, p))
                .filter(|n| i + n <= range.end)
                .max();
            match hit {
                Some(n) => {
                    found.push(i..i + n);
                    i += n;
                }
                None => i += 1,
            }
        }
        found
    }

    pub fn has_any(&self, range: Range<usize>, phrases: &[&str]) -> bool {
        self.find_any(range, phrases).is_some()
    }

    /// The sentence holding token `i`.
    pub fn sentence_of(&self, i: usize) -> Range<usize> {
        self.sentences
            .iter()
            .find(|s| s.contains(&i))
            .cloned()
            .unwrap_or(i..i + 1)
    }

    /// The first sentence: where a dictation names the patient, the session and its length.
    pub fn header(&self) -> Range<usize> {
        self.sentences.first().cloned().unwrap_or(0..0)
    }

    /// A number written in digits or words starting at `i` ("50", "fifty-five", "a"), with the
    /// tokens it covers.
    pub fn number_at(&self, i: usize) -> Option<(u32, usize)> {
        let token = self.tokens.get(i)?;
        if let Some(n) = token.number() {
            return Some((n, 1));
        }
        let tens = tens_word(&token.norm);
        if let Some(tens) = tens {
            // "fifty-five", "fifty five"
            let mut j = i + 1;
            if self.norm(j) == "-" {
                j += 1;
            }
            if let Some(unit) = unit_word(self.norm(j)).filter(|u| (1..=9).contains(u)) {
                return Some((tens + unit, j + 1 - i));
            }
            return Some((tens, 1));
        }
        unit_word(&token.norm).map(|n| (n, 1))
    }
}

fn unit_word(w: &str) -> Option<u32> {
    Some(match w {
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        _ => return None,
    })
}

fn tens_word(w: &str) -> Option<u32> {
    Some(match w {
        "twenty" => 20,
        "thirty" => 30,
        "forty" | "fourty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
        _ => return None,
    })
}

/// A phrase split the way the tokenizer splits text.
pub(crate) fn phrase_tokens(phrase: &str) -> impl Iterator<Item = String> + '_ {
    let spans = raw_tokens(phrase);
    spans.into_iter().map(move |(s, e, _)| fold(&phrase[s..e]))
}

fn char_class(c: char) -> u8 {
    if c.is_alphabetic() {
        0
    } else if c.is_ascii_digit() {
        1
    } else if c.is_whitespace() {
        2
    } else {
        3
    }
}

/// (start, end, kind) of each token: runs of letters, runs of digits, single other characters.
fn raw_tokens(text: &str) -> Vec<(usize, usize, TokenKind)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, u8)> = None;
    for (at, c) in text.char_indices() {
        let class = char_class(c);
        if let Some((start, cls)) = current {
            if cls == class && class < 2 {
                continue;
            }
            out.push((start, at, kind_of(cls)));
            current = None;
        }
        match class {
            2 => {}
            3 => out.push((at, at + c.len_utf8(), TokenKind::Punct)),
            _ => current = Some((at, class)),
        }
    }
    if let Some((start, cls)) = current {
        out.push((start, text.len(), kind_of(cls)));
    }
    out
}

fn kind_of(class: u8) -> TokenKind {
    match class {
        0 => TokenKind::Word,
        1 => TokenKind::Number,
        _ => TokenKind::Punct,
    }
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    for (start, end, kind) in raw_tokens(text) {
        let original = &text[start..end];
        let joined = tokens.last().is_some_and(|prev| prev.end == start);
        tokens.push(Token {
            start,
            end,
            norm: fold(original),
            kind,
            joined,
            capitalized: original.chars().next().is_some_and(char::is_uppercase),
        });
    }
    tokens
}

fn split_sentences(tokens: &[Token]) -> Vec<Range<usize>> {
    let mut sentences = Vec::new();
    let mut start = 0;
    for (i, token) in tokens.iter().enumerate() {
        let is_end = matches!(token.norm.as_str(), "." | "!" | "?")
            && tokens.get(i + 1).is_none_or(|next| !next.joined)
            && !ends_abbreviation(tokens, i);
        if is_end {
            if i + 1 > start {
                sentences.push(start..i + 1);
            }
            start = i + 1;
        }
    }
    if start < tokens.len() {
        sentences.push(start..tokens.len());
    }
    sentences
}

/// A period after "Dr" or inside "a.m." does not end the sentence.
fn ends_abbreviation(tokens: &[Token], period: usize) -> bool {
    let Some(prev) = period.checked_sub(1).and_then(|p| tokens.get(p)) else {
        return false;
    };
    if !prev.joined_to_next(tokens, period) {
        return false;
    }
    if ABBREVIATIONS.contains(&prev.norm.as_str()) {
        return true;
    }
    // "a.m." / "p.m.": the "m" follows "a." or "p."
    prev.norm == "m"
        && period >= 3
        && tokens.get(period - 2).is_some_and(|t| t.norm == ".")
        && tokens
            .get(period - 3)
            .is_some_and(|t| t.norm == "a" || t.norm == "p")
}

impl Token {
    fn joined_to_next(&self, tokens: &[Token], next: usize) -> bool {
        tokens.get(next).is_some_and(|t| t.joined) && self.end <= tokens[next].start
    }
}

/// Optimal string alignment distance (edits and adjacent transpositions), over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[n][m]
}

/// Whether `word` is `name` misspelled: within [`allowed_typos`] edits, with the first letter
/// right (dictation software and hurried typing keep it; checking it first keeps this cheap).
pub(crate) fn misspelling_of(word: &str, name: &str, allowed: usize) -> bool {
    let (a, b) = (word.chars().count(), name.chars().count());
    allowed > 0
        && word.chars().next() == name.chars().next()
        && a.abs_diff(b) <= allowed
        && edit_distance(word, name) <= allowed
}

/// How many edits a name of this length may be off and still be the same name: none for short
/// names (Ana/Ann, Bell/Bill are different people), one from five letters, two from eight.
pub(crate) fn allowed_typos(len: usize) -> usize {
    match len {
        0..=4 => 0,
        5..=7 => 1,
        _ => 2,
    }
}

/// Byte offsets to character offsets (what the review page highlights).
pub(crate) fn char_range(text: &str, bytes: Range<usize>) -> Range<usize> {
    let to_char = |b: usize| text.get(..b).map_or(0, |s| s.chars().count());
    to_char(bytes.start)..to_char(bytes.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_letters_digits_and_punctuation() {
        let doc = Doc::new("Seen 2:10-2:55pm, Ríos's 50-minute");
        let norms: Vec<&str> = doc.tokens.iter().map(|t| t.norm.as_str()).collect();
        assert_eq!(
            norms,
            [
                "seen", "2", ":", "10", "-", "2", ":", "55", "pm", ",", "rios", "'", "s", "50",
                "-", "minute"
            ]
        );
        assert!(doc.tokens[2].joined && !doc.tokens[1].joined);
        assert_eq!(doc.slice(10..11), "Ríos");
    }

    #[test]
    fn sentences_end_at_periods_followed_by_space_only() {
        let doc = Doc::new("Dr. Lee saw her at 9 a.m. today. Dose 7.5 mg. level 1.1. done");
        let sentences: Vec<&str> = doc.sentences.iter().map(|s| doc.slice(s.clone())).collect();
        assert_eq!(
            sentences,
            [
                "Dr. Lee saw her at 9 a.m. today.",
                "Dose 7.5 mg.",
                "level 1.1.",
                "done"
            ]
        );
    }

    #[test]
    fn numbers_in_words() {
        let doc = Doc::new("fifty-five forty five twelve sixty 38");
        assert_eq!(doc.number_at(0), Some((55, 3)));
        assert_eq!(doc.number_at(3), Some((45, 2)));
        assert_eq!(doc.number_at(5), Some((12, 1)));
        assert_eq!(doc.number_at(6), Some((60, 1)));
        assert_eq!(doc.number_at(7), Some((38, 1)));
    }

    #[test]
    fn edit_distance_counts_transpositions_once() {
        assert_eq!(edit_distance("micheal", "michael"), 1);
        assert_eq!(edit_distance("symanski", "szymanski"), 1);
        assert_eq!(edit_distance("bell", "well"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(allowed_typos(4), 0);
        assert_eq!(allowed_typos(5), 1);
        assert_eq!(allowed_typos(8), 2);
    }

    #[test]
    fn char_ranges_count_characters_not_bytes() {
        let text = "Ríos, 50 min";
        let doc = Doc::new(text);
        let span = doc.span(2..3);
        assert_eq!(&text[span.clone()], "50");
        assert_eq!(char_range(text, span), 6..8);
    }
}
