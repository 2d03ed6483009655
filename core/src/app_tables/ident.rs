//! SQL identifiers from configuration, always quoted.

/// `"name"` with embedded double quotes doubled: safe to splice into SQL whatever `name` holds.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn quotes_everything() {
        assert_eq!(quote_ident("User"), "\"User\"");
        assert_eq!(quote_ident("clerkUserId"), "\"clerkUserId\"");
        assert_eq!(quote_ident("a\"; DROP TABLE x; --"), "\"a\"\"; DROP TABLE x; --\"");
        assert_eq!(quote_ident(""), "\"\"");
    }
}
