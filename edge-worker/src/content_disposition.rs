//! `Content-Disposition: attachment` with the customer's file name (RFC 6266).
//!
//! Every download carries a plain `filename` that any client understands.
//! When the real name is not plain printable ASCII, that fallback has the
//! offending characters replaced with `_`, and the exact name follows in
//! `filename*` (RFC 8187, UTF-8, percent-encoded), which current browsers,
//! curl (`-J`) and wget (`--content-disposition`) prefer.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything outside RFC 8187 `attr-char` is percent-encoded.
const NOT_ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The header value for downloading `file_name`.
pub fn attachment(file_name: &str) -> String {
    // A file name is a name, never a path.
    let name: String = file_name.chars().map(|c| if c == '/' || c == '\\' { '_' } else { c }).collect();
    let name = if name.trim().is_empty() { "download".to_string() } else { name };
    let fallback: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '%' || c == ' ' { c } else { '_' }).collect();
    if fallback == name {
        format!("attachment; filename=\"{name}\"")
    } else {
        let encoded = utf8_percent_encode(&name, NOT_ATTR_CHAR);
        format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
    }
}

#[cfg(test)]
mod tests {
    use super::attachment;

    #[test]
    fn ascii_names_are_quoted() {
        assert_eq!(attachment("Harbor at Dawn.mp4"), "attachment; filename=\"Harbor at Dawn.mp4\"");
    }

    #[test]
    fn non_ascii_names_get_filename_star() {
        assert_eq!(
            attachment("Café – Nuit.mp4"),
            "attachment; filename=\"Caf_ _ Nuit.mp4\"; filename*=UTF-8''Caf%C3%A9%20%E2%80%93%20Nuit.mp4"
        );
    }

    #[test]
    fn quotes_and_percent_signs_are_not_sent_raw() {
        assert_eq!(
            attachment("a \"b\" 100%.mov"),
            "attachment; filename=\"a _b_ 100_.mov\"; filename*=UTF-8''a%20%22b%22%20100%25.mov"
        );
    }

    #[test]
    fn paths_and_control_characters_are_neutralised() {
        assert_eq!(attachment("../etc/passwd"), "attachment; filename=\".._etc_passwd\"");
        assert_eq!(attachment("a\r\nb.mp4"), "attachment; filename=\"a__b.mp4\"; filename*=UTF-8''a%0D%0Ab.mp4");
        assert_eq!(attachment(""), "attachment; filename=\"download\"");
    }
}
