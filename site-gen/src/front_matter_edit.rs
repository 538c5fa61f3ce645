//! Setting values in a file's TOML front matter (between the first two `+++`
//! lines) while keeping every other line as the owner wrote it: what
//! `site-gen push` and `site-gen media` record about a clip's file.

/// Sets each `key` to `value` (TOML, already quoted where needed): a line
/// `key = …` is replaced whole (its comment too: the value is filled in now);
/// a missing key goes right after the key before it in `values`, or at the
/// end of the front matter. `None` when every value was already right, or
/// there is no front matter. Keeps the file's line endings.
pub fn set_values(text: &str, values: &[(&str, String)]) -> Option<String> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let open = lines.iter().position(|l| l.trim_end() == "+++")?;
    let mut close = open + 1 + lines[open + 1..].iter().position(|l| l.trim_end() == "+++")?;
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let key_of = |l: &str| l.split_once('=').map(|(k, _)| k.trim().to_string());
    let mut previous: Option<usize> = None;
    for (key, value) in values {
        let line = format!("{key} = {value}{eol}");
        let at = match (open + 1..close).find(|&i| key_of(&lines[i]).as_deref() == Some(*key)) {
            Some(i) => {
                lines[i] = line;
                i
            }
            None => {
                let at = previous.map_or(close, |p| p + 1);
                lines.insert(at, line);
                close += 1;
                at
            }
        };
        previous = Some(at);
    }
    let new = lines.concat();
    (new != text).then_some(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_inserts_and_keeps_the_rest() {
        let text =
            "+++\ntitle = \"A\"\nsize = 1   # CHANGE-ME: bytes\nposter = \"/p.jpg\"\n+++\nsize = 99 in the body\n";
        let new = set_values(text, &[("size", "12".into()), ("sha256", "\"ab\"".into()), ("codec", "\"h264\"".into())]);
        assert_eq!(
            new.as_deref(),
            Some("+++\ntitle = \"A\"\nsize = 12\nsha256 = \"ab\"\ncodec = \"h264\"\nposter = \"/p.jpg\"\n+++\nsize = 99 in the body\n")
        );
        let new = new.unwrap();
        assert_eq!(set_values(&new, &[("size", "12".into())]), None, "already right");
        let bare = set_values("+++\r\ntitle = \"A\"\r\n+++\r\n", &[("duration", "\"0:03\"".into())]).unwrap();
        assert_eq!(bare, "+++\r\ntitle = \"A\"\r\nduration = \"0:03\"\r\n+++\r\n");
        assert_eq!(set_values("no front matter", &[("size", "1".into())]), None);
    }
}
