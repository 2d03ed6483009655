//! `.env` files as the sign-up guide writes them (`CLERK_WEBHOOK_SECRET="whsec_..."`).

/// `KEY=VALUE` pairs; `export`, comments, blank lines and surrounding quotes are handled.
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, value) = line.split_once('=')?;
            let key = key.trim();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            let value = value.trim();
            let unquoted = [('"', '"'), ('\'', '\'')]
                .iter()
                .find_map(|(open, close)| value.strip_prefix(*open)?.strip_suffix(*close))
                .unwrap_or_else(|| value.split(" #").next().unwrap_or(value).trim());
            Some((key.to_owned(), unquoted.to_owned()))
        })
        .collect()
}

/// Sets every variable of `./.env` that the environment does not already have.
pub fn load() {
    let Ok(text) = std::fs::read_to_string(".env") else {
        return;
    };
    for (key, value) in parse(&text) {
        if std::env::var_os(&key).is_none() {
            std::env::set_var(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_guides_format_and_common_variants() {
        let text = "# Clerk\nCLERK_WEBHOOK_SECRET=\"whsec_abc\"\nexport DATABASE_URL='postgres://x'\nPLAIN=value # note\n\nBROKEN LINE\n=nokey\n";
        assert_eq!(
            parse(text),
            vec![
                ("CLERK_WEBHOOK_SECRET".to_owned(), "whsec_abc".to_owned()),
                ("DATABASE_URL".to_owned(), "postgres://x".to_owned()),
                ("PLAIN".to_owned(), "value".to_owned()),
            ]
        );
    }
}
