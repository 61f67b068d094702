//! Comparing secrets a client sends (a scrape's bearer token, the admin UI's
//! password or session id) with the configured ones.

/// True when `a` equals `b`, in a time that depends on the lengths only, so
/// that a guesser learns nothing from how soon a wrong secret is refused.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use crate::secret::same_secret;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cret", b"s3cres"));
        assert!(!same_secret(b"s3cre", b"s3cret"));
        assert!(!same_secret(b"", b"x"));
    }
}
